"""The Closeable base: close once, with ``with`` too, and a clear Closed on use after close."""

from __future__ import annotations

import threading

import pytest

from corral import Closed
from corral._closing import Closeable
from corral._server.problems import problem_for


class Resource(Closeable):
    closeable_name = "test resource"

    def __init__(self) -> None:
        self.released = 0

    def _close(self) -> None:
        self.released += 1

    def use(self) -> str:
        self._check_open()
        return "used"


def test_close_releases_once_and_use_after_close_is_a_clear_error() -> None:
    resource = Resource()
    assert resource.use() == "used" and not resource.closed
    resource.close()
    resource.close()
    assert resource.closed and resource.released == 1
    with pytest.raises(Closed, match="^the test resource is closed$") as info:
        resource.use()
    assert info.value.kind == "closed" and problem_for(info.value).status == 503


def test_with_closes_even_when_the_block_raises() -> None:
    with pytest.raises(ValueError):
        with Resource() as resource:
            assert resource.use() == "used"
            raise ValueError("inside")
    assert resource.closed and resource.released == 1


def test_threads_closing_at_once_release_once() -> None:
    resource = Resource()
    start = threading.Barrier(8)

    def close() -> None:
        start.wait()
        resource.close()

    threads = [threading.Thread(target=close) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert resource.released == 1
