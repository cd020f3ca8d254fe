"""Bearer tokens with scopes: ``read`` ⊂ ``write`` ⊂ ``admin``.

``API_TOKENS`` holds space-separated ``token:scope[,scope]`` entries; a
token holds the widest scope it lists.  Query routes need ``read``,
command routes ``write``, history routes ``admin``; the contract
(``/openapi.json``, ``/docs``) needs none.  Tokens are compared in constant
time and never logged."""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Iterable
from dataclasses import dataclass

import falcon

from infra.settings import RANK
from web.problems import Problem

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Principal:
    #: Who, for scoping Idempotency-Key claims: a digest, never the token.
    id: str
    scope: str

    def allows(self, needed: str) -> bool:
        return RANK[self.scope] >= RANK[needed]


ANONYMOUS = Principal("anonymous", "admin")


class Authenticate:
    """Falcon middleware: who is asking, and may they?  A resource declares
    ``scope`` (or ``scopes`` by method); ``public = True`` needs no token."""

    def __init__(self, tokens: Iterable[tuple[str, str]], *, allow_anonymous: bool):
        # Kept and compared as digests: equal lengths, so timing tells nothing
        # of a token's length or of which one matched.
        self._tokens = [(hashlib.sha256(token.encode()).digest(), scope) for token, scope in tokens]
        # Anonymous access is for a service with no tokens at all: where
        # tokens exist, dropping one must not be a way round its scope.
        self._allow_anonymous = allow_anonymous and not self._tokens

    def _identify(self, presented: str) -> Principal | None:
        given = hashlib.sha256(presented.encode()).digest()
        found: Principal | None = None
        for digest, scope in self._tokens:
            if hmac.compare_digest(digest, given) and found is None:
                found = Principal(digest.hex()[:16], scope)
        return found

    def process_resource(self, req: falcon.Request, resp: falcon.Response, resource, params) -> None:
        if resource is None or getattr(resource, "public", False):
            return
        needed = needed_scope(resource, req.method)
        header = req.get_header("Authorization")
        if header is None:
            if not self._allow_anonymous:
                raise unauthorized("send Authorization: Bearer <token>")
            req.context.principal = ANONYMOUS
            return
        kind, _, presented = header.partition(" ")
        principal = self._identify(presented.strip()) if kind.lower() == "bearer" else None
        if principal is None:
            raise unauthorized("the token is not known")
        if not principal.allows(needed):
            raise Problem(falcon.HTTP_403, title="Forbidden", detail=f"this route needs the {needed!r} scope")
        req.context.principal = principal


def needed_scope(resource, method: str) -> str:
    scopes = getattr(resource, "scopes", None)
    if scopes and method in scopes:
        return scopes[method]
    if getattr(resource, "scope", None):
        return resource.scope
    return "read" if method in ("GET", "HEAD", "OPTIONS") else "write"


def unauthorized(detail: str) -> Problem:
    return Problem(
        falcon.HTTP_401,
        title="Unauthorized",
        detail=detail,
        headers={"WWW-Authenticate": 'Bearer realm="shop"'},
    )
