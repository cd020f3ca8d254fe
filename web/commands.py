"""``/commands/{id}``: how a queued command ended, or that it has not yet."""

from __future__ import annotations

from uuid import UUID

import falcon

from web import inputs, responses
from web.ports import StatusLookup
from web.problems import not_found


class Item:
    def __init__(self, statuses: StatusLookup):
        self._statuses = statuses

    def on_get(self, req: falcon.Request, resp: falcon.Response, command_id: UUID) -> None:
        inputs.only(req)
        status = self._statuses.get(str(command_id))
        if status is None:
            raise not_found(f"command {command_id}")
        resp.media = responses.COMMAND.dump(status)
