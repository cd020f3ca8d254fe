"""Redis restarts and dead workers, for real: a Redis server of the test's
own is stopped and started again at chosen moments while a real Dramatiq
worker processes commands.  Every accepted command must still end, once."""

from __future__ import annotations

import dataclasses
import threading
import time

import pymongo.errors
import pytest
import redis
from dramatiq import Worker

from domain.commands import AdjustStock, CreateProduct
from infra.broker import build_broker
from infra.embedded import start_redis
from infra.eventstore import EventStore
from infra.messages import CommandEnvelope, command_message
from infra.mongo import PRODUCTS
from infra.redisclient import connect_redis
from workers.actors import declare
from workers.bootstrap import build_services

PRODUCT = "9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d"


class RestartableRedis:
    """A redis-server of this test's own, with its append-only file."""

    def __init__(self, root):
        self.root = root
        self.server = start_redis(root)
        self.port = int(self.server.url.rsplit(":", 1)[1].split("/")[0])
        self.url = self.server.url

    def stop(self) -> None:
        self.server.stop()  # SIGTERM: Redis writes its file and exits

    def start(self) -> None:
        self.server = start_redis(self.root, port=self.port)

    def restart_in(self, seconds: float) -> threading.Thread:
        thread = threading.Thread(target=lambda: (time.sleep(seconds), self.start()), daemon=True)
        thread.start()
        return thread


@pytest.fixture
def own_redis(tmp_path):
    server = RestartableRedis(tmp_path / "redis")
    yield server
    server.server.stop()


@pytest.fixture
def outage_settings(settings, own_redis):
    return dataclasses.replace(settings, redis_url=own_redis.url)


def run_worker(settings, db, store_class, *, boot=False, **declare_options):
    broker = build_broker(settings)
    services = build_services(settings, broker, db=db)
    store = store_class(db)
    services.commands._store = store
    declare(broker, lambda: services, **declare_options)
    if boot:  # as the dramatiq command does: starts the time-limit watchdog
        broker.emit_after("process_boot")
    worker = Worker(broker, worker_threads=2, worker_timeout=100)
    worker.start()
    return broker, services, worker


def submit(settings, broker, services, envelope):
    services.commands._statuses.accept(envelope)
    broker.enqueue(command_message(envelope))


def status_of(settings, command_id):
    client = connect_redis(settings, socket_connect_timeout=0.5)
    try:
        raw = client.get(f"{settings.redis_namespace}:command:{command_id}")
    except redis.RedisError:
        return None
    finally:
        client.close()
    import json

    return json.loads(raw)["status"] if raw else None


def wait_until(condition, timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout} s")


def create(command_id="c-create"):
    return CommandEnvelope.wrap(
        CreateProduct(product_id=PRODUCT, sku="MUG-9", name="Mug", price_cents=900, currency="EUR", stock=3),
        command_id=command_id,
    )


def test_a_redis_restart_right_after_a_commit_loses_nothing(outage_settings, db, own_redis):
    # Given a worker whose Redis stops just after a commit lands, and is
    # back two seconds later
    class StopsRedisAfterAppend(EventStore):
        stopped = False

        def append(self, commit):
            super().append(commit)
            if not StopsRedisAfterAppend.stopped:
                StopsRedisAfterAppend.stopped = True
                own_redis.stop()
                own_redis.restart_in(2.0)

    broker, services, worker = run_worker(outage_settings, db, StopsRedisAfterAppend)
    try:
        # When a product is created
        submit(outage_settings, broker, services, create())
        # I expect the command to end succeeded, and its announcement to reach the read side
        wait_until(lambda: status_of(outage_settings, "c-create") == "succeeded", 60)
        wait_until(lambda: db[PRODUCTS].find_one({"_id": PRODUCT}) is not None, 30)
        assert StopsRedisAfterAppend.stopped
    finally:
        worker.stop()
        broker.close()


def test_a_redis_restart_while_a_retry_is_scheduled_loses_nothing(outage_settings, db, own_redis):
    # Given a worker whose store fails once, transiently, at the moment Redis
    # is down: the retry cannot be scheduled until Redis is back
    class FailsOnceWhileRedisIsDown(EventStore):
        failed = False

        def append(self, commit):
            if commit.command_id == "c-adjust" and not FailsOnceWhileRedisIsDown.failed:
                FailsOnceWhileRedisIsDown.failed = True
                own_redis.stop()
                own_redis.restart_in(2.0)
                raise pymongo.errors.AutoReconnect("store connection reset")
            super().append(commit)

    broker, services, worker = run_worker(outage_settings, db, FailsOnceWhileRedisIsDown)
    try:
        submit(outage_settings, broker, services, create())
        wait_until(lambda: status_of(outage_settings, "c-create") == "succeeded", 30)
        # When a stock adjustment meets that fault
        adjust = CommandEnvelope.wrap(AdjustStock(product_id=PRODUCT, delta=2), command_id="c-adjust")
        submit(outage_settings, broker, services, adjust)
        # I expect it retried once Redis is back, and applied once
        wait_until(lambda: status_of(outage_settings, "c-adjust") == "succeeded", 60)
        assert FailsOnceWhileRedisIsDown.failed
        assert [c.command_id for c in EventStore(db).load(PRODUCT)] == ["c-create", "c-adjust"]
    finally:
        worker.stop()
        broker.close()


def test_a_dead_workers_messages_come_back_within_the_heartbeat_timeout(outage_settings, db):
    heartbeat_ms = 2_000
    # Given a worker that took a message and died without acknowledging it
    # (a consumer of its own broker id that never calls Redis again)
    dead = build_broker(outage_settings, heartbeat_timeout=heartbeat_ms)
    dead_services = build_services(outage_settings, dead, db=db)
    declare(dead, lambda: dead_services)
    envelope = create()
    submit(outage_settings, dead, dead_services, envelope)
    consumer = dead.consume("commands", prefetch=1, timeout=100)
    taken = next(m for m in iter(consumer.__next__, "never") if m is not None)
    assert taken.message_id
    died_at = time.monotonic()
    # When a live worker runs, on a queue that is otherwise quiet
    broker = build_broker(outage_settings, heartbeat_timeout=heartbeat_ms)
    services = build_services(outage_settings, broker, db=db)
    declare(broker, lambda: services, redelivery_interval_s=0.5)
    worker = Worker(broker, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        # I expect the message to come back within the heartbeat timeout and a
        # few seconds, and the command to be applied
        wait_until(lambda: status_of(outage_settings, envelope.command_id) == "succeeded", 30)
        delay = time.monotonic() - died_at
        print(f"\nredelivered and applied {delay:.1f} s after its holder died (timeout {heartbeat_ms} ms)")
        assert delay < heartbeat_ms / 1000 + 3
    finally:
        worker.stop()
        broker.close()
        dead.close()


def test_a_wait_for_redis_outlasting_the_time_limit_still_schedules_the_retry(outage_settings, db, own_redis):
    # Given a command whose store fails transiently while Redis goes down for
    # longer than what is left of the message's time limit (2.5 s)
    class FailsOnceWhileRedisIsDown(EventStore):
        failed = False

        def append(self, commit):
            if not FailsOnceWhileRedisIsDown.failed:
                FailsOnceWhileRedisIsDown.failed = True
                own_redis.stop()
                own_redis.restart_in(6.0)
                raise pymongo.errors.AutoReconnect("store connection reset")
            super().append(commit)

    # (no redelivery loop: what is checked here is that the retry is scheduled,
    # not that a lost message comes back some other way)
    broker, services, worker = run_worker(
        outage_settings, db, FailsOnceWhileRedisIsDown, redelivery_interval_s=3600, boot=True
    )
    try:
        envelope = create()
        services.commands._statuses.accept(envelope)
        broker.enqueue(command_message(envelope).copy(options={"time_limit": 2500}))
        # I expect the retry scheduled once Redis is back, and the command applied
        wait_until(lambda: status_of(outage_settings, "c-create") == "succeeded", 60)
    finally:
        worker.stop()
        broker.close()


def test_a_worker_takes_a_new_identity_when_redis_cannot_be_reached(outage_settings, own_redis):
    # What it held (its delayed messages, dropped from memory on a connection
    # error) then belongs to a dead worker, and comes back to another
    broker = build_broker(outage_settings)
    try:
        before = broker.broker_id
        broker.do_qsize("commands")
        assert broker.broker_id == before
        own_redis.stop()
        with pytest.raises(redis.ConnectionError):
            broker.do_qsize("commands")
        assert broker.broker_id != before
    finally:
        own_redis.start()
        broker.close()
