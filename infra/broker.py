from dramatiq.brokers.redis import RedisBroker

from infra.settings import Settings


def build_broker(settings: Settings, **options) -> RedisBroker:
    """The Redis broker, its keys under the service's namespace.

    A worker that stopped sending heartbeats ``settings.heartbeat_timeout_s``
    ago (45 s unless set; Dramatiq's default is 60) is taken for dead and
    its unacknowledged messages are put back: longer than the 20 s a
    stopping worker gives its running messages, and than a typical
    replica-set failover, so a live worker is not taken for dead."""
    options.setdefault("heartbeat_timeout", int(settings.heartbeat_timeout_s * 1000))
    return RedisBroker(url=settings.redis_url, namespace=settings.redis_namespace, **options)
