"""Every Redis connection of every process is made here, from the settings,
so that a ``rediss://`` URL gets the same TLS options everywhere."""

from __future__ import annotations

import ssl
from urllib.parse import parse_qs, urlsplit

import redis

from infra.settings import Settings


def connect_redis(settings: Settings, **options) -> redis.Redis:
    """A client of ``settings.redis_url`` (its pool is made now, its
    connections on first use).

    Parameters:
      options: redis-py's connection options (``socket_timeout``…).
    """
    return redis.Redis.from_url(settings.redis_url, **tls_options(settings), **options)


def tls_options(settings: Settings) -> dict[str, object]:
    """The TLS options of a ``rediss://`` URL (none for any other).

    The URL's own ``ssl_cert_reqs`` parameter (redis-py reads it, and Heroku's
    documentation uses it) wins over ``REDIS_TLS_VERIFY``."""
    url = urlsplit(settings.redis_url)
    if url.scheme != "rediss":
        return {}
    in_url = parse_qs(url.query).get("ssl_cert_reqs")
    cert_reqs = in_url[0] if in_url else "required" if settings.redis_tls_verify else "none"
    options: dict[str, object] = {
        "connection_class": CheckedTLSConnection,
        "ssl_cert_reqs": cert_reqs,
        # Python refuses a hostname check without a certificate to check.
        "ssl_check_hostname": cert_reqs != "none",
    }
    if settings.redis_tls_ca_file:
        options["ssl_ca_certs"] = settings.redis_tls_ca_file
    return options


class CheckedTLSConnection(redis.SSLConnection):
    """redis-py's TLS connection, whose refusal of a certificate says which
    settings accept it."""

    def _error_message(self, exception):
        message = super()._error_message(exception)
        if not isinstance(exception, ssl.SSLCertVerificationError):
            return message
        return (
            f"{message.rstrip('.')}; the Redis server's certificate is not trusted: set "
            "REDIS_TLS_CA_FILE to the authority that signed it, or REDIS_TLS_VERIFY=none where "
            "the platform's Redis has a self-signed certificate"
        )
