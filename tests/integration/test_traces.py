"""A commit keeps the trace it was made in, so that what the outbox sends
for it later continues that trace."""

import time

import pytest
from dramatiq import Message

from domain.commands import PlaceOrder
from infra.eventstore import EventStore
from infra.handover import Handover
from infra.messages import CommandEnvelope
from infra.tracing import TRACE_CONTEXT, tracer
from tests.spans import named, recording
from workers.handler import CommandHandler

ORDER = "33333333-3333-4333-8333-333333333333"
MUG = "11111111-1111-4111-8111-111111111111"


class BrokerDown(Handover):
    def hand_over(self, *args, **kwargs):
        raise ConnectionError("broker down")


def queued(broker, queue: str) -> list[Message]:
    return [Message.decode(raw) for raw in broker.client.hvals(f"{broker.namespace}:{queue}.msgs")]


def traceparent(message: Message) -> tuple[int, int]:
    """The trace id and parent span id a message carries."""
    _, trace_id, span_id, _ = message.options[TRACE_CONTEXT]["traceparent"].split("-")
    return int(trace_id, 16), int(span_id, 16)


def test_what_the_outbox_sends_again_continues_the_trace_of_the_command(services, broker, db):
    # Given a command handled in a trace, whose follow-ups never left
    statuses = services.commands._statuses
    handler = CommandHandler(EventStore(db), services.commands._skus, BrokerDown(broker, statuses), statuses)
    placing = CommandEnvelope.wrap(
        PlaceOrder(ORDER, "cust-1", "EUR", [{"product_id": MUG, "quantity": 1}]), command_id="c-place"
    )
    with recording() as recorder:
        with tracer.start_as_current_span("handle_command PlaceOrder") as command:
            with pytest.raises(ConnectionError):
                handler.handle(placing)
        # When the outbox sweep, outside any trace, sends them later
        later = time.time() + 10
        services.outbox._clock = lambda: later
        assert services.outbox.sweep() == 1

    # I expect the sweep's work in the command's trace, and the messages
    # it sent carrying it on
    context = command.get_span_context()
    (redispatch,) = named(recorder.spans, "outbox redispatch")
    assert redispatch.parent.span_id == context.span_id
    assert redispatch.context.trace_id == context.trace_id
    (dispatch,) = [s for s in named(recorder.spans, "dispatch order") if s.parent == redispatch.context]
    (follow_up,) = queued(broker, "commands")
    (notification,) = queued(broker, "projections")
    for message in (follow_up, notification):
        assert traceparent(message) == (context.trace_id, dispatch.context.span_id)
