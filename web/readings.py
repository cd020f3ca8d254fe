"""The service's state as it is now, read from Redis and the store: queue
depths and the age of each queue's oldest message, retries waiting,
command outcomes and latency (infra/measures.py), projection lag, dead
letters.  Read once per ask, in plain values: ``/metrics`` renders them for
Prometheus (web.metrics), ``/ops/data`` as JSON (web.ops)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis

from infra import measures
from infra.keys import Keys
from infra.messages import COMMANDS_QUEUE, PROJECTIONS_QUEUE
from infra.mongo import READ_MODELS

QUEUES = (COMMANDS_QUEUE, PROJECTIONS_QUEUE)

#: The oldest of this many messages at the head of a queue is its oldest
#: (a dead worker's messages are put back at the tail, so the head is not
#: always the oldest).
HEAD_SAMPLE = 10


@dataclass(frozen=True)
class QueueReading:
    #: messages waiting
    depth: int
    #: messages in Dramatiq's dead-letter queue
    dead: int
    #: messages waiting to be retried (Dramatiq's delay queue)
    retries: int
    #: how long the oldest waiting message has been ready (0 when none waits)
    oldest_age_s: float


@dataclass(frozen=True)
class LagReading:
    #: committed versions not yet applied
    versions: int
    #: age of the oldest commit not yet applied
    seconds: float


@dataclass(frozen=True)
class RedisReading:
    queues: dict[str, QueueReading]
    #: (command type, outcome) -> commands that ended so (a counter)
    outcomes: dict[tuple[str, str], int]
    latency: dict[tuple[str, str], measures.Histogram]
    #: read model -> its lag as of the last catch-up pass (every read model)
    lag: dict[str, LagReading]
    #: time since the catch-up last measured the lag; None before its first pass
    lag_measured_age_s: float | None


class Readings:
    """Reads the measures when asked; each method raises when its source
    does not answer."""

    def __init__(
        self,
        client: redis.Redis,
        namespace: str,
        dead_letters: Callable[[], int],
        clock: Callable[[], float] = time.time,
    ):
        self._redis = client
        self._keys = Keys(namespace)
        self._dead_letters = dead_letters
        self._clock = clock

    def dead_letters(self) -> int:
        """About how many messages are kept in the dead_letters collection."""
        return self._dead_letters()

    def from_redis(self) -> RedisReading:
        keys = self._keys
        pipe = self._redis.pipeline(transaction=False)
        for queue in QUEUES:
            pipe.llen(keys.queue(queue))
            pipe.zcard(keys.dead(queue))
            # Retries wait in the delay queue, or in a worker's memory until
            # they are due: either way their message is in its hash.
            pipe.hlen(keys.delayed_messages(queue))
        pipe.hgetall(keys.outcomes)
        pipe.hgetall(keys.latency)
        pipe.get(keys.lag)
        *by_queue, outcomes, latency, measured = pipe.execute()
        oldest = self._oldest()
        queues = {
            queue: QueueReading(*by_queue[3 * i : 3 * i + 3], oldest_age_s=oldest[queue])
            for i, queue in enumerate(QUEUES)
        }
        completed = {}
        for key, count in outcomes.items():
            command_type, _, outcome = key.decode().partition("|")
            completed[(command_type, outcome)] = int(count)
        # Measured by the last catch-up pass, from the event store's stream
        # heads against each read model's documents: facts, not running
        # totals, so no crash can offset them.
        lag = json.loads(measured) if measured else {"measured_ms": 0, "read_models": {}}
        by_model = {}
        for name in (model.name for model in READ_MODELS.values()):
            measure = lag["read_models"].get(name, {})
            by_model[name] = LagReading(measure.get("versions", 0), measure.get("seconds", 0.0))
        return RedisReading(
            queues=queues,
            outcomes=completed,
            latency=measures.read_latency(latency),
            lag=by_model,
            lag_measured_age_s=(
                max(0.0, self._clock() - lag["measured_ms"] / 1000) if lag["measured_ms"] else None
            ),
        )

    def _oldest(self) -> dict[str, float]:
        """Per queue, how long its oldest waiting message has been ready:
        since it was sent, or since it fell due (a retry)."""
        pipe = self._redis.pipeline(transaction=False)
        for queue in QUEUES:
            pipe.lrange(self._keys.queue(queue), 0, HEAD_SAMPLE - 1)
        heads = dict(zip(QUEUES, pipe.execute(), strict=True))
        for queue, ids in heads.items():
            if ids:
                pipe.hmget(self._keys.messages(queue), ids)
        bodies = iter(pipe.execute())
        now_ms = self._clock() * 1000
        oldest = {}
        for queue, ids in heads.items():
            found = next(bodies) if ids else []
            ready_ms = [ready_since_ms(json.loads(body)) for body in found if body]
            oldest[queue] = max(0.0, (now_ms - min(ready_ms)) / 1000) if ready_ms else 0.0
        return oldest


def ready_since_ms(message: dict) -> float:
    """When a Dramatiq message could first be delivered: when it was sent,
    or, for a delayed one (a retry), when it fell due."""
    return max(message.get("message_timestamp", 0), message.get("options", {}).get("eta", 0))
