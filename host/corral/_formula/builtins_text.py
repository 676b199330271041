"""Text built-ins: slicing, searching, replacing, regular expressions, templates.

Positions count from 1, as in Coda (``Find`` answers -1 when the text is absent).
Regular expressions run on RE2 (``google-re2``), whose matching time is linear in the
text, so no pattern can backtrack for ever; patterns are capped in length and in the
memory RE2 may give them, and every result is held to the text cap before it is built.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import re2

from .builtin_kit import Builtin, optional, text_arg, whole_arg
from .values import CallSite, check_text, is_number, join_text

MAX_PATTERN_CHARS = 1000
_REGEX_MEMORY = 8 << 20
_BIG = 2**62


def _count_arg(args: list[Any], index: int, site: CallSite) -> int:
    return whole_arg(args[index], site, index + 1, low=0, high=site.limits.max_text_chars)


def _left(site: CallSite, args: list[Any]) -> str:
    return text_arg(args[0], site, 1)[:_count_arg(args, 1, site)]


def _right(site: CallSite, args: list[Any]) -> str:
    text, count = text_arg(args[0], site, 1), _count_arg(args, 1, site)
    return text[len(text) - count:] if count else ""


def _mid(site: CallSite, args: list[Any]) -> str:
    text = text_arg(args[0], site, 1)
    start = whole_arg(args[1], site, 2, low=1, high=_BIG)
    count = _count_arg(args, 2, site)
    return text[start - 1:start - 1 + count]


def _substitute(site: CallSite, args: list[Any]) -> str:
    text, search, replacement = (text_arg(args[i], site, i + 1) for i in range(3))
    if search == "":
        raise site.error("the text to search for is empty", arg=2)
    growth = text.count(search) * (len(replacement) - len(search))
    check_text_size(len(text) + growth, site)
    return text.replace(search, replacement)


def check_text_size(size: int, site: CallSite) -> None:
    if size > site.limits.max_text_chars:
        raise site.error(f"would build text longer than {site.limits.max_text_chars} "
                         "characters")


def _find(site: CallSite, args: list[Any]) -> int:
    needle, text = text_arg(args[0], site, 1), text_arg(args[1], site, 2)
    start = whole_arg(optional(args, 2, 1), site, 3, low=1, high=_BIG)
    found = text.find(needle, start - 1)
    return found + 1 if found >= 0 else -1


def _starts_with(site: CallSite, args: list[Any]) -> bool:
    return text_arg(args[0], site, 1).startswith(text_arg(args[1], site, 2))


def _ends_with(site: CallSite, args: list[Any]) -> bool:
    return text_arg(args[0], site, 1).endswith(text_arg(args[1], site, 2))


def _repeat(site: CallSite, args: list[Any]) -> str:
    text = text_arg(args[0], site, 1)
    count = _count_arg(args, 1, site)
    check_text_size(len(text) * count, site)
    return text * count


def _is_text(site: CallSite, args: list[Any]) -> bool:
    return isinstance(args[0], str)


def _is_number(site: CallSite, args: list[Any]) -> bool:
    return is_number(args[0])


_PLACEHOLDER = re.compile(r"\{(\d+)\}")


def _format(site: CallSite, args: list[Any]) -> str:
    """``Format("{1} of {2}", a, b)``: each ``{n}`` is argument n after the template."""
    template = text_arg(args[0], site, 1)
    values = args[1:]
    parts: list[Any] = []
    last = 0
    for match in _PLACEHOLDER.finditer(template):
        number = int(match.group(1)) if len(match.group(1)) < 8 else 0
        if not 1 <= number <= len(values):
            raise site.error(f"the template names {{{match.group(1)}}} but "
                             f"{len(values)} value(s) follow it", arg=1)
        parts += [template[last:match.start()], values[number - 1]]
        last = match.end()
    parts.append(template[last:])
    return join_text("", parts, site)


# -- regular expressions ----------------------------------------------------------------


def _options(case_sensitive: bool) -> Any:
    options = re2.Options()
    options.max_mem = _REGEX_MEMORY
    options.log_errors = False
    options.case_sensitive = case_sensitive
    return options


def _compile(site: CallSite, pattern: str, flags: str, arg: int) -> Any:
    if len(pattern) > MAX_PATTERN_CHARS:
        raise site.error(f"the pattern is longer than {MAX_PATTERN_CHARS} characters", arg=arg)
    unknown = set(flags) - {"i", "g"}
    if unknown:
        raise site.error(f"unknown flag(s) {''.join(sorted(unknown))!r}; use i (ignore case) "
                         "or g (every match)", arg=arg + 1)
    try:
        return re2.compile(pattern, _options("i" not in flags))
    except re2.error as exc:
        detail = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
        raise site.error(f"invalid pattern: {detail} (RE2 syntax: no backreferences or "
                         "lookaround)", arg=arg) from None


def _matches(regex: Any, text: str) -> Iterator[Any]:
    """``regex.finditer(text)`` without the repeated empty match the RE2 binding can yield
    at the end of the text."""
    last = None
    for match in regex.finditer(text):
        if match.span() != last:
            yield match
        last = match.span()


def _regex_match(site: CallSite, args: list[Any]) -> bool:
    text, pattern = text_arg(args[0], site, 1), text_arg(args[1], site, 2)
    return _compile(site, pattern, text_arg(optional(args, 2, ""), site, 3), 2) \
        .search(text) is not None


def _regex_extract(site: CallSite, args: list[Any]) -> Any:
    """The first match (its first group if it has groups), or every one with flag g."""
    text, pattern = text_arg(args[0], site, 1), text_arg(args[1], site, 2)
    flags = text_arg(optional(args, 2, ""), site, 3)
    regex = _compile(site, pattern, flags, 2)
    group = 1 if regex.groups else 0

    def pick(match: Any) -> Any:
        return match.group(group)
    if "g" not in flags:
        found = regex.search(text)
        return None if found is None else pick(found)
    out: list[Any] = []
    for match in _matches(regex, text):
        out.append(pick(match))
        if len(out) > site.limits.max_list_items:
            raise site.error(f"would build a list longer than {site.limits.max_list_items} "
                             "items")
    return out


def _regex_replace(site: CallSite, args: list[Any]) -> str:
    """Every match replaced (``$1`` or ``\\1`` names a group), the result held to the cap
    as it grows."""
    text, pattern = text_arg(args[0], site, 1), text_arg(args[1], site, 2)
    replacement = re.sub(r"\$(\d)", r"\\\1", text_arg(args[2], site, 3))
    regex = _compile(site, pattern, text_arg(optional(args, 3, ""), site, 4), 2)
    parts: list[str] = []
    size, last = 0, 0
    for match in _matches(regex, text):
        try:
            piece = text[last:match.start()] + match.expand(replacement)
        except (re2.error, IndexError, ValueError) as exc:
            raise site.error(f"invalid replacement: {exc}", arg=3) from None
        size += len(piece)
        check_text_size(size + len(text) - match.end(), site)
        parts.append(piece)
        last = match.end()
    parts.append(text[last:])
    return check_text("".join(parts), site)



TABLE: tuple[Builtin, ...] = (
    Builtin("Left", _left, 2, 2, "Left(text, count): the first count characters"),
    Builtin("Right", _right, 2, 2, "Right(text, count): the last count characters"),
    Builtin("Mid", _mid, 3, 3, "Mid(text, start, count): count characters from position "
            "start (1-based)"),
    Builtin("Middle", _mid, 3, 3, "Middle(text, start, count): the same as Mid"),
    Builtin("Substitute", _substitute, 3, 3, "Substitute(text, search, replacement): every "
            "search replaced"),
    Builtin("Find", _find, 2, 3, "Find(search, text, [start]): 1-based position of search, "
            "or -1"),
    Builtin("StartsWith", _starts_with, 2, 2, "StartsWith(text, prefix): whether text "
            "begins with prefix"),
    Builtin("EndsWith", _ends_with, 2, 2, "EndsWith(text, suffix): whether text ends with "
            "suffix"),
    Builtin("Repeat", _repeat, 2, 2, "Repeat(text, count): text count times"),
    Builtin("Format", _format, 1, None, "Format(template, values...): {1}, {2}... replaced "
            "by the values"),
    Builtin("RegexMatch", _regex_match, 2, 3, "RegexMatch(text, pattern, [flags]): whether "
            "the RE2 pattern matches (flag i: ignore case)"),
    Builtin("RegexExtract", _regex_extract, 2, 3, "RegexExtract(text, pattern, [flags]): the "
            "first match or group; every one with flag g"),
    Builtin("RegexReplace", _regex_replace, 3, 4, "RegexReplace(text, pattern, replacement, "
            "[flags]): every match replaced ($1 names a group)"),
    Builtin("IsText", _is_text, 1, 1, "IsText(value): whether it is text"),
    Builtin("IsNumber", _is_number, 1, 1, "IsNumber(value): whether it is a number"),
)
