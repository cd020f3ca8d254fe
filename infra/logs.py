"""JSON logs (python-json-logger) on every process, each line carrying the
``command_id`` and ``correlation_id`` of the work it belongs to, so that one
grep on either shows a command's whole story: request, enqueue, command
actor, commit, follow-up commands, notification, projection."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from pythonjsonlogger.json import JsonFormatter

_context: ContextVar[dict[str, str] | None] = ContextVar("log_context", default=None)

FIELDS = "%(asctime)s %(levelname)s %(name)s %(process)d %(message)s"


class WithContext(logging.Filter):
    """Adds the bound ``command_id`` / ``correlation_id`` to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in (_context.get() or _static).items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


def formatter() -> JsonFormatter:
    return JsonFormatter(FIELDS, rename_fields={"asctime": "time", "levelname": "level", "name": "logger"})


def configure(service: str, level: int = logging.INFO) -> None:
    """Send this process's logs to stdout as JSON lines."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter())
    handler.addFilter(WithContext())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("pymongo").setLevel(logging.WARNING)
    bind_static(service=service)


_static: dict[str, str] = {}


def bind_static(**fields: str) -> None:
    _static.update(fields)


@contextmanager
def bound(**fields: str | None) -> Iterator[None]:
    """Within the block, log lines carry ``fields`` (None values are left out)."""
    current = _context.get() or {}
    token = _context.set({**_static, **current, **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)
