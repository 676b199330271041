"""The two runners of the differential suite, as subprocesses: Coda's own (the packs-sdk
execution helpers, ``guest-sdk/js/coda-oracle.mjs``) and Corral's dispatcher in a bundle run
by Node with a stand-in host (``guest-sdk/js/corral-node-host.mjs``)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from corral._toolchain.js_bundle import host_vocabulary, js_sdk_dir, node

from .coda_cases import Case

SAMPLES = js_sdk_dir() / "node_modules" / "@codahq" / "packs-sdk" / "documentation" / "samples" / "packs"


def job(case: Case, bundle: Path | None = None) -> dict[str, Any]:
    data = {"source": str(SAMPLES / case.sample), "op": case.op, "name": case.name,
            "args": list(case.args), "responses": list(case.responses),
            "vocab": host_vocabulary(), **case.extra}
    if bundle is not None:
        data["bundle"] = str(bundle)
    return data


def _node(script: str, jobs: list[dict[str, Any]], path: Path) -> list[dict[str, Any]]:
    path.write_text(json.dumps(jobs))
    done = subprocess.run([node(), str(js_sdk_dir() / script), str(path)], check=False,
                          capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, f"node {script} failed:\n{done.stderr[-3000:]}"
    result: list[dict[str, Any]] = json.loads(done.stdout)
    return result


def run_oracle(jobs: list[dict[str, Any]], path: Path) -> list[dict[str, Any]]:
    """Each job through Coda's runner (one Node process, one SDK load)."""
    return _node("coda-oracle.mjs", jobs, path)


def run_node_host(jobs: list[dict[str, Any]], path: Path) -> list[dict[str, Any]]:
    """Each job through its bundle's dispatcher, a fresh context per call."""
    return _node("corral-node-host.mjs", jobs, path)


def expected_kind(coda_error: dict[str, Any]) -> str:
    """The ABI error kind Corral's dispatcher gives the error Coda's runner raised."""
    if coda_error.get("result_type"):
        return "bad_output"
    if coda_error.get("user_visible") or coda_error.get("status") is not None:
        return "user"
    return "internal"


def mismatch(coda: dict[str, Any], corral: dict[str, Any]) -> str | None:
    """None when both runners agree, else what differs."""
    if "ok" in coda:
        if "ok" not in corral:
            return f"Coda answered {coda['ok']!r}, Corral failed: {corral.get('err')}"
        if coda["ok"] == corral["ok"]:
            return None
        if converted_losslessly(coda["ok"], corral["ok"]):
            return f"converted losslessly: Coda {coda['ok']!r} -> Corral {corral['ok']!r}"
        return f"Coda {coda['ok']!r} != Corral {corral['ok']!r}"
    err = corral.get("err")
    if err is None:
        return f"Coda failed ({coda['err']}), Corral answered {corral.get('ok')!r}"
    want = expected_kind(coda["err"])
    if want == "bad_output":
        # Both refuse a result of the wrong type, each in its own words.
        return None if err["kind"] == want else f"Coda refused the result's type, Corral: {err}"
    if err["kind"] != want or coda["err"]["message"] not in err["message"]:
        return f"Coda error {coda['err']} != Corral error {err}"
    if coda["err"].get("status") != err.get("status"):
        return f"status {coda['err'].get('status')} != {err.get('status')}"
    return None


def converted_losslessly(coda: Any, corral: Any) -> bool:
    """Whether ``corral`` is ``coda`` with some values converted to another type and nothing
    lost: a number to its text, a boolean to "true"/"false", a numeric text to its number
    (what Corral's JS runtime does where a pack declares another type than the API sent)."""
    if isinstance(coda, dict) and isinstance(corral, dict):
        return coda.keys() == corral.keys() and all(
            converted_losslessly(coda[k], corral[k]) for k in coda)
    if isinstance(coda, list) and isinstance(corral, list):
        return len(coda) == len(corral) and all(map(converted_losslessly, coda, corral))
    if type(coda) is type(corral):
        return bool(coda == corral)
    if isinstance(coda, bool):
        return bool(corral == ("true" if coda else "false"))
    if isinstance(coda, (int, float)) and isinstance(corral, str):
        return _number_text(coda) == corral
    if isinstance(coda, str) and isinstance(corral, (int, float)) and not isinstance(corral, bool):
        try:
            return float(coda.strip()) == corral
        except ValueError:
            return False
    return False


def _number_text(n: float) -> str:
    """JavaScript's String(n) for the numbers JSON carries in these cases."""
    return str(int(n)) if float(n).is_integer() and abs(n) < 1e21 else repr(float(n))
