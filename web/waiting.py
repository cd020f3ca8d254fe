"""Read your own writes, over HTTP: waiting for a command's effect.

``after=<command_id>`` on any query route waits (``Prefer: wait=<s>``,
RFC 7240: default 2 s, at most 10) until the read model of the stream the
command touched has reached the version the command produced, or the
command ended without one.  A wait that runs out answers the current data
with ``Read-Model-Stale: true``.  (How fresh an answer is, it says in
headers of its own: web.freshness.)

Waiting does not poll: one Redis subscription per web process wakes the
request threads waiting on a command or a stream; a timer that backs off to
2 s covers a lost signal.  A web process lets at most ``max_waits``
requests wait at once (these and the event streams of web.stories share
the limit), so that waiting clients cannot take every thread."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import falcon
import redis

from infra.statuses import FAILED, FINAL, REJECTED, SUCCEEDED
from web.metrics import AFTER_WAITS
from web.problems import Problem

log = logging.getLogger(__name__)

#: The query parameter that asks a read to wait for a command's effect.
AFTER = "after"

#: ``read_model`` of history routes: they read the event store itself.
EVENTS = "events"

DEFAULT_WAIT_S = 2
MAX_WAIT_S = 10
PREFER_WAIT = re.compile(r"(?:^|[,;\s])wait\s*=\s*\"?([0-9]+)\"?", re.IGNORECASE)


def command_signal(command_id: str) -> str:
    """What a waiter watches to hear that a command finished."""
    return f"command:{command_id}"


def stream_signal(stream_id: str) -> str:
    """What a waiter watches to hear that a stream's read model moved."""
    return f"stream:{stream_id}"


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
        keys = [command_signal(data["command"])] if "command" in data else [stream_signal(data.get("stream"))]
        with self._cond:
            woken = [k for k in keys if self._watched[k]]
            for key in woken:
                self._seen[key] += 1
            if woken:
                self._cond.notify_all()

    def watch(self, keys: Iterable[str]) -> Watch:
        self._ensure_started()
        return Watch(self, list(keys))

    def enter(self, keys: list[str]) -> dict[str, int]:
        """Count a waiter's interest in ``keys``; how often each was
        signalled so far (what a later wait compares with)."""
        with self._cond:
            for key in keys:
                self._watched[key] += 1
            return {k: self._seen[k] for k in keys}

    def wait_past(self, seen: dict[str, int], timeout: float) -> tuple[bool, dict[str, int]]:
        """Until a key of ``seen`` is signalled again, or ``timeout``:
        whether one was, and the counts now."""
        with self._cond:
            signalled = self._cond.wait_for(
                lambda: any(self._seen[k] != n for k, n in seen.items()), timeout=max(timeout, 0)
            )
            return signalled, {k: self._seen[k] for k in seen}

    def leave(self, keys: list[str]) -> None:
        """A waiter no longer wants ``keys``; forget those nobody watches."""
        with self._cond:
            for key in keys:
                self._watched[key] -= 1
                if self._watched[key] <= 0:
                    del self._watched[key]
                    self._seen.pop(key, None)


class Watch:
    """One waiter's interest in some keys of a :class:`SignalHub`."""

    def __init__(self, hub: SignalHub, keys: list[str]):
        self._hub = hub
        self._keys = keys
        self._seen = hub.enter(keys)

    def add(self, keys: Iterable[str]) -> None:
        """Watch ``keys`` too (from their next signal on)."""
        new = [key for key in dict.fromkeys(keys) if key not in self._seen]
        if new:
            self._keys += new
            self._seen.update(self._hub.enter(new))

    def wait(self, timeout: float) -> bool:
        """Until a watched key is signalled or ``timeout``; True if signalled."""
        signalled, self._seen = self._hub.wait_past(self._seen, timeout)
        return signalled

    def close(self) -> None:
        self._hub.leave(self._keys)

    def __enter__(self) -> Watch:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Slots:
    """How many requests one web process lets wait at once, for ``after=``
    or on a command's story (web.stories): each holds a request thread."""

    def __init__(self, limit: int):
        self.limit = max(limit, 0)
        self._free = threading.BoundedSemaphore(self.limit) if self.limit else None

    def take(self) -> bool:
        """A slot, if one is free (never waits for one)."""
        return self._free is not None and self._free.acquire(blocking=False)

    def give_back(self) -> None:
        assert self._free is not None
        self._free.release()


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
        slots: Slots,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._statuses = statuses
        self._versions = versions  # (stream_type, stream_id) -> read-model version
        self._hub = hub
        self._slots = slots
        self._clock = clock

    def process_resource(self, req: falcon.Request, resp: falcon.Response, resource, params) -> None:
        if req.method not in ("GET", "HEAD") or getattr(resource, "read_model", None) is None:
            return
        command_id = req.get_param(AFTER)
        if command_id is None:
            return
        # A query the route refuses is refused before it is waited on.
        resource.read_query(req)
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
        if not self._slots.take():
            waited = Waited(stale=not self._reached(status, resource.read_model), applied_s=0)
        else:
            try:
                with AFTER_WAITS.track_inprogress():
                    waited = self._wait(command_id, status, asked, resource.read_model)
            finally:
                self._slots.give_back()
        resp.set_header("Preference-Applied", f"wait={waited.applied_s}")
        resp.set_header("Read-Model-Stale", "true" if waited.stale else "false")

    def _reached(self, status: dict[str, Any], read_model: str) -> bool:
        if status["status"] in (REJECTED, FAILED):
            return True
        if status["status"] != SUCCEEDED:
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
        keys = [command_signal(command_id), stream_signal(status["stream_id"])]
        backoff = 0.1
        with self._hub.watch(keys) as watch:
            while True:
                remaining = deadline - self._clock()
                if remaining <= 0:
                    return Waited(stale=True, applied_s=asked)
                watch.wait(min(remaining, backoff))
                backoff = min(backoff * 2, 2.0)
                if status["status"] not in FINAL:
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
