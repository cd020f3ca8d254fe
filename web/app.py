"""The web app: middleware, error handling, and the routes of web.routes
built on one process's adapters (web.bootstrap)."""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Callable

import falcon

from infra.settings import RANK, Settings
from web import docs, ops, problems
from web.auth import Authenticate
from web.bootstrap import WebAdapters
from web.cursors import Cursors
from web.requestlog import RequestLog
from web.routes import ROUTES, Parts
from web.routing import Router
from web.waiting import ReadYourWrites, Slots


def create_app(
    settings: Settings,
    adapters: WebAdapters,
    *,
    uuidgen: Callable[[], uuid.UUID] = uuid.uuid4,
    clock: Callable[[], float] = time.monotonic,
) -> falcon.App:
    """Build the WSGI app on ``adapters`` (web.bootstrap builds them from
    settings; tests pass fakes).  Call it after gunicorn forks."""
    # Without a secret (an app built by a test; web.wsgi refuses to start),
    # a key of this app's own: its cursors are good only here.
    cursors = Cursors(settings.cursor_secret.encode() if settings.cursor_secret else secrets.token_bytes(32))
    slots = Slots(settings.max_waits)
    app = falcon.App(
        middleware=[
            RequestLog(),
            Authenticate(settings.api_tokens, allow_anonymous=settings.allow_anonymous),
            ReadYourWrites(adapters.statuses, adapters.versions, adapters.hub, slots=slots, clock=clock),
        ],
        router=Router(),
    )
    problems.install(app)
    parts = Parts(adapters, cursors, uuidgen, settings.metrics_token, slots, clock)
    for route in ROUTES:
        app.add_route(route.path, guarded(route.resource(parts), route.scopes()))
    app.add_route("/ops/static/{asset}", ops.Asset())
    docs.install(app)
    return app


def guarded(resource: object, scopes: dict[str, str | None]) -> object:
    """``resource`` needing the scopes the contract publishes (web.auth reads
    them).  A method the route does not offer needs its usual scope, or the
    route's own when that is wider: whoever may not use a route learns
    nothing of it from a 405."""
    needed = {method: scope for method, scope in scopes.items() if scope is not None}
    resource.scopes = needed
    resource.public = not needed
    widest = max(needed.values(), key=RANK.__getitem__, default=None)
    if widest is not None and RANK[widest] > RANK["write"]:
        resource.scope = widest
    return resource
