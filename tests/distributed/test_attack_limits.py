"""One caller draining another's shared limits, across two nodes on one Redis; and the
at-rest scan's own check that it finds what it looks for."""

from __future__ import annotations

import base64
import gzip
import json
import os
import zlib
from contextlib import ExitStack

import httpx
import msgpack
import pytest

from corral._connections.crypto import encode_key
from corral.testing import FixtureRequest, RawServer, raw_response

from ..conftest import PACKS, TEST_PACKS, built
from ..redis_services import base_url, open_space
from ..services import fresh_database
from .at_rest_scan import leaks
from .cluster import ADMIN, Cluster
from .test_attacks import bearer
from .test_three_nodes import call, eventually, make_key, upload


@pytest.mark.timeout(300)
def test_no_caller_drains_anothers_rate_limit_or_slots_across_nodes(
        tmp_path_factory: pytest.TempPathFactory, postgres_server_url: str) -> None:
    """Burst 40 per caller (no refill during the test), one running call per principal in
    the cluster: hostile names and a flood of bad keys spend only their own budgets."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    release = threading.Event()

    def slow(request: FixtureRequest) -> list[bytes]:
        release.wait(20)
        return [raw_response(b'{"ok": true}', headers=[("Content-Type", "application/json")])]

    space = open_space(base_url())
    env = {"CORRAL_ALLOW_HTTP": "1", "CORRAL_RATE_LIMIT_PER_S": "0.001",
           "CORRAL_RATE_LIMIT_BURST": "40", "CORRAL_PUBLIC_RATE_LIMIT_PER_S": "0.001",
           "CORRAL_PUBLIC_RATE_LIMIT_BURST": "3", "CORRAL_CLUSTER_PRINCIPAL_CONCURRENCY": "1"}
    with ExitStack() as stack:
        stack.callback(space.client.close)
        stack.callback(space.clear)
        upstream = stack.enter_context(RawServer({"/slow": slow}))
        stack.callback(release.set)
        env["CORRAL_HOST_MAP"] = f"api.example.test=127.0.0.1:{upstream.port}"
        store_url = stack.enter_context(fresh_database(postgres_server_url))
        cluster = stack.enter_context(Cluster(
            tmp_path_factory.mktemp("limits"), store_url=store_url, cache_url=space.url,
            count=2, secret_key=encode_key(os.urandom(32)), extra_env=env))
        a, b = cluster.nodes
        with a.client() as admin:
            upload(admin, built(PACKS / "hello").read_bytes())
            upload(admin, built(TEST_PACKS / "fetcher").read_bytes())
            keys = {name: make_key(admin, name)[1] for name in (
                "ada", "ada*", "ada:", "*", "address:127.0.0.1", "rl:key:ada", "run:*")}
        eventually(lambda: httpx.get(f"{b.url}/v1/packs/fetcher", headers=ADMIN).status_code
                   == 200, "the packs on B")
        for name, key in keys.items():
            if name in ("ada", "run:*"):
                continue
            statuses = [call(cluster.nodes[i % 2].url, key, "hello", "Greet", str(i))
                        .status_code for i in range(42)]
            assert statuses.count(429) >= 2, (name, statuses)
        for _ in range(6):  # key guessing: the address's public budget, nobody's key
            httpx.get(f"{a.url}/v1/packs", headers=bearer("corral_guess_" + "0" * 43))
        ada = [call(cluster.nodes[i % 2].url, keys["ada"], "hello", "Greet", str(i))
               .status_code for i in range(5)]
        assert ada == [200] * 5, ada
        with ThreadPoolExecutor(2) as pool:  # a hostile name holds its one cluster slot
            held = pool.submit(call, a.url, keys["run:*"], "fetcher", "Summary",
                               "http://api.example.test/slow")
            eventually(lambda: upstream.hits("/slow") == 1, "the held call upstream")
            second = call(b.url, keys["run:*"], "fetcher", "Summary",
                          "http://api.example.test/slow?2")
            assert second.status_code == 429, second.text
            mine = call(b.url, keys["ada"], "hello", "Greet", "during")
            assert mine.status_code == 200, mine.text
            release.set()
            held.result()


def test_the_scan_finds_a_secret_hidden_in_any_of_the_forms_it_decodes() -> None:
    secret = "tok-HIDDEN-9f8e7d"
    hidden = [secret.encode(), gzip.compress(secret.encode()), zlib.compress(secret.encode()),
              base64.urlsafe_b64encode(secret.encode()),
              msgpack.packb([1, {"k": secret}]), json.dumps({"a": [secret]}).encode(),
              base64.b64encode(gzip.compress(msgpack.packb({"x": secret.encode()})))]
    for raw in hidden:
        assert leaks(iter([("row", raw)]), {secret}) == [f"row: {secret}"], raw
    assert leaks(iter([("row", b"nothing here")]), {secret}) == []
