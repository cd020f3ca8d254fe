from __future__ import annotations

import pytest
from dramatiq import Worker

from infra.broker import build_broker
from workers.actors import declare
from workers.bootstrap import build_services


@pytest.fixture
def broker(settings):
    broker = build_broker(settings)
    yield broker
    broker.close()


@pytest.fixture
def services(settings, broker, db):
    return build_services(settings, broker, db=db)


@pytest.fixture
def actors(broker, services):
    return declare(broker, lambda: services)


@pytest.fixture
def worker(broker, actors):
    worker = Worker(broker, worker_threads=4, worker_timeout=100)
    worker.start()
    yield worker
    worker.stop()
