"""The worker-side composition root: adapters built from settings, once per
process (for workers, on first use: after Dramatiq has forked its worker
processes), and the services built on them.  The operator's tools build
the same."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import redis
from pymongo.database import Database

from infra.broker import ShopBroker
from infra.deadletters import DeadLetters
from infra.eventstore import EventStore
from infra.generations import Generations
from infra.handover import Handover
from infra.mongo import connect
from infra.progress import Progress
from infra.redisclient import connect_redis
from infra.settings import Settings
from infra.skus import SkuClaims
from infra.snapshots import Snapshots
from infra.statuses import CommandStatuses
from workers.catchup import CatchUp
from workers.handler import CommandHandler
from workers.outbox import Outbox
from workers.projector import Projector


@dataclass(frozen=True)
class Adapters:
    """What a worker-side process (a worker, the projector, an operator's
    tool) reads and writes through: one MongoDB and one Redis client,
    shared by every adapter.  Nothing connects until first used."""

    db: Database
    redis: redis.Redis
    store: EventStore
    generations: Generations
    statuses: CommandStatuses
    progress: Progress
    skus: SkuClaims
    dead_letters: DeadLetters

    def close(self) -> None:
        self.db.client.close()
        self.redis.close()


def build_adapters(
    settings: Settings, *, appname: str = "shop-worker", db: Database | None = None
) -> Adapters:
    """The adapters on ``settings``' servers (``db``: a database of the
    caller's instead, as tests give one that counts round trips)."""
    db = db if db is not None else connect(settings, appname=appname)
    client = connect_redis(settings)
    namespace = settings.redis_namespace
    generations = Generations(db)
    return Adapters(
        db=db,
        redis=client,
        store=EventStore(db),
        generations=generations,
        statuses=CommandStatuses(client, namespace=namespace, ttl_s=settings.command_status_ttl_s),
        progress=Progress(client, namespace=namespace),
        skus=SkuClaims(db),
        dead_letters=DeadLetters(db, generations),
    )


@dataclass(frozen=True)
class Services:
    adapters: Adapters
    commands: CommandHandler
    projector: Projector
    catch_up: CatchUp
    outbox: Outbox

    @property
    def dead_letters(self) -> DeadLetters:
        return self.adapters.dead_letters


def build_services(
    settings: Settings, broker: ShopBroker, *, appname: str = "shop-worker", db: Database | None = None
) -> Services:
    """The worker composition root: the handler, the projector and the
    periodic tasks on one process's adapters."""
    adapters = build_adapters(settings, appname=appname, db=db)
    namespace = settings.redis_namespace
    # A projection's progress goes with its message's acknowledgement.
    progress = adapters.progress.handing_over_to(broker)
    projector = Projector(
        adapters.store,
        adapters.db,
        progress,
        generations=adapters.generations,
        stories=adapters.statuses.stories,
    )
    commands = CommandHandler(
        adapters.store,
        adapters.skus,
        Handover(broker, adapters.statuses),
        adapters.statuses,
        snapshots=Snapshots(adapters.db),
        snapshot_every=settings.snapshot_every,
    )
    return Services(
        adapters=adapters,
        commands=commands,
        projector=projector,
        outbox=Outbox(adapters.store, commands, adapters.statuses, adapters.redis, namespace=namespace),
        catch_up=CatchUp(
            adapters.db,
            projector,
            adapters.redis,
            namespace=namespace,
            interval_s=settings.catch_up_interval_s,
        ),
    )


def lazy(factory: Callable[[], Services]) -> Callable[[], Services]:
    """``factory`` called once, on first use, from whichever thread is first."""
    lock = threading.Lock()
    built: list[Services] = []

    def get() -> Services:
        if not built:
            with lock:
                if not built:
                    built.append(factory())
        return built[0]

    return get
