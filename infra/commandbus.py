"""How the web tier hands a command to the workers."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from dramatiq import Broker

from infra.idempotency import ACCEPTING, IdempotencyKeys, KeyInFlight, KeyReused
from infra.messages import COMMANDS_QUEUE, CommandEnvelope, command_message
from infra.statuses import ACCEPTED, CommandStatuses, record

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IdempotencyRequest:
    scope: str  # whose key it is
    key: str
    fingerprint: str


@dataclass(frozen=True)
class Accepted:
    response: dict[str, Any]
    replayed: bool = False


class QueueFull(Exception):
    """The ``commands`` queue is deeper than the service accepts."""


class CommandBus:
    """Records a command as ``accepted`` and queues it on ``commands``,
    at most once per ``Idempotency-Key``, unless the queue is too deep."""

    def __init__(
        self,
        broker: Broker,
        statuses: CommandStatuses,
        keys: IdempotencyKeys,
        *,
        max_depth: int = 10_000,
        clock=time.monotonic,
    ):
        self._broker = broker
        self._statuses = statuses
        self._keys = keys
        self._max_depth = max_depth
        self._clock = clock
        self._depth = (0, float("-inf"))  # (depth, when read)

    def check_depth(self) -> None:
        """Refuse new commands while the queue is deeper than ``max_depth``.
        The depth is read at most once a second per process, off the hot path.

        Raises:
          QueueFull: the workers are that far behind.
        """
        depth, read_at = self._depth
        now = self._clock()
        if now - read_at >= 1.0:
            depth = self._broker.client.llen(f"{self._broker.namespace}:{COMMANDS_QUEUE}")
            self._depth = (depth, now)
        if depth > self._max_depth:
            raise QueueFull(f"{depth} commands are waiting")

    def submit(
        self,
        envelope: CommandEnvelope,
        response: dict[str, Any],
        idempotency: IdempotencyRequest | None = None,
    ) -> Accepted:
        """Queue ``envelope``; ``response`` is the ``202`` body to remember.

        Redis round trips: without a key, the status record then the enqueue;
        with one, the claim (with the status record), the enqueue, then
        marking the claim settled.

        Raises:
          KeyReused: the key was used for another request.
          KeyInFlight: the key's first request is still being accepted.
          redis.RedisError: Redis did not take the command; nothing is queued.
        """
        self.check_depth()
        if idempotency is None:
            self._statuses.accept(envelope)
            self._enqueue(envelope, undo=lambda: self._statuses.forget(envelope.command_id))
            return Accepted(response)

        scope, key = idempotency.scope, idempotency.key
        mine, held = self._keys.claim(
            scope,
            key,
            idempotency.fingerprint,
            envelope,
            response,
            status_key=self._statuses.key(envelope.command_id),
            status=json.dumps(record(envelope, ACCEPTED)),
        )
        if held is not None and held.token == mine.token:
            held = None  # our own claim, seen by a retry of the claim call
        if held is None:
            # A failed enqueue may still have reached Redis: the claim stays
            # ``accepting``, so that a retry with this key queues this same
            # command (harmless if it was queued) rather than a new one.
            self._enqueue(envelope, undo=lambda: None)
            self._keys.settle(scope, mine)
            return Accepted(response)

        if held.fingerprint != idempotency.fingerprint:
            raise KeyReused(key)
        if held.state == ACCEPTING:
            if not self._keys.is_stale(held):
                raise KeyInFlight(key)
            # Its request died between claiming and settling: queue the same
            # command again (its command_id makes a second delivery harmless).
            fresh = self._keys.take_over(scope, held)
            if fresh is None:
                raise KeyInFlight(key)
            self._enqueue(CommandEnvelope.from_dict(held.envelope), undo=lambda: None)
            self._keys.settle(scope, fresh)
        return Accepted(held.response, replayed=True)

    def _enqueue(self, envelope: CommandEnvelope, undo) -> None:
        try:
            self._broker.enqueue(command_message(envelope))
        except Exception:
            try:
                undo()
            except Exception:
                log.warning("could not undo the records of unqueued command %s", envelope.command_id)
            raise
