"""The web composition root: the adapters a web process uses, built from
settings once per process (web.wsgi builds them after gunicorn forks:
neither pymongo nor redis-py clients survive a fork)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pymongo
from pymongo.database import Database

from infra.broker import build_broker
from infra.commandbus import CommandBus
from infra.deadletters import DeadLetters
from infra.generations import Generations
from infra.idempotency import IdempotencyKeys
from infra.mongo import connect
from infra.progress import Progress
from infra.redisclient import connect_redis
from infra.settings import Settings
from infra.statuses import CommandStatuses
from infra.stories import Stories
from web.deadletters import Desk
from web.dryrun import StoreDecisions
from web.ports import DeadLetterDesk, RebuildPointers, StateReadings
from web.readings import Readings
from web.views import HistoryViews, OrderViews, ProductViews, ReadModelVersions
from web.waiting import SignalHub

#: Readiness pings and scrape-time reads give up after this long: a probe
#: must answer within its second, whatever hangs.
PROBE_TIMEOUT_S = 1.0


@dataclass(frozen=True)
class WebAdapters:
    """Everything a web process reads and writes through.  Tests build one
    of fakes that behave as these do."""

    command_bus: CommandBus
    #: decides dry runs, reading the event store
    decisions: StoreDecisions
    statuses: CommandStatuses
    product_views: ProductViews
    order_views: OrderViews
    history: HistoryViews
    versions: Callable[[str, str], int | None]
    progress: Progress
    #: commands' stories (``GET /commands/{id}/events``)
    stories: Stories
    hub: SignalHub
    #: name -> a ping that raises when its service does not answer
    ready_checks: dict[str, Callable[[], object]]
    #: what /metrics and /ops/data read when asked
    readings: StateReadings
    dead_letters: DeadLetterDesk
    rebuilds: RebuildPointers


def build_adapters(settings: Settings) -> WebAdapters:
    """One Redis client and one MongoDB client, shared by every adapter
    (readiness and metrics too; the broker that enqueues keeps a client of
    its own, with the broker's timeouts).  Nothing connects until first
    used.  By default both pools are larger than a process's request
    threads (100 MongoDB connections, Redis unbounded; 64 threads), so a
    probe does not wait for a connection behind the requests."""
    # Bounded waits: a stalled Redis must not hold a request thread for long.
    client = connect_redis(settings, socket_timeout=2, socket_connect_timeout=2)
    db = connect(settings, appname="shop-web")
    namespace = settings.redis_namespace
    statuses = CommandStatuses(client, namespace=namespace, ttl_s=settings.command_status_ttl_s)
    progress = Progress(client, namespace=namespace)
    generations = Generations(db)
    letters = DeadLetters(db, generations)
    broker = build_broker(settings)
    return WebAdapters(
        command_bus=CommandBus(
            broker,
            statuses,
            IdempotencyKeys(client, namespace=namespace),
            max_depth=settings.max_queue_depth,
        ),
        decisions=StoreDecisions.on(db),
        statuses=statuses,
        product_views=ProductViews(db, generations),
        order_views=OrderViews(db, generations),
        history=HistoryViews(db),
        versions=ReadModelVersions(db, generations),
        progress=progress,
        stories=statuses.stories,
        hub=SignalHub(client, progress.channel),
        ready_checks={"redis": client.ping, "mongodb": lambda: ping(db)},
        readings=Readings(client, namespace, lambda: dead_letter_count(letters)),
        dead_letters=Desk(letters, broker, timeout_s=PROBE_TIMEOUT_S),
        rebuilds=lambda: rebuild_pointers(generations),
    )


def ping(db: Database) -> object:
    with pymongo.timeout(PROBE_TIMEOUT_S):
        return db.client.admin.command("ping")


def dead_letter_count(letters: DeadLetters) -> int:
    with pymongo.timeout(PROBE_TIMEOUT_S):
        return letters.count()


def rebuild_pointers(generations: Generations) -> dict[str, dict]:
    with pymongo.timeout(PROBE_TIMEOUT_S):
        return generations.pointers()
