"""List built-ins: slicing, sorting, de-duplicating, sequences, membership.

Indexes count from 1 and may count from the end with negative numbers, as in ``Nth``.
Every list built here is capped (``Sequence`` is refused before it is built when it would
pass ``max_list_items``); ``Sort`` orders numbers, texts, or dates as text, never a mix.
"""

from __future__ import annotations

from typing import Any

from .builtin_kit import (
    Builtin,
    bool_arg,
    flatten,
    list_arg,
    number_arg,
    optional,
    whole_arg,
)
from .values import (
    CallSite,
    check_list,
    is_number,
    normalize_number,
    type_name,
    values_equal,
)

_BIG = 2**62


def _position(index: int, length: int) -> int:
    """A 1-based (or negative, from the end) index as a 0-based offset, clamped."""
    offset = index - 1 if index > 0 else length + index
    return min(max(offset, 0), length)


def _slice(site: CallSite, args: list[Any]) -> list[Any]:
    """``Slice(list, start, [end])``: items start to end, both included."""
    items = list_arg(args[0], site, 1)
    start = whole_arg(args[1], site, 2, low=-_BIG, high=_BIG)
    end = whole_arg(optional(args, 2, -1), site, 3, low=-_BIG, high=_BIG)
    if start == 0 or end == 0:
        raise site.error("indexes start at 1 (use -1 for the last item)")
    return items[_position(start, len(items)):_position(end, len(items)) + 1]


def _sort_key(site: CallSite, items: list[Any]) -> Any:
    kinds = {"number" if is_number(v) else type_name(v) for v in items if v is not None}
    if len(kinds) > 1 or kinds - {"number", "text", "boolean"}:
        raise site.error(f"can only sort numbers, texts or booleans of one kind, got "
                         f"{', '.join(sorted(kinds))}", arg=1)
    return lambda v: (v is None, v if v is not None else 0)


def _sort(site: CallSite, args: list[Any]) -> list[Any]:
    """Ascending by default; blanks go last either way."""
    items = list_arg(args[0], site, 1)
    ascending = bool_arg(optional(args, 1, True), site, 2)
    key = _sort_key(site, items)
    present = sorted((v for v in items if v is not None), key=key, reverse=not ascending)
    return present + [None] * (len(items) - len(present))


def _unique(site: CallSite, args: list[Any]) -> list[Any]:
    """The first of each value, in order (``1`` and ``true`` are different values)."""
    seen: set[Any] = set()
    out: list[Any] = []
    unhashable: list[Any] = []
    for value in list_arg(args[0], site, 1):
        if isinstance(value, (list, dict)):
            if not any(values_equal(value, other) for other in unhashable):
                unhashable.append(value)
                out.append(value)
            continue
        key = (type(value).__name__ if not is_number(value) else "number", value)
        if key not in seen:
            seen.add(key)
            out.append(value)
    return out


def _reverse(site: CallSite, args: list[Any]) -> list[Any]:
    return list(reversed(list_arg(args[0], site, 1)))


def _sequence(site: CallSite, args: list[Any]) -> list[Any]:
    """``Sequence(start, end, [by])``: start, start+by, ... up to end, end included."""
    start, end = number_arg(args[0], site, 1), number_arg(args[1], site, 2)
    by = number_arg(optional(args, 2, 1 if end >= start else -1), site, 3)
    if by == 0:
        raise site.error("the step must not be zero", arg=3)
    count = int((end - start) // by) + 1 if (end - start) * by >= 0 else 0
    if count > site.limits.max_list_items:
        raise site.error(f"would build a list of {count} items, more than "
                         f"{site.limits.max_list_items}")
    if all(isinstance(v, int) for v in (start, end, by)):
        return list(range(int(start), int(start) + count * int(by), int(by)))
    return [normalize_number(start + i * by, site) for i in range(count)]


def _in(site: CallSite, args: list[Any]) -> bool:
    """``In(value, items...)``: whether value is one of the items (lists opened)."""
    return any(values_equal(args[0], item) for item in flatten(args[1:]))


def _list_combine(site: CallSite, args: list[Any]) -> list[Any]:
    """Every argument's items in one flat list, however deeply nested."""
    out: list[Any] = []
    stack = [iter(args)]
    while stack:
        for value in stack[-1]:
            if isinstance(value, list):
                stack.append(iter(value))
                break
            out.append(value)
            if len(out) > site.limits.max_list_items:
                check_list(out, site)
        else:
            stack.pop()
    return out


def _count_unique(site: CallSite, args: list[Any]) -> int:
    return len([v for v in _unique(site, [flatten(args)]) if v is not None])


def _splice(site: CallSite, args: list[Any]) -> list[Any]:
    """``Splice(list, start, deleteCount, [items...])``: as Coda and JavaScript."""
    items = list_arg(args[0], site, 1)
    start = whole_arg(args[1], site, 2, low=1, high=_BIG)
    delete = whole_arg(args[2], site, 3, low=0, high=_BIG)
    at = min(start - 1, len(items))
    return items[:at] + list(args[3:]) + items[at + delete:]




TABLE: tuple[Builtin, ...] = (
    Builtin("Slice", _slice, 2, 3, "Slice(list, start, [end]): items start to end, both "
            "included (negative counts from the end)"),
    Builtin("Sort", _sort, 1, 2, "Sort(list, [ascending]): sorted (numbers, texts or dates); "
            "blanks last"),
    Builtin("Unique", _unique, 1, 1, "Unique(list): without repeats, first ones kept"),
    Builtin("Reverse", _reverse, 1, 1, "Reverse(list): in the opposite order"),
    Builtin("Sequence", _sequence, 2, 3, "Sequence(start, end, [by]): the numbers from start "
            "to end"),
    Builtin("In", _in, 1, None, "In(value, items...): whether value is one of the items"),
    Builtin("ListCombine", _list_combine, 0, None, "ListCombine(values...): every item in "
            "one flat list"),
    Builtin("CountUnique", _count_unique, 1, None, "CountUnique(values...): how many "
            "distinct values that are not blank"),
    Builtin("Splice", _splice, 3, None, "Splice(list, start, deleteCount, [items...]): "
            "deleteCount items from start replaced by items"),
)
