"""Spans made in the test process, for tests that look at them.

A process has one global tracer provider, set once: the first test that
asks for spans sets it, and it records only while a test holds
``recording()`` (other tests' spans are made and let go)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider

_lock = threading.Lock()


class Recorder(SpanProcessor):
    def __init__(self):
        self.on = False
        self.spans: list[ReadableSpan] = []

    def on_end(self, span: ReadableSpan) -> None:
        if self.on:
            with _lock:
                self.spans.append(span)


_recorder: Recorder | None = None


@contextmanager
def recording() -> Iterator[Recorder]:
    """The spans that end within the block, in ``.spans``."""
    global _recorder
    if _recorder is None:
        _recorder = Recorder()
        provider = TracerProvider()
        provider.add_span_processor(_recorder)
        trace.set_tracer_provider(provider)
    _recorder.spans = []
    _recorder.on = True
    try:
        yield _recorder
    finally:
        _recorder.on = False


def named(spans: list[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [span for span in spans if span.name == name]
