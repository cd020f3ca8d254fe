"""The worker composition root: adapters built from settings, once per
process, on first use (after Dramatiq has forked its worker processes)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from dramatiq import Broker
from pymongo.database import Database

from infra.deadletters import DeadLetters
from infra.eventstore import EventStore
from infra.freshness import Progress
from infra.generations import Generations
from infra.messages import Publisher
from infra.mongo import connect
from infra.redisclient import connect_redis
from infra.settings import Settings
from infra.skus import SkuClaims
from infra.statuses import CommandStatuses
from workers.catchup import CatchUp
from workers.handler import CommandHandler
from workers.outbox import Outbox
from workers.projector import Projector


@dataclass(frozen=True)
class Services:
    commands: CommandHandler
    projector: Projector
    catch_up: CatchUp
    dead_letters: DeadLetters
    outbox: Outbox


def build_services(settings: Settings, broker: Broker, *, db: Database | None = None) -> Services:
    db = db if db is not None else connect(settings, appname="shop-worker")
    client = connect_redis(settings)
    statuses = CommandStatuses(
        client, namespace=settings.redis_namespace, ttl_s=settings.command_status_ttl_s
    )
    store = EventStore(db)
    generations = Generations(db)
    projector = Projector(
        store, db, Progress(client, namespace=settings.redis_namespace), generations=generations
    )
    commands = CommandHandler(store, SkuClaims(db), Publisher(broker), statuses)
    return Services(
        commands=commands,
        outbox=Outbox(store, commands, statuses, client, namespace=settings.redis_namespace),
        projector=projector,
        dead_letters=DeadLetters(db, generations),
        catch_up=CatchUp(
            db, projector, client, namespace=settings.redis_namespace, interval_s=settings.catch_up_interval_s
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
