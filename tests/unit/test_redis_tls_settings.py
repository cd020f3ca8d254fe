"""``REDIS_TLS_VERIFY`` and ``REDIS_TLS_CA_FILE``: read from the environment,
and applied by the one function that makes every Redis client."""

import re
import ssl
from pathlib import Path

import pytest
import redis

from infra.redisclient import connect_redis
from infra.settings import ConfigurationError, Settings

ROOT = Path(__file__).resolve().parents[2]
ENV = {"MONGODB_URI": "mongodb://h/db", "REDIS_URL": "rediss://:secret@redis.example.net:6380"}


def test_verification_is_on_unless_set_to_none():
    assert Settings.from_env(ENV).redis_tls_verify is True
    assert Settings.from_env({**ENV, "REDIS_TLS_VERIFY": "required"}).redis_tls_verify is True
    assert Settings.from_env({**ENV, "REDIS_TLS_VERIFY": "none"}).redis_tls_verify is False
    for bad in ("no", "false", "None", "optional"):
        with pytest.raises(ConfigurationError, match="REDIS_TLS_VERIFY must be required .* or none"):
            Settings.from_env({**ENV, "REDIS_TLS_VERIFY": bad})


def test_a_ca_file_must_be_a_readable_file(tmp_path):
    assert Settings.from_env(ENV).redis_tls_ca_file is None
    pem = tmp_path / "ca.pem"
    pem.write_text("-----BEGIN CERTIFICATE-----\n")
    assert Settings.from_env({**ENV, "REDIS_TLS_CA_FILE": str(pem)}).redis_tls_ca_file == str(pem)
    for missing in (tmp_path / "nope.pem", tmp_path):
        with pytest.raises(ConfigurationError, match="REDIS_TLS_CA_FILE: no readable file at"):
            Settings.from_env({**ENV, "REDIS_TLS_CA_FILE": str(missing)})


def connection(settings: Settings):
    """The connection the client would open (made, not connected)."""
    pool = connect_redis(settings).connection_pool
    return pool.connection_class(**pool.connection_kwargs)


def settings_of(url: str, **fields) -> Settings:
    return Settings(mongodb_uri="", mongodb_database="", redis_url=url, **fields)


def test_a_rediss_url_checks_the_certificate_and_the_host_name_by_default():
    made = connection(settings_of("rediss://redis.example.net:6380/0"))
    assert isinstance(made, redis.SSLConnection)
    assert (made.cert_reqs, made.check_hostname, made.ca_certs) == (ssl.CERT_REQUIRED, True, None)


def test_verify_none_checks_neither():
    made = connection(settings_of("rediss://redis.example.net:6380/0", redis_tls_verify=False))
    assert (made.cert_reqs, made.check_hostname) == (ssl.CERT_NONE, False)


def test_the_urls_own_ssl_cert_reqs_wins_over_the_setting():
    made = connection(settings_of("rediss://redis.example.net:6380/0?ssl_cert_reqs=none"))
    assert (made.cert_reqs, made.check_hostname) == (ssl.CERT_NONE, False)
    strict = connection(settings_of("rediss://h:6380?ssl_cert_reqs=required", redis_tls_verify=False))
    assert (strict.cert_reqs, strict.check_hostname) == (ssl.CERT_REQUIRED, True)


def test_a_ca_file_is_what_the_certificate_is_checked_against():
    made = connection(settings_of("rediss://redis.example.net:6380/0", redis_tls_ca_file="/etc/ca.pem"))
    assert (made.cert_reqs, made.ca_certs) == (ssl.CERT_REQUIRED, "/etc/ca.pem")


def test_a_plain_url_gets_no_tls_whatever_the_settings():
    made = connection(settings_of("redis://127.0.0.1:6379/0", redis_tls_verify=False, redis_tls_ca_file="x"))
    assert type(made) is redis.Connection


def test_no_redis_client_is_made_anywhere_else():
    # Every process's clients take the TLS settings only if they are made by connect_redis.
    # A broker given a client (``RedisBroker(client=...)``) makes none of its own.
    making = re.compile(r"\bRedis\(|\bfrom_url\(|\bConnectionPool\b|\bRedisBroker\((?!client=)")
    # embedded.py pings the local server it has just started, from its own URL.
    allowed = {"infra/redisclient.py", "infra/embedded.py"}
    found = [
        f"{path.relative_to(ROOT)}:{number}"
        for package in ("domain", "infra", "web", "workers", "bench")
        for path in sorted((ROOT / package).rglob("*.py"))
        if str(path.relative_to(ROOT)) not in allowed
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if making.search(line)
    ]
    assert found == []
