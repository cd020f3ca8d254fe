from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from pymongo import MongoClient
from pymongo.uri_parser import parse_uri
from redis.connection import parse_url


class ConfigurationError(Exception):
    pass


@dataclass(frozen=True)
class Settings:
    """Everything a process needs to know, read once from the environment."""

    mongodb_uri: str
    mongodb_database: str
    redis_url: str
    #: Prefix of every Redis key the service writes (the Dramatiq namespace too).
    redis_namespace: str = "shop"
    #: ``REDIS_TLS_VERIFY=none``: a ``rediss://`` server's certificate is
    #: not checked (platforms whose Redis has a self-signed one).
    redis_tls_verify: bool = True
    #: ``REDIS_TLS_CA_FILE``: PEM file of the authorities a ``rediss://``
    #: server's certificate is checked against, instead of the system's.
    redis_tls_ca_file: str | None = None
    #: How long a command's status can be read after it was accepted.
    command_status_ttl_s: int = 7 * 24 * 3600
    #: ``CURSOR_SECRET``: signs page cursors; the same on every web process.
    #: Web refuses to start without one.
    cursor_secret: str | None = field(default=None, repr=False)
    #: Requests one web process lets wait for ``after=`` at once; beyond
    #: that they answer at once (``Read-Model-Stale`` says if it is stale).
    max_waits: int = 24
    #: Seconds between catch-up passes that heal read models whose
    #: notifications were lost.
    catch_up_interval_s: float = 15.0
    #: ``REBUILD_LEASE``: seconds a rebuild holds its generation without
    #: renewing (it renews every third of that); a rebuild that died gives
    #: way this long after its last renewal.
    rebuild_lease_s: float = 30.0
    #: ``API_TOKENS``: token -> the widest scope it holds.
    api_tokens: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    #: Commands are refused (503) while the ``commands`` queue is deeper.
    max_queue_depth: int = 10_000
    #: ``METRICS_TOKEN``: when set, ``GET /metrics`` needs it as a bearer token.
    metrics_token: str | None = field(default=None, repr=False)
    #: ``ALLOW_ANONYMOUS=1``: requests without a token get every scope.
    allow_anonymous: bool = False
    #: ``WORKER_HEARTBEAT_TIMEOUT``: a worker silent this long is taken for
    #: dead and its unacknowledged messages go to another.
    heartbeat_timeout_s: float = 45.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        """Build settings from ``MONGODB_URI``, ``REDIS_URL`` and friends.

        Raises:
          ConfigurationError: a required variable is missing or malformed.
        """
        missing = [name for name in ("MONGODB_URI", "REDIS_URL") if not environ.get(name)]
        if missing:
            raise ConfigurationError(
                f"{' and '.join(missing)} not set: point them at MongoDB and Redis, "
                "or start the service with `make run`, which starts embedded ones"
            )
        uri = environ["MONGODB_URI"]
        try:
            named = database_in(uri, default="shop")
        except Exception as exc:
            raise ConfigurationError(f"MONGODB_URI is not a MongoDB URI: {exc}") from None
        database = environ.get("MONGODB_DATABASE") or named
        try:
            parse_url(environ["REDIS_URL"])
        except ValueError as exc:
            raise ConfigurationError(f"REDIS_URL is not a Redis URL: {exc}") from None
        try:
            ttl = int(environ.get("COMMAND_STATUS_TTL", 7 * 24 * 3600))
            if ttl <= 0:
                raise ValueError
        except ValueError:
            raise ConfigurationError(
                "COMMAND_STATUS_TTL must be a positive whole number of seconds"
            ) from None
        return cls(
            mongodb_uri=uri,
            mongodb_database=database,
            redis_url=environ["REDIS_URL"],
            redis_namespace=environ.get("REDIS_NAMESPACE") or "shop",
            redis_tls_verify=_tls_verify(environ.get("REDIS_TLS_VERIFY") or "required"),
            redis_tls_ca_file=_readable_file(environ, "REDIS_TLS_CA_FILE"),
            command_status_ttl_s=ttl,
            cursor_secret=environ.get("CURSOR_SECRET") or None,
            api_tokens=_tokens(environ.get("API_TOKENS", "")),
            metrics_token=environ.get("METRICS_TOKEN") or None,
            max_queue_depth=_whole(environ, "MAX_QUEUE_DEPTH", default=10_000),
            allow_anonymous=environ.get("ALLOW_ANONYMOUS", "") in ("1", "true", "yes"),
            catch_up_interval_s=_seconds(environ, "CATCH_UP_INTERVAL", default=15.0),
            heartbeat_timeout_s=_seconds(environ, "WORKER_HEARTBEAT_TIMEOUT", default=45.0),
            rebuild_lease_s=_seconds(environ, "REBUILD_LEASE", default=30.0),
            max_waits=_whole(
                environ, "MAX_WAITING_REQUESTS", default=max(1, _whole(environ, "WEB_THREADS", 32) * 3 // 4)
            ),
        )


SRV_SCHEME = "mongodb+srv://"


def database_in(uri: str, default: str) -> str:
    """The database ``uri`` names, else ``default``; checks the URI's shape.

    A ``mongodb+srv://`` host is not looked up here (``parse_uri`` would query
    DNS): the client checks the URI and resolves it when it first connects.

    Raises:
      pymongo.errors.ConfigurationError: ``uri`` is malformed.
    """
    if not uri.startswith(SRV_SCHEME):
        return parse_uri(uri)["database"] or default
    client: MongoClient = MongoClient(uri, connect=False)
    try:
        return client.get_default_database(default).name
    finally:
        client.close()


def _tls_verify(raw: str) -> bool:
    if raw not in ("required", "none"):
        raise ConfigurationError("REDIS_TLS_VERIFY must be required (the default) or none")
    return raw == "required"


def _readable_file(environ: Mapping[str, str], name: str) -> str | None:
    path = environ.get(name)
    if path and not (os.path.isfile(path) and os.access(path, os.R_OK)):
        raise ConfigurationError(f"{name}: no readable file at {path}")
    return path or None


def _whole(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a whole number") from None
    if value < 0:
        raise ConfigurationError(f"{name} must not be negative")
    return value


def _seconds(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = environ.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number of seconds") from None
    if not 0.5 <= value <= 3600:
        raise ConfigurationError(f"{name} must be between 0.5 and 3600 seconds")
    return value


SCOPES = ("read", "write", "admin")  # each includes the ones before it
RANK = {scope: rank for rank, scope in enumerate(SCOPES)}


def _tokens(raw: str) -> tuple[tuple[str, str], ...]:
    """``"t1:read t2:write,admin"`` -> ``(("t1", "read"), ("t2", "admin"))``."""
    tokens: dict[str, str] = {}
    for number, entry in enumerate(raw.split(), start=1):
        token, _, scopes = entry.rpartition(":")
        named = [s for s in scopes.split(",") if s]
        if not token or not named or any(s not in RANK for s in named):
            # The entry itself is a secret: name it by its place only.
            raise ConfigurationError(
                f"API_TOKENS entry {number} is not token:scope[,scope] with scopes read, write, admin"
            )
        tokens[token] = max(named, key=RANK.__getitem__)
    return tuple(tokens.items())
