"""How fresh a query's answer is, said in headers: ``Read-Model-Updated-At``
(newest applied event among what it returns) and ``Read-Model-Lag``
(seconds it trails the newest committed event of those streams); items
also carry ``ETag`` / ``Read-Model-Version`` and answer ``If-None-Match``
with 304.  (Waiting for a command's effect, ``after=``: web.waiting.)"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import falcon
import redis

from infra.messages import parse_rfc3339, rfc3339
from infra.progress import Progress, to_ms

log = logging.getLogger(__name__)


def lag_s(items: list[dict[str, Any]], heads: dict) -> float:
    """Seconds the returned documents trail their streams' newest commits."""
    lag = 0.0
    for item in items:
        head = heads.get(item["id"])
        if head is not None and head.version > item["version"]:
            behind = (head.recorded_ms - to_ms(parse_rfc3339(item["updated_at"]))) / 1000
            lag = max(lag, behind, 0.001)  # behind is never "0", whatever the clocks say
    return lag


def describe(
    req: falcon.Request,
    resp: falcon.Response,
    progress: Progress | None,
    items: list[dict[str, Any]],
    *,
    collection: str,
) -> None:
    """``Read-Model-Updated-At`` and ``Read-Model-Lag`` for a list or an item."""
    newest: datetime | None = None
    try:
        if items:
            newest = max(parse_rfc3339(item["updated_at"]) for item in items)
        elif progress is not None:
            newest = progress.newest_applied(collection)
        heads = progress.heads([item["id"] for item in items]) if progress is not None and items else {}
    except redis.RedisError:
        # The heads live in Redis: without it the lag is unknown, and said not.
        log.warning("Redis unavailable: Read-Model-Lag left out")
        heads = None
    if newest is not None:
        resp.set_header("Read-Model-Updated-At", rfc3339(newest))
    if any(item.get("stuck") for item in items):
        resp.set_header("Read-Model-Stale", "true")
    if heads is not None:
        resp.set_header("Read-Model-Lag", format_seconds(lag_s(items, heads)))


def describe_item(req: falcon.Request, resp: falcon.Response, version: int, *, stuck: bool = False) -> bool:
    """``ETag`` and ``Read-Model-Version``; True when ``If-None-Match``
    already holds this representation (answer 304).  A stuck document's
    tag differs from the same version's when it is not stuck."""
    tag = f"{version}-stuck" if stuck else str(version)
    resp.set_header("ETag", f'"{tag}"')
    resp.set_header("Read-Model-Version", str(version))
    matches = req.if_none_match or []
    return any(str(m) == "*" or m.strip('"') == tag for m in matches)


def answer_item(
    req: falcon.Request,
    resp: falcon.Response,
    progress: Progress | None,
    item: dict[str, Any],
    *,
    collection: str,
) -> None:
    """``item`` with its freshness headers, or 304 when ``If-None-Match``
    already holds it."""
    describe(req, resp, progress, [item], collection=collection)
    if describe_item(req, resp, item["version"], stuck=bool(item.get("stuck"))):
        resp.status = falcon.HTTP_304
        return
    resp.media = item


def format_seconds(seconds: float) -> str:
    return "0" if seconds <= 0 else f"{seconds:.3f}".rstrip("0").rstrip(".")
