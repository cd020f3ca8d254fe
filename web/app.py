"""The web composition root."""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from collections.abc import Callable

import falcon

from domain.commands import CancelOrder, ShipOrder
from infra.broker import build_broker
from infra.commandbus import CommandBus
from infra.freshness import Progress
from infra.generations import Generations
from infra.idempotency import IdempotencyKeys
from infra.mongo import connect
from infra.redisclient import connect_redis
from infra.settings import Settings
from infra.statuses import CommandStatuses
from web import commands, contract, health, orders, problems, products
from web.auth import Authenticate
from web.cursors import Cursors
from web.freshness import ReadYourWrites, SignalHub
from web.history import History
from web.metrics import Metrics, ScrapeTime
from web.requestlog import RequestLog
from web.routing import Router
from web.views import HistoryViews, OrderViews, ProductViews, ReadModelVersions


def create_app(
    settings: Settings | None = None,
    *,
    command_bus=None,
    statuses=None,
    product_views=None,
    order_views=None,
    history=None,
    progress=None,
    hub=None,
    versions=None,
    ready_checks=None,
    metrics_scrape=None,
    uuidgen: Callable[[], uuid.UUID] = uuid.uuid4,
    clock: Callable[[], float] = time.monotonic,
) -> falcon.App:
    """Build the WSGI app.  Collaborators not given are built from
    ``settings``; tests pass fakes.  Call it after gunicorn forks."""
    settings = settings or Settings(mongodb_uri="", mongodb_database="", redis_url="")
    client = None
    if command_bus is None or statuses is None or progress is None or hub is None:
        # Bounded waits: a stalled Redis must not hold a request thread for long.
        client = connect_redis(settings, socket_timeout=2, socket_connect_timeout=2)
        progress = progress or Progress(client, namespace=settings.redis_namespace)
        hub = hub or SignalHub(client, progress.channel)
    if command_bus is None or statuses is None:
        statuses = statuses or CommandStatuses(
            client, namespace=settings.redis_namespace, ttl_s=settings.command_status_ttl_s
        )
        keys = IdempotencyKeys(client, namespace=settings.redis_namespace)
        command_bus = command_bus or CommandBus(
            build_broker(settings), statuses, keys, max_depth=settings.max_queue_depth
        )
    if product_views is None or order_views is None or history is None or versions is None:
        db = connect(settings, appname="shop-web")
        generations = Generations(db)
        product_views = product_views or ProductViews(db, generations)
        order_views = order_views or OrderViews(db, generations)
        history = history or HistoryViews(db)
        versions = versions or ReadModelVersions(db, generations)
    # Without a secret (an app built by a test; web.wsgi refuses to start),
    # a key of this app's own: its cursors are good only here.
    cursors = Cursors(settings.cursor_secret.encode() if settings.cursor_secret else secrets.token_bytes(32))

    app = falcon.App(
        middleware=[
            RequestLog(),
            Authenticate(settings.api_tokens, allow_anonymous=settings.allow_anonymous),
            ReadYourWrites(statuses, versions, hub, max_waits=settings.max_waits, clock=clock),
        ],
        router=Router(),
    )
    problems.install(app)
    app.add_route("/products", products.Collection(command_bus, product_views, cursors, uuidgen, progress))
    app.add_route("/products/{product_id:uuid}", products.Item(command_bus, product_views, uuidgen, progress))
    app.add_route(
        "/products/{product_id:uuid}/stock-adjustments", products.StockAdjustments(command_bus, uuidgen)
    )
    app.add_route("/products/{product_id:uuid}/history", History(history, "product"))
    app.add_route("/orders", orders.Collection(command_bus, uuidgen))
    app.add_route("/orders/{order_id:uuid}", orders.Item(order_views, progress))
    app.add_route("/orders/{order_id:uuid}/cancel", orders.Transition(CancelOrder, command_bus, uuidgen))
    app.add_route("/orders/{order_id:uuid}/ship", orders.Transition(ShipOrder, command_bus, uuidgen))
    app.add_route("/orders/{order_id:uuid}/history", History(history, "order"))
    app.add_route("/customers/{customer_id}/orders", orders.CustomerOrders(order_views, cursors, progress))
    app.add_route("/commands/{command_id:uuid}", commands.Item(statuses))
    app.add_route("/health", health.Health())
    if client is not None or metrics_scrape is not None:
        scrape = metrics_scrape or ScrapeTime(client, settings.redis_namespace, dead_letter_count(settings))
        app.add_route("/metrics", Metrics(scrape, settings.metrics_token))
    app.add_route("/ready", health.Ready(ready_checks or readiness(settings)))
    contract.install(app)
    return app


def readiness(settings: Settings) -> dict[str, Callable[[], object]]:
    """Pings bounded to a second, on connections of their own (a busy pool
    must not make the probe wait)."""
    from pymongo import MongoClient

    clients: dict[str, object] = {}
    lock = threading.Lock()

    def mongo():
        with lock:
            if "mongodb" not in clients:
                clients["mongodb"] = MongoClient(
                    settings.mongodb_uri,
                    serverSelectionTimeoutMS=1000,
                    connectTimeoutMS=1000,
                    socketTimeoutMS=1000,
                )
        return clients["mongodb"].admin.command("ping")

    def redis_ping():
        with lock:
            if "redis" not in clients:
                clients["redis"] = connect_redis(settings, socket_timeout=1, socket_connect_timeout=1)
        return clients["redis"].ping()

    return {"redis": redis_ping, "mongodb": mongo}


def dead_letter_count(settings: Settings) -> Callable[[], int]:
    from infra.mongo import DEAD_LETTERS

    db = connect(settings, appname="shop-metrics", serverSelectionTimeoutMS=1000)
    return lambda: db[DEAD_LETTERS].estimated_document_count()
