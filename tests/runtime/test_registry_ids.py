"""Every pack name gets a stable numeric id: kept across versions, restarts and removal,
never given to another name, and resolvable where a name is (``$$[pack:ID]::F()``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from corral import Host, NotFoundError, Settings
from corral._runtime.registry import FIRST_PACK_ID

from ..conftest import answering_pack


def named_pack(name: str, version: str = "1.0.0", value: Any = "x") -> bytes:
    manifest = {"pack": {"name": name, "version": version},
                "formulas": [{"name": "Which", "cache_ttl_s": 0}]}
    return answering_pack(manifest, value)


def test_ids_are_assigned_once_and_kept_across_versions_and_restarts(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with Host(Settings(data_dir=data_dir)) as host:
        alpha = host.register_bytes(named_pack("alpha"))
        beta = host.register_bytes(named_pack("beta"))
        assert (alpha.pack_id, beta.pack_id) == (FIRST_PACK_ID, FIRST_PACK_ID + 1)
        again = host.register_bytes(named_pack("alpha", "2.0.0", "two"))
        assert again.pack_id == FIRST_PACK_ID
    with Host(Settings(data_dir=data_dir)) as reopened:
        assert {p.name: p.pack_id for p in reopened.registry.packs()} == {
            "alpha": FIRST_PACK_ID, "beta": FIRST_PACK_ID + 1}
        reopened.registry.activate("alpha", "1.0.0")
        assert reopened.registry.get("alpha").pack_id == FIRST_PACK_ID
        assert reopened.registry.get(str(FIRST_PACK_ID + 1)).name == "beta"


def test_an_id_is_never_reused_and_comes_back_with_its_name(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with Host(Settings(data_dir=data_dir)) as host:
        host.register_bytes(named_pack("alpha"))
        host.registry.remove("alpha")
        with pytest.raises(NotFoundError, match=f"no pack with id {FIRST_PACK_ID}"):
            host.registry.get(str(FIRST_PACK_ID))
        gamma = host.register_bytes(named_pack("gamma"))
        assert gamma.pack_id == FIRST_PACK_ID + 1
    with Host(Settings(data_dir=data_dir)) as reopened:
        back = reopened.register_bytes(named_pack("alpha"))
        assert back.pack_id == FIRST_PACK_ID
        assert reopened.register_bytes(named_pack("delta")).pack_id == FIRST_PACK_ID + 2


def test_an_inactive_first_upload_still_gets_its_id(tmp_path: Path) -> None:
    with Host(Settings(data_dir=tmp_path / "data")) as host:
        first = host.register_bytes(named_pack("alpha"))
        later = host.registry.register(named_pack("alpha", "2.0.0"), activate=False)
        assert first.pack_id == later.pack_id == FIRST_PACK_ID


def test_formulas_resolve_a_pack_by_id_by_name_and_by_canonical_name(tmp_path: Path) -> None:
    with Host(Settings(data_dir=tmp_path / "data")) as host:
        host.register_bytes(named_pack("other", value="no"))
        pack = host.register_bytes(named_pack("alpha", value="yes"))
        assert pack.pack_id == FIRST_PACK_ID + 1
        assert host.evaluate(f"$$[pack:{pack.pack_id}:alpha pack]::Which()") == "yes"
        assert host.evaluate("$$[pack:alpha]::Which()") == "yes"
        assert host.evaluate("alpha.Which()") == "yes"
        with pytest.raises(NotFoundError, match="no pack with id 9999"):
            host.evaluate("$$[pack:9999]::Which()")


def test_a_registry_without_a_directory_numbers_its_packs_too(tmp_path: Path) -> None:
    with Host(Settings(data_dir=tmp_path / "data")) as host:
        from corral._runtime.registry import Registry

        memory = Registry(None, host.sandbox)
        one = memory.register(named_pack("alpha"))
        two = memory.register(named_pack("beta"))
        assert (one.pack_id, two.pack_id) == (FIRST_PACK_ID, FIRST_PACK_ID + 1)
        assert memory.register(named_pack("alpha", "2.0.0")).pack_id == FIRST_PACK_ID
        assert memory.get(str(FIRST_PACK_ID + 1)).name == "beta"
