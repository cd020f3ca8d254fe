"""JSON logs (python-json-logger) on every process, each line carrying the
``command_id`` and ``correlation_id`` of the work it belongs to, so that one
grep on either shows a command's whole story: request, enqueue, command
actor, commit, follow-up commands, notification, projection.

Every line is one JSON object with ``time`` (RFC 3339, UTC offset),
``level``, ``logger``, ``process``, ``message`` and ``service`` (the
Procfile's process type); a traceback travels inside its line, as
``exc_info``.  What bypasses logging (an uncaught exception, a warning, a
library that prints to stderr) is turned into such lines too."""

from __future__ import annotations

import io
import json
import logging
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

from pythonjsonlogger.json import JsonFormatter

_context: ContextVar[dict[str, str] | None] = ContextVar("log_context", default=None)

FIELDS = "%(asctime)s %(levelname)s %(name)s %(process)d %(message)s"

#: The environment variable that carries a process's type to the processes
#: it starts (Dramatiq's worker processes): see ``workers/serve.py``.
SERVICE_ENV = "SHOP_SERVICE"

#: A record's traceback when it was only ever text (see ``RawLines``).
RAW_TRACEBACK = "raw_traceback"


class WithContext(logging.Filter):
    """Adds the bound ``command_id`` / ``correlation_id`` to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in (_context.get() or _static).items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class Formatter(JsonFormatter):
    """``time`` as RFC 3339 with its offset: ``2026-11-26T18:03:04.123+00:00``."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")

    def add_fields(self, log_data, record, message_dict) -> None:
        super().add_fields(log_data, record, message_dict)
        if RAW_TRACEBACK in log_data:  # a traceback that reached stderr as text
            log_data["exc_info"] = log_data.pop(RAW_TRACEBACK)


def formatter() -> JsonFormatter:
    return Formatter(FIELDS, rename_fields={"asctime": "time", "levelname": "level", "name": "logger"})


def json_handler(stream) -> logging.Handler:
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter())
    handler.addFilter(WithContext())
    return handler


LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def configure(service: str, level: int | None = None) -> None:
    """Send this process's logs to stdout as JSON lines, and turn what
    would reach stderr unlogged into JSON lines as well.  The level is
    ``level``, else ``LOG_LEVEL`` (INFO unless set)."""
    bind_static(service=service)
    root = logging.getLogger()
    root.handlers[:] = [json_handler(sys.stdout)]
    named = (os.environ.get("LOG_LEVEL") or "INFO").upper()
    root.setLevel(level if level is not None else getattr(logging, named if named in LEVELS else "INFO"))
    if level is None and named not in LEVELS:
        logging.warning("LOG_LEVEL=%s is not one of %s; logging at INFO", named, ", ".join(LEVELS))
    logging.getLogger("pymongo").setLevel(logging.WARNING)
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught
    threading.excepthook = lambda args: _log_uncaught(args.exc_type, args.exc_value, args.exc_traceback)
    if not isinstance(sys.stderr, RawLines):
        sys.stderr = RawLines(sys.stderr, logging.getLogger("stderr"))


def _log_uncaught(exc_type, exc_value, exc_traceback) -> None:
    if exc_type is not None and issubclass(exc_type, SystemExit):
        return
    logging.getLogger("uncaught").critical(
        "uncaught %s: %s", getattr(exc_type, "__name__", exc_type), exc_value,
        exc_info=(exc_type, exc_value, exc_traceback),
    )  # fmt: skip


#: The lines of a traceback that are not frames and do not end it.
_CHAINED = (
    "During handling of the above exception, another exception occurred:",
    "The above exception was the direct cause of the following exception:",
)


class RawLines(io.TextIOBase):
    """A stand-in for ``sys.stderr``: each line written to it becomes a log
    record, a traceback (``Traceback ...`` down to its exception line) one
    record whose ``exc_info`` holds it; lines that are JSON objects already
    (Dramatiq relays its worker processes' logs this way) pass through."""

    def __init__(self, stream, log: logging.Logger):
        self._stream = stream
        self._log = log
        self._lock = threading.RLock()
        self._pending = ""
        self._traceback: list[str] = []
        self._logging = threading.local()

    def write(self, text: str) -> int:
        if getattr(self._logging, "now", False):
            # Written while logging a line of ours (logging's own report of
            # a failing handler): as it is, rather than round and round.
            self._stream.write(text)
            return len(text)
        with self._lock:
            self._logging.now = True
            try:
                self._pending += text
                *lines, self._pending = self._pending.split("\n")
                for line in lines:
                    self._line(line)
            finally:
                self._logging.now = False
        return len(text)

    def _line(self, line: str) -> None:
        if self._traceback:
            self._traceback.append(line)
            if line and not line[0].isspace() and line not in _CHAINED and not line.startswith("Traceback"):
                block, self._traceback = self._traceback, []
                self._log.error("%s", line, extra={RAW_TRACEBACK: "\n".join(block)})
            return
        if line.startswith("Traceback (most recent call last):") or line in _CHAINED:
            self._traceback = [line]
        elif _is_json_object(line):
            self._stream.write(line + "\n")
            self._stream.flush()
        elif line.strip():
            self._log.warning("%s", line.rstrip())

    def flush(self) -> None:
        with self._lock:
            if self._traceback:
                block, self._traceback = self._traceback, []
                self._log.error("%s", block[-1], extra={RAW_TRACEBACK: "\n".join(block)})
            self._stream.flush()

    def fileno(self) -> int:
        return self._stream.fileno()

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:
        return getattr(self._stream, "encoding", "utf-8")


def _is_json_object(line: str) -> bool:
    if not line.startswith("{"):
        return False
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


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
