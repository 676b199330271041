"""The caller's time zone and document from the command line (``--timezone``,
``--doc-id``) and the host default (``CORRAL_DEFAULT_TIMEZONE``), run as a user would."""

from __future__ import annotations

import json
from pathlib import Path

from ..conftest import built
from .test_cli import run

CONFORMANCE = Path(__file__).resolve().parents[1] / "conformance" / "c"


def test_call_takes_the_timezone_and_doc_id(tmp_path: Path) -> None:
    wasm = str(built(CONFORMANCE))
    data = ["--data-dir", str(tmp_path / "data")]
    zone = run("call", wasm, "CtxTimezone", "--timezone", "Europe/Paris", *data, cwd=tmp_path)
    assert zone.returncode == 0, zone.stderr
    assert json.loads(zone.stdout) == "Europe/Paris"
    where = run("call", wasm, "CtxLocation", "--doc-id", "doc-9", *data, cwd=tmp_path,
                env={"CORRAL_PUBLIC_URL": "https://corral.example.net"})
    assert json.loads(where.stdout) == {"protocol_and_host": "https://corral.example.net",
                                        "doc_id": "doc-9"}


def test_the_host_default_timezone_comes_from_the_settings(tmp_path: Path) -> None:
    wasm = str(built(CONFORMANCE))
    data = ["--data-dir", str(tmp_path / "data")]
    zone = run("call", wasm, "CtxTimezone", *data, cwd=tmp_path,
               env={"CORRAL_DEFAULT_TIMEZONE": "Asia/Tokyo"})
    assert json.loads(zone.stdout) == "Asia/Tokyo"
    bad = run("call", wasm, "CtxTimezone", *data, cwd=tmp_path,
              env={"CORRAL_DEFAULT_TIMEZONE": "Asia/Atlantis"})
    assert bad.returncode == 1
    assert "default_timezone" in bad.stderr and "IANA" in bad.stderr


def test_a_bad_timezone_is_refused_naming_the_option(tmp_path: Path) -> None:
    wasm = str(built(CONFORMANCE))
    data = ["--data-dir", str(tmp_path / "data")]
    for command in (["call", wasm, "CtxTimezone"], ["sync", wasm, "Items", "2"]):
        result = run(*command, "--timezone", "Mars/Base", *data, cwd=tmp_path)
        assert result.returncode == 1, command
        assert "bad_args" in result.stderr and "timezone" in result.stderr
    good = run("sync", wasm, "Items", "2", "--timezone", "Europe/Oslo", *data, cwd=tmp_path)
    assert good.returncode == 0, good.stderr
    assert len(good.stdout.splitlines()) == 2


def test_eval_takes_the_timezone(tmp_path: Path) -> None:
    result = run("eval", "=conformance.CtxTimezone()", "--pack", str(built(CONFORMANCE)),
                 "--timezone", "America/Sao_Paulo", "--data-dir", str(tmp_path / "data"),
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == "America/Sao_Paulo"
