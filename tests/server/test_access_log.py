"""``corral serve`` writes one access line per request, with the path but never the query
string: an OAuth2 callback's query holds the authorization code."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from ..conftest import REPO
from .test_server_e2e import free_port, wait_until_up

ADMIN_KEY = "admin-key-for-the-access-log-test-0123"
CODE = "authorization-code-that-must-not-be-logged-4242"


@pytest.mark.timeout(180)
def test_the_access_log_names_each_request_without_its_query_string(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")}
    env.update(CORRAL_ADMIN_KEY=ADMIN_KEY, CORRAL_PACKS="")
    server = subprocess.Popen(
        [sys.executable, "-m", "corral", "serve", "--data-dir", str(tmp_path / "data"),
         "--port", str(port)], env=env, cwd=REPO, text=True, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{url}/healthz", server)
        answer = httpx.get(f"{url}/v1/oauth2/callback", params={"code": CODE, "state": "s1"})
        assert answer.status_code >= 400
        assert httpx.get(f"{url}/v1/packs", params={"token": CODE}).status_code == 401
    finally:
        server.terminate()
        _, err = server.communicate(timeout=60)
    assert server.returncode == 0
    assert "GET /v1/oauth2/callback" in err and "GET /v1/packs 401" in err, err
    assert CODE not in err
