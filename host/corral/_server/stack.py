"""The serving stack every ``corral serve`` process runs: uvicorn on uvloop and httptools,
Corral's loggers beside uvicorn's, and a clean exit on SIGTERM."""

from __future__ import annotations

import copy
import signal
import threading
from typing import Any

from .._settings import Settings


def uvicorn_config(app: Any, settings: Settings) -> Any:
    """The serving stack: uvloop's event loop and the httptools parser, as in production."""
    import uvicorn

    # uvicorn's access log is off: it prints query strings, and an OAuth2 callback's holds
    # the authorization code. The app writes its own line (corral.access) without them.
    return uvicorn.Config(app, host=settings.host, port=settings.port, log_level="info",
                          loop="uvloop", http="httptools", access_log=False,
                          log_config=_log_config(),
                          timeout_graceful_shutdown=int(settings.evaluate_deadline_s) + 5)


def _log_config() -> dict[str, Any]:
    """uvicorn's logging set-up, with Corral's own loggers (``corral.*``) beside its own."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["corral"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config


def exit_cleanly_on_sigterm() -> None:
    """uvicorn finishes the requests in flight on SIGTERM, then raises the signal again
    under the handler that was there before it; make that handler a clean exit, so the
    host is closed and the exit status is 0."""
    if threading.current_thread() is not threading.main_thread():
        return

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
