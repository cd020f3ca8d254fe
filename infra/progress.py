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
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import redis

from infra.keys import Keys
from infra.steps import Step, Steps

#: A step (infra/steps.py): keep the collection's newest applied time,
#: and wake whoever waits on the stream.
PROJECTED = """
local newest = tonumber(redis.call('GET', K[1]) or '0')
if tonumber(A[1]) > newest then redis.call('SET', K[1], A[1]) end
redis.call('PUBLISH', A[2], A[3])
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


class HandsOver(Protocol):
    def hand_over(self, steps: Sequence[Step], *, what: str) -> None: ...


class Progress:
    """``hand_over``: where ``projected`` goes (the broker, which runs it
    with the acknowledgement of the message being processed); without it,
    each call is a round trip of its own."""

    def __init__(self, client: redis.Redis, *, namespace: str, hand_over: HandsOver | None = None):
        self._redis = client
        self._namespace = namespace
        self._keys = Keys(namespace)
        self._steps = Steps(client)
        self._hand_over = hand_over

    def handing_over_to(self, broker: HandsOver) -> Progress:
        """This progress, its ``projected`` handed over to ``broker``."""
        return Progress(self._redis, namespace=self._namespace, hand_over=broker)

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

    def projected(
        self,
        collection: str,
        stream_id: str,
        version: int,
        updated_at: datetime,
        *,
        told: Sequence[Step] = (),
    ) -> None:
        """A read-model document moved: keep the collection's newest applied
        time, and wake whoever waits on the stream (one round trip, or
        none of its own when handed over); ``told``: the steps that tell
        the stories of the commits it applied (infra/stories.py)."""
        steps = [self.projected_step(collection, stream_id, version, updated_at), *told]
        self.tell(steps, what=f"progress of {stream_id}")

    def tell(self, steps: Sequence[Step], *, what: str) -> None:
        """Run ``steps`` as ``projected`` runs its own (handed over, or now)."""
        if self._hand_over is None:
            self._steps.run(steps)
        else:
            self._hand_over.hand_over(steps, what=what)

    def projected_step(self, collection: str, stream_id: str, version: int, updated_at: datetime) -> Step:
        """``projected`` as a step, to run with others."""
        signal = json.dumps({"stream": stream_id, "version": version})
        return Step(
            "projected",
            PROJECTED,
            keys=(self._keys.applied(collection),),
            args=(to_ms(updated_at), self.channel, signal),
        )

    def newest_applied(self, collection: str) -> datetime | None:
        raw = self._redis.get(self._keys.applied(collection))
        return from_ms(int(raw)) if raw is not None else None
