"""Revocation on one node (the node's own LMDB result cache and formula memo): a
connection deleted after a call was cached answers no more, by call or by formula."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from corral import Host, Settings
from corral._errors import NotFoundError
from corral.testing import FixtureRequest, RawServer, raw_response

from ..conftest import TEST_PACKS, built
from ..server.test_server import with_manifest


def cached_get(manifest: dict[str, Any]) -> None:
    for formula in manifest["formulas"]:
        if formula["name"] == "Get":
            formula["cache_ttl_s"] = 600


def test_a_deleted_connection_answers_from_no_cache_or_memo(tmp_path: Path) -> None:
    def answer(request: FixtureRequest) -> list[bytes]:
        return [raw_response(json.dumps({"n": len(upstream.requests)}).encode(),
                             headers=[("Content-Type", "application/json")])]

    with RawServer({"/who": answer}) as upstream:
        settings = Settings(data_dir=tmp_path, allow_http=True,
                            host_map={"auth.example.test": f"127.0.0.1:{upstream.port}"})
        with Host(settings) as host:
            pack = host.register_bytes(with_manifest(built(TEST_PACKS / "authed").read_bytes(),
                                                     cached_get))
            made = host.connections.create(principal="ada", pack=pack.manifest, name="doomed",
                                           secret={"token": "tok-doomed-0123456789"})
            url = "http://auth.example.test/who"
            formula = f'=authed.Get("{url}")'
            first = host.call("authed", "Get", url, connection=made.id, principal="ada")
            assert host.call("authed", "Get", url, connection=made.id,
                             principal="ada") == first  # a hit
            assert host.evaluate(formula, principal="ada",
                                 connections={"authed": made.id}) == first
            assert upstream.hits("/who") == 1
            host.connections.delete("ada", made.id)
            with pytest.raises(NotFoundError):
                host.call("authed", "Get", url, connection=made.id, principal="ada")
            with pytest.raises(NotFoundError):
                host.evaluate(formula, principal="ada", connections={"authed": made.id})
            assert upstream.hits("/who") == 1
