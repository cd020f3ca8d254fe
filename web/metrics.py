"""``GET /metrics``: Prometheus text, with prometheus_client.

Per web process, in prometheus_client's multiprocess mode (gunicorn's
workers write to ``PROMETHEUS_MULTIPROC_DIR``; see web/gunicorn_conf.py):
HTTP requests by route and status, a latency histogram, commands accepted
by type.  Read from Redis and the store at scrape time, so they are right
whichever process did the work (workers take no scrapes): queue depths,
command outcomes, dead letters, and each read model's projection lag."""

from __future__ import annotations

import hmac
import json
import os
import time
from collections.abc import Callable

import falcon
import redis
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from infra.generations import READ_MODELS
from infra.messages import COMMANDS_QUEUE, PROJECTIONS_QUEUE

HTTP_REQUESTS = Counter("shop_http_requests_total", "HTTP requests", ["route", "method", "status"])
HTTP_LATENCY = Histogram("shop_http_request_duration_seconds", "HTTP request latency", ["route"])
COMMANDS_ACCEPTED = Counter("shop_commands_accepted_total", "Commands accepted (202)", ["type"])


class ScrapeTime:
    """Collector whose values are read when Prometheus scrapes."""

    def __init__(self, client: redis.Redis, namespace: str, dead_letters: Callable[[], int]):
        self._redis = client
        self._ns = namespace
        self._dead_letters = dead_letters

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
        ns = self._ns
        pipe = self._redis.pipeline(transaction=False)
        for queue in (COMMANDS_QUEUE, PROJECTIONS_QUEUE):
            pipe.llen(f"{ns}:{queue}")
            pipe.zcard(f"{ns}:{queue}.XQ")
        pipe.hgetall(f"{ns}:metrics:outcomes")
        pipe.get(f"{ns}:metrics:lag")
        commands, commands_dead, projections, projections_dead, outcomes, measured = pipe.execute()
        depth = GaugeMetricFamily("shop_queue_depth", "Messages waiting", labels=["queue"])
        depth.add_metric([COMMANDS_QUEUE], commands)
        depth.add_metric([PROJECTIONS_QUEUE], projections)
        yield depth
        dead = GaugeMetricFamily(
            "shop_dead_letter_queue_depth", "Messages in Dramatiq's dead-letter queues", labels=["queue"]
        )
        dead.add_metric([COMMANDS_QUEUE], commands_dead)
        dead.add_metric([PROJECTIONS_QUEUE], projections_dead)
        yield dead
        totals = GaugeMetricFamily(
            "shop_command_outcomes", "Commands by type and final status", labels=["type", "status"]
        )
        for key, count in sorted(outcomes.items()):
            command_type, _, status = key.decode().partition("|")
            totals.add_metric([command_type, status], int(count))
        yield totals
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
        for name in READ_MODELS:
            measure = lag["read_models"].get(name, {})
            lag_versions.add_metric([name], measure.get("versions", 0))
            lag_seconds.add_metric([name], measure.get("seconds", 0.0))
        yield lag_versions
        yield lag_seconds
        age = GaugeMetricFamily(
            "shop_projection_lag_measured_age_seconds", "Time since the catch-up last measured the lag"
        )
        if lag["measured_ms"]:
            age.add_metric([], max(0.0, time.time() - lag["measured_ms"] / 1000))
            yield age


class Metrics:
    """``GET /metrics``; with ``METRICS_TOKEN`` set, only for that bearer."""

    public = True

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
