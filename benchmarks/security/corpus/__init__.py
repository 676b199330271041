"""The attack corpus, one module per family of attacks."""

from __future__ import annotations

from ..harness import Attack
from . import abi, channels, fetch, formulas, neighbours, sandbox, secrets


def all_attacks() -> list[Attack]:
    """Every attack, in a stable order; names are unique."""
    corpus = (sandbox.attacks() + abi.attacks() + fetch.attacks() + secrets.attacks()
              + channels.attacks() + neighbours.attacks() + formulas.attacks())
    names = [attack.name for attack in corpus]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"attack names must be unique: {duplicates}")
    return corpus
