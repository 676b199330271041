"""The manifest derived from Coda sample packs: what each declares lands in Corral's manifest,
the host accepts it, and what Corral lacks is reported (a warning or a build error naming it)."""

from __future__ import annotations

from pathlib import Path

import pytest
from corral._errors import BuildError, ManifestError
from corral._pack.parse import parse_manifest
from corral._toolchain.js_bundle import bundle, derive_manifest

from .runners import SAMPLES


def derived(sample: str, tmp_path: Path) -> tuple[dict, tuple[str, ...]]:  # type: ignore[type-arg]
    out = tmp_path / "bundle.js"
    bundle(SAMPLES / sample, out)
    d = derive_manifest(out, "sample")
    parse_manifest(d.manifest, source=sample)  # the host accepts it
    return d.manifest, d.warnings


def test_a_sync_table_keeps_its_schema_identity_and_featured_columns(tmp_path: Path) -> None:
    manifest, warnings = derived("sync-table/emojis.ts", tmp_path)
    table = manifest["sync_tables"][0]
    assert table["name"] == "Emojis" and table["connection"] == "none"
    assert table["schema"]["id_property"] == "Hexcode"
    assert table["schema"]["display_property"] == "Name"
    assert table["schema"]["featured"] == ["Emoji", "Group", "Image"]
    assert table["schema"]["properties"]["Image"]["hint"] == "image"
    assert table["params"][0] == {"name": "group", "type": "string", "optional": True,
                                  "autocomplete": True,
                                  "description": "If specified, only include emojis in this group."}
    assert any("identity" in w for w in warnings)


def test_two_way_tables_are_updatable_and_oauth_is_mapped(tmp_path: Path) -> None:
    manifest, warnings = derived("two-way/splitwise.ts", tmp_path)
    table = manifest["sync_tables"][0]
    assert table["updatable"] is True and table["connection"] == "required"
    assert table["schema"]["properties"]["Description"]["mutable"] is True
    assert manifest["auth"] == {"kind": "oauth2_code",
                                "authorize_url": "https://secure.splitwise.com/oauth/authorize",
                                "token_url": "https://secure.splitwise.com/oauth/token"}
    assert any("property options" in w for w in warnings)


def test_dynamic_tables_and_actions_and_arrays(tmp_path: Path) -> None:
    manifest, _ = derived("dynamic-sync-table/typeform.ts", tmp_path)
    assert manifest["sync_tables"][0]["dynamic"] is True
    manifest, _ = derived("fetcher/imgur.ts", tmp_path)
    assert [a["name"] for a in manifest["actions"]] == ["Upload"]
    assert manifest["formulas"] == []
    manifest, _ = derived("math/math.ts", tmp_path)
    assert manifest["formulas"][0]["params"][0]["type"] == "array"
    assert manifest["formulas"][0]["result"] == {"type": "number"}


def test_a_group_of_varargs_degrades_with_a_warning(tmp_path: Path) -> None:
    manifest, warnings = derived("parameter/steps.ts", tmp_path)
    assert manifest["formulas"][0]["params"][-1]["vararg"] is True
    assert any("vararg" in w for w in warnings)


@pytest.mark.parametrize("sample, kind", [
    ("authentication/coda.ts", "bearer"), ("authentication/copper.ts", "headers"),
    ("authentication/giphy.ts", "query"), ("authentication/smarty.ts", "queries"),
    ("authentication/twilio.ts", "basic"), ("authentication/okta.ts", "header"),
    ("authentication/battlenet.ts", "oauth2_client_credentials"),
    ("authentication/jira.ts", "oauth2_code"), ("authentication/salesforce.ts", "oauth2_code"),
])
def test_coda_auth_kinds_map_to_corral_auth(sample: str, kind: str, tmp_path: Path) -> None:
    out = tmp_path / "bundle.js"
    bundle(SAMPLES / sample, out)
    manifest = derive_manifest(out, "sample").manifest
    assert manifest["auth"]["kind"] == kind
    # These samples declare only authentication: Corral refuses a pack with nothing to call.
    with pytest.raises(ManifestError, match="at least one formula"):
        parse_manifest(manifest, source=sample)


@pytest.mark.parametrize("sample, feature", [
    ("authentication/aws.ts", "AWSAccessKey"), ("authentication/vonage.ts", "Custom"),
])
def test_auth_corral_lacks_is_a_build_error_naming_it(sample: str, feature: str,
                                                      tmp_path: Path) -> None:
    out = tmp_path / "bundle.js"
    bundle(SAMPLES / sample, out)
    with pytest.raises(BuildError, match=f"authentication type {feature}"):
        derive_manifest(out, "sample")
