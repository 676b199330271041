"""The attack corpus, one module per family of attacks."""

from __future__ import annotations

from ..harness import Attack, Bench
from . import (abi, addresses, at_rest, cache_key, caps, channel, channels, crossing, encoding,
               fetch, formulas, http, js_limits, neighbours, oauth, reflection, revocation,
               sandbox, secrets, signing, tenancy)


FAMILIES = (sandbox, abi, fetch, secrets, channels, neighbours, formulas, encoding, reflection,
            at_rest, channel, crossing, caps, addresses, cache_key, http, oauth, tenancy, signing,
            js_limits, revocation)


def prepare(bench: Bench) -> None:
    """Make the parts attack families share (services, providers, hosts) before the RSS
    baseline, so the memory check measures what attacks leave behind, not the fixture."""
    for family in FAMILIES:
        ready = getattr(family, "prepare", None)
        if ready is not None:
            ready(bench)


def all_attacks() -> list[Attack]:
    """Every attack, in a stable order; names are unique."""
    corpus = [attack for family in FAMILIES for attack in family.attacks()]
    names = [attack.name for attack in corpus]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"attack names must be unique: {duplicates}")
    return corpus
