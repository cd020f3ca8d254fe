"""The web composition root."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import falcon
import redis

from infra.broker import build_broker
from infra.commandbus import CommandBus
from infra.mongo import connect
from infra.settings import Settings
from infra.statuses import CommandStatuses
from web import commands, problems, products
from web.views import ProductViews


def create_app(
    settings: Settings | None = None,
    *,
    command_bus=None,
    statuses=None,
    product_views=None,
    uuidgen: Callable[[], uuid.UUID] = uuid.uuid4,
) -> falcon.App:
    """Build the WSGI app.  Collaborators not given are built from
    ``settings``; tests pass fakes.  Call it after gunicorn forks."""
    if command_bus is None or statuses is None or product_views is None:
        assert settings is not None, "settings are needed to build real adapters"
        statuses = statuses or CommandStatuses(
            redis.Redis.from_url(settings.redis_url),
            namespace=settings.redis_namespace,
            ttl_s=settings.command_status_ttl_s,
        )
        command_bus = command_bus or CommandBus(build_broker(settings), statuses)
        product_views = product_views or ProductViews(connect(settings, appname="shop-web"))

    app = falcon.App()
    problems.install(app)
    app.add_route("/products", products.Collection(command_bus, uuidgen))
    app.add_route("/products/{product_id:uuid}", products.Item(product_views))
    app.add_route("/commands/{command_id:uuid}", commands.Item(statuses))
    return app
