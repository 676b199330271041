"""A private PostgreSQL server per test (``tests/pgfixture.py``), for the outage tests."""

from ..pgfixture import private_postgres  # noqa: F401
