"""What the read side needs to know about the write side's progress, kept
in Redis so that queries never read the event store for it:

- a *stream head* per stream (its last committed version and when it was
  recorded), written by the command worker with the command's outcome, so
  that a query can tell how far its read model lags;
- the *newest applied event time* per read-model collection, kept by the
  projector;
- a *signal* channel: a command finished, or a stream's read model moved,
  which wakes the queries waiting for it (``after=``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

import redis

from infra.keys import Keys

_PROJECTED = """
local newest = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > newest then redis.call('SET', KEYS[1], ARGV[1]) end
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1
"""


def to_ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


@dataclass(frozen=True)
class Head:
    version: int
    recorded_ms: int


class Progress:
    def __init__(self, client: redis.Redis, *, namespace: str):
        self._redis = client
        self._keys = Keys(namespace)
        self._projected = client.register_script(_PROJECTED)

    @property
    def channel(self) -> str:
        return self._keys.signals

    def head_key(self, stream_id: str) -> str:
        return self._keys.head(stream_id)

    def heads(self, stream_ids: list[str]) -> dict[str, Head]:
        """The known heads of ``stream_ids`` (one round trip)."""
        if not stream_ids:
            return {}
        pipe = self._redis.pipeline(transaction=False)
        for stream_id in stream_ids:
            pipe.hmget(self.head_key(stream_id), "version", "recorded_ms")
        heads = {}
        for stream_id, (version, recorded_ms) in zip(stream_ids, pipe.execute(), strict=True):
            if version is not None:
                heads[stream_id] = Head(int(version), int(recorded_ms))
        return heads

    def projected(self, collection: str, stream_id: str, version: int, updated_at: datetime) -> None:
        """A read-model document moved: keep the collection's newest applied
        time, and wake whoever waits on the stream (one round trip)."""
        signal = json.dumps({"stream": stream_id, "version": version})
        self._projected(
            keys=[self._keys.applied(collection)],
            args=[to_ms(updated_at), self.channel, signal],
        )

    def newest_applied(self, collection: str) -> datetime | None:
        raw = self._redis.get(self._keys.applied(collection))
        return from_ms(int(raw)) if raw is not None else None
