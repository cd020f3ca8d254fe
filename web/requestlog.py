"""``X-Request-Id``: accepted from the client (or made up), echoed, bound
to every log line of the request, and carried by the commands it queues as
their ``correlation_id``.  One JSON access-log line per request."""

from __future__ import annotations

import logging
import re
import time
import uuid

import falcon

from infra.logs import bound
from web.metrics import HTTP_LATENCY, HTTP_REQUESTS

log = logging.getLogger("web.access")

REQUEST_ID = re.compile(r"^[A-Za-z0-9._:/+=-]{1,128}$")


class RequestLog:
    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        given = req.get_header("X-Request-Id")
        req.context.request_id = given if given and REQUEST_ID.fullmatch(given) else str(uuid.uuid4())
        req.context.started = time.monotonic()
        req.context.log_binding = bound(correlation_id=req.context.request_id)
        req.context.log_binding.__enter__()

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource, req_succeeded: bool
    ) -> None:
        resp.set_header("X-Request-Id", req.context.request_id)
        status = resp.status_code if hasattr(resp, "status_code") else int(str(resp.status)[:3])
        queued = getattr(req.context, "queued", None)
        detail = {}
        if queued is not None:
            detail = {"command_type": queued[0], "replayed": queued[1]}
        log.info(
            "%s %s %s%s", req.method, req.path, status,
            f" queued {queued[0]} {req.context.command_id}" if queued else "",
            extra={
                **detail,
                "method": req.method,
                "path": req.path,
                "route": req.uri_template,
                "status": status,
                "duration_ms": round((time.monotonic() - req.context.started) * 1000, 1),
                "command_id": getattr(req.context, "command_id", None),
            },
        )  # fmt: skip
        route = req.uri_template or "unmatched"
        HTTP_REQUESTS.labels(route=route, method=req.method, status=str(status)).inc()
        HTTP_LATENCY.labels(route=route, method=req.method).observe(time.monotonic() - req.context.started)
        req.context.log_binding.__exit__(None, None, None)
