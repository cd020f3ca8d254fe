"""``/health``: the process is up (no I/O).  ``/ready``: Redis and the
store both answer within a second; otherwise 503 naming what is down.
Neither needs a token: platforms probe them."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import falcon

from web.problems import Problem

log = logging.getLogger(__name__)


class Health:
    public = True

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"status": "ok"}


class Ready:
    public = True

    def __init__(self, checks: dict[str, Callable[[], object]]):
        self._checks = checks
        self._lock = threading.Lock()

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        down = []
        for name, check in self._checks.items():
            try:
                check()
            except Exception as exc:
                log.warning("readiness: %s did not answer: %s", name, type(exc).__name__)
                down.append(name)
        if down:
            raise Problem(
                falcon.HTTP_503,
                title="Not Ready",
                detail=f"{' and '.join(down)} did not answer within 1 s",
                headers={"Retry-After": "5"},
                down=down,
            )
        resp.media = {"status": "ready", **{name: "ok" for name in self._checks}}
