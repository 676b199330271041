"""The benchmark's fixture and judge: a fresh Host, its packs and servers, and the rules
that decide whether one attack was contained.

An attack is contained only when all of these hold:

* the observed outcome is one of the expected error kinds (and, for fetch refusals, one of
  the expected rules), or ``ok`` when a harmless success is expected;
* its own ``verify`` check finds nothing wrong (a refused request never reached the
  server, a victim's calls all completed, the bytes read stayed under a cap, ...);
* no secret, in any form (see :mod:`.leaks`), shows up in: the error, its details or the
  problem document a caller of the HTTP service would get; the result; anything the guest
  was handed by the fetch import (recorded by a wrapper); any log record of any logger
  (the root logger is at DEBUG for the whole run, so third-party libraries log too);
  ``/metrics``; any response of the HTTP service; any request that reached a server other
  than as the credential the host injects where it belongs; and any file of any store in
  the Host's data dir that changed during the attack;
* nothing tried to leave the machine except where the attack expects the egress guard
  to stop a connection to the address the policy checked.

After each attack the same Host must answer ``hello.Greet`` correctly ("healthy").
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import corral
from corral import CorralError, FetchConfig, FetchError, Host, Pack, PinnedTransport, Settings

from .egress import LoopbackOnly, ScriptedResolver
from .leaks import SecretDetector
from .recorder import GuestInputs, install_recorder
from .world import PACKS_DIR, REPO, Secrets, Servers, _build, register, with_manifest

__all__ = ["PACKS_DIR", "REPO", "Attack", "Bench", "Observation", "Outcome", "CATEGORIES",
           "expect_no_requests", "expect_untouched", "with_manifest"]

CATEGORIES = ("cpu", "memory", "stack", "io", "msgpack", "abi", "fetch", "secrets",
              "neighbours", "formula", "encoding", "reflection", "at_rest", "channel",
              "crossing", "caps", "oauth", "http", "tenancy", "addresses", "cache_key",
              "signing", "js_limits", "revocation")

Verify = Callable[["Bench", "Observation"], "str | None"]
#: Hosts (name, port) where the Authorization header / api_key parameter is the host's own
#: injection, not a leak (filled in by the Bench once ports are known).
Carriers = set[tuple[str, int]]


@dataclass(frozen=True)
class Attack:
    """One attack and the outcome that counts as containing it."""

    name: str
    category: str
    expected: str
    """An error ``kind`` (``fuel_exhausted``, ``fetch_denied``, ...) or ``ok``; ``a|b`` when
    a correct host may do either (refuse, or send without the credential)."""
    run: Callable[[Bench], Any]
    rule: str | None = None
    """For fetch errors: the policy rule the refusal must name (``a|b`` for either)."""
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

    def accepts(self, kind: str) -> bool:
        return kind in self.expected.split("|")

    def accepts_rule(self, rule: str | None) -> bool:
        return self.rule is None or (rule is not None and rule in self.rule.split("|"))


@dataclass
class Observation:
    """What one attack did: its value or error, and what it left behind."""

    value: Any = None
    error: BaseException | None = None
    new_requests: list[Any] = field(default_factory=list)
    new_logs: list[str] = field(default_factory=list)
    new_blocked: list[tuple[str, int]] = field(default_factory=list)
    guest_inputs: list[Any] = field(default_factory=list)
    http_texts: list[str] = field(default_factory=list)
    bytes_read: int = 0

    @property
    def kind(self) -> str:
        if self.error is None:
            return str(getattr(self.value, "outcome_kind", "ok"))
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
    """Keeps every record of every logger, formatted with its exception, for the leak check."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self._lines: list[str] = []
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = f"{record.name}: {record.getMessage()}"
        except Exception:  # a record whose arguments do not format is still a record
            line = f"{record.name}: {record.msg!r} {record.args!r}"
        if record.exc_info:
            line += "\n" + "".join(traceback.format_exception(*record.exc_info))
        if record.stack_info:
            line += "\n" + record.stack_info
        with self._guard:
            self._lines.append(line)

    def since(self, mark: int) -> list[str]:
        with self._guard:
            return self._lines[mark:]

    def __len__(self) -> int:
        with self._guard:
            return len(self._lines)


class Bench:
    """A fresh Host in a temporary data dir, its hostile packs, servers and secrets."""

    def __init__(self, data_dir: Path | None = None) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="corral-bench-")
        self.data_dir = data_dir or Path(self._tmp.name) / "data"
        self.secret = Secrets()
        self.alice_token, self.query_token = self.secret.alice, self.secret.query
        self.detector = SecretDetector()
        self.detector.add(*self.secret.all())
        self.servers = Servers(Path(self._tmp.name) / "tls", valid_token=self.alice_token)
        self.server = self.servers.server
        self.carriers: Carriers = set()
        self.resolver = ScriptedResolver()
        self.egress = LoopbackOnly()
        self.logs = _LogCapture()
        self._root = logging.getLogger()
        self._saved_level = self._root.level
        self._root.addHandler(self.logs)
        self._root.setLevel(logging.DEBUG)
        self.host = self.make_host()
        self.guest_inputs = GuestInputs()
        install_recorder(self.host, self.guest_inputs)
        self.http_texts: list[str] = []
        self._health_checks = 0
        self._unique = 0
        self.packs: dict[str, Pack] = {}
        self.connections: dict[str, str] = {}
        self.extras: dict[str, Any] = {}
        """Parts an attack family made once and later attacks reuse (HTTP services, ...)."""
        self._closers: list[Callable[[], None]] = []

    # -- setting up ------------------------------------------------------------------------

    def host_map(self) -> dict[str, str]:
        return {name: "127.0.0.1" for name in ("bench.test", "cdn.test", "undeclared.test",
                                               "static.bench.test")}

    def transport(self) -> PinnedTransport:
        config = FetchConfig(allow_http=True, host_map=self.host_map(), resolver=self.resolver,
                             ca_file=str(self.servers.ca))
        return PinnedTransport(config, connector=self.egress)

    def make_host(self, name: str = "host", **settings: Any) -> Host:
        """A Host on this bench's network (the main one, or one an attack family needs)."""
        base = Settings(data_dir=self.data_dir / name, allow_http=True, host_map=self.host_map())
        from .settings import with_settings

        return Host(with_settings(base, **settings), resolver=self.resolver,
                    fetch_transport=self.transport())

    def on_close(self, close: Callable[[], None]) -> None:
        self._closers.append(close)

    def port(self, server: str = "server") -> int:
        return int(getattr(self.servers, server).port)

    def domains(self) -> list[str]:
        return [f"bench.test:{self.server.port}", f"cdn.test:{self.server.port}"]

    def load_packs(self) -> None:
        """Build every hostile pack from source and register it (before the RSS baseline)."""
        from .packs_setup import register_all

        register_all(self)

    def build(self, pack_dir: str) -> bytes:
        return _build(PACKS_DIR / pack_dir).read_bytes()

    def build_path(self, path: Path) -> bytes:
        return _build(path).read_bytes()

    def register(self, wasm: bytes, source: str, approve: tuple[str, ...] = ()) -> Pack:
        return register(self.host, wasm, source, approve)

    def unique_name(self, stem: str) -> str:
        self._unique += 1
        return f"{stem}{self._unique}"

    # -- during attacks --------------------------------------------------------------------

    @property
    def alice_conn(self) -> str:
        return self.connections["alice"]

    @property
    def alice_query_conn(self) -> str:
        return self.connections["query"]

    @property
    def alice_approved_conn(self) -> str:
        return self.connections["approved"]

    def call(self, pack: str, formula: str, *args: Any, connection: str | None = None,
             principal: str | None = None, deadline_s: float | None = None) -> Any:
        return self.host.call(pack, formula, *args, connection=connection,
                              principal=principal, deadline_s=deadline_s)

    def url(self, path: str, host: str = "bench.test", port: int | None = None,
            scheme: str = "http") -> str:
        return f"{scheme}://{host}:{self.server.port if port is None else port}{path}"

    @property
    def secrets(self) -> tuple[str, ...]:
        return self.detector.secrets

    def healthy(self) -> bool:
        """The same Host answers a normal call correctly (a fresh name: no cache hit)."""
        self._health_checks += 1
        name = f"check{self._health_checks}"
        try:
            return bool(self.call("hello", "Greet", name) == f"Hello, {name}!")
        except CorralError:
            return False

    def requests(self) -> list[Any]:
        return [r for server in self.servers.recording for r in server.requests]

    def observe(self, attack: Attack) -> tuple[Observation, float]:
        marks = ([len(s.requests) for s in self.servers.recording], len(self.logs),
                 len(self.egress.blocked), len(self.guest_inputs), len(self.http_texts),
                 self.egress.bytes_read)
        seen = Observation()
        started = time.perf_counter()
        try:
            seen.value = attack.run(self)
        except Exception as exc:  # the judge classifies whatever came out
            seen.error = exc
        seconds = time.perf_counter() - started
        seen.new_requests = [r for server, mark in zip(self.servers.recording, marks[0])
                             for r in server.requests[mark:]]
        seen.new_logs = self.logs.since(marks[1])
        seen.new_blocked = self.egress.blocked[marks[2]:]
        seen.guest_inputs = self.guest_inputs.since(marks[3])
        seen.http_texts = self.http_texts[marks[4]:]
        seen.bytes_read = self.egress.bytes_read - marks[5]
        return seen, seconds

    def judge(self, attack: Attack, seen: Observation) -> list[str]:
        """Why the attack was not contained (empty when it was)."""
        problems: list[str] = []
        if not attack.accepts(seen.kind):
            problems.append(f"expected {attack.expected}, observed {seen.label}")
        elif not attack.accepts_rule(seen.rule):
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
        from .judge import leak_places

        found: list[str] = []
        for where, text, blob in leak_places(self, seen):
            secret = (self.detector.found_in_blob(text) if blob
                      else self.detector.found_in_text(text))
            if secret is not None:
                found.append(f"a secret ({_hint(secret)}) appeared in {where}")
                break
        for path in self.detector.found_in_files(self.data_dir):
            found.append(f"a secret lies in clear at rest in {path}")
        return found

    def close(self) -> None:
        for close in reversed(self._closers):
            try:
                close()
            except Exception:  # one part failing to close must not keep the rest open
                logging.getLogger("benchmarks.security").exception("closing failed")
        self.host.close()
        self.servers.close()
        self._root.removeHandler(self.logs)
        self._root.setLevel(self._saved_level)
        self._tmp.cleanup()


def _hint(secret: str) -> str:
    return f"{secret[:3]}... {len(secret)} chars"


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

