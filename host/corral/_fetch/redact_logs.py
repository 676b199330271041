"""Log redaction: no log record, of any logger, shows a secret of a fetch in flight.

Third-party libraries log what they receive: at DEBUG, httpcore logs every response
header line, so an API that reflects its token would write it to the log. While a
fetch holds credentials, its :class:`SecretsInFlight` is registered here, and a log
record factory (installed on first use, in front of whatever factory was there)
rewrites every record made meanwhile, by any logger in any thread: its formatted
message (the arguments formatted into it), its exception and its stack text. A factory,
not a handler filter, because it sees every record whichever handlers exist and
whenever they were added. (``extra`` attributes are set on a record after the factory
made it, so they are not seen; nothing on the fetch path logs secrets as extras.)
"""

from __future__ import annotations

import logging
import threading
from types import TracebackType
from typing import Any, Callable, Iterable

from .redact import Redactor

_lock = threading.Lock()
_held: dict[int, SecretsInFlight] = {}
#: What the factory reads: replaced whole under the lock, read without it.
_active: tuple[Redactor, ...] = ()


class SecretsInFlight:
    """The secrets one fetch has sent, known to the log factory while it is entered.

    Registered on the first secret it learns, so a fetch without credentials costs
    nothing here."""

    def __init__(self) -> None:
        self.redactor = Redactor()
        self._entered = False

    def learn(self, secrets: Iterable[str]) -> None:
        """Add secrets (as soon as they are injected, before a byte is sent)."""
        grown = self.redactor | Redactor(secrets)
        if grown is self.redactor:
            return
        self.redactor = grown
        if self._entered:
            self._register()

    def _register(self) -> None:
        _install()
        with _lock:
            _held[id(self)] = self
        _publish()

    def __enter__(self) -> SecretsInFlight:
        self._entered = True
        if self.redactor:
            self._register()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._entered = False
        with _lock:
            held = _held.pop(id(self), None)
        if held is not None:
            _publish()


def _publish() -> None:
    global _active
    with _lock:
        _active = tuple(held.redactor for held in _held.values() if held.redactor)


def _install() -> None:
    with _lock:
        previous = logging.getLogRecordFactory()
        if getattr(previous, "corral_redacts", False):
            return

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            redactors = _active
            if redactors:
                scrub(record, redactors)
            return record

        setattr(factory, "corral_redacts", True)
        logging.setLogRecordFactory(factory)


def scrub(record: logging.LogRecord, redactors: Iterable[Redactor]) -> None:
    """Rewrite ``record`` so that none of the redactors' secrets shows in it."""
    clean = _chain(redactors)
    message = _message(record)
    redacted = clean(message)
    if redacted != message:
        record.msg, record.args = redacted, None
    if record.exc_info and record.exc_info[1] is not None:
        text = record.exc_text or logging.Formatter().formatException(record.exc_info)
        if clean(text) != text:
            record.exc_info, record.exc_text = None, clean(text)
    elif record.exc_text:
        record.exc_text = clean(record.exc_text)
    if record.stack_info:
        record.stack_info = clean(record.stack_info)


def _chain(redactors: Iterable[Redactor]) -> Callable[[str], str]:
    chosen = tuple(redactors)

    def clean(text: str) -> str:
        for redactor in chosen:
            text = redactor.text(text)
        return text

    return clean


def _message(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception:  # a bad format string: whatever its parts say
        return f"{record.msg!s} {record.args!r}"
