"""Manifest validation: every rule names the field and the rule."""

from __future__ import annotations

from typing import Any

import pytest

from corral import ManifestError, NotFoundError, parse_manifest
from corral._pack.parse import manifest_from_json


def base(**extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"pack": {"name": "demo", "version": "1.0.0"},
                            "formulas": [{"name": "F"}]}
    data.update(extra)
    return data


def test_a_full_manifest_round_trips_through_the_embedded_json() -> None:
    manifest = parse_manifest({
        "pack": {"name": "demo", "version": "1.2.3", "description": "d",
                 "network_domains": ["API.Example.com.", "data.example.org:8443"]},
        "auth": {"kind": "header", "name": "X-Api-Key", "domains": ["api.example.com"]},
        "limits": {"fuel": 1000, "memory_mb": 4, "timeout_ms": 50},
        "formulas": [{"name": "Get", "params": [
            {"name": "id", "type": "integer"},
            {"name": "verbose", "type": "boolean", "default": False}],
            "result": {"type": "object", "id_property": "id",
                       "properties": {"id": {"type": "integer"}, "url": {"type": "string",
                                                                        "hint": "url"}}},
            "cache_ttl_s": 60}],
        "actions": [{"name": "Post", "idempotent": True}],
        "sync_tables": [{"name": "Items", "schema": {
            "type": "object", "id_property": "id", "display_property": "name",
            "properties": {"id": {"type": "integer"}, "name": {"type": "string",
                                                               "mutable": True}}}}],
    })
    assert manifest.network_domains == ("api.example.com", "data.example.org:8443")
    assert manifest.limits.memory_bytes == 4 << 20
    assert manifest.formula("get").params[1].default is False
    assert manifest.formula("Post").is_action and not manifest.formula("Post").cacheable
    assert manifest_from_json(manifest.to_json()) == manifest


@pytest.mark.parametrize("data, field, rule", [
    ({"formulas": [{"name": "F"}]}, "pack", "required"),
    (base(pack={"name": "9lives", "version": "1.0.0"}), "pack.name", "name"),
    (base(pack={"name": "demo", "version": "one"}), "pack.version", "semver"),
    (base(pack={"name": "demo", "version": "1.0.0", "network_domains": ["127.0.0.1"]}),
     "pack.network_domains[0]", "domain"),
    (base(pack={"name": "demo", "version": "1.0.0", "network_domains": ["*.example.com"]}),
     "pack.network_domains[0]", "domain"),
    (base(pack={"name": "demo", "version": "1.0.0", "network_domains": ["localhost"]}),
     "pack.network_domains[0]", "domain"),
    (base(formulas=[{"name": "F", "params": [{"name": "x", "type": "datetime"}]}]),
     "formulas[0].params[0].type", "enum"),
    (base(formulas=[{"name": "F", "params": [{"name": "x", "optional": True},
                                             {"name": "y"}]}]),
     "formulas[0].params[1]", "optional_order"),
    (base(formulas=[{"name": "F", "params": [{"name": "x", "vararg": True}, {"name": "y"}]}]),
     "formulas[0].params[0]", "vararg_last"),
    (base(formulas=[{"name": "F"}, {"name": "f"}]), "formulas", "unique"),
    (base(formulas=[{"name": "F", "cache_ttl_s": -1}]), "formulas[0].cache_ttl_s", "range"),
    (base(actions=[{"name": "A", "cache_ttl_s": 5}]), "actions[0].cache_ttl_s", "action_cache"),
    (base(limits={"fuel": 0}), "limits.fuel", "range"),
    (base(limits={"timeout_ms": 10**9}), "limits.timeout_ms", "range"),
    (base(limits={"fule": 10}), "limits.fule", "unknown_field"),
    (base(auth={"kind": "magic"}), "auth.kind", "enum"),
    (base(auth={"kind": "header"}), "auth.name", "required"),
    (base(auth={"kind": "bearer", "domains": ["other.com"]}), "auth.domains[0]", "subset"),
    (base(sync_tables=[{"name": "T", "schema": {"type": "object",
                                                "properties": {"a": {"type": "string"}}}}]),
     "sync_tables[0].schema.id_property", "required"),
    (base(formulas=[{"name": "F", "result": {"type": "object", "display_property": "nope",
                                              "properties": {"a": {"type": "string"}}}}]),
     "formulas[0].result.display_property", "property"),
    ({"pack": {"name": "demo", "version": "1.0.0"}}, "formulas", "not_empty"),
])
def test_each_rule_names_field_and_rule(data: dict[str, Any], field: str, rule: str) -> None:
    with pytest.raises(ManifestError) as info:
        parse_manifest(data, source="pack.toml")
    assert info.value.field == field
    assert info.value.rule == rule
    assert str(info.value).startswith(f"pack.toml: {field}: ")


def test_wrong_types_are_named() -> None:
    with pytest.raises(ManifestError, match=r"pack.version: must be a string, got int"):
        parse_manifest(base(pack={"name": "demo", "version": 1}))
    with pytest.raises(ManifestError, match=r"limits.fuel: must be an integer, got a boolean"):
        parse_manifest(base(limits={"fuel": True}))


def test_unknown_formula_lookup_names_the_pack() -> None:
    manifest = parse_manifest(base())
    with pytest.raises(NotFoundError, match="pack 'demo' has no formula or action named 'G'"):
        manifest.formula("G")


def test_bad_embedded_json_is_a_manifest_error() -> None:
    with pytest.raises(ManifestError, match="not valid JSON"):
        manifest_from_json(b"{not json", source="x.wasm")


# -- declared domains: read as the fetch policy reads them --------------------------------


def with_domains(network: list[Any], auth: list[Any] | None = None) -> dict[str, Any]:
    data = base(pack={"name": "demo", "version": "1.0.0", "network_domains": network})
    if auth is not None:
        data["auth"] = {"kind": "bearer", "domains": auth}
    return data


@pytest.mark.parametrize("declared, what", [
    # accepted once, refused by the policy on every fetch
    ("api.123", "IP address"),
    ("a.0x10", "IP address"),
    ("a.0x", "IP address"),
    ("a.①", "IP address"),
    ("api.example.com:99999", "'99999' is not a valid port"),
    ("api.example.com:0", "'0' is not a valid port"),
    ("api.example.com:", "'' is not a valid port"),
    ("api.example.com:٣", "is not a valid port"),
    ("api.example.com..", "label ''"),
    ("xn--zz.example.com", "invalid punycode label"),
    # refused all along
    ("127.0.0.1", "IP address"),
    ("[::1]", "IPv6"),
    ("localhost", "single label"),
    ("*.example.com", "write the bare domain"),
    ("exa mple.com", "label 'exa mple'"),
])
def test_network_domains_the_policy_would_refuse_are_refused(declared: str, what: str) -> None:
    with pytest.raises(ManifestError) as info:
        parse_manifest(with_domains(["ok.example.com", declared]))
    assert (info.value.field, info.value.rule) == ("pack.network_domains[1]", "domain")
    assert what in str(info.value) and repr(declared) in str(info.value)


@pytest.mark.parametrize("declared, stored", [
    ("ex_ample.com", "ex_ample.com"),                 # refused once, admitted by the policy
    ("_dmarc.example.com", "_dmarc.example.com"),
    ("api.example.com:08443", "api.example.com:8443"),  # one canonical text
    ("  Bücher.DE.:443 ", "xn--bcher-kva.de:443"),
])
def test_network_domains_are_stored_in_canonical_form(declared: str, stored: str) -> None:
    assert parse_manifest(with_domains([declared])).network_domains == (stored,)


def test_a_network_domain_must_be_a_string() -> None:
    with pytest.raises(ManifestError) as info:
        parse_manifest(with_domains([443]))
    assert (info.value.field, info.value.rule) == ("pack.network_domains[0]", "type")


@pytest.mark.parametrize("network, auth, rule", [
    (["example.com"], ["x y.example.com"], "domain"),        # was stored unchecked
    (["example.com"], ["example.com:abc"], "domain"),        # was a crash at credential time
    (["example.com"], ["*.example.com"], "domain"),
    (["example.com"], [7], "type"),
    (["example.com"], ["api.example.com:9999"], "subset"),   # a port the policy never admits
    (["example.com:8443"], ["api.example.com:443"], "subset"),
    (["example.com"], ["badexample.com"], "subset"),
])
def test_auth_domains_are_declared_domains_inside_the_network_domains(
        network: list[str], auth: list[Any], rule: str) -> None:
    with pytest.raises(ManifestError) as info:
        parse_manifest(with_domains(network, auth))
    assert (info.value.field, info.value.rule) == ("auth.domains[0]", rule)


@pytest.mark.parametrize("network, auth, stored", [
    (["bücher.de"], ["Bücher.de"], "xn--bcher-kva.de"),      # was refused: compared unencoded
    (["example.com"], ["ＡＰＩ.example.com."], "api.example.com"),
    (["example.com"], ["api.example.com:443"], "api.example.com:443"),
    (["example.com:8443"], ["api.example.com"], "api.example.com"),
])
def test_auth_domains_are_stored_in_canonical_form(network: list[str], auth: list[str],
                                                   stored: str) -> None:
    assert parse_manifest(with_domains(network, auth)).auth.domains == (stored,)
