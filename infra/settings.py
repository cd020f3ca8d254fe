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
    #: Requests one web process lets wait for ``after=``, or stream a
    #: command's events, at once; beyond that ``after=`` answers at once
    #: (``Read-Model-Stale`` says if it is stale), a stream ``503``.
    max_waits: int = 48
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
    #: ``CONSUMER_WAKEUPS=off``: idle consumers only poll (Dramatiq's backoff,
    #: up to a second) instead of being woken by each enqueue.
    consumer_wakeups: bool = True
    #: ``SNAPSHOT_EVERY_PRODUCT`` / ``SNAPSHOT_EVERY_ORDER``: a command that
    #: replayed this many events of its stream (since its newest snapshot)
    #: leaves a snapshot of the state it committed; 0: never.
    snapshot_every_product: int = 100
    snapshot_every_order: int = 100

    @property
    def snapshot_every(self) -> dict[str, int]:
        """Stream type -> how many events a load may replay before the
        command that loaded it writes a snapshot (0: never)."""
        return {"product": self.snapshot_every_product, "order": self.snapshot_every_order}

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        """Build settings from ``MONGODB_URI``, ``REDIS_URL`` and the rest of
        ``SETTINGS_VARIABLES``.

        Raises:
          ConfigurationError: a required variable is missing or malformed.
        """
        environ = _Declared(environ, SETTINGS_VARIABLES)
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
        ttl = _whole(environ, "COMMAND_STATUS_TTL")
        if not ttl:
            raise ConfigurationError("COMMAND_STATUS_TTL must be a positive whole number of seconds")
        waits = _whole(environ, "MAX_WAITING_REQUESTS")
        return cls(
            mongodb_uri=uri,
            mongodb_database=database,
            redis_url=environ["REDIS_URL"],
            redis_namespace=environ.get("REDIS_NAMESPACE"),
            redis_tls_verify=_tls_verify(environ.get("REDIS_TLS_VERIFY")),
            redis_tls_ca_file=_readable_file(environ, "REDIS_TLS_CA_FILE"),
            command_status_ttl_s=ttl,
            cursor_secret=environ.get("CURSOR_SECRET"),
            api_tokens=_tokens(environ.get("API_TOKENS") or ""),
            metrics_token=environ.get("METRICS_TOKEN"),
            max_queue_depth=_whole(environ, "MAX_QUEUE_DEPTH"),
            allow_anonymous=environ.get("ALLOW_ANONYMOUS") in ("1", "true", "yes"),
            catch_up_interval_s=_seconds(environ, "CATCH_UP_INTERVAL"),
            heartbeat_timeout_s=_seconds(environ, "WORKER_HEARTBEAT_TIMEOUT"),
            consumer_wakeups=_on_off(environ, "CONSUMER_WAKEUPS"),
            rebuild_lease_s=_seconds(environ, "REBUILD_LEASE"),
            snapshot_every_product=_whole(environ, "SNAPSHOT_EVERY_PRODUCT"),
            snapshot_every_order=_whole(environ, "SNAPSHOT_EVERY_ORDER"),
            max_waits=max(1, _whole(environ, "WEB_THREADS") * 3 // 4) if waits is None else waits,
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


@dataclass(frozen=True)
class Variable:
    """An environment variable a process reads, as the README's
    Configuration table and app.json document it."""

    name: str
    #: What applies when it is unset or empty, spelt as in the environment;
    #: ``None`` when nothing does or the meaning says what does.
    default: str | None
    meaning: str


#: Every variable ``Settings.from_env`` reads.  Adding one is a line here and
#: a line in ``from_env``; reading one that is not here fails.
SETTINGS_VARIABLES = (
    Variable(
        "MONGODB_URI", None, "MongoDB URI, e.g. an Atlas mongodb+srv:// one; its path names the database"
    ),
    Variable("MONGODB_DATABASE", None, "Database name, where it is not the URI's path (else shop)"),
    Variable("REDIS_URL", None, "Redis URL (redis:// or rediss://): the broker and command statuses"),
    Variable("REDIS_NAMESPACE", "shop", "Prefix of every Redis key the service writes"),
    Variable("REDIS_TLS_VERIFY", "required", "none: a rediss:// server's certificate goes unchecked"),
    Variable("REDIS_TLS_CA_FILE", None, "PEM file of the authorities that sign the rediss:// certificate"),
    Variable("COMMAND_STATUS_TTL", "604800", "Seconds a command's status stays readable"),
    Variable("CURSOR_SECRET", None, "Signs page cursors: a random secret, the same on every web process"),
    Variable("API_TOKENS", None, "Space-separated token:scope[,scope] entries; scopes read, write, admin"),
    Variable("ALLOW_ANONYMOUS", None, "1: without API_TOKENS, requests need no token and get every scope"),
    Variable("METRICS_TOKEN", None, "When set, GET /metrics needs it as a bearer token"),
    Variable("MAX_QUEUE_DEPTH", "10000", "Commands get 503 while more than this many wait"),
    Variable(
        "MAX_WAITING_REQUESTS", None, "Requests a web process lets wait for after=, or stream events, at once"
    ),
    Variable("WEB_THREADS", "64", "Threads per web process"),
    Variable("CATCH_UP_INTERVAL", "15", "Seconds between catch-up passes that heal read models"),
    Variable("WORKER_HEARTBEAT_TIMEOUT", "45", "Seconds of silence after which a worker is taken for dead"),
    Variable("REBUILD_LEASE", "30", "Seconds a rebuild holds its new generation without renewing"),
    Variable("CONSUMER_WAKEUPS", "on", "off: idle workers poll for messages instead of being woken"),
    Variable("SNAPSHOT_EVERY_PRODUCT", "100", "Product events a load replays at most, by snapshots; 0: none"),
    Variable("SNAPSHOT_EVERY_ORDER", "100", "Order events a load replays at most, by snapshots; 0: none"),
)

#: What the Procfile's commands, the entry points and ``make run`` read
#: themselves, outside ``Settings``.
PROCESS_VARIABLES = (
    Variable("PORT", "8000", "Port web listens on; platforms set it"),
    Variable("WEB_HOST", "0.0.0.0", "Address web binds"),
    Variable("WEB_CONCURRENCY", "2", "gunicorn processes per web container"),
    Variable("WORKER_PROCESSES", "1", "Dramatiq processes of worker (the commands queue)"),
    Variable("WORKER_THREADS", "8", "Threads per worker process"),
    Variable("PROJECTOR_PROCESSES", "1", "Dramatiq processes of projector (the projections queue)"),
    Variable("PROJECTOR_THREADS", "8", "Threads per projector process"),
    Variable("DRAMATIQ_PROMETHEUS", None, "1: worker and projector start Dramatiq's Prometheus exporter"),
    Variable("PROMETHEUS_MULTIPROC_DIR", None, "Folder where web's processes share metrics"),
    Variable("DATA_DIR", ".data", "Where make run's embedded servers keep their files"),
    Variable("LOG_LEVEL", "INFO", "DEBUG, INFO, WARNING or ERROR: the lowest level every process logs"),
    Variable("SHOP_SERVICE", "worker", "Set by workers.serve: the process type Dramatiq's processes log as"),
)


class _Declared(Mapping[str, str]):
    """The environment as far as ``variables`` declare it: an empty value
    counts as unset and gives way to the declared default."""

    def __init__(self, environ: Mapping[str, str], variables: tuple[Variable, ...]):
        self._environ = environ
        self._defaults = {variable.name: variable.default for variable in variables}

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def get(self, name: str) -> str | None:  # type: ignore[override]
        if name not in self._defaults:
            # Not a KeyError: nothing may take an undeclared name for an unset one.
            raise LookupError(f"{name} is read but not declared in infra.settings")
        return self._environ.get(name) or self._defaults[name]

    def __iter__(self):
        return iter(self._defaults)

    def __len__(self) -> int:
        return len(self._defaults)


def _on_off(environ: Mapping[str, str], name: str) -> bool:
    raw = environ[name]
    if raw not in ("on", "off"):
        raise ConfigurationError(f"{name} must be on or off")
    return raw == "on"


def _tls_verify(raw: str) -> bool:
    if raw not in ("required", "none"):
        raise ConfigurationError("REDIS_TLS_VERIFY must be required (the default) or none")
    return raw == "required"


def _readable_file(environ: Mapping[str, str], name: str) -> str | None:
    path = environ.get(name)
    if path and not (os.path.isfile(path) and os.access(path, os.R_OK)):
        raise ConfigurationError(f"{name}: no readable file at {path}")
    return path or None


def _whole(environ: Mapping[str, str], name: str) -> int | None:
    raw = environ.get(name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a whole number") from None
    if value < 0:
        raise ConfigurationError(f"{name} must not be negative")
    return value


def _seconds(environ: Mapping[str, str], name: str) -> float:
    raw = environ.get(name)
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
