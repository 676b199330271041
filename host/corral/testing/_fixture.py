"""The strict fixture server: a local server that answers only the routes a test declares."""

from __future__ import annotations

from types import TracebackType

from ._server import Exchange, FixtureRequest, LocalServer, Reply


class UnexpectedRequestError(AssertionError):
    """A fixture server received requests no route matched; the message lists them."""


class FixtureServer(LocalServer):
    """A real HTTP server on 127.0.0.1 that answers only the routes a test declares.

    It serves from construction. Any other request gets a 501 (JSON ``{"message"}``)
    naming it, is kept in :attr:`unexpected`, and makes :meth:`check` (called on leaving
    the ``with`` block and after each harness call) raise :class:`UnexpectedRequestError`
    listing every one.
    """

    def __init__(self) -> None:
        super().__init__(name="corral-fixture-server")
        self.unexpected: list[FixtureRequest] = []
        self.start()

    def unmatched(self, exchange: Exchange) -> Reply:
        with self._lock:
            self.unexpected.append(exchange.request)
        # JSON, so a pack that parses its responses reports the 501 and does not retry.
        return Reply(status=501, json={"message": f"corral.testing: no route for "
                                                  f"{exchange.request}"})

    def check(self) -> None:
        """Raise :class:`UnexpectedRequestError` if any request matched no route."""
        with self._lock:
            unexpected = list(self.unexpected)
        if unexpected:
            listed = "\n".join(f"  {r}" for r in unexpected)
            raise UnexpectedRequestError(
                f"the fixture server on port {self.port} got {len(unexpected)} request(s) no "
                f"route matches:\n{listed}\ndeclare them with server.route(...)")

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
        if exc is None:
            self.check()
