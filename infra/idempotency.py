"""``Idempotency-Key`` claims in Redis (after the IETF httpapi draft).

The first request with a key claims it in the same atomic call that writes
its command's status and queues it (``infra/commandbus.py``): two racing
requests with one key produce one command.  The claim holds the request's
fingerprint, the command and the ``202`` body, so a retry gets the first
answer again.

Earlier versions of the service claimed first and queued after, marking
the claim ``accepting`` in between; such a claim, left by a request that
died, is still honoured: a retry gets 409 until ``STALE_AFTER_S``, then
queues the same command (its ``command_id`` makes a second copy harmless)."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

import redis

from infra.keys import Keys
from infra.messages import CommandEnvelope
from infra.statuses import ACCEPTED

TTL_S = 24 * 3600
STALE_AFTER_S = 10.0

#: A claim's states: its command is being accepted, or was (``ACCEPTED``,
#: the command's own status then).
ACCEPTING = "accepting"

_SWAP = """
local current = redis.call('GET', KEYS[1])
if not current then return 0 end
local claim = cjson.decode(current)
if claim['token'] == ARGV[1] and claim['state'] == ARGV[3] then
  redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
  return 1
end
return 0
"""


class KeyReused(Exception):
    """The key was used for a different request (method, path or body)."""


class KeyInFlight(Exception):
    """The first request with this key is still being accepted."""


def fingerprint(method: str, path: str, body: Any) -> str:
    canonical = json.dumps([method.upper(), path, body], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Claim:
    key: str
    fingerprint: str
    state: str
    claimed_at: float
    response: dict[str, Any]
    envelope: dict[str, Any]
    token: str = field(default_factory=lambda: uuid.uuid4().hex)

    def encode(self) -> str:
        return json.dumps(self.__dict__, separators=(",", ":"))

    @classmethod
    def decode(cls, raw: bytes | str) -> Claim:
        return cls(**json.loads(raw))


class IdempotencyKeys:
    def __init__(self, client: redis.Redis, *, namespace: str, clock=time.time):
        self._redis = client
        self._keys = Keys(namespace)
        self._clock = clock
        self._swap = client.register_script(_SWAP)

    def key(self, scope: str, key: str) -> str:
        """The Redis key of ``scope``'s ``key``."""
        digest = hashlib.sha256(f"{scope}\0{key}".encode()).hexdigest()
        return self._keys.idempotency(digest)

    def new_claim(self, key: str, fp: str, envelope: CommandEnvelope, response: dict[str, Any]) -> Claim:
        """The claim a first request with ``key`` makes: its command queued."""
        return Claim(key, fp, ACCEPTED, self._clock(), response, envelope.to_dict())

    def get(self, scope: str, key: str) -> Claim | None:
        raw = self._redis.get(self.key(scope, key))
        return Claim.decode(raw) if raw is not None else None

    def settle(self, scope: str, claim: Claim) -> None:
        """Mark the claim's command as queued."""
        done = replace(claim, state=ACCEPTED)
        self._redis.set(self.key(scope, claim.key), done.encode(), keepttl=True, xx=True)

    def take_over(self, scope: str, stale: Claim) -> Claim | None:
        """Take a claim whose request died before queueing its command;
        None if another retry took it first."""
        fresh = replace(stale, claimed_at=self._clock(), token=uuid.uuid4().hex)
        swapped = self._swap(keys=[self.key(scope, stale.key)], args=[stale.token, fresh.encode(), ACCEPTING])
        return fresh if swapped else None

    def is_stale(self, claim: Claim) -> bool:
        return claim.state == ACCEPTING and self._clock() - claim.claimed_at > STALE_AFTER_S
