"""``corral serve --workers 2``: two processes on one socket and one data dir. A pack
uploaded, or a key made or revoked, through one worker holds on the other; a worker
killed with SIGKILL is replaced while the other keeps serving; SIGTERM stops them all.

Which worker answers is made certain by stopping the other one (SIGSTOP): a stopped
process cannot accept, so the kernel hands every new connection to the running one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from ..conftest import PACKS, REPO, built
from .test_server import with_manifest
from .test_server_e2e import free_port, wait_until_up

ADMIN_KEY = "admin-key-for-the-worker-tests-0123456"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
FRESH_CONNECTIONS = 24  # each request on its own connection, so both workers accept some


def children_of(pid: int) -> set[int]:
    """The live child processes of ``pid``, from /proc."""
    found: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(entry.name))
    return found


def wait_for_workers(pid: int, count: int, *, not_in: set[int] = frozenset()) -> set[int]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        # multiprocessing may run its resource tracker beside the workers
        workers = {c for c in children_of(pid) if _is_spawn(c)}
        if len(workers) >= count and not workers & not_in:
            return workers
        time.sleep(0.1)
    raise AssertionError(f"{count} workers never ran under {pid}: {children_of(pid)}")


def _cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


def _is_spawn(pid: int) -> bool:
    return "multiprocessing.spawn" in _cmdline(pid) and "resource_tracker" not in _cmdline(pid)


@contextmanager
def only(server: subprocess.Popen[str], keep: int) -> Iterator[None]:
    """Every new connection goes to worker ``keep``: the other workers are stopped."""
    others = wait_for_workers(server.pid, 2) - {keep}
    for pid in others:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in others:
            os.kill(pid, signal.SIGCONT)


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    pack = tmp_path / "hello.wasm"
    pack.write_bytes(built(PACKS / "hello").read_bytes())
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")}
    env.update(CORRAL_ADMIN_KEY=ADMIN_KEY, CORRAL_PACKS=str(pack))
    server = subprocess.Popen(
        [sys.executable, "-m", "corral", "serve", "--workers", "2", "--data-dir",
         str(tmp_path / "data"), "--port", str(port)], env=env, cwd=REPO, text=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{url}/healthz", server)  # type: ignore[arg-type]
        wait_for_workers(server.pid, 2)
        yield server, url
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)


def each_on_a_fresh_connection(url: str, method: str, path: str,
                               **kwargs: object) -> list[httpx.Response]:
    answers = []
    for _ in range(FRESH_CONNECTIONS):
        with httpx.Client(base_url=url, timeout=30) as client:
            answers.append(client.request(method, path, **kwargs))  # type: ignore[arg-type]
    return answers


@pytest.mark.timeout(240)
def test_a_pack_uploaded_through_one_worker_runs_on_the_other(
        two_workers: tuple[subprocess.Popen[str], str]) -> None:
    server, url = two_workers
    first, second = sorted(wait_for_workers(server.pid, 2))
    wasm = with_manifest(built(PACKS / "hello").read_bytes(), lambda m: m.update(
        pack={**m["pack"], "name": "uploaded"}))
    with only(server, first):
        assert httpx.get(f"{url}/v1/packs/uploaded", headers=ADMIN).status_code == 404
    with only(server, second):
        assert httpx.post(f"{url}/v1/packs", content=wasm, headers=ADMIN).status_code == 201
    with only(server, first):
        answer = httpx.post(f"{url}/v1/packs/uploaded/formulas/Add", json={"args": [1, 2]},
                            headers=ADMIN)
        assert (answer.status_code, answer.json().get("result")) == (200, 3)


@pytest.mark.timeout(240)
def test_a_key_made_on_one_worker_works_on_the_other_until_revoked_on_the_first(
        two_workers: tuple[subprocess.Popen[str], str]) -> None:
    server, url = two_workers
    first, second = sorted(wait_for_workers(server.pid, 2))
    with only(server, first):
        made = httpx.post(f"{url}/v1/keys", json={"name": "bob", "role": "caller"},
                          headers=ADMIN)
        assert made.status_code == 201
    bob = {"Authorization": f"Bearer {made.json()['key']}"}
    with only(server, second):
        assert httpx.get(f"{url}/v1/packs", headers=bob).status_code == 200
    with only(server, first):
        assert httpx.delete(f"{url}/v1/keys/{made.json()['id']}",
                            headers=ADMIN).status_code == 204
    with only(server, second):
        assert httpx.get(f"{url}/v1/packs", headers=bob).status_code == 401
    after = each_on_a_fresh_connection(url, "GET", "/v1/packs", headers=bob)
    assert [a.status_code for a in after] == [401] * FRESH_CONNECTIONS


@pytest.mark.timeout(240)
def test_a_killed_worker_is_replaced_and_sigterm_stops_them_all(
        two_workers: tuple[subprocess.Popen[str], str]) -> None:
    server, url = two_workers
    workers = wait_for_workers(server.pid, 2)
    victim = min(workers)
    os.kill(victim, signal.SIGKILL)
    answers = each_on_a_fresh_connection(url, "POST", "/v1/packs/hello/formulas/Greet",
                                         json={"args": ["Ada"]}, headers=ADMIN)
    assert [a.status_code for a in answers] == [200] * FRESH_CONNECTIONS
    replaced = wait_for_workers(server.pid, 2, not_in={victim})
    assert len(replaced) == 2
    server.send_signal(signal.SIGTERM)
    assert server.wait(timeout=60) == 0
    assert not {w for w in replaced if Path(f"/proc/{w}").exists()
                and "Z" not in (Path(f"/proc/{w}/stat").read_text().rsplit(")", 1)[1][:3])}


def test_workers_below_one_is_a_config_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "corral", "serve", "--workers", "0", "--data-dir",
         str(tmp_path / "data"), "--port", str(free_port())], cwd=REPO, text=True,
        capture_output=True, timeout=60,
        env={k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")})
    assert done.returncode != 0
    assert "http_workers" in done.stderr + done.stdout and "at least 1" in (
        done.stderr + done.stdout)


@pytest.mark.timeout(240)
def test_a_console_session_made_on_one_worker_holds_on_the_other_until_signed_out(
        two_workers: tuple[subprocess.Popen[str], str]) -> None:
    server, url = two_workers
    first, second = sorted(wait_for_workers(server.pid, 2))
    with only(server, first):
        signed = httpx.post(f"{url}/v1/console/session", json={"key": ADMIN_KEY})
        assert signed.status_code == 201, signed.text
    cookie = {"corral_session": signed.cookies["corral_session"]}
    csrf = {"X-CSRF-Token": signed.json()["csrf_token"]}
    with only(server, second):
        assert httpx.get(f"{url}/v1/packs", cookies=cookie).status_code == 200
        made = httpx.post(f"{url}/v1/keys", json={"name": "carol"}, cookies=cookie,
                          headers=csrf)
        assert made.status_code == 201, made.text
        out = httpx.delete(f"{url}/v1/console/session", cookies=cookie, headers=csrf)
        assert out.status_code == 204
    with only(server, first):
        assert httpx.get(f"{url}/v1/packs", cookies=cookie).status_code == 401
