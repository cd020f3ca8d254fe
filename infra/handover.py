"""What a command's decision hands over, in one round trip."""

from __future__ import annotations

from collections.abc import Sequence

from dramatiq import Message

from infra.broker import ShopBroker
from infra.commits import Commit
from infra.messages import CommandEnvelope, command_message, notification_message
from infra.statuses import CommandStatuses


class Handover:
    """Hands a command's decision over: its follow-up commands, its commit's
    announcement to the read side, the command's final status and its
    story (infra/stories.py), in one
    atomic round trip; inside an actor, with the acknowledgement of the
    message being processed (``ShopBroker.hand_over``)."""

    def __init__(self, broker: ShopBroker, statuses: CommandStatuses):
        self._broker = broker
        self._statuses = statuses

    def hand_over(
        self,
        envelope: CommandEnvelope,
        status: str,
        *,
        follow_ups: Sequence[CommandEnvelope] = (),
        commit: Commit | None = None,
        version: int | None = None,
        error: dict[str, str] | None = None,
    ) -> None:
        messages, steps = [], []
        for message in self.outgoing(follow_ups, commit):
            prepared, step = self._broker.prepare(message)
            messages.append(prepared)
            steps.append(step)
        steps += self._statuses.finish_steps(
            envelope, status, version=version, error=error, commit=commit, follow_ups=follow_ups
        )
        self._broker.hand_over(steps, messages, what=f"handing over command {envelope.command_id}")

    def outgoing(self, follow_ups: Sequence[CommandEnvelope], commit: Commit | None) -> list[Message]:
        """The messages a decision sends: its follow-ups, then its commit's
        announcement."""
        messages = [command_message(follow_up) for follow_up in follow_ups]
        if commit is not None:
            messages.append(notification_message(commit))
        return messages
