from dramatiq.brokers.redis import RedisBroker

from infra.settings import Settings

#: A worker that stopped sending heartbeats this long ago is taken for dead
#: and its unacknowledged messages are put back (Dramatiq's default is 60 s).
#: Longer than the 20 s a stopping worker gives its running messages, and
#: than a typical replica-set failover, so a live worker is not taken for dead.
HEARTBEAT_TIMEOUT_MS = 45_000


def build_broker(settings: Settings, **options) -> RedisBroker:
    """The Redis broker, its keys under the service's namespace."""
    options.setdefault("heartbeat_timeout", HEARTBEAT_TIMEOUT_MS)
    return RedisBroker(url=settings.redis_url, namespace=settings.redis_namespace, **options)
