"""A PostgreSQL outage over HTTP: calls answer 503 with ``Retry-After`` (problem+json,
naming no password) while the store is away, and 200 again once it is back, without
restarting anything."""

from __future__ import annotations

import time
from pathlib import Path

from fastapi.testclient import TestClient

from corral import Host, Settings, create_app
from corral._server.apikeys import ApiKeyStore

from ..pgfixture import PrivatePostgres
from ..runtime.test_calls import constant_pack

SECRET = "pw-that-must-not-leak"
WAIT_S = 15.0


def test_calls_answer_503_during_an_outage_and_200_after(
        private_postgres: PrivatePostgres, tmp_path: Path) -> None:
    url = f"postgresql://postgres:{SECRET}@127.0.0.1:{private_postgres.port}/postgres"
    settings = Settings(data_dir=tmp_path / "node", store_url=url)
    with Host(settings) as host:
        host.register_bytes(constant_pack("1.0.0", "one"))
        key = ApiKeyStore.for_settings(settings).create("alice")[1]
        headers = {"Authorization": f"Bearer {key}"}
        path = "/v1/packs/versions/formulas/Which"
        with TestClient(create_app(host, settings), raise_server_exceptions=False) as client:
            assert client.post(path, json={"args": []}, headers=headers).json() == {
                "result": "one"}
            private_postgres.stop()
            deadline = time.monotonic() + WAIT_S
            while (response := client.post(path, json={"args": []}, headers=headers)
                   ).status_code == 200 and time.monotonic() < deadline:
                time.sleep(0.05)  # until the listener has seen the server go
            assert response.status_code == 503, response.text
            assert response.headers["retry-after"] == "1"
            assert response.headers["content-type"].startswith("application/problem+json")
            body = response.json()
            assert (body["kind"], body["store"]) == ("store_unavailable", "postgresql")
            assert SECRET not in response.text
            private_postgres.start()
            deadline = time.monotonic() + WAIT_S
            while (response := client.post(path, json={"args": []}, headers=headers)
                   ).status_code != 200 and time.monotonic() < deadline:
                assert response.status_code == 503, response.text
                time.sleep(0.05)
            assert response.json() == {"result": "one"}
