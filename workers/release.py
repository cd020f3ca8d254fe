"""The Procfile's ``release`` step: create every index.  Safe to run twice."""

import argparse
import logging
import sys

from infra import boot, logs, otel
from infra.indexes import ensure_indexes
from infra.servers import environment_help, tool_settings
from infra.tracing import tracer
from workers.bootstrap import build_adapters

PROG = "python -m workers.release"


def main(argv: list[str] | None = None, prog: str = PROG) -> int:
    argparse.ArgumentParser(
        prog=prog,
        description="Create every index the service relies on: the Procfile's release step,\n"
        "run once per deploy; safe to run twice.",
        epilog=environment_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    ).parse_args(argv)
    logs.configure("release")
    try:
        settings = tool_settings(prog)
        otel.configure("release")
        adapters = build_adapters(settings, appname="shop-release")
        try:
            with tracer.start_as_current_span("release"):
                names = ensure_indexes(adapters.db)
        finally:
            adapters.close()
    except boot.BOOT_ERRORS as exc:
        logging.error("%s", boot.describe(exc))
        return boot.exit_code(exc)
    logging.info("indexes ready on %s: %s", settings.mongodb_database, ", ".join(names))
    return 0


if __name__ == "__main__":
    sys.exit(main())
