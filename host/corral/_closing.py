"""Closing: one base for the objects that hold something to release.

A :class:`Closeable` is closed once, by ``close()`` or by leaving a ``with`` block; a
second ``close()`` does nothing, and using the object after it raises :class:`Closed`
naming what was closed. A subclass releases its resources in ``_close()`` and calls
``_check_open()`` where a closed object must refuse to work.
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import ClassVar, Self

from ._errors import Closed

# Held only while a flag flips, so two threads closing one object run ``_close()`` once.
_flip = threading.Lock()


class Closeable:
    """Idempotent ``close()``, ``with`` support and a clear error on use after close."""

    #: What the object is, for the error message ("the result cache is closed").
    closeable_name: ClassVar[str] = "object"
    _closed: bool = False

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Release what this object holds; idempotent."""
        with _flip:
            if self._closed:
                return
            self._closed = True
        self._close()

    def _close(self) -> None:
        """Release the resources; runs at most once, after ``closed`` became true."""

    def _check_open(self) -> None:
        if self._closed:
            raise Closed(f"the {self.closeable_name} is closed")

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
