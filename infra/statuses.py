"""Command statuses, kept in Redis so that the web tier can answer
``GET /commands/{id}`` without touching the event store.

One key per command holds the whole record as JSON: the web tier writes it
``accepted`` before it enqueues, and the command actor overwrites it with
the outcome.  Each write is a single ``SET ... EX``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import redis

from infra import measures
from infra.keys import Keys
from infra.messages import CommandEnvelope, parse_rfc3339, rfc3339
from infra.progress import to_ms
from infra.steps import Step, Steps
from infra.stories import Stories

if TYPE_CHECKING:
    from infra.commits import Commit

ACCEPTED = "accepted"
SUCCEEDED = "succeeded"
REJECTED = "rejected"
FAILED = "failed"
FINAL = frozenset({SUCCEEDED, REJECTED, FAILED})
#: Every status, in the order of a command's life.
STATUSES = (ACCEPTED, SUCCEEDED, REJECTED, FAILED)


#: An outcome is written unless the record already holds a final one that
#: only a new decision could have produced: ``succeeded`` or ``rejected``.
#: (``failed`` may still turn into either when a dead letter is retried.)
#: Every final status is derived from the command's one decision in the
#: store (see ``CommandHandler.dispatch``), so two never disagree.
#: A step (infra/steps.py), run alone or with what the command hands over.
#: In the same call: a commit moves its stream's head (never backwards),
#: a signal wakes the queries waiting for this command, and a written
#: outcome is counted and its latency observed (infra/measures.py).
FINISH = f"""
local written = 1
local current = redis.call('GET', K[1])
if current then
  local status = cjson.decode(current)['status']
  if status == '{SUCCEEDED}' or status == '{REJECTED}' then written = 0 end
end
if written == 1 then
  redis.call('SET', K[1], A[1], 'EX', A[2])
  redis.call('HINCRBY', K[3], A[7], 1)
  redis.call('HINCRBY', K[4], A[8], 1)
  redis.call('HINCRBYFLOAT', K[4], A[9], A[10])
end
if A[3] ~= '' then
  local known = tonumber(redis.call('HGET', K[2], 'version') or '0')
  if tonumber(A[3]) > known then
    redis.call('HSET', K[2], 'version', A[3], 'recorded_ms', A[4])
  end
  redis.call('EXPIRE', K[2], A[2])
end
redis.call('PUBLISH', A[5], A[6])
return written
"""


class CommandStatuses:
    def __init__(self, client: redis.Redis, *, namespace: str, ttl_s: int):
        self._redis = client
        self._keys = Keys(namespace)
        self._ttl_s = ttl_s
        self._steps = Steps(client)
        #: Each command's story, kept as long as its status.
        self.stories = Stories(client, namespace=namespace, ttl_s=ttl_s)

    @property
    def ttl_s(self) -> int:
        return self._ttl_s

    def key(self, command_id: str) -> str:
        return self._keys.command(command_id)

    def _write(self, record: dict[str, Any]) -> None:
        self._redis.set(self.key(record["command_id"]), json.dumps(record), ex=self._ttl_s)

    def accept(self, envelope: CommandEnvelope) -> None:
        self._write(record(envelope, ACCEPTED))

    def finish(
        self,
        envelope: CommandEnvelope,
        status: str,
        *,
        version: int | None = None,
        error: dict[str, str] | None = None,
        commit: Commit | None = None,
    ) -> None:
        """Record the outcome (unless a final one is there), move the stream's
        head when there is a commit, signal waiting queries and tell the
        command's story: one call."""
        self._steps.run(self.finish_steps(envelope, status, version=version, error=error, commit=commit))

    def finish_steps(
        self,
        envelope: CommandEnvelope,
        status: str,
        *,
        version: int | None = None,
        error: dict[str, str] | None = None,
        commit: Commit | None = None,
        follow_ups: Sequence[CommandEnvelope] = (),
    ) -> list[Step]:
        """``finish`` as steps, to run with others; ``follow_ups``: the
        commands sent with it, which the story tells of too."""
        return [
            self.finish_step(envelope, status, version=version, error=error, commit=commit),
            *self.stories.handed_over(
                envelope, status, commit=commit, follow_ups=follow_ups, version=version, error=error
            ),
        ]

    def finish_step(
        self,
        envelope: CommandEnvelope,
        status: str,
        *,
        version: int | None = None,
        error: dict[str, str] | None = None,
        commit: Commit | None = None,
    ) -> Step:
        """The outcome, the stream's head and the signal, as a step."""
        assert status in FINAL
        outcome = record(envelope, status, version=version, error=error, completed=True)
        head = (str(commit.version_to), str(to_ms(commit.recorded_at))) if commit is not None else ("", "")
        signal = json.dumps({"command": envelope.command_id})
        # From acceptance to this outcome (clocks apart are taken as they are).
        taken = parse_rfc3339(outcome["completed_at"]) - parse_rfc3339(envelope.submitted_at)
        latency_s = max(0.0, taken.total_seconds())
        return Step(
            "finish",
            FINISH,
            keys=(
                self.key(envelope.command_id),
                self._keys.head(envelope.stream_id),
                self._keys.outcomes,
                self._keys.latency,
            ),
            args=(
                json.dumps(outcome),
                self._ttl_s,
                *head,
                self._keys.signals,
                signal,
                measures.outcome_field(envelope.type, status),
                *measures.latency_fields(envelope.type, status, latency_s),
                repr(latency_s),
            ),
        )

    def many(self, command_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The records of ``command_ids`` that exist (one round trip)."""
        if not command_ids:
            return {}
        raws = self._redis.mget([self.key(command_id) for command_id in command_ids])
        return {command_id: json.loads(raw) for command_id, raw in zip(command_ids, raws, strict=True) if raw}

    def get(self, command_id: str) -> dict[str, Any] | None:
        raw = self._redis.get(self.key(command_id))
        return json.loads(raw) if raw is not None else None


def record(
    envelope: CommandEnvelope,
    status: str,
    *,
    version: int | None = None,
    error: dict[str, str] | None = None,
    completed: bool = False,
) -> dict[str, Any]:
    return {
        "command_id": envelope.command_id,
        "type": envelope.type,
        "status": status,
        "submitted_at": envelope.submitted_at,
        "completed_at": rfc3339(datetime.now(UTC)) if completed else None,
        "stream_id": envelope.stream_id,
        "stream_type": envelope.stream_type,
        "version": version,
        "error": error,
    }
