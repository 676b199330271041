"""The Redis fixtures (``tests/redis_services.py``) for the attack tests here."""

from ..redis_services import redis_space  # noqa: F401
