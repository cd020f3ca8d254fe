"""The measures ``/metrics`` reads from Redis, against Dramatiq's real
layout and the real outcome call."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from domain.commands import CreateProduct
from infra.messages import COMMANDS_QUEUE, PROJECTIONS_QUEUE, CommandEnvelope, command_message
from infra.statuses import CommandStatuses
from web.metrics import ScrapeTime
from web.readings import Readings


def scrape(redis_client, settings, now: float | None = None) -> dict[str, float]:
    clock = (lambda: now) if now is not None else time.time
    collector = ScrapeTime(Readings(redis_client, settings.redis_namespace, lambda: 0, clock=clock))
    return {
        f"{sample.name}{{{','.join(f'{k}={v}' for k, v in sorted(sample.labels.items()))}}}": sample.value
        for family in collector.collect()
        for sample in family.samples
    }


def envelope(command_id: str, submitted_at: datetime | None = None) -> CommandEnvelope:
    command = CreateProduct("00000000-0000-4000-8000-00000000000a", "SKU-1", "Mug", 5, "EUR")
    return CommandEnvelope.wrap(command, command_id=command_id, submitted_at=submitted_at)


def test_queue_age_and_retries_waiting_read_dramatiqs_layout(broker, redis_client, settings):
    # Given no message anywhere, I expect every queue young and empty
    values = scrape(redis_client, settings)
    for queue in (COMMANDS_QUEUE, PROJECTIONS_QUEUE):
        assert values[f"shop_queue_oldest_message_age_seconds{{queue={queue}}}"] == 0
        assert values[f"shop_retry_queue_depth{{queue={queue}}}"] == 0
    # When a command waits, and another is retried a minute from now
    broker.declare_queue(COMMANDS_QUEUE)
    sent_ms = time.time() * 1000
    broker.enqueue(command_message(envelope("c1")))
    broker.enqueue(command_message(envelope("c2")), delay=60_000)
    # I expect the waiting one's age to grow with time, and the retry counted apart
    values = scrape(redis_client, settings, now=sent_ms / 1000 + 30)
    assert 29 <= values[f"shop_queue_oldest_message_age_seconds{{queue={COMMANDS_QUEUE}}}"] <= 31
    assert values[f"shop_queue_depth{{queue={COMMANDS_QUEUE}}}"] == 1
    assert values[f"shop_retry_queue_depth{{queue={COMMANDS_QUEUE}}}"] == 1
    assert values[f"shop_retry_queue_depth{{queue={PROJECTIONS_QUEUE}}}"] == 0
    assert values[f"shop_queue_oldest_message_age_seconds{{queue={PROJECTIONS_QUEUE}}}"] == 0


def test_an_outcome_is_counted_and_its_latency_observed_once(redis_client, settings):
    statuses = CommandStatuses(redis_client, namespace=settings.redis_namespace, ttl_s=60)
    # Given a command accepted three seconds ago
    accepted = envelope("c1", submitted_at=datetime.now(UTC) - timedelta(seconds=3))
    statuses.accept(accepted)
    # When its outcome is recorded, twice (a second delivery)
    statuses.finish(accepted, "succeeded", version=1)
    statuses.finish(accepted, "succeeded", version=1)
    # I expect one outcome, in the bucket of 3 s
    values = scrape(redis_client, settings)
    labels = "outcome=succeeded,type=CreateProduct"
    assert values[f"shop_commands_completed_total{{{labels}}}"] == 1
    assert values[f"shop_command_latency_seconds_count{{{labels}}}"] == 1
    assert values[f"shop_command_latency_seconds_bucket{{le=2.5,{labels}}}"] == 0
    assert values[f"shop_command_latency_seconds_bucket{{le=5.0,{labels}}}"] == 1
    assert values[f"shop_command_latency_seconds_bucket{{le=+Inf,{labels}}}"] == 1
    assert 3 <= values[f"shop_command_latency_seconds_sum{{{labels}}}"] < 4
