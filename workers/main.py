"""The broker module of Dramatiq's command line (see the Procfile and
workers/serve.py)::

    python -m workers.serve worker workers.main:broker --queues commands

Reads the environment, sets up traces if asked for, and binds the actors;
connects to MongoDB only when the first message arrives.  Dramatiq imports
this module in each worker process it forks, so all of this happens there.
Settings it cannot start with end the process with one log line and exit
code 2, which Dramatiq's main process passes on as its own."""

import logging
import os
import signal
import threading

import dramatiq

from infra import boot, logs, otel
from infra.broker import build_broker
from infra.settings import ConfigurationError, Settings
from workers.actors import declare
from workers.bootstrap import build_services, lazy

# The process type (worker or projector) as workers.serve was told it.
service = os.environ.get(logs.SERVICE_ENV, "worker")
logs.configure(service)


def _stop_once() -> None:
    """A platform stops a dyno by sending SIGTERM to every process in it,
    and Dramatiq's main process passes its own on: a worker process would
    get two, and Dramatiq takes the second as "kill now".  Here a second
    SIGTERM is ignored, so running messages finish (within
    --worker-shutdown-timeout) and prefetched ones are put back."""
    first = signal.getsignal(signal.SIGTERM)
    if not callable(first) or threading.current_thread() is not threading.main_thread():
        return
    stopping = []

    def once(signum, frame):
        if not stopping:
            stopping.append(signum)
            first(signum, frame)

    signal.signal(signal.SIGTERM, once)


#: dramatiq's exit code for "the module could not be imported".
IMPORT_FAILED = 2

_stop_once()
try:
    settings = Settings.from_env()
    otel.configure(service)
except ConfigurationError as exc:
    boot.refuse(logging.getLogger(service), exc, IMPORT_FAILED)
broker = build_broker(settings)
if os.environ.get("DRAMATIQ_PROMETHEUS") == "1":
    # Where the platform can scrape workers: Dramatiq's own exporter.
    from dramatiq.middleware.prometheus import Prometheus

    broker.add_middleware(Prometheus())
declare(
    broker, lazy(lambda: build_services(settings, broker)), catch_up_interval_s=settings.catch_up_interval_s
)
dramatiq.set_broker(broker)
