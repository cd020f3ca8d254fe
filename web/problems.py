"""RFC 9457 problem details: every error leaves as ``application/problem+json``."""

from __future__ import annotations

import json
import logging
from http import HTTPStatus
from typing import Any

import falcon
import redis
from pymongo.errors import PyMongoError

PROBLEM_JSON = "application/problem+json"

log = logging.getLogger(__name__)


class Problem(falcon.HTTPError):
    """An ``HTTPError`` with RFC 9457 members beyond title and detail."""

    def __init__(
        self,
        status: str,
        *,
        title: str,
        detail: str | None = None,
        headers: dict[str, str] | None = None,
        **members: Any,
    ):
        super().__init__(status, title=title, description=detail, headers=headers)
        self.members = members


def not_found(what: str) -> Problem:
    """404 for ``what`` (``product <id>``, ``command <id>``...)."""
    return Problem(falcon.HTTP_404, title="Not Found", detail=f"no {what}")


def serialize(req: falcon.Request, resp: falcon.Response, exc: falcon.HTTPError) -> None:
    title = exc.title or ""
    if title[:3].isdigit():  # Falcon's own errors carry "404 Not Found"
        title = HTTPStatus(exc.status_code).phrase
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title,
        "status": exc.status_code,
    }
    if exc.description:
        body["detail"] = exc.description
    body["instance"] = req.path
    body.update(getattr(exc, "members", {}))
    resp.content_type = PROBLEM_JSON
    resp.data = json.dumps(body).encode()


def service_unavailable(req, resp, exc, params) -> None:
    log.warning("dependency unavailable on %s %s: %r", req.method, req.path, exc)
    raise Problem(
        falcon.HTTP_503,
        title="Service Unavailable",
        detail="a backing service did not answer; try again shortly",
        headers={"Retry-After": "5"},
    )


def install(app: falcon.App) -> None:
    app.set_error_serializer(serialize)
    app.add_error_handler(redis.RedisError, service_unavailable)
    app.add_error_handler(PyMongoError, service_unavailable)
