"""``GET /products/{id}/history`` and ``GET /orders/{id}/history``: a
stream's events, oldest first.  The web tier's only read of the event
store; always current (lag 0)."""

from __future__ import annotations

from uuid import UUID

import falcon

from web import freshness, inputs, waiting
from web.ports import StreamHistory
from web.problems import not_found


class History:
    read_model = waiting.EVENTS

    def __init__(self, history: StreamHistory, stream_type: str):
        self._history = history
        self._stream_type = stream_type

    def read_query(self, req: falcon.Request) -> dict:
        """The query: ``after=`` alone (also checked before its wait)."""
        inputs.only(req, waiting.AFTER)
        return {}

    def on_get(self, req: falcon.Request, resp: falcon.Response, **ids: UUID) -> None:
        self.read_query(req)
        [stream_id] = ids.values()
        events = self._history.events(str(stream_id), stream_type=self._stream_type)
        if events is None:
            raise not_found(f"{self._stream_type} {stream_id}")
        resp.set_header("Read-Model-Updated-At", events[-1]["recorded_at"])
        resp.set_header("Read-Model-Lag", "0")
        if freshness.describe_item(req, resp, events[-1]["version"]):
            resp.status = falcon.HTTP_304
            return
        resp.media = {"items": events}
