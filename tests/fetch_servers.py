"""The fetch tests' stand-in API: ``corral.testing.HostileServer`` under a test name.

``ApiServer`` serves the hostile routes (listed in ``corral.testing``'s ``_hostile``
module: /json, /echo, /status/<code>, redirects, bombs, stalls, ...) and records every
request, so a test can prove a request never reached it. Its URLs name ``TEST_HOST``,
which the tests map to 127.0.0.1.
"""

from __future__ import annotations

from corral.testing import FixtureRequest, HostileServer, make_tls_files

TEST_HOST = "api.example.test"

RecordedRequest = FixtureRequest

__all__ = ["TEST_HOST", "ApiServer", "RecordedRequest", "make_tls_files"]


class ApiServer(HostileServer):
    """The hostile server, its URLs naming ``TEST_HOST``; use as a context manager."""

    def url(self, path: str, host: str = TEST_HOST) -> str:
        return super().url(path, host)
