"""``GET /metrics``: Prometheus text, with prometheus_client.

Per web process, in prometheus_client's multiprocess mode (gunicorn's
workers write to ``PROMETHEUS_MULTIPROC_DIR``; see web/gunicorn_conf.py):
HTTP requests by route, method and status, their latency by route and
method, commands accepted by type, requests waiting on ``after=``.  Read
from Redis and the store at scrape time, so they are right whichever
process did the work (workers take no scrapes): queue depths, the age of
each queue's oldest waiting message, retries waiting, command outcomes and
latency (infra/measures.py), dead letters, and each read model's
projection lag."""

from __future__ import annotations

import hmac
import json
import os
import time
from collections.abc import Callable

import falcon
import redis
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from infra import measures
from infra.keys import Keys
from infra.messages import COMMANDS_QUEUE, PROJECTIONS_QUEUE
from infra.mongo import READ_MODELS

HTTP_REQUESTS = Counter("shop_http_requests_total", "HTTP requests", ["route", "method", "status"])
HTTP_LATENCY = Histogram("shop_http_request_duration_seconds", "HTTP request latency", ["route", "method"])
COMMANDS_ACCEPTED = Counter("shop_commands_accepted_total", "Commands accepted (202)", ["type"])
AFTER_WAITS = Gauge(
    "shop_after_waits_in_progress",
    "Queries waiting for a command's read model (after=) now",
    multiprocess_mode="livesum",
)

QUEUES = (COMMANDS_QUEUE, PROJECTIONS_QUEUE)

#: The oldest of this many messages at the head of a queue is its oldest
#: (a dead worker's messages are put back at the tail, so the head is not
#: always the oldest).
HEAD_SAMPLE = 10


class ScrapeTime:
    """Collector whose values are read when Prometheus scrapes."""

    def __init__(
        self,
        client: redis.Redis,
        namespace: str,
        dead_letters: Callable[[], int],
        clock: Callable[[], float] = time.time,
    ):
        self._redis = client
        self._keys = Keys(namespace)
        self._dead_letters = dead_letters
        self._clock = clock

    def collect(self):
        up = GaugeMetricFamily(
            "shop_scrape_source_up", "Whether a source answered this scrape", labels=["source"]
        )
        for source, collect in (("redis", self._from_redis), ("mongodb", self._from_store)):
            try:
                families = list(collect())
            except Exception:
                up.add_metric([source], 0)
                continue
            up.add_metric([source], 1)
            yield from families
        yield up

    def _from_store(self):
        letters = GaugeMetricFamily("shop_dead_letters", "Messages kept in the dead_letters collection")
        letters.add_metric([], self._dead_letters())
        yield letters

    def _from_redis(self):
        keys = self._keys
        pipe = self._redis.pipeline(transaction=False)
        for queue in QUEUES:
            pipe.llen(keys.queue(queue))
            pipe.zcard(keys.dead(queue))
            # Retries wait in the delay queue, or in a worker's memory until
            # they are due: either way their message is in its hash.
            pipe.hlen(keys.delayed_messages(queue))
        pipe.hgetall(keys.outcomes)
        pipe.hgetall(keys.latency)
        pipe.get(keys.lag)
        *by_queue, outcomes, latency, measured = pipe.execute()
        depth = GaugeMetricFamily("shop_queue_depth", "Messages waiting", labels=["queue"])
        dead = GaugeMetricFamily(
            "shop_dead_letter_queue_depth", "Messages in Dramatiq's dead-letter queues", labels=["queue"]
        )
        retries = GaugeMetricFamily(
            "shop_retry_queue_depth",
            "Messages waiting to be retried (Dramatiq's delay queues)",
            labels=["queue"],
        )
        for i, queue in enumerate(QUEUES):
            waiting, dead_letters, delayed = by_queue[3 * i : 3 * i + 3]
            depth.add_metric([queue], waiting)
            dead.add_metric([queue], dead_letters)
            retries.add_metric([queue], delayed)
        yield depth
        yield dead
        yield retries
        yield self._oldest()
        completed = CounterMetricFamily(
            "shop_commands_completed", "Commands by type and final outcome", labels=["type", "outcome"]
        )
        for key, count in sorted(outcomes.items()):
            command_type, _, outcome = key.decode().partition("|")
            completed.add_metric([command_type, outcome], int(count))
        yield completed
        latency_s = HistogramMetricFamily(
            "shop_command_latency_seconds",
            "From a command's acceptance to its final outcome",
            labels=["type", "outcome"],
        )
        for (command_type, outcome), histogram in sorted(measures.read_latency(latency).items()):
            latency_s.add_metric([command_type, outcome], histogram.cumulative(), histogram.sum)
        yield latency_s
        # Measured by the last catch-up pass, from the event store's stream
        # heads against each read model's documents: facts, not running
        # totals, so no crash can offset them.
        lag = json.loads(measured) if measured else {"measured_ms": 0, "read_models": {}}
        lag_versions = GaugeMetricFamily(
            "shop_projection_lag_versions",
            "Committed versions not yet applied (as of the last catch-up pass)",
            labels=["read_model"],
        )
        lag_seconds = GaugeMetricFamily(
            "shop_projection_lag_seconds",
            "Age of the oldest commit not yet applied (as of the last catch-up pass)",
            labels=["read_model"],
        )
        for name in (model.name for model in READ_MODELS.values()):
            measure = lag["read_models"].get(name, {})
            lag_versions.add_metric([name], measure.get("versions", 0))
            lag_seconds.add_metric([name], measure.get("seconds", 0.0))
        yield lag_versions
        yield lag_seconds
        age = GaugeMetricFamily(
            "shop_projection_lag_measured_age_seconds", "Time since the catch-up last measured the lag"
        )
        if lag["measured_ms"]:
            age.add_metric([], max(0.0, self._clock() - lag["measured_ms"] / 1000))
            yield age

    def _oldest(self) -> GaugeMetricFamily:
        """Per queue, how long its oldest waiting message has been ready:
        since it was sent, or since it fell due (a retry)."""
        pipe = self._redis.pipeline(transaction=False)
        for queue in QUEUES:
            pipe.lrange(self._keys.queue(queue), 0, HEAD_SAMPLE - 1)
        heads = dict(zip(QUEUES, pipe.execute(), strict=True))
        for queue, ids in heads.items():
            if ids:
                pipe.hmget(self._keys.messages(queue), ids)
        bodies = iter(pipe.execute())
        now_ms = self._clock() * 1000
        oldest = GaugeMetricFamily(
            "shop_queue_oldest_message_age_seconds",
            "How long the oldest message waiting in a queue has been ready (0 when none waits)",
            labels=["queue"],
        )
        for queue, ids in heads.items():
            found = next(bodies) if ids else []
            ready_ms = [ready_since_ms(json.loads(body)) for body in found if body]
            oldest.add_metric([queue], max(0.0, (now_ms - min(ready_ms)) / 1000) if ready_ms else 0.0)
        return oldest


def ready_since_ms(message: dict) -> float:
    """When a Dramatiq message could first be delivered: when it was sent,
    or, for a delayed one (a retry), when it fell due."""
    return max(message.get("message_timestamp", 0), message.get("options", {}).get("eta", 0))


class Metrics:
    """``GET /metrics``; with ``METRICS_TOKEN`` set, only for that bearer."""

    def __init__(self, scrape_time: ScrapeTime, token: str | None):
        self._scrape_time = scrape_time
        self._token = token

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        if self._token:
            given = (req.get_header("Authorization") or "").removeprefix("Bearer ").strip()
            if not hmac.compare_digest(given.encode(), self._token.encode()):
                raise falcon.HTTPUnauthorized(title="Unauthorized", description="send the METRICS_TOKEN")
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            processes = CollectorRegistry()
            MultiProcessCollector(processes)
        else:  # one process (tests, a plain run): its own counters
            from prometheus_client import REGISTRY as processes
        scrape = CollectorRegistry()
        scrape.register(self._scrape_time)
        resp.data = generate_latest(processes) + generate_latest(scrape)
        resp.content_type = CONTENT_TYPE_LATEST
