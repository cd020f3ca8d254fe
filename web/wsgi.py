"""Entry point for gunicorn (see the Procfile): ``gunicorn 'web.wsgi:application()'``.

gunicorn calls the factory in each worker process after forking, so every
connection, and the trace exporter's thread (if traces are on), is made in
the process that uses it.  Its master checks the
settings first (``web.gunicorn_conf``), so a web that cannot start says why
in one line and gunicorn stops before it forks a worker."""

import logging
import os
from collections.abc import Mapping

from infra import boot, logs, otel
from infra.settings import ConfigurationError, Settings

log = logging.getLogger("web")

#: gunicorn's exit code for "the application could not be loaded": its
#: master stops instead of starting workers again.
APP_LOAD_ERROR = 4


def web_settings(environ: Mapping[str, str] = os.environ) -> Settings:
    """The settings web serves with.

    Raises:
      ConfigurationError: web must not serve with these (no tokens, no
        cursor secret, a malformed variable).
    """
    settings = Settings.from_env(environ)
    if not settings.api_tokens and not settings.allow_anonymous:
        # Secure by default.
        raise ConfigurationError(
            "API_TOKENS is empty: set tokens, or ALLOW_ANONYMOUS=1 to serve without them"
        )
    if not settings.cursor_secret:
        # A secret in the source would let anyone sign cursors.
        raise ConfigurationError(
            "CURSOR_SECRET is not set: set a secret of your own, the same on every web process"
        )
    return settings


def settings_or_exit() -> Settings:
    """:func:`web_settings`, or one log line and exit code
    :data:`APP_LOAD_ERROR` when web cannot serve with them."""
    logs.configure("web")
    try:
        return web_settings()
    except boot.BOOT_ERRORS as exc:
        boot.refuse(log, exc, APP_LOAD_ERROR)


def application():
    # Imported here, not above: gunicorn's master imports this module to
    # check the settings, and must not load the app (its metrics are set up
    # per worker, after forking).
    from web.app import create_app
    from web.bootstrap import build_adapters

    settings = settings_or_exit()
    otel.configure("web", web=True)  # before create_app: Falcon's App is traced as it is built
    if not settings.api_tokens:
        log.warning("ALLOW_ANONYMOUS=1: requests without a token get every scope")
    elif settings.allow_anonymous:
        log.warning("ALLOW_ANONYMOUS=1 is ignored: API_TOKENS are set, every request needs one")
    return create_app(settings, build_adapters(settings))
