"""The actors: thin functions that decode primitives and call the
application code.  ``declare`` binds them to a broker, so production and
tests wire them the same way."""

from __future__ import annotations

import logging
from collections.abc import Callable

import dramatiq
from dramatiq import Broker
from dramatiq.middleware import Middleware, Retries

from infra.messages import (
    COMMANDS_QUEUE,
    HANDLE_COMMAND,
    PROJECT_STREAM,
    PROJECTIONS_QUEUE,
    CommandEnvelope,
)
from workers.bootstrap import Services
from workers.catchup import CatchUpLoop

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
            self._services().commands.give_up(envelope, exception)
        except Exception:
            log.exception("could not record that command %s failed", envelope.command_id)


def declare(
    broker: Broker, services: Callable[[], Services], *, catch_up_interval_s: float = 15.0
) -> dict[str, dramatiq.Actor]:
    """Bind the actors and their middleware to ``broker``."""
    broker.add_middleware(CommandFailures(services), before=Retries)
    broker.add_middleware(CatchUpLoop(lambda: services().catch_up, catch_up_interval_s))

    def handle_command(envelope: dict) -> None:
        """Apply one command: ``{command_id, type, stream_id, payload, ...}``."""
        services().commands.handle(CommandEnvelope.from_dict(envelope))

    def project_stream(note: dict) -> None:
        """Bring one stream's read model up to the version ``note`` announces."""
        services().projector.project(note)

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
    }
