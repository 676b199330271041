"""The PostgreSQL and Redis fixtures (``tests/services.py``, ``tests/pgfixture.py``,
``tests/redis_services.py``) for the cluster tests."""

from ..pgfixture import private_postgres  # noqa: F401
from ..redis_services import private_redis, redis_cache_url, redis_space  # noqa: F401
