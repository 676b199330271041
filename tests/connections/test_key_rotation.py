"""The secret key across processes: ``corral keys rotate`` beside a running server, killed
mid-way, and ``corral serve`` without its key file.

A real ``corral serve`` keeps answering connection uses while another process rotates
the key, and what it seals afterwards opens in a new process; a rotating process
killed with SIGKILL at random points leaves every secret openable; a server whose key
file is gone while secrets are sealed refuses to start instead of making a new key.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from corral import Host, KeyRing, Manifest, Settings

from ..conftest import PACKS, REPO, built
from ..oauth_server import pack_with_auth

ADMIN = "admin-key-for-the-rotation-test"
TOKEN = "ghp_rotation_test_token"

#: The rotating process: imports first, says so, then runs the real CLI command.
ROTATOR = """
import sys
from corral._cli.main import main
print("ready", flush=True)
sys.exit(main(["keys", "rotate", "--data-dir", sys.argv[1]]))
"""

#: Opens every connection of principal p in a fresh process: prints the tokens it finds.
OPENER = """
import sys
from pathlib import Path
from corral import Host, Settings
with Host(Settings(data_dir=Path(sys.argv[1]), packs=(Path(sys.argv[2]),))) as host:
    pack = host.pack("github").manifest
    for info in host.connections.list(sys.argv[3]):
        headers = {}
        host.connections.credentials(sys.argv[3], info.id, pack).apply(headers, [])
        print(info.id, headers["Authorization"])
"""


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Served:
    """A ``corral serve`` subprocess serving only the github pack (bearer auth)."""

    def __init__(self, data_dir: Path, github: Path, log: Path) -> None:
        self.port = free_port()
        self.log = log
        env = {**clean_env(), "CORRAL_ADMIN_KEY": ADMIN, "CORRAL_PACKS": str(github)}
        with open(log, "w") as stderr:  # a file: a full pipe would stall the server
            self.process = subprocess.Popen(
                [sys.executable, "-m", "corral", "serve", "--data-dir", str(data_dir),
                 "--port", str(self.port)], stdout=subprocess.PIPE, stderr=stderr, text=True,
                env=env, cwd=REPO)
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if "serving on" in line:
                break
        else:
            raise AssertionError(f"corral serve exited: {log.read_text()}")
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=30,
                                   headers={"Authorization": f"Bearer {ADMIN}"})
        while True:
            try:
                if self.client.get("/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                assert self.process.poll() is None, "corral serve died while starting"
                time.sleep(0.05)

    def create(self, name: str) -> str:
        made = self.client.post("/v1/connections", json={"pack": "github", "name": name,
                                                         "secret": {"token": TOKEN}})
        assert made.status_code == 201, made.text
        conn_id: str = made.json()["id"]
        return conn_id

    def use(self, conn_id: str) -> int:
        return self.client.post(f"/v1/connections/{conn_id}/test").status_code

    def stop(self) -> str:
        self.client.close()
        self.process.terminate()
        self.process.communicate(timeout=30)
        assert self.process.returncode == 0, self.log.read_text()
        return self.log.read_text()


def open_all_in_new_process(data_dir: Path, github: Path, principal: str) -> dict[str, str]:
    done = subprocess.run([sys.executable, "-c", OPENER, str(data_dir), str(github), principal],
                          capture_output=True, text=True, timeout=120, env=clean_env(),
                          check=False)
    assert done.returncode == 0, done.stderr
    return dict(line.split(" ", 1) for line in done.stdout.splitlines())


#: Connections made while the key changes: fewer than the per-caller quota (100) leaves
#: room for the rest of the test, on a machine of any speed.
MAX_MADE_DURING = 60


@pytest.mark.timeout(240)
def test_a_running_server_keeps_its_connections_through_a_rotation(tmp_path: Path) -> None:
    github = built(PACKS / "github")
    data_dir = tmp_path / "data"
    served = Served(data_dir, github, tmp_path / "serve.log")
    try:
        before = [served.create(f"c{i}") for i in range(5)]
        statuses: list[int] = []
        during: list[str] = []  # sealed while the key changes under the server
        stop = threading.Event()

        def keep_using() -> None:
            while not stop.is_set():
                statuses.extend(served.use(conn_id) for conn_id in before)
                if len(during) < MAX_MADE_DURING:  # however fast creating is, within quota
                    during.append(served.create(f"d{len(during)}"))
                else:
                    stop.wait(0.05)  # paced below the caller's rate limit (200 a second)

        user = threading.Thread(target=keep_using)
        user.start()
        rotated = subprocess.run([sys.executable, "-m", "corral", "keys", "rotate",
                                  "--data-dir", str(data_dir)], capture_output=True, text=True,
                                 timeout=120, env=clean_env(), cwd=REPO, check=False)
        uses_during = len(statuses)
        after = served.create("made after the rotation")
        for _ in range(3):
            statuses.extend(served.use(conn_id) for conn_id in [*before, after])
        stop.set()
        user.join()
        server_log = served.stop()
    finally:
        if served.process.poll() is None:
            served.process.kill()
    assert rotated.returncode == 0, rotated.stderr
    assert rotated.stdout.startswith("re-sealed ")
    assert uses_during > 0 and set(statuses) == {200}, server_log
    ring = KeyRing.from_file(data_dir / "secret.key")
    assert len(ring.key_ids) == 1  # the old key is gone from the file
    opened = open_all_in_new_process(data_dir, github, "admin")
    assert set(opened) == {*before, *during, after}
    assert set(opened.values()) == {f"Bearer {TOKEN}"}


@pytest.mark.timeout(300)
def test_a_rotation_killed_at_random_points_leaves_every_secret_openable(
        tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    bearer = pack_with_auth({"kind": "bearer"})
    with Host(settings) as host:
        made = {host.connections.create(principal="p", pack=bearer, name=f"c{i}",
                                        secret={"token": f"t{i}"}).id: f"Bearer t{i}"
                for i in range(20)}
    rounds = random.Random(15)
    span = rotate_once(tmp_path)  # how long an uninterrupted rotation takes here
    outcomes = []
    for _ in range(20):
        outcomes.append(rotate_once(tmp_path, kill_after=rounds.uniform(0, span * 1.2)))
        assert opened_tokens(settings, bearer) == made  # every secret opens after each kill
    assert any(o < 0 for o in outcomes), "no rotation was killed"
    assert rotate_once(tmp_path) >= 0  # and a rotation afterwards completes
    assert len(KeyRing.from_file(tmp_path / "secret.key").key_ids) == 1
    assert opened_tokens(settings, bearer) == made


def rotate_once(data_dir: Path, *, kill_after: float | None = None) -> float:
    """Run ``corral keys rotate``; with ``kill_after``, SIGKILL it that long after it is
    ready. Returns -1 if it was killed, else the seconds it took (it must exit 0)."""
    process = subprocess.Popen([sys.executable, "-c", ROTATOR, str(data_dir)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=clean_env())
    assert process.stdout is not None and process.stdout.readline() == "ready\n"
    started = time.monotonic()
    if kill_after is not None:
        try:
            process.wait(timeout=kill_after)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
    _, stderr = process.communicate(timeout=120)
    if process.returncode == -signal.SIGKILL:
        return -1.0
    assert process.returncode == 0, stderr
    return time.monotonic() - started


def opened_tokens(settings: Settings, bearer: Manifest) -> dict[str, str]:
    found = {}
    with Host(settings) as host:
        for info in host.connections.list("p"):
            headers: dict[str, str] = {}
            host.connections.credentials("p", info.id, bearer).apply(headers, [])
            found[info.id] = headers["Authorization"]
    return found


@pytest.mark.timeout(120)
def test_corral_serve_refuses_to_start_without_the_key_of_its_sealed_secrets(
        tmp_path: Path) -> None:
    github = built(PACKS / "github")
    with Host(Settings(data_dir=tmp_path, packs=(github,))) as host:
        manifest = host.pack("github").manifest
        for i in range(2):
            host.connections.create(principal="p", pack=manifest, name=f"c{i}",
                                    secret={"token": TOKEN})
    (tmp_path / "secret.key").unlink()
    done = subprocess.run(
        [sys.executable, "-m", "corral", "serve", "--data-dir", str(tmp_path), "--port",
         str(free_port())], capture_output=True, text=True, timeout=60, cwd=REPO,
        env={**clean_env(), "CORRAL_ADMIN_KEY": ADMIN, "CORRAL_PACKS": str(github)},
        check=False)
    assert done.returncode == 1
    assert "[secret_key]" in done.stderr and str(tmp_path / "secret.key") in done.stderr
    assert "2 sealed records" in done.stderr
    assert not (tmp_path / "secret.key").exists()
