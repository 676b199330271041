"""docs/reference.md is generated from the code that reads each key, and kept current."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import corral
from corral._cli.reference import environment_variables, field_docs, render, toml_type

from ..conftest import REPO

REFERENCE = REPO / "docs" / "reference.md"
PACKAGE = Path(corral.__file__).resolve().parent
READER_CALLS = {"get", "sub", "items", "positive", "name"}


def test_the_committed_reference_is_current() -> None:
    assert REFERENCE.read_text(encoding="utf-8") == render(), (
        "docs/reference.md is stale: run `corral reference -o docs/reference.md`")


def test_the_readme_links_the_reference() -> None:
    assert "(docs/reference.md)" in (REPO / "README.md").read_text(encoding="utf-8")


def keys_the_manifest_parser_reads() -> set[str]:
    """Every key literal handed to the manifest reader (``reader.get("fuel", ...)``) or
    tested for (``"memory_mb" in reader.data``) in the manifest's modules."""
    keys: set[str] = set()
    for path in [*(PACKAGE / "_pack").glob("manifest*.py"), PACKAGE / "_pack" / "parse.py",
                 PACKAGE / "_pack" / "metadata.py"]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in READER_CALLS and node.args
                    and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[0].value, str)):
                keys.add(node.args[0].value)
            elif (isinstance(node, ast.Compare) and isinstance(node.left, ast.Constant)
                  and isinstance(node.left.value, str) and isinstance(node.ops[0], ast.In)):
                keys.add(node.left.value)
    return keys


def test_every_key_the_manifest_parser_reads_is_in_the_reference() -> None:
    keys = keys_the_manifest_parser_reads()
    assert {"pack", "network_domains", "cache_ttl_s", "memory_mb", "result_type", "id_property",
            "examples", "validate_parameters", "timeout_ms", "result"} <= keys
    text = render()
    named = [k for k in keys if re.search(rf"[`\[]{k}[`\]\s]", text)]  # `key`, [key], `key = `
    assert sorted(keys - set(named)) == []


def test_every_key_and_setting_has_a_meaning() -> None:
    rows = [line for line in render().splitlines()
            if line.startswith("| `") and line.count("|") >= 4]
    assert len(rows) > 60
    assert [row for row in rows if row.rstrip().endswith("|  |")] == []


def test_every_settings_field_and_corral_variable_is_listed() -> None:
    text = render()
    for field in corral.Settings.__dataclass_fields__:
        assert f"| `{field}` | `CORRAL_{field.upper()}` |" in text
    names = {name for name, _, _ in environment_variables()}
    assert {"CORRAL_SDK_DIR", "CORRAL_ASSEMBLYSCRIPT_DIR", "CORRAL_CONFIG"} <= names
    assert "CORRAL_DATA_DIR" not in names  # a setting, listed with the settings


@dataclass
class _Documented:
    #: Above, over
    #: two lines.
    above: int = 1
    below: str = "x"
    """Below, as a string."""
    bare: bool = False


def test_field_docs_read_comments_above_and_strings_below() -> None:
    assert field_docs(_Documented) == {"above": "Above, over two lines.",
                                       "below": "Below, as a string.", "bare": ""}


def test_toml_types_of_annotations() -> None:
    assert [toml_type(a) for a in ("str", "int | None", "tuple[str, ...]", "Mapping[str, Any]",
                                   "tuple[ParamDef, ...]", "Schema | None", "Path", "Any")] == [
        "string", "integer", "array of string", "table", "array of tables", "table", "path",
        "any"]


def test_corral_reference_check_tells_a_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "reference.md"
    stale.write_text("# old\n")
    command = [sys.executable, "-m", "corral", "reference"]
    checked = subprocess.run([*command, "--check", str(stale)], capture_output=True, text=True,
                             timeout=60)
    assert checked.returncode == 1 and "is stale" in checked.stdout
    written = subprocess.run([*command, "-o", str(stale)], capture_output=True, text=True,
                             timeout=60)
    assert written.returncode == 0
    again = subprocess.run([*command, "--check", str(stale)], capture_output=True, text=True,
                           timeout=60)
    assert again.returncode == 0 and stale.read_text() == render()
    assert re.search(r"^### \[limits\]$", stale.read_text(), flags=re.M)


def test_the_formula_metadata_example_is_a_valid_manifest() -> None:
    import tomllib

    from corral._cli.reference_metadata import FORMULA_METADATA

    toml = FORMULA_METADATA.removeprefix("```toml\n").removesuffix("```")
    data = tomllib.loads('[pack]\nname = "p"\nversion = "1.0.0"\n' + toml)
    formula = corral.parse_manifest(data).formula("Span")
    assert formula.validate_parameters and formula.timeout_ms == 200
    assert [e.result for e in formula.examples] == [3, 0]
    assert FORMULA_METADATA in render()
