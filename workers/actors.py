"""The actors: thin functions that decode primitives and call the
application code.  ``declare`` binds them to a broker, so production and
tests wire them the same way."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import dramatiq
import pymongo.errors
import redis
from dramatiq import Broker
from dramatiq.middleware import CurrentMessage, Middleware, Retries

from infra.logs import bound
from infra.messages import (
    COMMANDS_QUEUE,
    HANDLE_COMMAND,
    PROJECT_STREAM,
    PROJECTIONS_QUEUE,
    RETRY_DEAD_LETTER,
    CommandEnvelope,
)
from infra.tracing import annotate
from workers.bootstrap import Services
from workers.deadletters import retry
from workers.delivery import Redelivery, patiently, use_patient_retries
from workers.handler import SkuClaimPending, TooManyConflicts
from workers.periodic import Periodic
from workers.projector import ProjectionRace

log = logging.getLogger(__name__)

#: Store or broker faults: 5 retries, backing off from 1 s (with jitter the
#: whole series takes 31-62 s), then the command is ``failed``.
RETRIES = {"max_retries": 5, "min_backoff": 1_000, "max_backoff": 30_000}


class CommandFailures(Middleware):
    """Marks a command ``failed`` once Dramatiq gives up on its message.

    Declared before ``Retries`` so that its ``after_process_message`` runs
    after Retries has decided (Dramatiq calls "after" hooks in reverse)."""

    def __init__(self, services: Callable[[], Services]):
        self._services = services

    def after_process_message(self, broker, message, *, result=None, exception=None):
        if exception is None or not message.failed or message.actor_name != HANDLE_COMMAND:
            return
        envelope = CommandEnvelope.from_dict(message.args[0])
        try:
            # The message is acknowledged after this: wait for Redis rather
            # than leave a command ``accepted`` for good.
            patiently(
                lambda: self._services().commands.give_up(envelope, exception),
                what=f"recording that command {envelope.command_id} failed",
            )
        except Exception:
            log.exception("could not record that command %s failed", envelope.command_id)


#: Faults of the store or the broker, or of contention: worth retrying for
#: as long as the message allows.  Anything else is a bug or bad data.
TRANSIENT = (
    pymongo.errors.ConnectionFailure,
    pymongo.errors.NetworkTimeout,
    pymongo.errors.ExecutionTimeout,
    pymongo.errors.WriteConcernError,
    pymongo.errors.CursorNotFound,
    redis.RedisError,
    TooManyConflicts,
    SkuClaimPending,
    ProjectionRace,
)

#: A message that fails for any other reason is tried this many more times,
#: then kept as a dead letter instead of blocking its stream.
POISON_RETRIES = 2

#: The message option that counts a message's non-transient failures, apart
#: from Dramatiq's ``retries`` (which also counts store and broker outages).
POISON_ATTEMPTS = "poison_attempts"


def poisoned_once_more() -> bool:
    """Count one more non-transient failure of the current message; True
    once it has failed that way ``POISON_RETRIES`` times before."""
    message = CurrentMessage.get_current_message()
    if message is None:
        return True
    attempts = message.options.get(POISON_ATTEMPTS, 0)
    if attempts >= POISON_RETRIES:
        return True
    # The retry re-enqueues this very message, options included.
    message.options[POISON_ATTEMPTS] = attempts + 1
    return False


@contextmanager
def dead_letter_if_poison(services: Callable[[], Services], *, then=None, **letter) -> Iterator[None]:
    """Let transient faults through to Dramatiq's retries; a message failing
    for any other reason is retried ``POISON_RETRIES`` times, then kept as a
    dead letter (and ``then(error)`` runs) instead of failing its stream."""
    try:
        yield
    except TRANSIENT:
        raise
    except Exception as exc:
        if not poisoned_once_more():
            raise
        services().dead_letters.record(error=exc, **letter)
        if then is not None:
            then(exc)


def declare(
    broker: Broker,
    services: Callable[[], Services],
    *,
    catch_up_interval_s: float = 15.0,
    outbox_interval_s: float = 5.0,
    redelivery_interval_s: float = 5.0,
) -> dict[str, dramatiq.Actor]:
    """Bind the actors and their middleware to ``broker``."""
    use_patient_retries(broker)
    broker.add_middleware(CurrentMessage())
    broker.add_middleware(CommandFailures(services), before=Retries)
    broker.add_middleware(Redelivery(redelivery_interval_s))
    broker.add_middleware(
        Periodic("outbox", COMMANDS_QUEUE, lambda: services().outbox.try_sweep(), outbox_interval_s)
    )
    broker.add_middleware(
        Periodic("catch-up", PROJECTIONS_QUEUE, lambda: services().catch_up.try_run(), catch_up_interval_s)
    )

    def handle_command(envelope: dict) -> None:
        """Apply one command: ``{command_id, type, stream_id, payload, ...}``."""
        command = CommandEnvelope.from_dict(envelope)
        annotate(
            f"{HANDLE_COMMAND} {command.type}",
            {
                "shop.command.id": command.command_id,
                "shop.command.type": command.type,
                "shop.stream.id": command.stream_id,
                "shop.correlation_id": command.correlation_id,
                "shop.causation_id": command.causation_id,
            },
        )
        with bound(command_id=command.command_id, correlation_id=command.correlation_id):
            _handle(command, envelope)

    def _handle(command: CommandEnvelope, envelope: dict) -> None:
        with dead_letter_if_poison(
            services,
            handler=HANDLE_COMMAND,
            stream_id=command.stream_id,
            stream_type=command.stream_type,
            version=None,
            message=envelope,
            ref=command.command_id,
            then=lambda exc: services().commands.give_up(command, exc),
        ):
            outcome = services().commands.handle(command)
            # The one line a command writes at INFO: its outcome, with what
            # it changed and what it set off.
            log.info(
                "command %s %s%s", command.type, outcome.status,
                f" ({outcome.error.code})" if outcome.error else "",
                extra={
                    "stream_id": command.stream_id,
                    "version": outcome.version,
                    "status": outcome.status,
                    "error_code": outcome.error.code if outcome.error else None,
                    "follow_ups": list(outcome.follow_ups),
                },
            )

    def project_stream(note: dict) -> None:
        """Bring one stream's read model up to the version ``note`` announces."""
        annotate(
            f"{PROJECT_STREAM} {note.get('stream_type')}",
            {
                "shop.stream.id": note.get("stream_id"),
                "shop.version": note.get("version_to"),
                "shop.command.id": note.get("command_id"),
                "shop.correlation_id": note.get("correlation_id"),
            },
        )
        with bound(command_id=note.get("command_id"), correlation_id=note.get("correlation_id")):
            _project(note)

    def _project(note: dict) -> None:
        with dead_letter_if_poison(
            services,
            handler=PROJECT_STREAM,
            stream_id=note["stream_id"],
            stream_type=note["stream_type"],
            version=note["version_to"],
            message=note,
        ):
            applied = services().projector.project(note)
            detail = {"stream_id": note["stream_id"], "version": applied.version, "changed": applied.changed}
            log.info("projected %s to version %s", note["stream_id"], applied.version, extra=detail)

    def retry_dead_letter(letter_id: str) -> None:
        """Apply a dead letter again, as ``python -m workers.deadletters retry``
        does: asked for by ``POST /dead-letters/{id}/retry``.  One that still
        fails stays a dead letter (one attempt more), so the message is not
        retried here."""
        letters = services().dead_letters
        letter = letters.get(letter_id)
        if letter is None:  # retried already, by another request or the CLI
            log.info("dead letter %s is gone already", letter_id)
            return
        result = retry(letters, services(), letter)
        if result.ok:
            log.info("dead letter %s retried and removed", letter_id)
        else:
            log.warning("dead letter %s still fails: %s", letter_id, result.error)

    return {
        HANDLE_COMMAND: dramatiq.actor(
            handle_command,
            broker=broker,
            actor_name=HANDLE_COMMAND,
            queue_name=COMMANDS_QUEUE,
            time_limit=60_000,
            **RETRIES,
        ),
        PROJECT_STREAM: dramatiq.actor(
            project_stream,
            broker=broker,
            actor_name=PROJECT_STREAM,
            queue_name=PROJECTIONS_QUEUE,
            time_limit=60_000,
            **RETRIES,
        ),
        RETRY_DEAD_LETTER: dramatiq.actor(
            retry_dead_letter,
            broker=broker,
            actor_name=RETRY_DEAD_LETTER,
            queue_name=COMMANDS_QUEUE,
            time_limit=60_000,
            **RETRIES,
        ),
    }
