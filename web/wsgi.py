"""Entry point for gunicorn (see the Procfile): ``gunicorn 'web.wsgi:application()'``.

gunicorn calls the factory in each worker process after forking, so every
connection is made in the process that uses it."""

import logging

from infra.settings import Settings
from web.app import create_app


def application():
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    return create_app(Settings.from_env())
