"""``shop``: one command for the service's tools, each the ``main`` of its
module (``shop rebuild …`` is ``python -m workers.rebuild …``).  Modules
are imported only for the command that runs: ``shop rebuild`` works in a
production install, which lacks what ``shop run`` needs."""

from __future__ import annotations

import argparse
import importlib
import sys

#: command -> (module whose ``main(argv, prog)`` runs it, what it does)
COMMANDS = {
    "run": ("infra.local", "serve the whole service on this machine (what `make run` does)"),
    "rebuild": ("workers.rebuild", "rebuild a read model from the event store, or --check it for drift"),
    "deadletters": ("workers.deadletters", "list dead letters, or retry them"),
    "release": ("workers.release", "create every index (the Procfile's release step)"),
}

EPILOG = """Each command has its own --help, which names the environment it reads.
Without REDIS_URL and MONGODB_URI, the tools use the servers of a running
`make run` (`shop run`), which it publishes in $DATA_DIR/servers.json."""


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in COMMANDS:
        module, _ = COMMANDS[argv[0]]
        return importlib.import_module(module).main(argv[1:], prog=f"shop {argv[0]}")
    parser = argparse.ArgumentParser(
        prog="shop",
        description="Run and operate the shop service.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", metavar="command", required=True)
    for name, (_, summary) in COMMANDS.items():
        commands.add_parser(name, help=summary)
    parser.parse_args(argv)  # exits: with the help, or saying what is wrong
    return 2


if __name__ == "__main__":
    sys.exit(main())
