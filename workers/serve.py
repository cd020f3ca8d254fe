"""The Procfile's ``worker`` and ``projector``: Dramatiq's command line, with
every line it writes as JSON::

    python -m workers.serve worker|projector BROKER [dramatiq options]

Dramatiq's main process (which starts, watches and stops the worker
processes, and relays their output) logs in JSON under the process type
given first; so do its worker processes (``workers.main`` reads the type
from the environment).  Dramatiq's own log setup is skipped."""

from __future__ import annotations

import os
import sys

SERVICES = ("worker", "projector")


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in SERVICES:
        print(__doc__, file=sys.stderr if argv[:1] not in (["-h"], ["--help"]) else sys.stdout)
        return 0 if argv[:1] in (["-h"], ["--help"]) else 2
    service, options = argv[0], argv[1:]
    from dramatiq import cli

    from infra import logs

    os.environ[logs.SERVICE_ENV] = service
    logs.configure(service)
    if "--skip-logging" not in options:
        options.append("--skip-logging")
    return cli.main(cli.make_argument_parser().parse_args(options))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
