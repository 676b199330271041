"""Test helpers for pack authors: run a formula or a sync against local servers.

Nothing in the runtime imports this package. A test declares the API responses its pack
should see, runs the pack for real (wasmtime, the fetch policy, the connection store),
and an unexpected request fails the test, listing what was asked::

    from corral.testing import FixtureServer, run_formula

    def test_get_issue():
        with FixtureServer() as api:
            api.route("GET", "/repos/octo/hello/issues/1", json={"number": 1, ...})
            issue = run_formula("packs/github", "GetIssue", "octo/hello", 1,
                                server=api, secret={"token": "t0ken"})
        assert issue["number"] == 1

How requests reach the server: the pack keeps fetching its real URLs
(``https://api.github.test/...``); the host checks each one with the full fetch policy,
injects the connection's credentials, and only then does a test transport send it over
plain HTTP to the fixture server's port on 127.0.0.1 (through the host's own
address-pinning transport, with the declared name mapped to 127.0.0.1). Pagination links
and redirects may therefore use the public URLs, as a real API's do.

The servers, one family: :class:`LocalServer` (a threaded HTTP/1.1 server on 127.0.0.1,
plain or TLS, that records requests and answers registered routes) is the base;
:class:`FixtureServer` refuses every request nobody declared; :class:`HostileServer`
serves redirects, bombs, stalls and dropped connections, to see how a pack copes.
:class:`RawServer` writes exactly the bytes a route scripts (malformed status lines and
headers, answers nobody asked for, endless bodies), for hostile upstreams no HTTP library
would produce; :class:`CountingConnector` under the host's transport counts the bytes
read, so a cap is judged by bytes, not time.
:func:`make_tls_files` writes a throwaway CA and certificate for HTTPS tests.
:func:`run_examples` runs the ``examples`` of every formula in a pack's manifest and fails
with a diff for each that gives another result.

:class:`AwsServer` (an API that verifies SigV4 signatures, and an STS stand-in) and
:class:`GoogleTokenServer` (the service-account JWT bearer grant) check credentials the
way AWS and Google do.
"""

from __future__ import annotations

from ._counting import CountingConnector, CountingStream
from ._examples import ExampleFailed, run_examples
from ._fixture import FixtureServer, UnexpectedRequestError
from ._harness import LoopbackRouter, PackHarness, run_formula, run_sync
from ._hostile import HostileServer
from ._raw import RawRoute, RawServer, chunk, endless, raw_response
from ._server import Exchange, FixtureRequest, LocalServer, Reply
from ._signing import (AwsServer, GoogleTokenServer, ServiceAccount, SignatureError,
                       new_service_account, verify_sigv4)
from ._tls import make_tls_files

__all__ = [
    "ExampleFailed", "Exchange", "FixtureRequest", "FixtureServer", "HostileServer", "LocalServer",
    "LoopbackRouter", "PackHarness", "Reply", "UnexpectedRequestError", "make_tls_files",
    "run_examples", "run_formula", "run_sync", "AwsServer", "GoogleTokenServer",
    "ServiceAccount", "SignatureError", "new_service_account", "verify_sigv4",
    "CountingConnector", "CountingStream", "RawRoute", "RawServer", "chunk", "endless",
    "raw_response",
]
