"""One call goes one way: resolved once, run as exactly that version, and a closed Host
refuses to be used."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

from corral import Closed, Host, Settings

from ..conftest import answering_pack


def constant_pack(version: str, value: Any) -> bytes:
    """A pack whose one formula, ``Which``, always answers ``value``."""
    manifest = {"pack": {"name": "versions", "version": version},
                "formulas": [{"name": "Which", "cache_ttl_s": 0}]}
    return answering_pack(manifest, value)


@pytest.fixture
def host(tmp_path: Path) -> Iterator[Host]:
    with Host(Settings(data_dir=tmp_path / "host")) as made:
        yield made


def test_a_call_runs_the_version_it_was_resolved_against(host: Host) -> None:
    host.register_bytes(constant_pack("1.0.0", "one"))
    resolved = host.resolve("versions", "Which")
    host.register_bytes(constant_pack("2.0.0", "two"))  # activated mid-call

    assert host.submit_resolved(resolved).result() == "one"
    assert resolved.pack_hash != host.resolve("versions", "Which").pack_hash
    assert host.call("versions", "Which") == "two"


def test_a_new_active_version_is_resolved_afresh(host: Host) -> None:
    host.register_bytes(constant_pack("1.0.0", "one"))
    first = host.resolve("versions", "Which")
    assert host.resolve("versions", "Which") is first  # memoised while active
    host.register_bytes(constant_pack("2.0.0", "two"))
    second = host.resolve("versions", "Which")
    assert second is not first and second.loaded is host.pack("versions")


def test_call_metrics_are_recorded_once_per_call(host: Host) -> None:
    host.register_bytes(constant_pack("1.0.0", "one"))
    host.call("versions", "Which")
    text = host.metrics.render()
    line = next(l for l in text.splitlines()
                if l.startswith("corral_calls_total") and 'pack="versions"' in l)
    assert line.endswith(" 1") or line.endswith(" 1.0")


def test_a_closed_host_refuses_use_instead_of_reopening(tmp_path: Path) -> None:
    host = Host(Settings(data_dir=tmp_path / "host"))
    host.register_bytes(constant_pack("1.0.0", "one"))
    host.close()
    host.close()  # idempotent
    for use in (lambda: host.call("versions", "Which"), lambda: host.connections,
                lambda: host.result_cache, lambda: host.evaluate("=1"),
                lambda: host.register_bytes(constant_pack("1.0.1", "x"))):
        with pytest.raises(Closed, match="closed"):
            use()
