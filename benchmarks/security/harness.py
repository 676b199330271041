"""The benchmark's fixture and judge: a fresh Host, its packs and servers, and the rules
that decide whether one attack was contained.

An attack is contained only when all of these hold:

* the observed outcome is the expected error kind (and, for fetch refusals, the
  expected rule), or ``ok`` when the expected outcome is a harmless success;
* its own ``verify`` check finds nothing wrong (a refused request never reached the
  server, a victim's calls all completed, ...);
* no secret (a connection token) shows up in the error, the result or any log record;
* nothing tried to leave the machine except where the attack expects the egress
  guard to stop a connection to the address the policy checked.

After each attack the same Host must answer ``hello.Greet`` correctly ("healthy").
"""

from __future__ import annotations

import json
import logging
import secrets
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import corral
from corral.testing import HostileServer
from corral import (MANIFEST_SECTION, BuildError, CorralError, FetchConfig, FetchError, Host, Pack,
                    PinnedTransport, Settings, build_pack, read_manifest, set_custom_section)

from .egress import LoopbackOnly, ScriptedResolver

#: The checkout the benchmark runs in (packs/, results/).
REPO = Path(__file__).resolve().parents[2]
PACKS_DIR = Path(__file__).resolve().parent / "packs"
CATEGORIES = ("cpu", "memory", "stack", "io", "msgpack", "abi", "fetch", "secrets",
              "neighbours", "formula")

#: The limits the benchmark runs the shared hostile Zig pack under (its pack.toml holds the
#: host tests' tighter ones): room for a 12 MiB allocation, 8 fetches, 64 KiB of logs, and
#: a deadline-bound twin cut at 400 ms.
ZIG_LIMITS = {"fuel": 100_000_000, "memory_bytes": 32 << 20, "timeout_ms": 3000,
              "max_output_bytes": 65536, "max_fetches": 8, "max_log_bytes": 65536}
ZIG_DEADLINE_LIMITS = {**ZIG_LIMITS, "fuel": 10_000_000_000, "timeout_ms": 400}

Verify = Callable[["Bench", "Observation"], "str | None"]


@dataclass(frozen=True)
class Attack:
    """One attack and the outcome that counts as containing it."""

    name: str
    category: str
    expected: str
    """An error ``kind`` (``fuel_exhausted``, ``fetch_denied``, ...) or ``ok``."""
    run: Callable[[Bench], Any]
    rule: str | None = None
    """For fetch errors: the policy rule the refusal must name."""
    verify: Verify | None = None
    """Extra containment check; returns why the attack was not contained, or None."""
    quick: bool = False
    """Part of the fast subset CI runs (every category has some)."""
    language: str = "host"
    egress_expected: bool = False
    """The egress guard is expected to stop exactly this attack's connection."""
    known_weakness: str | None = None
    """Where the host falls short on this attack (file, function, what happens); such an
    attack is still reported as not contained until the host is fixed."""


@dataclass
class Observation:
    """What one attack did: its value or error, and what it left behind."""

    value: Any = None
    error: BaseException | None = None
    new_requests: list[Any] = field(default_factory=list)
    new_logs: list[str] = field(default_factory=list)
    new_blocked: list[tuple[str, int]] = field(default_factory=list)

    @property
    def kind(self) -> str:
        if self.error is None:
            return "ok"
        if isinstance(self.error, CorralError):
            return self.error.kind
        return f"crash:{type(self.error).__name__}"

    @property
    def rule(self) -> str | None:
        return self.error.rule if isinstance(self.error, FetchError) else None

    @property
    def label(self) -> str:
        return f"{self.kind} ({self.rule})" if self.rule else self.kind


@dataclass(frozen=True)
class Outcome:
    """One row of the report."""

    name: str
    category: str
    language: str
    expected: str
    observed: str
    contained: bool
    seconds: float
    healthy: bool
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"attack": self.name, "category": self.category, "language": self.language,
                "expected": self.expected, "observed": self.observed,
                "contained": self.contained, "time_to_contain_s": round(self.seconds, 4),
                "host_healthy_after": self.healthy, "note": self.note}


class _LogCapture(logging.Handler):
    """Keeps every record the host and its packs log, formatted, for the leak check."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self._lines: list[str] = []
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = f"{record.name}: {record.getMessage()}"
        except Exception:  # a record whose arguments do not format is still a record
            line = f"{record.name}: {record.msg!r}"
        with self._guard:
            self._lines.append(line)

    def since(self, mark: int) -> list[str]:
        with self._guard:
            return self._lines[mark:]

    def __len__(self) -> int:
        with self._guard:
            return len(self._lines)


def _build(pack_dir: Path) -> Path:
    try:
        return build_pack(pack_dir).path
    except BuildError:
        # zig's clang has been seen to crash once under a parallel build; one retry.
        return build_pack(pack_dir, force=True).path


def with_manifest(wasm: bytes, **changes: Any) -> bytes:
    """``wasm`` with its embedded manifest changed: ``pack={...}`` / ``auth={...}`` merge."""
    manifest = read_manifest(wasm).to_dict()
    for section, values in changes.items():
        if isinstance(values, dict) and isinstance(manifest.get(section), dict):
            manifest[section].update(values)
        else:
            manifest[section] = values
    return set_custom_section(wasm, MANIFEST_SECTION, json.dumps(manifest).encode())


class Bench:
    """A fresh Host in a temporary data dir, its hostile packs, servers and secrets."""

    def __init__(self, data_dir: Path | None = None) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="corral-bench-")
            data_dir = Path(self._tmp.name)
        self.data_dir = data_dir
        self.alice_token = "alice-" + secrets.token_hex(16)
        self.query_token = "qkey-" + secrets.token_hex(16)
        self.server = HostileServer(valid_token=self.alice_token).start()
        self.resolver = ScriptedResolver()
        self.egress = LoopbackOnly()
        self.logs = _LogCapture()
        self._root_logger = logging.getLogger("corral")
        self._saved_level = self._root_logger.level
        self._root_logger.addHandler(self.logs)
        self._root_logger.setLevel(logging.DEBUG)
        self.host = self._make_host()
        self._health_checks = 0
        self._wat_count = 0
        self.packs: dict[str, Pack] = {}
        self.alice_conn = ""
        self.alice_query_conn = ""
        self.alice_approved_conn = ""

    # -- setting up ------------------------------------------------------------------------

    def _make_host(self) -> Host:
        host_map = {"bench.test": "127.0.0.1", "cdn.test": "127.0.0.1",
                    "undeclared.test": "127.0.0.1"}
        settings = Settings(data_dir=self.data_dir / "host", allow_http=True, host_map=host_map)
        transport = PinnedTransport(
            FetchConfig(allow_http=True, host_map=host_map, resolver=self.resolver),
            connector=self.egress)
        return Host(settings, resolver=self.resolver, fetch_transport=transport)

    def domains(self) -> list[str]:
        return [f"bench.test:{self.server.port}", f"cdn.test:{self.server.port}"]

    def load_packs(self) -> None:
        """Build every hostile pack from source and register it (before the RSS baseline)."""
        self.packs["hello"] = self.host.register_file(_build(REPO / "packs" / "hello"))
        zig = _build(PACKS_DIR / "hostile").read_bytes()
        zig_deadline = _build(PACKS_DIR / "hostile_time").read_bytes()
        c_wasm = _build(PACKS_DIR / "c_hostile").read_bytes()
        bearer = {"kind": "bearer", "domains": [f"bench.test:{self.server.port}"]}
        net = {"network_domains": self.domains()}
        self.packs["zhostile"] = self.host.register_bytes(
            with_manifest(zig, pack={"name": "zhostile", **net}, auth=bearer,
                          limits=ZIG_LIMITS), source="zig_hostile")
        self.packs["zdeadline"] = self.host.register_bytes(
            with_manifest(zig_deadline, pack={"name": "zdeadline", **net}, auth=bearer,
                          limits=ZIG_DEADLINE_LIMITS), source="zig_deadline")
        # The operator approved its non-auth domain (cdn.test) for calls holding a connection.
        self.packs["zapproved"] = self.host.register_bytes(
            with_manifest(zig, pack={"name": "zapproved", **net}, auth=bearer,
                          limits=ZIG_LIMITS), source="zig_approved",
            approved_domains=self.domains())
        self.packs["zquery"] = self.host.register_bytes(
            with_manifest(zig, pack={"name": "zquery", **net}, limits=ZIG_LIMITS,
                          auth={"kind": "query", "param": "api_key"}), source="zig_query")
        self.packs["chostile"] = self.host.register_bytes(
            with_manifest(c_wasm, pack=net), source="c_hostile")
        self._make_connections()

    def _make_connections(self) -> None:
        store = self.host.connections
        self.alice_conn = store.create(principal="alice", pack=self.packs["zhostile"].manifest,
                                       name="alice's token",
                                       secret={"token": self.alice_token}).id
        self.alice_query_conn = store.create(
            principal="alice", pack=self.packs["zquery"].manifest, name="alice's key",
            secret={"value": self.query_token}).id
        self.alice_approved_conn = store.create(
            principal="alice", pack=self.packs["zapproved"].manifest,
            name="alice's token (approved pack)", secret={"token": self.alice_token}).id

    def build(self, pack_dir: str) -> bytes:
        return _build(PACKS_DIR / pack_dir).read_bytes()

    def register(self, wasm: bytes, source: str) -> Pack:
        return self.host.register_bytes(wasm, source=source)

    def unique_name(self, stem: str) -> str:
        self._wat_count += 1
        return f"{stem}{self._wat_count}"

    # -- during attacks --------------------------------------------------------------------

    def call(self, pack: str, formula: str, *args: Any, connection: str | None = None,
             principal: str | None = None, deadline_s: float | None = None) -> Any:
        return self.host.call(pack, formula, *args, connection=connection,
                              principal=principal, deadline_s=deadline_s)

    def url(self, path: str, host: str = "bench.test", port: int | None = None) -> str:
        return f"http://{host}:{self.server.port if port is None else port}{path}"

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self.alice_token, self.query_token)

    def healthy(self) -> bool:
        """The same Host answers a normal call correctly (a fresh name: no cache hit)."""
        self._health_checks += 1
        name = f"check{self._health_checks}"
        try:
            return bool(self.call("hello", "Greet", name) == f"Hello, {name}!")
        except CorralError:
            return False

    def observe(self, attack: Attack) -> tuple[Observation, float]:
        requests, logs, blocked = len(self.server.requests), len(self.logs), len(self.egress.blocked)
        seen = Observation()
        started = time.perf_counter()
        try:
            seen.value = attack.run(self)
        except Exception as exc:  # the judge classifies whatever came out
            seen.error = exc
        seconds = time.perf_counter() - started
        seen.new_requests = self.server.requests[requests:]
        seen.new_logs = self.logs.since(logs)
        seen.new_blocked = self.egress.blocked[blocked:]
        return seen, seconds

    def judge(self, attack: Attack, seen: Observation) -> list[str]:
        """Why the attack was not contained (empty when it was)."""
        problems: list[str] = []
        if seen.kind != attack.expected:
            problems.append(f"expected {attack.expected}, observed {seen.label}")
        elif attack.rule is not None and seen.rule != attack.rule:
            problems.append(f"expected rule {attack.rule}, observed {seen.rule}")
        if attack.verify is not None and not problems:
            problem = attack.verify(self, seen)
            if problem:
                problems.append(problem)
        problems.extend(self._leaks(seen))
        if seen.new_blocked and not attack.egress_expected:
            problems.append(f"tried to leave loopback: {seen.new_blocked}")
        return problems

    def _leaks(self, seen: Observation) -> list[str]:
        places: list[tuple[str, str]] = [("a log record", line) for line in seen.new_logs]
        if seen.error is not None:
            places.append(("the error", f"{seen.error} {seen.error!r}"))
            if isinstance(seen.error, CorralError):
                places.append(("the error details", json.dumps(seen.error.to_dict(),
                                                               default=str)))
        return [f"a connection secret appeared in {where}" for where, text in places
                if any(secret in text for secret in self.secrets)][:1]

    def close(self) -> None:
        self.host.close()
        self.server.close()
        self._root_logger.removeHandler(self.logs)
        self._root_logger.setLevel(self._saved_level)
        if self._tmp is not None:
            self._tmp.cleanup()


def expect_untouched(path: str) -> Verify:
    """The refused request (or redirect target) never reached the server at ``path``."""
    def verify(bench: Bench, seen: Observation) -> str | None:
        reached = [s for s in seen.new_requests if s.path == path]
        return f"the server received {len(reached)} request(s) for {path}" if reached else None
    return verify


def expect_no_requests(bench: Bench, seen: Observation) -> str | None:
    if seen.new_requests:
        return f"the server received {len(seen.new_requests)} request(s)"
    return None


def pack_version() -> str:
    return corral.__version__
