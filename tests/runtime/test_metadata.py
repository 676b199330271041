"""Formula metadata at run time: examples run in the sandbox, the validate_parameters op
and its answers, and how an invalid verdict reaches an HTTP caller."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import corral
import pytest
from corral import (
    MANIFEST_SECTION,
    BadOutput,
    InvalidParameters,
    Sandbox,
    pack_from_bytes,
    read_manifest,
    set_custom_section,
)
from corral._runtime.examples import run_examples, same_value
from corral._server.problems import problem_for
from corral.testing import ExampleFailed
from corral.testing import run_examples as check_examples

from ..conftest import TEST_PACKS, answering_pack, built


def rewritten(wasm: Path, change: Any) -> bytes:
    """``wasm`` with its embedded manifest changed by ``change(dict)``."""
    data = wasm.read_bytes()
    manifest = json.loads(read_manifest(data).to_json())
    change(manifest)
    return set_custom_section(data, MANIFEST_SECTION, json.dumps(manifest).encode())


def formula(manifest: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(f for f in manifest["formulas"] if f["name"] == name)
    return found


# -- examples -----------------------------------------------------------------------------


def test_a_wrong_example_fails_with_a_diff(hello_wasm: Path, sandbox: Sandbox) -> None:
    def wrong(manifest: dict[str, Any]) -> None:
        formula(manifest, "Greet")["examples"] = [{"params": ["Ada"], "result": "Hello, Ada!"},
                                                  {"params": ["Bob"], "result": "Hi, Bob!"}]
    pack = pack_from_bytes(rewritten(hello_wasm, wrong), sandbox=sandbox)
    outcomes = [o for o in run_examples(pack) if o.formula == "Greet"]
    assert [o.verdict for o in outcomes] == ["pass", "fail"]
    failed = outcomes[1]
    assert failed.actual == "Hello, Bob!"
    assert '-"Hi, Bob!"' in failed.diff and '+"Hello, Bob!"' in failed.diff
    assert failed.report().startswith('FAIL Greet example 1: Greet("Bob")')
    with pytest.raises(ExampleFailed, match="Greet example 1"):
        check_examples(rewritten(hello_wasm, wrong))


def test_an_example_that_raises_reports_the_error(hello_wasm: Path, sandbox: Sandbox) -> None:
    def failing(manifest: dict[str, Any]) -> None:
        formula(manifest, "Greet")["examples"] = [{"params": [""], "result": "Hello, !"}]
    pack = pack_from_bytes(rewritten(hello_wasm, failing), sandbox=sandbox)
    [greet] = [o for o in run_examples(pack) if o.formula == "Greet"]
    assert greet.verdict == "fail" and greet.error.startswith("guest_error: ")
    assert "Greet needs a name" in greet.report() and greet.diff == ""


def test_an_example_needing_a_connection_is_skipped_with_its_reason(
        hello_wasm: Path, sandbox: Sandbox) -> None:
    def authed(manifest: dict[str, Any]) -> None:
        manifest["auth"] = {"kind": "bearer"}
        formula(manifest, "Greet")["connection"] = "required"
    pack = pack_from_bytes(rewritten(hello_wasm, authed), sandbox=sandbox)
    greet = [o for o in run_examples(pack) if o.formula == "Greet"]
    assert greet[0].verdict == "skip" and "needs a connection" in greet[0].reason
    assert "skipped, the formula needs a connection" in greet[0].report()


def test_an_example_that_fetches_fails_saying_examples_have_no_network(
        sandbox: Sandbox) -> None:
    def fetching(manifest: dict[str, Any]) -> None:
        formula(manifest, "Summary")["examples"] = [
            {"params": ["https://api.example.test/x"], "result": "anything"}]
    pack = pack_from_bytes(rewritten(built(TEST_PACKS / "fetcher"), fetching), sandbox=sandbox)
    [summary] = run_examples(pack)
    assert summary.verdict == "fail" and "examples run without network" in summary.error


def test_the_cli_exits_non_zero_on_a_failing_example(hello_wasm: Path, tmp_path: Path) -> None:
    good = subprocess.run([sys.executable, "-m", "corral", "validate", "--examples",
                           str(hello_wasm)], capture_output=True, text=True, check=False)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "PASS Describe example 0" in good.stdout and "0 failed" in good.stdout

    def wrong(manifest: dict[str, Any]) -> None:
        formula(manifest, "Add")["examples"] = [{"params": [2, 2], "result": 5}]
    bad_wasm = tmp_path / "hello.wasm"
    bad_wasm.write_bytes(rewritten(hello_wasm, wrong))
    bad = subprocess.run([sys.executable, "-m", "corral", "validate", "--examples",
                          str(bad_wasm)], capture_output=True, text=True, check=False)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "FAIL Add example 0: Add(2, 2)" in bad.stdout
    assert "-5" in bad.stdout and "+4" in bad.stdout and "1 failed" in bad.stdout


def test_example_results_compare_as_json_values() -> None:
    assert same_value(4, 4.0) and same_value({"a": [1, 2.0]}, {"a": [1.0, 2]})
    assert not same_value(1, True) and not same_value("1", 1)
    assert not same_value({"a": 1}, {"a": 1, "b": 2}) and not same_value([1], [1, 1])


# -- validate_parameters ------------------------------------------------------------------


def validated_pack(sandbox: Sandbox, verdict: Any) -> corral.Pack:
    manifest = {"pack": {"name": "judged", "version": "1.0.0"},
                "formulas": [{"name": "Judged", "validate_parameters": True,
                              "params": [{"name": "a", "type": "integer"},
                                         {"name": "b", "type": "integer"}]}]}
    wasm = answering_pack(manifest, "the formula ran", validate_parameters=verdict)
    return pack_from_bytes(wasm, sandbox=sandbox)


def test_a_valid_verdict_lets_the_formula_run(sandbox: Sandbox) -> None:
    assert validated_pack(sandbox, {"valid": True}).call("Judged", 1, 2) == "the formula ran"
    nil_fields = {"valid": True, "message": None, "field_errors": []}
    assert validated_pack(sandbox, nil_fields).call("Judged", 1, 2) == "the formula ran"


def test_an_invalid_verdict_is_a_400_naming_the_parameters(sandbox: Sandbox) -> None:
    pack = validated_pack(sandbox, {"valid": False, "message": "no good", "field_errors": [
        {"parameter": "b", "message": "too big"}, {"parameter": "a", "message": "odd"}]})
    with pytest.raises(InvalidParameters) as info:
        pack.call("Judged", 1, 2)
    error = info.value
    assert error.message == "judged.Judged: invalid arguments: no good; b: too big; a: odd"
    assert error.details["parameters"] == ["b", "a"]
    problem = problem_for(error, instance="/v1/packs/judged/formulas/Judged")
    assert problem.status == 400
    assert problem.body["kind"] == "invalid_parameters" and problem.body["parameters"] == ["b", "a"]
    assert problem.body["field_errors"][0] == {"parameter": "b", "message": "too big"}


def test_an_invalid_verdict_without_reasons_still_says_so(sandbox: Sandbox) -> None:
    with pytest.raises(InvalidParameters, match="the pack found the arguments invalid"):
        validated_pack(sandbox, {"valid": False}).call("Judged", 1, 2)


@pytest.mark.parametrize("verdict, path", [
    (True, "result.valid"),
    ({"valid": "yes"}, "result.valid"),
    ({"valid": False, "message": 3}, "result.message"),
    ({"valid": False, "field_errors": {"a": "x"}}, "result.field_errors"),
    ({"valid": False, "field_errors": [{"parameter": "a"}]}, "result.field_errors[0]"),
    ({"valid": False, "field_errors": [{"parameter": "zz", "message": "x"}]},
     "result.field_errors[0].parameter"),
])
def test_a_malformed_verdict_is_bad_output_naming_the_path(sandbox: Sandbox, verdict: Any,
                                                           path: str) -> None:
    with pytest.raises(BadOutput) as info:
        validated_pack(sandbox, verdict).call("Judged", 1, 2)
    assert info.value.details["path"] == path
    assert "validate_parameters" in info.value.message
