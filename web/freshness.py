"""Read your own writes, over HTTP.

- ``after=<command_id>`` on any query route waits (``Prefer: wait=<s>``,
  RFC 7240: default 2 s, at most 10) until the read model of the stream the
  command touched has reached the version the command produced, or the
  command ended without one.  A wait that runs out answers the current
  data with ``Read-Model-Stale: true``.
- Every answer says how fresh it is: ``Read-Model-Updated-At`` (newest
  applied event among what it returns) and ``Read-Model-Lag`` (seconds it
  trails the newest committed event of those streams); items also carry
  ``ETag`` / ``Read-Model-Version`` and answer ``If-None-Match`` with 304.

Waiting does not poll: one Redis subscription per web process wakes the
request threads waiting on a command or a stream; a timer that backs off to
2 s covers a lost signal.  A web process lets at most ``max_waits``
requests wait at once, so that waiting clients cannot take every thread."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import falcon
import redis

from infra.freshness import Progress, to_ms
from infra.messages import parse_rfc3339, rfc3339
from web.metrics import AFTER_WAITS
from web.problems import Problem

log = logging.getLogger(__name__)

#: ``read_model`` of history routes: they read the event store itself.
EVENTS = "events"

DEFAULT_WAIT_S = 2
MAX_WAIT_S = 10
PREFER_WAIT = re.compile(r"(?:^|[,;\s])wait\s*=\s*\"?([0-9]+)\"?", re.IGNORECASE)


class SignalHub:
    """One Redis subscription per process, shared by every waiting thread."""

    def __init__(self, client: redis.Redis, channel: str):
        self._client = client
        self._channel = channel
        self._cond = threading.Condition()
        self._watched: Counter[str] = Counter()
        self._seen: Counter[str] = Counter()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def _ensure_started(self) -> None:
        if self._thread is None:
            with self._start_lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._listen, name="signals", daemon=True)
                    self._thread.start()

    def _listen(self) -> None:
        while True:
            try:
                pubsub = self._client.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(self._channel)
                while True:
                    message = pubsub.get_message(timeout=1.0)
                    if message is not None:
                        self._signal(json.loads(message["data"]))
            except Exception:
                log.warning("signal subscription lost; waiting requests fall back to timers", exc_info=True)
                time.sleep(1.0)

    def _signal(self, data: dict[str, Any]) -> None:
        keys = [f"command:{data['command']}"] if "command" in data else [f"stream:{data.get('stream')}"]
        with self._cond:
            woken = [k for k in keys if self._watched[k]]
            for key in woken:
                self._seen[key] += 1
            if woken:
                self._cond.notify_all()

    def watch(self, keys: Iterable[str]) -> Watch:
        self._ensure_started()
        return Watch(self, list(keys))


class Watch:
    def __init__(self, hub: SignalHub, keys: list[str]):
        self._hub = hub
        self._keys = keys
        with hub._cond:
            for key in keys:
                hub._watched[key] += 1
            self._snapshot = {k: hub._seen[k] for k in keys}

    def wait(self, timeout: float) -> bool:
        """Until a watched key is signalled or ``timeout``; True if signalled."""
        hub = self._hub
        with hub._cond:
            signalled = hub._cond.wait_for(
                lambda: any(hub._seen[k] != self._snapshot[k] for k in self._keys), timeout=max(timeout, 0)
            )
            self._snapshot = {k: hub._seen[k] for k in self._keys}
        return signalled

    def close(self) -> None:
        hub = self._hub
        with hub._cond:
            for key in self._keys:
                hub._watched[key] -= 1
                if hub._watched[key] <= 0:
                    del hub._watched[key]
                    hub._seen.pop(key, None)

    def __enter__(self) -> Watch:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass(frozen=True)
class Waited:
    stale: bool
    applied_s: int


class ReadYourWrites:
    """Falcon middleware: ``after=`` on the routes whose resource declares
    ``read_model`` (the stream type whose read model it serves, or
    ``"events"`` for history, which is always current)."""

    def __init__(
        self,
        statuses,
        versions: Callable[[str, str], int | None],
        hub: SignalHub | None,
        *,
        max_waits: int,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._statuses = statuses
        self._versions = versions  # (stream_type, stream_id) -> read-model version
        self._hub = hub
        self._slots = threading.BoundedSemaphore(max(max_waits, 0)) if max_waits > 0 else None
        self._clock = clock

    def process_resource(self, req: falcon.Request, resp: falcon.Response, resource, params) -> None:
        if req.method not in ("GET", "HEAD") or getattr(resource, "read_model", None) is None:
            return
        command_id = req.get_param("after")
        if command_id is None:
            return
        try:
            command_id = str(UUID(command_id))
        except ValueError:
            raise bad_after("must be a command id (a UUID)") from None
        try:
            status = self._statuses.get(command_id)
        except redis.RedisError:
            # Without Redis nothing can be waited for: answer what is there.
            log.warning("Redis unavailable: after= answered without waiting")
            resp.set_header("Preference-Applied", "wait=0")
            resp.set_header("Read-Model-Stale", "true")
            return
        if status is None:
            raise bad_after(f"no command {command_id}")
        asked = prefer_wait(req.get_header("Prefer"))
        if self._slots is None or not self._slots.acquire(blocking=False):
            waited = Waited(stale=not self._reached(status, resource.read_model), applied_s=0)
        else:
            try:
                with AFTER_WAITS.track_inprogress():
                    waited = self._wait(command_id, status, asked, resource.read_model)
            finally:
                self._slots.release()
        resp.set_header("Preference-Applied", f"wait={waited.applied_s}")
        resp.set_header("Read-Model-Stale", "true" if waited.stale else "false")

    def _reached(self, status: dict[str, Any], read_model: str) -> bool:
        if status["status"] in ("rejected", "failed"):
            return True
        if status["status"] != "succeeded":
            return False
        if read_model == EVENTS or status.get("stream_type") is None or status["version"] is None:
            return True  # the event store holds a succeeded command's events
        current = self._versions(status["stream_type"], status["stream_id"])
        return current is not None and current >= status["version"]

    def _wait(self, command_id: str, status: dict[str, Any], asked: int, read_model: str) -> Waited:
        deadline = self._clock() + asked
        if self._reached(status, read_model):
            return Waited(stale=False, applied_s=asked)
        if self._hub is None:
            return Waited(stale=True, applied_s=asked)
        keys = [f"command:{command_id}", f"stream:{status['stream_id']}"]
        backoff = 0.1
        with self._hub.watch(keys) as watch:
            while True:
                remaining = deadline - self._clock()
                if remaining <= 0:
                    return Waited(stale=True, applied_s=asked)
                watch.wait(min(remaining, backoff))
                backoff = min(backoff * 2, 2.0)
                if status["status"] not in ("succeeded", "rejected", "failed"):
                    try:
                        status = self._statuses.get(command_id) or status
                    except redis.RedisError:
                        return Waited(stale=True, applied_s=asked)
                if self._reached(status, read_model):
                    return Waited(stale=False, applied_s=asked)


def bad_after(detail: str) -> Problem:
    return Problem(falcon.HTTP_400, title="Invalid Query", detail=detail, errors={"after": [detail]})


def prefer_wait(header: str | None) -> int:
    """``Prefer: wait=<seconds>`` (RFC 7240), defaulting and capped."""
    if header:
        match = PREFER_WAIT.search(header)
        if match:
            # Any number of digits is a wait, capped: compare lengths before
            # converting, which Python refuses past 4,300 digits.
            digits = match.group(1).lstrip("0") or "0"
            if len(digits) > len(str(MAX_WAIT_S)):
                return MAX_WAIT_S
            return min(int(digits), MAX_WAIT_S)
    return DEFAULT_WAIT_S


# --- freshness headers ------------------------------------------------------------


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


def format_seconds(seconds: float) -> str:
    return "0" if seconds <= 0 else f"{seconds:.3f}".rstrip("0").rstrip(".")
