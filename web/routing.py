"""Routing: every ``GET`` route answers ``HEAD`` too (RFC 9110 9.3.2)."""

from __future__ import annotations

from typing import Any

from falcon import inspect
from falcon.routing import CompiledRouter


class Router(CompiledRouter):
    """Falcon's router, with ``HEAD`` served by a resource's ``on_get``
    where it has no ``on_head``: the same status and headers, and Falcon
    leaves out the body (keeping its ``Content-Length``)."""

    def map_http_methods(self, resource: object, **kwargs: Any):
        methods = super().map_http_methods(resource, **kwargs)
        if "GET" in methods and "HEAD" not in methods:
            methods["HEAD"] = methods["GET"]
        return methods


# Falcon's inspect module (and its falcon-inspect-app tool) reads it as the router it extends.
inspect.register_router(Router)(inspect.inspect_compiled_router)
