"""``/commands/{id}``: how a queued command ended, or that it has not yet."""

from __future__ import annotations

from uuid import UUID

import falcon

from web.ports import StatusLookup
from web.problems import Problem

FIELDS = ("command_id", "type", "status", "submitted_at", "completed_at", "stream_id", "version", "error")


class Item:
    def __init__(self, statuses: StatusLookup):
        self._statuses = statuses

    def on_get(self, req: falcon.Request, resp: falcon.Response, command_id: UUID) -> None:
        status = self._statuses.get(str(command_id))
        if status is None:
            raise Problem(falcon.HTTP_404, title="Not Found", detail=f"no command {command_id}")
        resp.media = {k: v for k, v in status.items() if k in FIELDS}
