"""The Procfile's ``release`` step: create every index.  Safe to run twice."""

import logging
import sys

from infra import logs
from infra import otel
from infra.mongo import connect, ensure_indexes
from infra.settings import ConfigurationError, Settings
from infra.tracing import tracer


def main() -> int:
    logs.configure("release")
    try:
        settings = Settings.from_env()
        otel.configure("release")
    except ConfigurationError as exc:
        logging.error("%s", exc)
        return 2
    db = connect(settings, appname="shop-release")
    try:
        with tracer.start_as_current_span("release"):
            names = ensure_indexes(db)
    finally:
        db.client.close()
    logging.info("indexes ready on %s: %s", settings.mongodb_database, ", ".join(names))
    return 0


if __name__ == "__main__":
    sys.exit(main())
