from dramatiq.brokers.redis import RedisBroker

from infra.settings import Settings


def build_broker(settings: Settings, **options) -> RedisBroker:
    """The Redis broker, its keys under the service's namespace."""
    return RedisBroker(url=settings.redis_url, namespace=settings.redis_namespace, **options)
