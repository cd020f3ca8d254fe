"""``/ops``: the operations page, and ``/ops/data``, the JSON it polls.

The page is static (web/static: our HTML, script and styles, and the
vendored uPlot) and holds no data, so it is served without a token: a
browser sends no bearer header when it navigates.  The operator gives an
admin token once, in the page's form or as ``/ops#token=...`` (a fragment
never reaches a server or a log); the script keeps it in the tab's
sessionStorage and sends it with every ``/ops/data`` and retry request,
which need the ``admin`` scope.

``/ops/data`` is what ``/metrics`` reads (web.readings), as counters and
gauges; the page turns successive outcome counters into rates per
minute."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import falcon

from infra.generations import lapsed
from infra.mongo import BY_NAME
from web import inputs, responses
from web.deadletters import LISTED, listing
from web.ports import DeadLetterDesk, RebuildPointers, StateReadings
from web.readings import RedisReading

STATIC = Path(__file__).resolve().parent / "static"

#: The files the page loads: name -> (path under web/static, media type).
ASSETS = {
    "ops.js": ("ops.js", "text/javascript; charset=utf-8"),
    "ops.css": ("ops.css", "text/css; charset=utf-8"),
    "uPlot.iife.min.js": ("vendor/uplot/uPlot.iife.min.js", "text/javascript; charset=utf-8"),
    "uPlot.min.css": ("vendor/uplot/uPlot.min.css", "text/css; charset=utf-8"),
}

#: Only our own files, no inline script or style, nowhere to send the token
#: but here, and no framing.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


class Page:
    """``GET /ops``: the page (no data in it: it needs no token)."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = falcon.MEDIA_HTML
        resp.data = (STATIC / "ops.html").read_bytes()
        resp.set_headers(PAGE_HEADERS)
        resp.cache_control = ["no-cache"]


class Asset:
    """``GET /ops/static/{asset}``: the page's script and styles, and uPlot's."""

    public = True

    def on_get(self, req: falcon.Request, resp: falcon.Response, asset: str) -> None:
        if asset not in ASSETS:
            raise falcon.HTTPNotFound()
        path, resp.content_type = ASSETS[asset]
        resp.data = (STATIC / path).read_bytes()
        resp.set_headers({"X-Content-Type-Options": "nosniff"})
        # Revalidated each hour: our script changes with a deploy.
        resp.cache_control = ["public", "max-age=3600"]


class Data:
    """``GET /ops/data``: queues, command outcomes, projection lag, dead
    letters and rebuilds, as read now.  A source that does not answer is
    ``false`` in ``sources`` and its parts are null: the page says so."""

    def __init__(
        self,
        readings: StateReadings,
        desk: DeadLetterDesk,
        pointers: RebuildPointers,
        clock: Callable[[], float] = time.time,
    ):
        self._readings = readings
        self._desk = desk
        self._pointers = pointers
        self._clock = clock

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        inputs.only(req)
        try:
            reading = self._readings.from_redis()
        except Exception:  # shown as Redis down, as /metrics does
            reading = None
        try:
            stored = (self._readings.dead_letters(), self._desk.oldest(LISTED), self._pointers())
        except Exception:  # shown as MongoDB down
            stored = None
        resp.media = state(reading, stored, self._clock())
        resp.cache_control = ["no-store"]


def state(
    reading: RedisReading | None,
    stored: tuple[int, list[dict[str, Any]], dict[str, dict[str, Any]]] | None,
    now: float,
) -> dict[str, Any]:
    """``OpsData`` of what Redis answered (``reading``) and what the store
    did (``stored``: the dead-letter count, the oldest letters, the rebuild
    pointers), at ``now`` (Unix seconds)."""
    body: dict[str, Any] = {
        "at": now,
        "sources": {"redis": reading is not None, "mongodb": stored is not None},
        "queues": None,
        "outcomes": None,
        "lag": None,
        "lag_measured_age_s": None,
        "dead_letters": None,
        "rebuilds": None,
    }
    if reading is not None:
        body["queues"] = [
            {"queue": queue, "depth": q.depth, "oldest_age_s": q.oldest_age_s, "retries": q.retries,
             "dead": q.dead}
            for queue, q in reading.queues.items()
        ]  # fmt: skip
        body["outcomes"] = [
            {"type": command_type, "outcome": outcome, "count": count}
            for (command_type, outcome), count in sorted(reading.outcomes.items())
        ]
        body["lag"] = [
            {"read_model": name, "versions": lag.versions, "seconds": lag.seconds}
            for name, lag in reading.lag.items()
        ]
        body["lag_measured_age_s"] = reading.lag_measured_age_s
    if stored is not None:
        count, letters, pointers = stored
        body["dead_letters"] = listing(count, letters)
        body["rebuilds"] = rebuilds(pointers, now_ms=int(now * 1000))
    return responses.OPS_DATA.dump(body)


def rebuilds(pointers: dict[str, dict[str, Any]], now_ms: int) -> list[dict[str, Any]]:
    """Each read model's rebuild: ``idle``, ``building`` (under a live lease)
    or ``lapsed`` (its rebuild died; the next one or the catch-up clears it)."""
    found = []
    for name in BY_NAME:
        pointer = pointers.get(name, {})
        building = pointer.get("building")
        until = pointer.get("lease_until_ms")
        found.append(
            {
                "read_model": name,
                "state": "lapsed" if lapsed(pointer, now_ms) else "building" if building else "idle",
                "active": pointer.get("active") or name,
                "building": building,
                "lease_left_s": max(0.0, (until - now_ms) / 1000) if building and until else None,
            }
        )
    return found
