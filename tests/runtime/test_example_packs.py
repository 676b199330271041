"""Every example pack has a README that documents each of its entries, and its examples hold."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from corral import Host, Settings, load_manifest_file

from ..conftest import PACKS

EXAMPLES = sorted(p for p in PACKS.iterdir() if (p / "pack.toml").is_file())


@pytest.mark.parametrize("pack_dir", EXAMPLES, ids=lambda p: p.name)
def test_every_entry_is_documented_in_the_readme(pack_dir: Path) -> None:
    readme = (pack_dir / "README.md").read_text(encoding="utf-8")
    manifest = load_manifest_file(pack_dir / "pack.toml")
    names = [f.name for f in manifest.formulas] + [t.name for t in manifest.sync_tables]
    missing = [n for n in names if not re.search(rf"\b{n}\b", readme)]
    assert not missing, f"{pack_dir.name}/README.md does not document {missing}"


OFFLINE = ("hello", "textstats")


def readme_examples(name: str) -> list[tuple[str, str]]:
    """(formula, expected) from the README's `=formula` → `value` table cells."""
    readme = (PACKS / name / "README.md").read_text(encoding="utf-8")
    return re.findall(r"`(=[^`]+)` → `([^`]+)`", readme)


@pytest.mark.parametrize("name", OFFLINE)
def test_the_readme_examples_evaluate_as_written(name: str, tmp_path: Path) -> None:
    import json

    examples = readme_examples(name)
    assert len(examples) >= 3
    with Host(Settings(data_dir=tmp_path)) as host:
        host.register_dir(PACKS / name)
        for formula, expected in examples:
            assert host.evaluate(formula) == json.loads(expected), formula
