"""A private PostgreSQL server in a temp dir, which a test may stop and start (outages).

Built from the binaries of ``/usr/lib/postgresql/<version>/bin`` or ``PATH``; when there
are none the test fails naming what to install. The server refuses to run as root, so
under root it runs as the ``postgres`` system user (the packages make one).

    with PrivatePostgres(tmp_path) as server:
        url = server.url          # postgresql://postgres@127.0.0.1:<port>/postgres
        server.stop()             # an outage: connections refused
        server.start()            # back, same data

The ``private_postgres`` fixture gives one per test.
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

_template_dir: Path | None = None
_INSTALL_HINT = ("PostgreSQL server binaries (initdb, pg_ctl) are needed: install the "
                 "'postgresql' package (apt-get install postgresql) or put them on PATH")


def postgres_bin_dir() -> Path:
    """Where initdb and pg_ctl are; fails the test naming the package when nowhere."""
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).parent
    pytest.fail(_INSTALL_HINT)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivatePostgres:
    """A throwaway cluster on 127.0.0.1 with trust auth for ``postgres``."""

    def __init__(self, directory: Path, *, port: int | None = None) -> None:
        self.bin = postgres_bin_dir()
        self.directory = directory / "pgdata"
        self.socket_dir = directory / "pgsock"
        self.port = port or free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._as_user = _run_as()
        self._initdb(directory)

    def __enter__(self) -> PrivatePostgres:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop(mode="immediate")

    def start(self) -> None:
        options = (f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off -c max_connections=200")
        self._ctl("start", "-w", "-t", "30", "-o", options, "-l",
                  str(self.directory.parent / "postgres.log"))

    def stop(self, *, mode: str = "fast") -> None:
        """Stop the server (``fast``: sessions end; ``immediate``: as if it crashed)."""
        if (self.directory / "postmaster.pid").exists():
            self._ctl("stop", "-w", "-m", mode)

    def running(self) -> bool:
        return (self.directory / "postmaster.pid").exists()

    def _initdb(self, directory: Path) -> None:
        for path in (self.directory, self.socket_dir):
            path.mkdir(parents=True, exist_ok=True)
        if self._as_user is not None:
            uid, gid = self._as_user
            os.chown(directory, uid, gid)
            for path in (self.directory, self.socket_dir):
                os.chown(path, uid, gid)
        template = self._template()
        self._run(["cp", "-a", f"{template}/.", str(self.directory)])

    def _template(self) -> Path:
        """An initialised cluster this process copies for each server (initdb takes
        seconds; a copy, a fraction of one)."""
        global _template_dir
        if _template_dir is None:
            parent = Path(tempfile.mkdtemp(prefix="corral-pg-template-"))
            os.chmod(parent, 0o755)
            atexit.register(shutil.rmtree, parent, ignore_errors=True)
            made = parent / "pgdata"
            made.mkdir()
            if self._as_user is not None:
                os.chown(made, *self._as_user)
            self._run([str(self.bin / "initdb"), "-D", str(made), "-U", "postgres",
                       "--auth=trust", "--no-sync", "-E", "UTF8"])
            _template_dir = made
        return _template_dir

    def _ctl(self, *args: str) -> None:
        self._run([str(self.bin / "pg_ctl"), "-D", str(self.directory), *args])

    def _run(self, argv: list[str]) -> None:
        if self._as_user is not None:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            log = self.directory.parent / "postgres.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): "
                               f"{done.stderr or done.stdout}\n{tail}")


def _run_as() -> tuple[int, int] | None:
    """The postgres user's ids when running as root (the server refuses root)."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam("postgres")
    except KeyError:
        pytest.fail("running as root, a private PostgreSQL server needs a 'postgres' "
                    "system user: " + _INSTALL_HINT)
    return entry.pw_uid, entry.pw_gid


@contextmanager
def running_postgres() -> Iterator[PrivatePostgres]:
    """A private server in a new directory of its own (outside pytest's temp dirs, which
    only root may enter), running; stopped and deleted afterwards."""
    directory = Path(tempfile.mkdtemp(prefix="corral-pg-"))
    try:
        os.chmod(directory, 0o755)
        with PrivatePostgres(directory) as server:
            yield server
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    """A private server of this test's own, running; stopped (and deleted) after it."""
    with running_postgres() as server:
        yield server
