"""Entry point for gunicorn (see the Procfile): ``gunicorn 'web.wsgi:application()'``.

gunicorn calls the factory in each worker process after forking, so every
connection, and the trace exporter's thread (if traces are on), is made in
the process that uses it."""

import logging

from infra import logs, otel
from infra.settings import ConfigurationError, Settings
from web.app import create_app


def application():
    logs.configure("web")
    otel.configure("web", web=True)  # before create_app: Falcon's App is traced as it is built
    settings = Settings.from_env()
    if not settings.api_tokens:
        if not settings.allow_anonymous:
            # Secure by default: an error while loading the app is a boot
            # failure, and gunicorn stops rather than serve.
            raise ConfigurationError(
                "API_TOKENS is empty: set tokens, or ALLOW_ANONYMOUS=1 to serve without them"
            )
        logging.getLogger("web").warning("ALLOW_ANONYMOUS=1: requests without a token get every scope")
    elif settings.allow_anonymous:
        logging.getLogger("web").warning(
            "ALLOW_ANONYMOUS=1 is ignored: API_TOKENS are set, every request needs one"
        )
    if not settings.cursor_secret:
        # A secret in the source would let anyone sign cursors.
        raise ConfigurationError(
            "CURSOR_SECRET is not set: set a secret of your own, the same on every web process"
        )
    return create_app(settings)
