"""The OpenTelemetry SDK, set up once per process when the operator asks for
traces: ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``..._TRACES_ENDPOINT``) set, or
``OTEL_TRACES_EXPORTER`` naming ``otlp`` or ``console``.  Otherwise nothing
is started or patched, and ``infra.tracing``'s calls stay no-ops.

The SDK's own variables apply (``OTEL_SERVICE_NAME``,
``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_TRACES_SAMPLER``, ``OTEL_BSP_*``,
``OTEL_EXPORTER_OTLP_*``); the service name defaults to the process type.

Call it in the process that serves, after any fork (gunicorn's app
factory, the module Dramatiq imports in each worker process): the batch
processor exports from a thread of its own."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import SpanKind, get_current_span

from infra.settings import ConfigurationError, Variable

EXPORTERS = ("otlp", "console", "none")
ENDPOINTS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")

#: Probes and scrapes are not worth a trace each.
UNTRACED_URLS = r"^/health$,^/ready$,^/metrics$"

#: The variables of traces the README documents: those read here, and the
#: SDK's own that an operator is likely to set.
VARIABLES = (
    Variable("OTEL_EXPORTER_OTLP_ENDPOINT", None, "Turns traces on, sent to this collector"),
    Variable("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", None, "Turns traces on, sent to this full URL"),
    Variable("OTEL_TRACES_EXPORTER", None, "otlp, console, none, or a comma-separated list"),
    Variable("OTEL_EXPORTER_OTLP_HEADERS", None, "Headers for the collector, e.g. its API key"),
    Variable("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf", "The only protocol shipped"),
    Variable("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf", "The same, for traces only"),
    Variable("OTEL_SERVICE_NAME", None, "The service name of the spans (else the process type)"),
    Variable("OTEL_RESOURCE_ATTRIBUTES", None, "Attributes of every span's resource"),
    Variable("OTEL_TRACES_SAMPLER", "parentbased_always_on", "Which traces are kept"),
    Variable("OTEL_TRACES_SAMPLER_ARG", None, "The sampler's argument, e.g. a ratio"),
    Variable("OTEL_BSP_SCHEDULE_DELAY", "5000", "Milliseconds between exports of batched spans"),
    Variable("OTEL_BSP_MAX_QUEUE_SIZE", "2048", "Spans kept waiting for export at most"),
    Variable("OTEL_PYTHON_FALCON_EXCLUDED_URLS", UNTRACED_URLS, "Requests not traced (regular expressions)"),
    Variable("OTEL_PYTHON_EXCLUDED_URLS", None, "The same, for every instrumentation"),
    Variable("OTEL_SDK_DISABLED", None, "true turns traces off whatever else is set"),
)


def wanted(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the environment asks for traces."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if environ.get("OTEL_TRACES_EXPORTER"):
        return any(name != "none" for name in _exporter_names(environ))
    return any(environ.get(name) for name in ENDPOINTS)


def configure(service: str, *, web: bool = False) -> bool:
    """Set up tracing for this process if its environment asks for it
    (whether it did); ``web`` traces Falcon's requests too.  Redis and
    MongoDB calls are traced in every process.

    Raises:
      ConfigurationError: an exporter or protocol this service does not ship.
    """
    environ = os.environ  # the SDK reads it too
    if not wanted(environ):
        return False
    from opentelemetry.instrumentation.pymongo import PymongoInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    exporters = [_exporter(name, environ) for name in _exporter_names(environ) if name != "none"]
    resource = Resource.create()
    if resource.attributes.get(SERVICE_NAME, "").startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: service}))
    provider = TracerProvider(resource=resource)
    # The sampler the environment chose (parent-based, always on, unless
    # OTEL_TRACES_SAMPLER says otherwise), minus orphan client calls.
    provider.sampler = WithinTraces(provider.sampler)
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    PymongoInstrumentor().instrument(tracer_provider=provider)
    RedisInstrumentor().instrument(tracer_provider=provider)
    if web:
        from opentelemetry.instrumentation.falcon import FalconInstrumentor

        if not (environ.get("OTEL_PYTHON_FALCON_EXCLUDED_URLS") or environ.get("OTEL_PYTHON_EXCLUDED_URLS")):
            # Read by the instrumentation from os.environ when the app is built.
            os.environ["OTEL_PYTHON_FALCON_EXCLUDED_URLS"] = UNTRACED_URLS
        FalconInstrumentor().instrument(tracer_provider=provider)
    return True


def _exporter_names(environ: Mapping[str, str]) -> list[str]:
    names = [name.strip().lower() for name in environ.get("OTEL_TRACES_EXPORTER", "otlp").split(",")]
    unknown = [name for name in names if name not in EXPORTERS]
    if unknown:
        raise ConfigurationError(
            f"OTEL_TRACES_EXPORTER: unknown exporter {', '.join(map(repr, unknown))} "
            f"(this service ships {', '.join(EXPORTERS)})"
        )
    return names


def _exporter(name: str, environ: Mapping[str, str]):
    if name == "console":
        return ConsoleSpanExporter(out=StdoutLines(), formatter=one_line)
    protocol = (
        environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    )
    if protocol != "http/protobuf":
        raise ConfigurationError(
            f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol}: this service ships the http/protobuf exporter only"
        )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()


def one_line(span) -> str:
    """A span as one line of JSON, like the process's log lines."""
    return span.to_json(indent=None) + "\n"


class StdoutLines:
    """Writes each span to whatever ``sys.stdout`` is when it is written
    (Dramatiq's worker processes replace it with a pipe to their parent),
    flushed at once, so that span and log lines never interleave."""

    def write(self, text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    def flush(self) -> None:
        sys.stdout.flush()


class WithinTraces(Sampler):
    """Records a client call (Redis, MongoDB) only inside a trace: a worker
    polling its queue, a heartbeat or a periodic job's query is not worth a
    trace of its own.  Everything else is up to ``delegate``."""

    def __init__(self, delegate):
        self._delegate = delegate

    def should_sample(
        self, parent_context, trace_id, name, kind=None, attributes=None, links=None, trace_state=None
    ):
        if kind == SpanKind.CLIENT and not get_current_span(parent_context).get_span_context().is_valid:
            return SamplingResult(Decision.DROP)
        return self._delegate.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return f"WithinTraces{{{self._delegate.get_description()}}}"
