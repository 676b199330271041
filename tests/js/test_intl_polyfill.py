"""The runtime's Intl (for QuickJS-NG, which has none) against V8's own Intl with ICU: every
instant, time zone and option of ``tests/js/intl_check.mjs``, part by part (formatToParts),
and NumberFormat's rounding and styles. The samples' own calls through the engine are in
test_engine_samples."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from corral._toolchain.js_bundle import js_sdk_dir, node


def test_the_polyfill_formats_as_v8_does() -> None:
    script = Path(__file__).with_name("intl_check.mjs")
    done = subprocess.run([node(), str(script), str(js_sdk_dir() / "runtime")], check=False,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    print(f"\nIntl polyfill: {result['checked']} formats compared with V8's Intl, "
          f"{len(result['differences'])} differ")
    assert result["checked"] > 10000
    assert result["differences"] == [], result["differences"][:5]


def test_tzdata_is_what_make_tzdata_writes() -> None:
    import importlib.util

    runtime = js_sdk_dir() / "runtime"
    spec = importlib.util.spec_from_file_location("make_tzdata", runtime / "make_tzdata.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    committed = (runtime / "tzdata.js").read_text()
    assert committed == module.render(), "tzdata.js is stale: run make_tzdata.py"
    assert '"America/Los_Angeles":"PST8PDT' in committed
    assert '"US/Pacific":"America/Los_Angeles"' in committed
