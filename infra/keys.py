"""Every Redis key and channel the service reads or writes, named once.

All of them live under the service's namespace (``REDIS_NAMESPACE``), the
prefix Dramatiq's broker uses for its queues too, so one Redis serves
several deployments and a test cleans up by that prefix.  The queue keys
are Dramatiq's own layout, named here because ``/metrics``, the accept
script and the fault audit read them directly."""

from __future__ import annotations

from dataclasses import dataclass

from dramatiq.common import dq_name, xq_name


@dataclass(frozen=True)
class Keys:
    namespace: str

    # Commands.
    def command(self, command_id: str) -> str:
        """A command's status record (JSON, with a TTL)."""
        return f"{self.namespace}:command:{command_id}"

    def fence(self, command_id: str) -> str:
        """Set when a request answered 'not queued': a late accept of the
        same command is refused."""
        return f"{self.namespace}:fence:{command_id}"

    def idempotency(self, digest: str) -> str:
        """An ``Idempotency-Key`` claim, by the digest of its scope and key."""
        return f"{self.namespace}:idempotency:{digest}"

    def story(self, command_id: str) -> str:
        """A command's story: every step of its life (a list,
        infra/stories.py)."""
        return f"{self.namespace}:story:{command_id}"

    def story_state(self, command_id: str) -> str:
        """What a command's story still waits for (a hash)."""
        return f"{self.namespace}:story-state:{command_id}"

    # Write-side progress and read-your-writes.
    def head(self, stream_id: str) -> str:
        """A stream's newest known version and when it was recorded (hash)."""
        return f"{self.namespace}:head:{stream_id}"

    def applied(self, collection: str) -> str:
        """When a read-model collection last applied an event (ms)."""
        return f"{self.namespace}:applied:{collection}"

    @property
    def signals(self) -> str:
        """The pub/sub channel that wakes queries waiting for an effect."""
        return f"{self.namespace}:signals"

    # Measures /metrics reads.
    @property
    def outcomes(self) -> str:
        return f"{self.namespace}:metrics:outcomes"

    @property
    def latency(self) -> str:
        return f"{self.namespace}:metrics:latency"

    @property
    def lag(self) -> str:
        return f"{self.namespace}:metrics:lag"

    # The periodic tasks' state.
    def catch_up(self, part: str) -> str:
        """Catch-up's ``checkpoint``, ``sweep`` cursor, ``failed`` set and ``lock``."""
        if part not in ("checkpoint", "sweep", "failed", "lock"):
            raise ValueError(f"no catch-up key {part!r}")
        return f"{self.namespace}:catchup:{part}"

    @property
    def outbox_lock(self) -> str:
        return f"{self.namespace}:outbox:lock"

    # Dramatiq's queues.
    def queue(self, queue: str) -> str:
        """The list of message ids waiting on ``queue``."""
        return f"{self.namespace}:{queue}"

    def messages(self, queue: str) -> str:
        """The hash of ``queue``'s messages by id."""
        return f"{self.namespace}:{queue}.msgs"

    def delayed_messages(self, queue: str) -> str:
        """The hash of the messages waiting in ``queue``'s delay queue."""
        return self.messages(dq_name(queue))

    def dead(self, queue: str) -> str:
        """``queue``'s dead-lettered messages (a sorted set)."""
        return f"{self.namespace}:{xq_name(queue)}"

    def wake(self, queue: str) -> str:
        """The channel an enqueue on ``queue`` publishes on, waking its idle
        consumers (infra/wakeups.py)."""
        return f"{self.namespace}:wake:{queue}"

    @property
    def acks(self) -> str:
        """The pattern of the workers' unacknowledged-message sets."""
        return f"{self.namespace}:__acks__.*"

    def unacked(self, worker_id: str, queue: str) -> str:
        """The ids of the messages worker ``worker_id`` took from ``queue``
        and has not acknowledged yet."""
        return f"{self.namespace}:__acks__.{worker_id}.{queue}"

    @property
    def heartbeats(self) -> str:
        """The workers' last heartbeats (a sorted set of worker ids)."""
        return f"{self.namespace}:__heartbeats__"
