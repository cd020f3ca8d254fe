"""Traces through the OpenTelemetry API: spans of the service's own, and
the W3C trace context carried across Redis, in every Dramatiq message and
in every commit, so that one trace spans an HTTP request, the command it
queued, its commit, the follow-up commands and the projection.

Only the API is used here: until ``infra.otel`` sets up the SDK (when the
operator asks for traces) every call is a no-op costing microseconds."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from dramatiq import Broker, Message
from dramatiq.middleware import Middleware
from opentelemetry import context, propagate, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

#: The message option that carries the sender's trace context
#: (``{"traceparent": ..., "tracestate": ...}``).
TRACE_CONTEXT = "trace_context"

tracer = trace.get_tracer("shop")


def carrier() -> dict[str, str] | None:
    """The current trace context as W3C headers, or None outside a trace."""
    headers: dict[str, str] = {}
    propagate.inject(headers)
    return headers or None


@contextmanager
def resumed(
    headers: Mapping[str, str] | None, name: str, attributes: Mapping[str, Any] | None = None
) -> Iterator[Span]:
    """A span, current within the block, continuing the trace that
    ``headers`` (from ``carrier()``) name; a trace of its own without them."""
    parent = propagate.extract(dict(headers)) if headers else None
    with tracer.start_as_current_span(name, context=parent, attributes=attributes) as span:
        yield span


def annotate(name: str | None = None, attributes: Mapping[str, Any] | None = None) -> None:
    """Rename the current span and add ``attributes`` (None values left out)."""
    span = trace.get_current_span()
    if not span.is_recording():
        return
    if name is not None:
        span.update_name(name)
    span.set_attributes({key: value for key, value in (attributes or {}).items() if value is not None})


class TraceMessages(Middleware):
    """Carries the trace context in each message and runs each message in a
    consumer span, a child of the span that sent it.

    Declared first on the broker, so that its "after" hooks run last
    (Dramatiq calls them in reverse): a retry scheduled by ``Retries``, or
    a give-up recorded after the last one, still happens inside the span,
    and the retried message continues the same trace."""

    def __init__(self):
        self._running = threading.local()

    def before_enqueue(self, broker: Broker, message: Message, delay) -> None:
        headers = carrier()
        # Outside a trace (a delayed message moved to its queue, a sweep),
        # the message keeps the context it was first sent with.
        if headers is not None:
            message.options[TRACE_CONTEXT] = headers

    def before_process_message(self, broker: Broker, message: Message) -> None:
        self._end(None)  # a span left open by a message whose "after" never came
        parent = propagate.extract(message.options.get(TRACE_CONTEXT) or {})
        span = tracer.start_span(
            f"process {message.actor_name}",
            context=parent,
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": "dramatiq",
                "messaging.operation.type": "process",
                "messaging.destination.name": message.queue_name,
                "messaging.message.id": message.message_id,
                "messaging.dramatiq.retries": message.options.get("retries", 0),
            },
        )
        token = context.attach(trace.set_span_in_context(span, parent))
        self._running.span = (span, token)

    def after_process_message(self, broker: Broker, message: Message, *, result=None, exception=None):
        self._end(exception)

    def after_skip_message(self, broker: Broker, message: Message) -> None:
        self._end(None)

    def _end(self, exception: BaseException | None) -> None:
        running = getattr(self._running, "span", None)
        if running is None:
            return
        self._running.span = None
        span, token = running
        if exception is not None:
            span.record_exception(exception)
            span.set_status(Status(StatusCode.ERROR, f"{type(exception).__name__}: {exception}"))
        span.end()
        context.detach(token)
