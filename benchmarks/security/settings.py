"""Settings the benchmark asks for, on whichever version of the host it runs against.

Some attack families need limits a host may not have yet (a per-principal share of the
gate, a rate limit for routes without a key). A setting the host's ``Settings`` does not
know is left out rather than failing the whole run: the attack then meets the host as it
is, and is judged by what a correct host does.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from corral import Settings


def with_settings(base: Settings, **changes: Any) -> Settings:
    """``base`` with each known field of ``changes`` replaced (unknown ones dropped)."""
    known = {f.name for f in dataclasses.fields(base)}
    return dataclasses.replace(base, **{k: v for k, v in changes.items() if k in known})


def supports(**changes: Any) -> bool:
    """Every field of ``changes`` is a setting this host has."""
    known = {f.name for f in dataclasses.fields(Settings)}
    return set(changes) <= known
