"""How the web tier hands a command to the workers.

Accepting a command is one Redis call, atomic: a Lua script claims the
``Idempotency-Key`` (if any), writes the command's ``accepted`` status and
puts the message on the ``commands`` queue, or does none of it.  So:

- two racing requests with one key make one command;
- when the web answers that nothing was queued, nothing was: if the reply
  is lost (Redis restarted, a connection dropped), the status record tells
  whether the call went through, since it exists exactly when the message
  was queued; if even that cannot be read, the answer says the outcome is
  unknown and names the command, whose ``GET /commands/{id}`` tells.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

import redis
from dramatiq import Broker

from infra.idempotency import ACCEPTING, TTL_S, Claim, IdempotencyKeys, KeyInFlight, KeyReused
from infra.keys import Keys
from infra.messages import COMMANDS_QUEUE, CommandEnvelope, command_message
from infra.statuses import ACCEPTED, CommandStatuses, record
from infra.stories import STORY

log = logging.getLogger(__name__)

#: KEYS: status, queue's message hash, queue, idempotency key ('' if none),
#: the command's fence, then its story's keys (infra/stories.py).
#: ARGV: status record, its TTL, message id, message, claim, the claim's TTL,
#: the queue's wake channel (infra/wakeups.py), then the story's arguments.
#: A fenced command (its request answered "not queued" already, when this
#: call was late) is not accepted.
#: The message goes where Dramatiq's Redis broker puts one (its
#: ``enqueue``: the message in ``<queue>.msgs``, its id pushed on
#: ``<queue>``); a test runs a real worker on messages queued this way.
_ACCEPT = f"""
local story = function(K, A)
{STORY}
end
if redis.call('EXISTS', KEYS[5]) == 1 then return 'fenced' end
if KEYS[4] ~= '' then
  local existing = redis.call('GET', KEYS[4])
  if existing then return existing end
  redis.call('SET', KEYS[4], ARGV[5], 'EX', ARGV[6])
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
redis.call('RPUSH', KEYS[3], ARGV[3])
redis.call('PUBLISH', ARGV[7], '')
story({{KEYS[6], KEYS[7]}}, {{unpack(ARGV, 8)}})
return false
"""


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


class NotQueued(redis.ConnectionError):
    """Redis did not take the command: nothing is queued."""


class OutcomeUnknown(Exception):
    """Redis went away mid-call and could not be asked whether the command
    was queued; ``GET /commands/{command_id}`` tells once it is back."""

    def __init__(self, command_id: str):
        super().__init__(command_id)
        self.command_id = command_id


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
        self._accept = broker.client.register_script(_ACCEPT)
        self._redis_keys = Keys(broker.namespace)
        self._queue = self._redis_keys.queue(COMMANDS_QUEUE)

    def check_depth(self) -> None:
        """Refuse new commands while the queue is deeper than ``max_depth``.
        The depth is read at most once a second per process, off the hot path.

        Raises:
          QueueFull: the workers are that far behind.
        """
        depth, read_at = self._depth
        now = self._clock()
        if now - read_at >= 1.0:
            depth = self._broker.client.llen(self._queue)
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
        One Redis round trip (and one more only if its reply is lost).

        Raises:
          KeyReused: the key was used for another request.
          KeyInFlight: the key's first request is still being accepted.
          NotQueued: Redis did not take the command; nothing is queued.
          OutcomeUnknown: Redis went away before it could be told.
        """
        self.check_depth()
        claim = None
        if idempotency is not None:
            claim = self._keys.new_claim(idempotency.key, idempotency.fingerprint, envelope, response)
        try:
            held = self._submit(envelope, idempotency, claim)
        except (redis.ConnectionError, redis.TimeoutError) as lost:
            held = self._after_lost_reply(envelope, idempotency, claim, lost)
        if held is None:
            return Accepted(response)
        return self._replay(idempotency, held)

    def _submit(
        self, envelope: CommandEnvelope, idempotency: IdempotencyRequest | None, claim: Claim | None
    ) -> Claim | None:
        message = self._broker_message(envelope)
        story = self._statuses.stories.accepted(envelope)
        held = self._accept(
            keys=[
                self._statuses.key(envelope.command_id),
                self._redis_keys.messages(COMMANDS_QUEUE),
                self._queue,
                self._keys.key(idempotency.scope, idempotency.key) if idempotency else "",
                self._redis_keys.fence(envelope.command_id),
                *story.keys,
            ],
            args=[
                json.dumps(record(envelope, ACCEPTED)),
                self._statuses.ttl_s,
                message.options["redis_message_id"],
                message.encode(),
                claim.encode() if claim else "",
                TTL_S,
                self._redis_keys.wake(COMMANDS_QUEUE),
                *story.args,
            ],
        )
        if held in (b"fenced", "fenced"):
            raise NotQueued("this command was answered 'not queued' already")
        return Claim.decode(held) if held else None

    def _broker_message(self, envelope: CommandEnvelope):
        # As Dramatiq's RedisBroker.enqueue prepares one: an id of its own in
        # Redis (a retried message is enqueued again under a new one).
        message = command_message(envelope, redis_message_id=str(uuid.uuid4()))
        self._broker.emit_before("enqueue", message, None)
        return message

    def _after_lost_reply(
        self,
        envelope: CommandEnvelope,
        idempotency: IdempotencyRequest | None,
        claim: Claim | None,
        lost: Exception,
    ) -> Claim | None:
        """Whether the call whose reply was lost went through: None if it
        did (the command is queued), the claim that held the key if another
        request's did.  The command is fenced first, so that the call, if it
        is merely late (a slow link, a proxy), cannot go through after the
        answer says it did not."""
        try:
            self._broker.client.set(self._redis_keys.fence(envelope.command_id), 1, nx=True, ex=TTL_S)
            if idempotency is not None:
                held = self._keys.get(idempotency.scope, idempotency.key)
                if held is not None:
                    return None if held.token == claim.token else held
            elif self._statuses.get(envelope.command_id) is not None:
                return None
        except redis.RedisError:
            log.warning("could not tell whether command %s was queued: %s", envelope.command_id, lost)
            raise OutcomeUnknown(envelope.command_id) from lost
        raise NotQueued(str(lost)) from lost

    def _replay(self, idempotency: IdempotencyRequest, held: Claim) -> Accepted:
        if held.fingerprint != idempotency.fingerprint:
            raise KeyReused(idempotency.key)
        if held.state == ACCEPTING:
            # A claim from an earlier version of the service, whose request
            # died between claiming and queueing: queue the same command
            # once it is stale (its command_id makes a second copy harmless).
            if not self._keys.is_stale(held):
                raise KeyInFlight(idempotency.key)
            fresh = self._keys.take_over(idempotency.scope, held)
            if fresh is None:
                raise KeyInFlight(idempotency.key)
            self._broker.enqueue(command_message(CommandEnvelope.from_dict(held.envelope)))
            self._keys.settle(idempotency.scope, fresh)
        return Accepted(held.response, replayed=True)
