from dramatiq.brokers.redis import RedisBroker

from infra.settings import Settings

#: A worker that stopped sending heartbeats this long ago is taken for dead
#: and its unacknowledged messages are put back (Dramatiq's default is 60 s).
HEARTBEAT_TIMEOUT_MS = 20_000


def build_broker(settings: Settings, **options) -> RedisBroker:
    """The Redis broker, its keys under the service's namespace."""
    options.setdefault("heartbeat_timeout", HEARTBEAT_TIMEOUT_MS)
    return RedisBroker(url=settings.redis_url, namespace=settings.redis_namespace, **options)
