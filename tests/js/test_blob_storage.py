"""context.temporaryBlobStorage in a TypeScript pack: storeBlob and storeUrl reach the host's
blob import (corral.blob) through the engine, the URLs they answer serve the bytes over HTTP,
and the host's refusals (the size cap, the fetch policy) reach the caller as themselves."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import corral
from corral import FetchDenied
from corral.testing import FixtureServer, PackHarness

PUBLIC = "https://corral.example.net"
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 24
CAP = 4096

PACK = """import * as coda from "@codahq/packs-sdk";
export const pack = coda.newPack();
pack.addNetworkDomain("pics.test");

pack.addFormula({
  name: "StoreText", description: "Stores text as a blob.",
  parameters: [coda.makeParameter({ type: coda.ParameterType.String, name: "text", description: "t" })],
  resultType: coda.ValueType.String, codaType: coda.ValueHintType.Url,
  execute: async function ([text], context) {
    return context.temporaryBlobStorage.storeBlob(Buffer.from(text), "text/plain");
  },
});

pack.addFormula({
  name: "StoreUrl", description: "Stores what a URL answers as a blob.",
  parameters: [coda.makeParameter({ type: coda.ParameterType.String, name: "url", description: "u" })],
  resultType: coda.ValueType.String, codaType: coda.ValueHintType.ImageReference,
  execute: async function ([url], context) {
    return context.temporaryBlobStorage.storeUrl(url);
  },
});

pack.addFormula({
  name: "StoreOrSay", description: "Catches a refused blob.",
  parameters: [coda.makeParameter({ type: coda.ParameterType.Number, name: "size", description: "n" })],
  resultType: coda.ValueType.String,
  execute: async function ([size], context) {
    try {
      return await context.temporaryBlobStorage.storeBlob(Buffer.alloc(size, 120), "text/plain");
    } catch (e) {
      return `${e.name}: ${e.blobKind}`;
    }
  },
});
"""


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PackHarness, Any]]:
    from fastapi.testclient import TestClient

    source = tmp_path_factory.mktemp("blobs") / "blobs"
    source.mkdir()
    (source / "pack.ts").write_text(PACK)
    server = FixtureServer()
    server.route("GET", "/pic", status=200, headers={"content-type": "image/png"}, body=PNG)
    server.route("GET", "/gone", status=404, body="no")
    with server, PackHarness(source, server=server, settings={
            "public_url": PUBLIC, "blob_max_bytes": CAP}) as harness:
        with TestClient(corral.create_app(harness.host)) as client:
            yield harness, client


def _path(url: str) -> str:
    assert url.startswith(f"{PUBLIC}/v1/blobs/"), url
    return url[len(PUBLIC):]


def test_store_blob_answers_a_url_serving_the_bytes(running: Any) -> None:
    harness, client = running
    url = harness.call("StoreText", "hello from pack.ts")
    response = client.get(_path(url))
    assert response.status_code == 200
    assert response.content == b"hello from pack.ts"
    assert response.headers["content-type"].startswith("text/plain")


def test_store_url_fetches_through_the_calls_fetch_path(running: Any) -> None:
    harness, client = running
    url = harness.call("StoreUrl", "https://pics.test/pic")
    response = client.get(_path(url))
    assert response.content == PNG
    assert response.headers["content-type"] == "image/png"
    with pytest.raises(FetchDenied) as undeclared:
        harness.call("StoreUrl", "https://elsewhere.test/pic")
    assert undeclared.value.rule == "undeclared_domain"
    with pytest.raises(corral.BlobError) as missing:
        harness.call("StoreUrl", "https://pics.test/gone")
    assert missing.value.details["status"] == 404


def test_a_refused_blob_is_the_hosts_error_or_the_packs_to_catch(running: Any) -> None:
    harness, _ = running
    with pytest.raises(corral.BlobTooLarge, match="blob_max_bytes"):
        harness.call("StoreText", "y" * (CAP + 1))
    assert harness.call("StoreOrSay", CAP + 1) == "CorralBlobError: too_large"
    assert _path(harness.call("StoreOrSay", 10))
