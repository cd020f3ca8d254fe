"""``/health``: the process is up (no I/O).  ``/ready``: Redis and the
store both answer within a second; otherwise 503 naming what is down.
Neither needs a token: platforms probe them."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait

import falcon

from web.problems import Problem

log = logging.getLogger(__name__)


class Health:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"status": "ok"}


class Ready:
    def __init__(self, checks: dict[str, Callable[[], object]], timeout_s: float = 1.0):
        self._checks = checks
        self._timeout_s = timeout_s
        self._pool = ThreadPoolExecutor(max_workers=len(checks) * 2, thread_name_prefix="ready")

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        # All at once, under one deadline: the probe answers within a second.
        futures = {name: self._pool.submit(check) for name, check in self._checks.items()}
        wait(futures.values(), timeout=self._timeout_s)
        down = []
        for name, future in futures.items():
            if not future.done():
                log.warning("readiness: %s did not answer within %.1f s", name, self._timeout_s)
                down.append(name)
            elif future.exception() is not None:
                log.warning("readiness: %s is down: %s", name, future.exception())
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
