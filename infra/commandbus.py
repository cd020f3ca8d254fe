"""How the web tier hands a command to the workers."""

from __future__ import annotations

import logging

from dramatiq import Broker

from infra.messages import CommandEnvelope, command_message
from infra.statuses import CommandStatuses

log = logging.getLogger(__name__)


class CommandBus:
    """Records a command as ``accepted`` and queues it on ``commands``."""

    def __init__(self, broker: Broker, statuses: CommandStatuses):
        self._broker = broker
        self._statuses = statuses

    def submit(self, envelope: CommandEnvelope) -> None:
        """Two Redis round trips: the status record, then the enqueue.

        The status goes first so that the command actor, however fast,
        always finds a record to overwrite with the outcome.

        Raises:
          redis.RedisError: Redis did not take the command; nothing is queued.
        """
        self._statuses.accept(envelope)
        try:
            self._broker.enqueue(command_message(envelope))
        except Exception:
            try:
                self._statuses.forget(envelope.command_id)
            except Exception:
                log.warning("could not remove the status of unqueued command %s", envelope.command_id)
            raise
