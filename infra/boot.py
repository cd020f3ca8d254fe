"""Errors at boot, one line each: what is wrong and how to put it right,
and no traceback (a traceback says "bug", and these are not bugs)."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import pymongo.errors
import redis.exceptions

from infra.settings import ConfigurationError

#: Exit codes: a setting to change, or a server that did not answer.
MISCONFIGURED = 2
UNREACHABLE = 1

NO_ANSWER = (
    pymongo.errors.ConnectionFailure,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
)
BOOT_ERRORS = (ConfigurationError, pymongo.errors.ConfigurationError, *NO_ANSWER)


def describe(exc: BaseException) -> str:
    """One line for an error of :data:`BOOT_ERRORS`."""
    if isinstance(exc, pymongo.errors.ConnectionFailure):
        # pymongo appends its timeouts and the whole topology: keep the cause.
        cause = re.sub(r" \(configured timeouts:[^)]*\)", "", str(exc).split(", Timeout:")[0])
        return f"MongoDB did not answer (MONGODB_URI): {cause}"
    if isinstance(exc, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError):
        return f"Redis did not answer (REDIS_URL): {exc}"
    if isinstance(exc, pymongo.errors.ConfigurationError):
        return f"MONGODB_URI: {exc}"
    return " ".join(str(exc).split())


def exit_code(exc: BaseException) -> int:
    return UNREACHABLE if isinstance(exc, NO_ANSWER) else MISCONFIGURED


@contextmanager
def one_line(prog: str) -> Iterator[None]:
    """For a command-line tool: an error of :data:`BOOT_ERRORS` inside the
    block ends the program with ``prog: what is wrong`` on stderr."""
    try:
        yield
    except BOOT_ERRORS as exc:
        print(f"{prog}: {describe(exc)}", file=sys.stderr, flush=True)
        raise SystemExit(exit_code(exc)) from None


def refuse(log: logging.Logger, exc: BaseException, code: int) -> NoReturn:
    """For a process of the Procfile: log why it cannot start, as its one
    error line, and exit with ``code`` (the one its runner reads as "do not
    start me again")."""
    log.error("cannot start: %s", describe(exc))
    raise SystemExit(code)
