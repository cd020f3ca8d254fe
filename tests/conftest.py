"""The test lanes, and the fixtures shared by the integration and end-to-end tests.

Each test is marked with the lane its folder names (``unit``,
``integration``, ``e2e``, ``faults``), so that ``-m`` picks lanes: a
``pytestmark`` in a ``conftest.py`` would mark nothing.

Redis and MongoDB are the ones in ``REDIS_URL`` / ``MONGODB_URI`` when set,
otherwise embedded servers started here (in a temporary folder) and
stopped at the end.  Every test gets its own MongoDB database and its own
Redis key prefix, and removes only those."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pymongo import MongoClient
from pymongo.uri_parser import parse_uri

from infra.embedded import Server, start_mongo, start_redis
from infra.redisclient import connect_redis
from infra.settings import Settings
from tests.tlsredis import TLSRedis, TLSUnavailable, start_tls_redis

#: The folders under tests/ whose name is the marker of every test in them.
LANES = ("unit", "integration", "e2e", "faults")
TESTS = Path(__file__).resolve().parent


@pytest.hookimpl(tryfirst=True)  # before ``-m`` deselects by marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        try:
            lane = item.path.resolve().relative_to(TESTS).parts[0]
        except ValueError:  # a test outside tests/ (passed by path)
            continue
        if lane in LANES:
            item.add_marker(lane)


@dataclass(frozen=True)
class Backends:
    redis_url: str
    mongodb_uri: str
    redis_started: Server | None
    mongo_started: Server | None


@pytest.fixture(scope="session")
def backends(tmp_path_factory) -> Iterator[Backends]:
    root: Path = tmp_path_factory.mktemp("servers")
    started: list[Server] = []
    try:
        redis_server = mongo_server = None
        redis_url = os.environ.get("REDIS_URL")
        if not redis_url:
            redis_server = start_redis(root / "redis")
            started.append(redis_server)
            redis_url = redis_server.url
        mongodb_uri = os.environ.get("MONGODB_URI")
        if not mongodb_uri:
            mongo_server = start_mongo(root / "mongo")
            started.append(mongo_server)
            mongodb_uri = mongo_server.url
        yield Backends(redis_url, mongodb_uri, redis_server, mongo_server)
    finally:
        for server in reversed(started):
            server.stop()


@pytest.fixture(scope="session")
def tls_redis(tmp_path_factory) -> Iterator[TLSRedis]:
    """A TLS-only Redis with an untrusted certificate (skips where there is none)."""
    try:
        started = start_tls_redis(tmp_path_factory.mktemp("redis-tls"))
    except TLSUnavailable as why:
        pytest.skip(str(why))
    yield started
    started.server.stop()


def unique_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def mongodb_uri_for(uri: str, database: str) -> str:
    """``uri`` with its database path replaced (options kept)."""
    parsed = parse_uri(uri)
    hosts = ",".join(f"{h}:{p}" for h, p in parsed["nodelist"])
    scheme, rest = uri.split("://", 1)
    userinfo = rest.split("@", 1)[0] + "@" if "@" in rest.split("/", 1)[0] else ""
    query = uri.split("?", 1)[1] if "?" in uri else ""
    return f"{scheme}://{userinfo}{hosts}/{database}" + (f"?{query}" if query else "")


def isolated_settings(backends: Backends, prefix: str) -> Settings:
    """Settings naming a MongoDB database and a Redis key prefix of their own."""
    database = unique_name(prefix)
    return Settings(
        mongodb_uri=mongodb_uri_for(backends.mongodb_uri, database),
        mongodb_database=database,
        redis_url=backends.redis_url,
        redis_namespace=database.replace("_", "-"),
    )


@pytest.fixture
def settings(backends: Backends) -> Iterator[Settings]:
    settings = isolated_settings(backends, "test")
    yield settings
    cleanup(settings)


def cleanup(settings: Settings) -> None:
    client: MongoClient = MongoClient(settings.mongodb_uri)
    try:
        client.drop_database(settings.mongodb_database)
    finally:
        client.close()
    r = connect_redis(settings)
    try:
        keys = list(r.scan_iter(match=f"{settings.redis_namespace}:*", count=1000))
        if keys:
            r.delete(*keys)
    finally:
        r.close()


@pytest.fixture
def db(settings: Settings):
    from infra.indexes import ensure_indexes
    from infra.mongo import connect

    database = connect(settings, appname="tests")
    ensure_indexes(database)
    yield database
    database.client.close()


@pytest.fixture
def redis_client(settings: Settings):
    client = connect_redis(settings)
    yield client
    client.close()
