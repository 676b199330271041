"""The caller's timezone, an IANA name such as ``Europe/Oslo``, checked with ``zoneinfo``."""

from __future__ import annotations

import functools
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .._errors import ArgumentError

DEFAULT_TIMEZONE = "UTC"


def zone(name: str) -> ZoneInfo:
    """The zone named ``name``; :class:`ArgumentError` if it is not an IANA timezone."""
    if not isinstance(name, str) or not name or len(name) > 64 or ".." in name \
            or name.startswith("/"):
        raise ArgumentError(f"timezone must be an IANA timezone name such as 'Europe/Oslo', "
                            f"got {str(name)[:80]!r}", field="timezone")
    return _load(name)


@functools.lru_cache(maxsize=256)
def _load(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ArgumentError(f"unknown timezone {name[:80]!r}: use an IANA name such as "
                            "'Europe/Oslo' or 'UTC'", field="timezone") from None
