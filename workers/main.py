"""Entry point for the ``dramatiq`` command (see the Procfile)::

    dramatiq workers.main:broker --queues commands

Reads the environment and binds the actors; connects to MongoDB only when
the first message arrives, inside each worker process."""

import dramatiq

from infra import logs
from infra.broker import build_broker
from infra.settings import Settings
from workers.actors import declare
from workers.bootstrap import build_services, lazy

logs.configure("worker")
settings = Settings.from_env()
broker = build_broker(settings)
declare(
    broker, lazy(lambda: build_services(settings, broker)), catch_up_interval_s=settings.catch_up_interval_s
)
dramatiq.set_broker(broker)
