"""Coda sample packs end to end over HTTP: `corral serve` (a real server process) with the
built samples registered, their real https:// URLs routed to local TLS stand-ins with
certificates from a throwaway CA (``CORRAL_HOST_MAP`` with a port, ``CORRAL_CA_FILE``).

* sync-table/emojis.ts: a sync table, streamed as NDJSON pages.
* two-way/splitwise.ts: OAuth2 (authorization code with PKCE) against a local stand-in of
  Splitwise's provider: the browser's redirect flow, the host's code exchange, the
  connection named by the pack's getConnectionName; then its sync table and a two-way
  update, with the access token injected by the host (the pack never sees it).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest

from corral._toolchain.build import build_pack, repo_root
from corral.testing import FixtureRequest, LocalServer, Reply, make_tls_files

from .coda_cases import _EMOJIS, _EXPENSE
from .runners import SAMPLES

API_HOSTS = ["secure.splitwise.com", "www.emoji.family"]
ADMIN_KEY = "admin-key-for-the-js-end-to-end-test-0001"
CLIENT_ID = "splitwise-client-for-corral"
ACCESS_TOKEN = "SPLITWISE-ACCESS-TOKEN-7f3a"


class Splitwise:
    """The stand-in of Splitwise's OAuth2 provider and API (one TLS server for both)."""

    def __init__(self, server: LocalServer) -> None:
        self.server = server
        self.codes: dict[str, tuple[str, str]] = {}  # code -> (redirect_uri, challenge)
        self.tokens_issued = 0
        server.route("GET", "/oauth/authorize", self.authorize)
        server.route("POST", "/oauth/token", self.token)
        server.route("GET", "/api/v3.0/get_current_user", self.api(
            {"user": {"first_name": "Ada", "last_name": "Lovelace"}}))
        # Splitwise's own types: id a number and cost a string ("12.5"), where the sample
        # declares a string and a number; the JS runtime converts both losslessly.
        server.route("GET", "/api/v3.0/get_expenses", self.api({"expenses": [_EXPENSE]}))
        server.route("POST", "/api/v3.0/update_expense/7", self.api(
            {"expenses": [dict(_EXPENSE, description="Pizza!")]}))
        server.route("GET", "/api/emojis", json=_EMOJIS)

    def authorize(self, request: FixtureRequest) -> Reply:
        q = {k: v[0] for k, v in request.query.items()}
        if q.get("client_id") != CLIENT_ID or q.get("code_challenge_method") != "S256":
            return Reply(400, json={"error": "invalid_request"})
        code = secrets.token_urlsafe(12)
        self.codes[code] = (q["redirect_uri"], q["code_challenge"])
        back = q["redirect_uri"] + "?" + urlencode({"code": code, "state": q["state"]})
        return Reply(302, body="", headers={"Location": back})

    def token(self, request: FixtureRequest) -> Reply:
        form = dict(parse_qsl(request.body.decode()))
        bound = self.codes.pop(form.get("code", ""), None)
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        if (bound is None or form.get("grant_type") != "authorization_code"
                or form.get("redirect_uri") != bound[0]
                or challenge.rstrip(b"=").decode() != bound[1]):
            return Reply(400, json={"error": "invalid_grant"})
        self.tokens_issued += 1
        return Reply(json={"access_token": ACCESS_TOKEN, "token_type": "bearer",
                           "expires_in": 3600})

    @staticmethod
    def api(answer: Any) -> Any:
        def reply(request: FixtureRequest) -> Reply:
            if request.headers.get("authorization") != f"Bearer {ACCESS_TOKEN}":
                return Reply(401, json={"error": "invalid token"})
            return Reply(json=answer)
        return reply


def _built(sample: str) -> Path:
    out = repo_root() / "build" / "js-samples" / sample.replace("/", "__").replace("-", "_")
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SAMPLES / sample, out / Path(sample).name)
    return build_pack(out / Path(sample).name).path


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Served:
    def __init__(self, url: str, api: Splitwise, ca: Path) -> None:
        self.url, self.splitwise, self.ca = url, api, ca
        self.client = httpx.Client(base_url=url, timeout=60,
                                   headers={"Authorization": f"Bearer {ADMIN_KEY}"})


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("js-e2e")
    packs = [_built("two-way/splitwise.ts"), _built("sync-table/emojis.ts")]
    ca, cert, key = make_tls_files(tmp, API_HOSTS)
    with LocalServer(tls=(cert, key)) as stand_in:
        splitwise = Splitwise(stand_in)
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")}
        env.update(CORRAL_ADMIN_KEY=ADMIN_KEY, CORRAL_PACKS=os.pathsep.join(map(str, packs)),
                   CORRAL_CA_FILE=str(ca), CORRAL_PUBLIC_URL=url,
                   CORRAL_HOST_MAP=",".join(f"{h}=127.0.0.1:{stand_in.port}" for h in API_HOSTS),
                   PYTHONPATH=str(repo_root() / "host"))
        process = subprocess.Popen(
            [sys.executable, "-m", "corral", "serve", "--data-dir", str(tmp / "data"),
             "--port", str(port)], env=env, cwd=repo_root(), text=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            _wait_up(url, process)
            yield Served(url, splitwise, ca)
        finally:
            process.terminate()
            _, err = process.communicate(timeout=60)
        assert ACCESS_TOKEN not in err, "the access token reached the server's log"


def _wait_up(url: str, process: subprocess.Popen[str]) -> None:
    import time

    deadline = time.monotonic() + 300  # two JS packs compiled at start, on a shared machine
    while True:
        try:
            if httpx.get(f"{url}/healthz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"corral serve never came up: {process.communicate()[1][-3000:]}")
        time.sleep(0.1)


def _ndjson(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    return [json.loads(line) for line in response.text.splitlines() if line.strip()]


def _rows(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for line in lines if "page" in line for r in line["rows"]]


def test_a_sync_table_streams_its_rows_over_http(served: Served) -> None:
    lines = _ndjson(served.client.post("/v1/packs/emojis/tables/Emojis/sync", json={}))
    rows = _rows(lines)
    assert lines[-1]["done"] is True and lines[-1]["rows"] == 2
    assert [r["Name"] for r in rows] == ["grinning face", "dog face"]
    assert rows[0]["Emoji"] == "\U0001f600"


def _connect(served: Served) -> dict[str, Any]:
    """The OAuth2 redirect flow as a browser walks it: Corral's start, the provider's
    authorize (which redirects back), Corral's callback (which exchanges the code)."""
    browser = httpx.Client(timeout=60)
    started = browser.get(f"{served.url}/v1/oauth2/splitwise/start",
                          params={"client_id": CLIENT_ID},
                          headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    assert started.status_code == 200, started.text
    authorize = urlsplit(started.json()["authorize_url"])
    assert authorize.netloc == "secure.splitwise.com" and authorize.path == "/oauth/authorize"
    # The browser reaches the provider's real name at the stand-in (SNI and certificate of
    # secure.splitwise.com, verified against the throwaway CA).
    provider = httpx.Client(verify=str(served.ca), timeout=60)
    redirect = provider.get(f"https://127.0.0.1:{served.splitwise.server.port}/oauth/authorize",
                            params=dict(parse_qsl(authorize.query)),
                            extensions={"sni_hostname": "secure.splitwise.com"})
    assert redirect.status_code == 302, redirect.text
    back = urlsplit(redirect.headers["Location"])
    assert f"{back.scheme}://{back.netloc}" == served.url
    done = browser.get(f"{served.url}{back.path}?{back.query}")
    assert done.status_code == 200, done.text
    return dict(done.json())


def test_oauth2_connects_and_the_host_injects_the_token(served: Served) -> None:
    connection = _connect(served)
    assert served.splitwise.tokens_issued == 1
    assert connection["name"] == "Ada Lovelace"  # the pack's getConnectionName, with the token
    assert ACCESS_TOKEN not in json.dumps(connection)
    lines = _ndjson(served.client.post("/v1/packs/splitwise/tables/Expenses/sync",
                                       json={"connection": connection["id"]}))
    rows = _rows(lines)
    # Sent as {"id": 7, "cost": "12.5"}: converted to the declared string and number.
    assert [(r["Id"], r["Description"], r["Notes"], r["Cost"]) for r in rows] == [
        ("7", "Pizza", "with friends", 12.5)], rows
    updated = served.client.post("/v1/packs/splitwise/tables/Expenses/update", json={
        "connection": connection["id"], "updates": [
            {"previous": {"Id": "7", "Description": "Pizza", "Notes": "with friends"},
             "new": {"Id": "7", "Description": "Pizza!", "Notes": "with friends"},
             "updated_fields": ["Description"]}]})
    assert updated.status_code == 200, updated.text
    [row] = [r["ok"] for r in updated.json()["results"]]
    assert (row["Id"], row["Description"], row["Cost"]) == ("7", "Pizza!", 12.5), row
    sent = [r for r in served.splitwise.server.requests if r.path.startswith("/api/v3.0/")]
    assert sent and all(r.headers["authorization"] == f"Bearer {ACCESS_TOKEN}" for r in sent)


def test_without_a_connection_the_api_is_never_reached_with_a_token(served: Served) -> None:
    before = len(served.splitwise.server.requests)
    refused = served.client.post("/v1/packs/splitwise/tables/Expenses/sync", json={})
    assert refused.status_code >= 400, refused.text
    assert all("authorization" not in r.headers
               for r in served.splitwise.server.requests[before:])


def test_a_row_whose_value_cannot_become_its_declared_type_is_refused(served: Served) -> None:
    connection = _connect(served)
    served.splitwise.server.route("GET", "/api/v3.0/get_expenses", Splitwise.api(
        {"expenses": [dict(_EXPENSE, cost="12,50")]}))  # not a number the runtime can read
    try:
        refused = served.client.post("/v1/packs/splitwise/tables/Expenses/sync",
                                     json={"connection": connection["id"]})
    finally:
        served.splitwise.server.route("GET", "/api/v3.0/get_expenses", Splitwise.api(
            {"expenses": [_EXPENSE]}))
    assert refused.status_code == 502, refused.text
    assert refused.json()["kind"] == "bad_output"
    assert "rows[0].Cost: expected number, got string" in refused.json()["detail"]
