"""Traces: when they are on, how the trace context crosses a message, and
what the console exporter writes."""

from __future__ import annotations

import json

import dramatiq
import pytest
from dramatiq import Worker
from dramatiq.brokers.stub import StubBroker
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, Decision
from opentelemetry.trace import SpanKind

from domain.events import StockAdjusted
from infra import otel
from infra.broker import middleware
from infra.commits import Commit, decoded
from infra.commits import Decision as StoreDecision
from infra.settings import ConfigurationError
from infra.tracing import TRACE_CONTEXT, carrier, resumed, tracer
from tests.spans import named, recording


@pytest.mark.parametrize(
    "environ, on",
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_TRACES_EXPORTER": "console"}, True),
        ({"OTEL_TRACES_EXPORTER": "otlp,console"}, True),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, False),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "console"}, False),
    ],
)
def test_traces_are_on_only_when_the_environment_asks(environ, on):
    assert otel.wanted(environ) is on


def test_an_exporter_the_service_does_not_ship_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match="'zipkin'"):
        otel.wanted({"OTEL_TRACES_EXPORTER": "zipkin"})
    with pytest.raises(ConfigurationError, match="http/protobuf"):
        otel._exporter("otlp", {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})


def test_client_calls_are_sampled_only_inside_a_trace():
    sampler = otel.WithinTraces(ALWAYS_ON)
    provider = TracerProvider(sampler=ALWAYS_ON)
    with provider.get_tracer("test").start_as_current_span("request") as request:
        inside = trace.set_span_in_context(request)
        assert sampler.should_sample(inside, 1, "GET", SpanKind.CLIENT).decision == Decision.RECORD_AND_SAMPLE
    # A worker polling its queue, a heartbeat: no trace of their own.
    assert sampler.should_sample(None, 1, "EVALSHA", SpanKind.CLIENT).decision == Decision.DROP
    request = sampler.should_sample(None, 1, "POST /orders", SpanKind.SERVER)
    assert request.decision == Decision.RECORD_AND_SAMPLE


def test_the_console_exporter_writes_each_span_as_one_json_line():
    provider = TracerProvider()
    with provider.get_tracer("test").start_as_current_span("request") as span:
        pass
    line = otel.one_line(span)
    assert line.endswith("\n") and line.count("\n") == 1
    assert json.loads(line)["name"] == "request"


HEADERS = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}


@pytest.mark.parametrize("trace_context", [HEADERS, None])
def test_a_decision_keeps_the_trace_it_was_made_in_and_an_untraced_one_says_nothing(trace_context):
    commit = Commit.new(
        stream_id="p1",
        stream_type="product",
        after_version=0,
        events=[StockAdjusted(delta=3, reason=None)],
        command_id="c1",
        correlation_id="c1",
        trace_context=trace_context,
    )
    refusal = StoreDecision(
        stream_id="p1",
        stream_type="product",
        outcome="rejected",
        version=0,
        command_id="c2",
        command_type="AdjustStock",
        payload={},
        correlation_id="c2",
        causation_id=None,
        submitted_at=None,
        trace_context=trace_context,
    )
    for decided in (commit, refusal):
        document = decided.to_document()
        assert ("trace_context" in document) is (trace_context is not None)
        assert decoded(document).trace_context == trace_context


@pytest.fixture
def broker():
    broker = StubBroker(middleware=middleware())
    broker.emit_after("process_boot")
    yield broker
    broker.close()


@pytest.fixture
def worker(broker):
    worker = Worker(broker, worker_timeout=50)
    worker.start()
    yield worker
    worker.stop()


def test_a_message_runs_in_a_consumer_span_child_of_the_span_that_sent_it(broker, worker):
    seen = []

    @dramatiq.actor(broker=broker, actor_name="greet", max_retries=0)
    def greet():
        with tracer.start_as_current_span("inside"):
            seen.append(carrier())

    with recording() as recorder:
        with tracer.start_as_current_span("sender") as sender:
            message = greet.send()
        broker.join(greet.queue_name)
        worker.join()

    sent = sender.get_span_context()
    assert message.options[TRACE_CONTEXT]["traceparent"].split("-")[1] == f"{sent.trace_id:032x}"
    (consumer,) = named(recorder.spans, "process greet")
    assert consumer.kind == SpanKind.CONSUMER
    assert consumer.parent.span_id == sent.span_id and consumer.context.trace_id == sent.trace_id
    (inside,) = named(recorder.spans, "inside")
    assert inside.parent.span_id == consumer.context.span_id
    assert seen[0]["traceparent"].split("-")[1] == f"{sent.trace_id:032x}"


def test_a_retried_message_continues_its_trace_from_the_attempt_that_failed(broker, worker):
    attempts = []

    @dramatiq.actor(broker=broker, actor_name="flaky", max_retries=1, min_backoff=1, max_backoff=1)
    def flaky():
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("first attempt fails")

    with recording() as recorder:
        with tracer.start_as_current_span("sender"):
            flaky.send()
        broker.join(flaky.queue_name)
        worker.join()

    first, second = sorted(named(recorder.spans, "process flaky"), key=lambda span: span.start_time)
    assert first.status.status_code == trace.StatusCode.ERROR
    assert second.parent.span_id == first.context.span_id
    assert second.context.trace_id == first.context.trace_id


def test_a_message_sent_outside_a_trace_starts_one_and_a_resumed_trace_continues():
    with recording() as recorder:
        assert carrier() is None
        with resumed(HEADERS, "outbox redispatch"):
            assert carrier()["traceparent"].split("-")[1] == "0af7651916cd43dd8448eb211c80319c"
        with resumed(None, "outbox redispatch"):
            pass
    continued, fresh = named(recorder.spans, "outbox redispatch")
    assert continued.parent.span_id == 0xB7AD6B7169203331
    assert fresh.parent is None
