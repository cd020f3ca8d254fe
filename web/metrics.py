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
import os

import falcon
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

from web.readings import Readings, RedisReading

HTTP_REQUESTS = Counter("shop_http_requests_total", "HTTP requests", ["route", "method", "status"])
HTTP_LATENCY = Histogram("shop_http_request_duration_seconds", "HTTP request latency", ["route", "method"])
COMMANDS_ACCEPTED = Counter("shop_commands_accepted_total", "Commands accepted (202)", ["type"])
AFTER_WAITS = Gauge(
    "shop_after_waits_in_progress",
    "Queries waiting for a command's read model (after=) now",
    multiprocess_mode="livesum",
)
EVENT_STREAMS = Gauge(
    "shop_event_streams_open",
    "Live event streams (GET /commands/{id}/events) open now; each holds a waiting slot",
    multiprocess_mode="livesum",
)


class ScrapeTime:
    """Collector of the readings (web.readings) taken when Prometheus scrapes."""

    def __init__(self, readings: Readings):
        self._readings = readings

    def collect(self):
        up = GaugeMetricFamily(
            "shop_scrape_source_up", "Whether a source answered this scrape", labels=["source"]
        )
        for source, read, render in (
            ("redis", self._readings.from_redis, from_redis),
            ("mongodb", self._readings.dead_letters, from_store),
        ):
            try:
                families = list(render(read()))
            except Exception:
                up.add_metric([source], 0)
                continue
            up.add_metric([source], 1)
            yield from families
        yield up


def from_store(dead_letters: int):
    letters = GaugeMetricFamily("shop_dead_letters", "Messages kept in the dead_letters collection")
    letters.add_metric([], dead_letters)
    yield letters


def from_redis(reading: RedisReading):
    depth = GaugeMetricFamily("shop_queue_depth", "Messages waiting", labels=["queue"])
    dead = GaugeMetricFamily(
        "shop_dead_letter_queue_depth", "Messages in Dramatiq's dead-letter queues", labels=["queue"]
    )
    retries = GaugeMetricFamily(
        "shop_retry_queue_depth",
        "Messages waiting to be retried (Dramatiq's delay queues)",
        labels=["queue"],
    )
    oldest = GaugeMetricFamily(
        "shop_queue_oldest_message_age_seconds",
        "How long the oldest message waiting in a queue has been ready (0 when none waits)",
        labels=["queue"],
    )
    for queue, measure in reading.queues.items():
        depth.add_metric([queue], measure.depth)
        dead.add_metric([queue], measure.dead)
        retries.add_metric([queue], measure.retries)
        oldest.add_metric([queue], measure.oldest_age_s)
    yield depth
    yield dead
    yield retries
    yield oldest
    completed = CounterMetricFamily(
        "shop_commands_completed", "Commands by type and final outcome", labels=["type", "outcome"]
    )
    for (command_type, outcome), count in sorted(reading.outcomes.items()):
        completed.add_metric([command_type, outcome], count)
    yield completed
    latency_s = HistogramMetricFamily(
        "shop_command_latency_seconds",
        "From a command's acceptance to its final outcome",
        labels=["type", "outcome"],
    )
    for (command_type, outcome), histogram in sorted(reading.latency.items()):
        latency_s.add_metric([command_type, outcome], histogram.cumulative(), histogram.sum)
    yield latency_s
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
    for name, lag in reading.lag.items():
        lag_versions.add_metric([name], lag.versions)
        lag_seconds.add_metric([name], lag.seconds)
    yield lag_versions
    yield lag_seconds
    if reading.lag_measured_age_s is not None:
        age = GaugeMetricFamily(
            "shop_projection_lag_measured_age_seconds", "Time since the catch-up last measured the lag"
        )
        age.add_metric([], reading.lag_measured_age_s)
        yield age


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
