"""The Redis fixtures (``tests/redis_services.py``) for these tests."""

from ..redis_services import private_redis, redis_space, redis_url  # noqa: F401
