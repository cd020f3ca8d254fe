"""Dead letters: messages that a projection or a command handler could not
apply, however often it tried (a bug, bad data), kept in ``dead_letters``
with the stream, version, handler, error and traceback (infra/deadletters.py).

    python -m workers.deadletters list
    python -m workers.deadletters retry <id>
    python -m workers.deadletters retry --all

``retry`` applies the message again, here and now; when it succeeds the
dead letter is removed and the stream is no longer stuck."""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass
from typing import Any

from infra import boot
from infra.deadletters import DeadLetters
from infra.messages import HANDLE_COMMAND, PROJECT_STREAM, CommandEnvelope, rfc3339
from infra.servers import environment_help, tool_settings
from infra.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Retried:
    letter_id: str
    ok: bool
    error: str | None = None


def retry(letters: DeadLetters, services, letter: dict[str, Any]) -> Retried:
    """Apply a dead letter's message again; remove it if that works."""
    try:
        if letter["handler"] == PROJECT_STREAM:
            services.projector.project(letter["message"])
        elif letter["handler"] == HANDLE_COMMAND:
            services.commands.handle(CommandEnvelope.from_dict(letter["message"]))
        else:
            # A rebuild's dead letter: project the stream from the store.
            services.projector.bring_up_to_date(
                letter["stream_type"], letter["stream_id"], letter["version"] or 0
            )
    except Exception as exc:  # the fault is still there
        letters.record(
            handler=letter["handler"],
            stream_id=letter["stream_id"],
            stream_type=letter["stream_type"],
            version=letter["version"],
            message=letter["message"],
            error=exc,
            ref=letter["_id"].rsplit(":", 1)[-1],
        )
        return Retried(letter["_id"], ok=False, error=f"{type(exc).__name__}: {exc}")
    letters.remove(letter)
    return Retried(letter["_id"], ok=True)


PROG = "python -m workers.deadletters"


def main(argv: list[str] | None = None, prog: str = PROG) -> int:
    layout = {"epilog": environment_help(), "formatter_class": argparse.RawDescriptionHelpFormatter}
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0], **layout)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="show every dead letter", description="Show every dead letter", **layout)
    again = commands.add_parser(
        "retry",
        help="apply dead letters again",
        description="Apply dead letters again, here and now; those that succeed are removed",
        **layout,
    )
    which = again.add_mutually_exclusive_group(required=True)
    which.add_argument("id", nargs="?", help="the dead letter's id (from list)")
    which.add_argument("--all", action="store_true", help="every dead letter")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    with boot.one_line(prog):
        return run(args, tool_settings(prog))


def run(args: argparse.Namespace, settings: Settings) -> int:
    from infra.broker import build_broker
    from workers.bootstrap import build_services

    services = build_services(settings, build_broker(settings), appname="shop-deadletters")
    letters = services.dead_letters
    if args.command == "list":
        found = letters.all()
        for letter in found:
            since = rfc3339(letter["recorded_at"])
            print(letter["_id"])
            print(f"  {letter['stream_type']} {letter['stream_id']} version {letter['version']}", end="")
            print(f"  ({letter['attempts']} attempt(s), since {since})")
            print(f"  {letter['error']}")
        print(f"{len(found)} dead letter(s)")
        return 0
    chosen = letters.all() if args.all else [letters.get(args.id)]
    if chosen == [None]:
        print(f"no dead letter {args.id}", file=sys.stderr)
        return 2
    results = [retry(letters, services, letter) for letter in chosen]
    for result in results:
        print(
            f"{'retried' if result.ok else 'still failing'}: {result.letter_id}"
            + (f"  {result.error}" if result.error else "")
        )
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
