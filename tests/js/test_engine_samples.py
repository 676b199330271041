"""The differential suite through the real engine: every call of tests/js/coda_cases.py made on
the sample's built ``.wasm`` (QuickJS-NG snapshot) through a real host, whose fetches reach a
local TLS stand-in at the samples' real https:// URLs (``host_map`` with a port, ``ca_file``)
with credentials injected by the host; compared with Coda's own runner on the same calls."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from corral import CorralError, GuestError
from corral._host import Host
from corral._settings import Settings
from corral._toolchain.build import build_pack, repo_root
from corral.testing import LocalServer, make_tls_files

from .coda_cases import CASES, DIVERGENT, DIVERGENT_SHOWS, Case
from .runners import SAMPLES, job, mismatch, run_oracle

#: Calls that differ in the engine only, and why (asserted exactly): none since the runtime
#: carries Intl (runtime/intl.js) and the oracle checks a formula's result type as
#: `coda execute` does.
ENGINE_DIVERGENT: dict[str, str] = {}

#: The time zone Coda's runner gives a call outside a doc (the packs-sdk's testing helpers),
#: given to the host as its default, so both runners format local times in the same zone.
CODA_TIMEZONE = "America/Los_Angeles"

_SECRETS = {"bearer": {"token": "TEST-TOKEN"}, "header": {"value": "TEST-TOKEN"},
            "query": {"value": "TEST-TOKEN"},
            "oauth2_code": {"client_id": "cid", "access_token": "TEST-TOKEN"}}


def _hosts() -> list[str]:
    return sorted({urlsplit(r["url"]).hostname or "" for c in CASES for r in c.responses})


@pytest.fixture(scope="module")
def packs() -> dict[str, Path]:
    # In the checkout's build/, so reruns reuse builds (cached by input digest).
    out = repo_root() / "build" / "js-samples"
    built: dict[str, Path] = {}
    for sample in sorted({c.sample for c in CASES}):
        copy = out / sample.replace("/", "__").replace("-", "_")
        copy.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SAMPLES / sample, copy / Path(sample).name)
        built[sample] = build_pack(copy / Path(sample).name).path
    return built


def _answer(host: Host, pack: Any, connection: str | None, case: Case) -> dict[str, Any]:
    try:
        if case.op in ("formula", "action"):
            return {"ok": host.call(pack.name, case.name, *case.args, connection=connection,
                                    principal="test")}
        session = host.calls.session(pack, "optional", connection, "test", 30.0)
        extra = dict(case.extra)
        if case.op == "sync_update":
            return {"ok": session.invoke("sync_update", case.name, list(case.args), extra)}
        return {"ok": session.invoke(case.op, case.name, list(case.args), extra)}
    except GuestError as exc:
        return {"err": {"kind": exc.guest_kind, "message": exc.message, "status": exc.status}}
    except CorralError as exc:
        return {"err": {"kind": exc.kind, "message": exc.message}}


def _sent(requests: list[Any]) -> list[tuple[str, str, list[tuple[str, str]]]]:
    return [(r.method, r.path, sorted((k, v) for k, vs in r.query.items() for v in vs))
            for r in requests]


def _wanted(requests: list[dict[str, Any]]) -> list[tuple[str, str, list[tuple[str, str]]]]:
    out = []
    for r in requests:
        url = urlsplit(r["url"])
        out.append((r["method"], url.path,
                    sorted((k, v) for k, vs in parse_qs(url.query).items() for v in vs)))
    return out


@pytest.mark.timeout(1800)  # 32 sample builds on a cold build cache
def test_every_call_through_the_engine_matches_codas_runner(packs: dict[str, Path],
                                                            tmp_path: Path) -> None:
    coda_answers = run_oracle([job(c) for c in CASES], tmp_path / "oracle.json")
    ca, cert, key = make_tls_files(tmp_path, _hosts())
    differences: dict[str, str] = {}
    with LocalServer(tls=(cert, key)) as server:
        settings = Settings(data_dir=tmp_path / "data", ca_file=ca,
                            default_timezone=CODA_TIMEZONE,
                            host_map={h: f"127.0.0.1:{server.port}" for h in _hosts()})
        with Host(settings) as host:
            registered: dict[str, tuple[Any, str | None]] = {}
            for sample, wasm in packs.items():
                pack = host.register_bytes(wasm.read_bytes(), source=sample)
                kind = pack.manifest.auth.kind
                conn = None if kind == "none" else host.connections.create(
                    principal="test", pack=pack.manifest, name="t", secret=_SECRETS[kind]).id
                registered[sample] = (pack, conn)
            for case, coda in zip(CASES, coda_answers):
                for r in case.responses:
                    server.route(r.get("method", "GET"), urlsplit(r["url"]).path,
                                 status=r.get("status", 200),
                                 headers={"content-type": "text/plain" if isinstance(r["body"], str)
                                          else "application/json", **r.get("headers", {})},
                                 body=r["body"] if isinstance(r["body"], str) else None,
                                 json=None if isinstance(r["body"], str) else r["body"])
                before = len(server.requests)
                pack, conn = registered[case.sample]
                corral = _answer(host, pack, conn, case)
                problem = mismatch(coda, corral)
                if problem is None and "ok" in coda:
                    sent, want = _sent(server.requests[before:]), _wanted(coda["requests"])
                    if sent != want:
                        problem = f"requests differ: Coda {want}, Corral {sent}"
                if problem is not None:
                    differences[case.label] = problem
    expected = {**DIVERGENT, **ENGINE_DIVERGENT}
    print(f"\nCoda samples through the engine: {len(packs)} built, {len(CASES)} calls, "
          f"{len(CASES) - len(differences)} matched Coda's runner")
    for label, problem in differences.items():
        print(f"  {label}: {problem}"[:600])
    assert set(differences) == set(expected), differences
    for label, shows in DIVERGENT_SHOWS.items():
        assert shows in differences[label], differences[label]
