"""``GET /commands/{id}/events``: a command's story, live, as server-sent
events (text/event-stream).

Each entry of the story (infra/stories.py) is one event: its id is the
entry's, so a client that reconnects with ``Last-Event-ID`` (as a browser's
``EventSource`` does by itself) resumes after it, without a loss or a
repeat.  The stream closes after the ``end`` entry; a story that ended
already is answered whole, at once, and closed.

A story still being told holds a request thread while it streams, so it
takes one of the process's waiting slots (web.waiting.Slots, shared with
``after=``); when none is free the answer is ``503`` with ``Retry-After``.
It is woken by the signals that already wake ``after=`` (a command of the
story finished, a stream it committed to was projected), so it costs no
Redis subscription of its own; a timer covers a lost signal.  A comment
every ``HEARTBEAT_S`` keeps proxies from closing an idle stream and finds
a client that left; after ``MAX_STREAM_S`` the stream closes and the
client reconnects, so that no slot is held for ever."""

from __future__ import annotations

import json
import logging
import re
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from uuid import UUID

import falcon
import redis

from infra.statuses import FINAL
from infra.stories import COMMITTED, END, FOLLOW_UP, MAX_ENTRIES, STATUS, Told
from web import inputs
from web.lifecycle import STOPPING
from web.metrics import EVENT_STREAMS
from web.ports import SignalSource, StatusLookup, StoryReader
from web.problems import Problem, not_found
from web.waiting import Slots, command_signal, stream_signal

log = logging.getLogger(__name__)

EVENT_STREAM = "text/event-stream"
#: A client's ``Last-Event-ID``: an entry's place in its story.
ENTRY_ID = re.compile(r"[0-9]{1,9}")
HEARTBEAT_S = 15.0
MAX_STREAM_S = 300.0
#: How long a client waits before it reconnects (the ``retry:`` field).
RECONNECT_MS = 1000


class Events:
    def __init__(
        self,
        statuses: StatusLookup,
        stories: StoryReader,
        hub: SignalSource | None,
        slots: Slots,
        *,
        clock: Callable[[], float] = time.monotonic,
        heartbeat_s: float = HEARTBEAT_S,
        max_stream_s: float = MAX_STREAM_S,
    ):
        self._statuses = statuses
        self._stories = stories
        self._hub = hub
        self._slots = slots
        self._clock = clock
        self._heartbeat_s = heartbeat_s
        self._max_stream_s = max_stream_s

    def on_get(self, req: falcon.Request, resp: falcon.Response, command_id: UUID) -> None:
        story_id = str(command_id)
        inputs.only(req)
        given = req.get_header("Last-Event-ID")
        if given is not None and not ENTRY_ID.fullmatch(given):
            raise bad_last_event_id()
        after = int(given or 0)
        try:
            # All a story can hold, so that one that ended is answered whole.
            told = self._stories.read(story_id, after, count=MAX_ENTRIES + 1)
            if not told:
                told = self._nothing_after(story_id, after)
        except redis.RedisError:
            raise Problem(
                falcon.HTTP_503,
                title="Service Unavailable",
                detail="Redis, which keeps command stories, did not answer; try again shortly",
                headers={"Retry-After": "5"},
            ) from None
        resp.set_header("Cache-Control", "no-store")
        if told is None:
            # Nothing follows the client's last event: the story ended.  A
            # 204 tells an EventSource to stop reconnecting.
            resp.status = falcon.HTTP_204
            return
        if any(entry.event == END for entry in told):
            streaming(resp)
            resp.text = prologue() + "".join(event(entry) for entry in told)
            return
        if not self._slots.take():
            raise Problem(
                falcon.HTTP_503,
                title="Too Many Streams",
                detail=f"this process is already streaming or waiting for {self._slots.limit} clients; "
                "try again shortly",
                headers={"Retry-After": "2"},
            )
        streaming(resp)
        if req.method == "HEAD":
            # The status a GET would have now; Falcon drops a stream
            # unread, so the slot is not held.
            self._slots.give_back()
            return
        resp.stream = Held(self._stream(story_id, told, after, departed(req.env)), self._slots)

    def _nothing_after(self, story_id: str, after: int) -> list[Told] | None:
        """What to answer when the story holds nothing after ``after``: the
        story of a command that ended before commands had stories, nothing
        to wait for (None: it ended), or a wait for what comes (an empty
        list).

        Raises:
          Problem: 404, no such command.
        """
        last = self._stories.last(story_id) if after else None
        if last is not None and last.event == END:
            return None
        if last is not None and after <= last.id:
            return []
        status = self._statuses.get(story_id)
        if status is None:
            raise not_found(f"command {story_id}")
        if status["status"] in FINAL and last is None:
            # Accepted before commands had stories: its outcome is the
            # whole story there is.
            return untold(status)[after:] or None
        if after:
            # An id past what the story holds: no event this stream sent.
            raise bad_last_event_id()
        return []

    def _stream(
        self, story_id: str, told: list[Told], after: int, gone: Callable[[], bool]
    ) -> Iterator[bytes]:
        """The story's events as they come, until its end or until the
        client is ``gone``."""
        yield prologue().encode()
        watch = self._hub.watch([]) if self._hub is not None else None
        if watch is not None and after:
            # Resumed: what the story told before wakes it too.
            watch.add(keys_to_watch(story_id, self._stories.read(story_id, 0, count=after)))
        try:
            yield from self._follow(story_id, told, watch, after, gone)
        finally:
            if watch is not None:
                watch.close()

    def _follow(
        self, story_id: str, told: list[Told], watch, after: int, gone: Callable[[], bool]
    ) -> Iterator[bytes]:
        started = last_sent = self._clock()
        backoff = 0.1
        while True:
            if watch is not None:
                watch.add(keys_to_watch(story_id, told))
            for entry in told:
                yield event(entry).encode()
                after = entry.id
                last_sent = self._clock()
                if entry.event == END:
                    return
            now = self._clock()
            if STOPPING.is_set() or now - started >= self._max_stream_s or gone():
                return
            if now - last_sent >= self._heartbeat_s:
                yield b": keep-alive\n\n"
                last_sent = now
            wait = min(backoff, self._heartbeat_s)
            signalled = watch.wait(wait) if watch is not None else time.sleep(wait)
            backoff = 0.1 if signalled else min(backoff * 2, 2.0)
            try:
                told = self._stories.read(story_id, after)
            except redis.RedisError:
                log.warning("Redis unavailable: the story of %s pauses", story_id)
                told = []


class Held:
    """A stream holding a waiting slot, given back once when the server
    closes it: at its end, or when its client left."""

    def __init__(self, events: Iterator[bytes], slots: Slots):
        self._events = events
        self._slots = slots
        self._held = True
        self._lock = threading.Lock()
        EVENT_STREAMS.inc()

    def __iter__(self) -> Iterator[bytes]:
        return self._events

    def close(self) -> None:
        try:
            self._events.close()  # type: ignore[attr-defined]
        finally:
            with self._lock:
                held, self._held = self._held, False
            if held:
                self._slots.give_back()
                EVENT_STREAMS.dec()


def bad_last_event_id() -> Problem:
    detail = "must be the id of an event this stream sent"
    return Problem(falcon.HTTP_400, title="Invalid Header", detail=detail, errors={"Last-Event-ID": [detail]})


def streaming(resp: falcon.Response) -> None:
    resp.content_type = EVENT_STREAM
    resp.set_header("X-Accel-Buffering", "no")  # proxies pass events on at once


def departed(env: dict) -> Callable[[], bool]:
    """Whether the client of the request ``env`` has closed its connection:
    its socket (gunicorn's) reads as ended.  A write finds that out only at
    the second heartbeat after, so a stream that waits looks at each wake.
    Without a plain socket to look at, never."""
    sock = env.get("gunicorn.socket")
    if not isinstance(sock, socket.socket) or isinstance(sock, ssl.SSLSocket):
        return lambda: False

    def gone() -> bool:
        try:
            readable, _, _ = select.select([sock], [], [], 0)
            # Readable with nothing to read: the client closed.  (Bytes
            # waiting, a pipelined request, are left unread.)
            return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
        except (BlockingIOError, InterruptedError):
            return False
        except (OSError, ValueError):
            return True

    return gone


def untold(status: dict) -> list[Told]:
    """The story of a command that ended without one: its status, then its end."""
    final = {k: status.get(k) for k in ("command_id", "type", "status", "version", "error")}
    return [Told(1, STATUS, final), Told(2, END, final)]


def keys_to_watch(story_id: str, told: list[Told]) -> list[str]:
    """The signals that announce the story's next entries: a command of it
    finished, or a stream it committed to moved in its read model."""
    keys = [command_signal(story_id)]
    for entry in told:
        if entry.event == FOLLOW_UP:
            keys.append(command_signal(entry.data["follow_up"]["command_id"]))
        elif entry.event == COMMITTED:
            keys.append(stream_signal(entry.data["stream_id"]))
    return keys


def prologue() -> str:
    return f"retry: {RECONNECT_MS}\n\n"


def event(entry: Told) -> str:
    """One entry as a server-sent event (its data is one line of JSON)."""
    return f"id: {entry.id}\nevent: {entry.event}\ndata: {json.dumps(entry.data, separators=(',', ':'))}\n\n"
