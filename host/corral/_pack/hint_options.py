"""The value hints a schema may carry: which types each applies to, its options, its rule.

A hint is Coda's ``ValueHintType`` (packs-sdk 1.12): the 22 of Coda plus Corral's ``code``
and ``phone``. Names are snake_case (``progress_bar``); Coda's camelCase spelling
(``progressBar``, ``imageAttachment``) is read as the same hint, and so are camelCase option
choices (``iconOnly``). Each hint's options are keys of the schema table beside ``hint``,
as Coda puts them on the schema object::

    result = { type = "number", hint = "slider", minimum = 0, maximum = 10, step = 1 }

:func:`read_hint` checks the hint and its options while a manifest is read;
:mod:`corral._pack.hints` enforces them on values.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from .._errors import ManifestError


class _Reader(Protocol):
    """What this module uses of parse.py's table reader (parse.py imports this module)."""

    data: Mapping[str, Any]

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = None,
            required: bool = False) -> Any: ...

    def fail(self, key: str, message: str, rule: str) -> ManifestError: ...

NUMBER_TYPES = ("number", "integer")
_CURRENCY_CODE = re.compile(r"^[A-Z]{3}$")
_IDENTITY = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")


@dataclass(frozen=True)
class Option:
    """One option of a hint: a key of the schema table beside ``hint``."""

    name: str
    #: number, whole (a non-negative integer), boolean, text, choice, options or identity.
    kind: str
    doc: str
    choices: tuple[str, ...] = ()
    required: bool = False


@dataclass(frozen=True)
class HintSpec:
    """A hint: the value types it applies to, its options and the rule values must follow."""

    name: str
    #: Coda's ValueHintType value.
    coda: str
    types: tuple[str, ...]
    rule: str
    example: str
    options: tuple[Option, ...] = ()


_PRECISION = Option("precision", "whole", "decimal places shown (0-20)")
_THOUSANDS = Option("use_thousands_separator", "boolean", "show 1,234,567")
_MIN = Option("minimum", "number", "the lowest value (default 0)")
_MAX = Option("maximum", "number", "the highest value (default: none)")
_STEP = Option("step", "number", "values are minimum + a whole number of steps")
_SHOW = Option("show_value", "boolean", "also show the number")
_FORCE = Option("force", "boolean", "embed even sites the embed provider does not know")
_IMAGE = (Option("image_outline", "choice", "outline", ("disabled", "solid")),
          Option("image_corner_style", "choice", "corners", ("rounded", "square")),
          Option("image_shape_style", "choice", "shape", ("auto", "circle")),
          Option("width", "number", "pixels (0: default)"),
          Option("height", "number", "pixels (0: default)"))
_TEMPORAL_NUMBERS = ("A number is seconds since the Unix epoch (as Coda) and must fall in the "
                     "years 1-9999; it stays a number.")
_URL_RULE = ("an absolute `http` or `https` URL with a host and no spaces{extra}; kept as "
             "given.")
_TEXT_RULE = "Any text (the hint tells the client how to render it); kept as given."

HINT_SPECS: dict[str, HintSpec] = {spec.name: spec for spec in (
    HintSpec("date", "date", ("string", *NUMBER_TYPES),
             "Text becomes `YYYY-MM-DD`, the calendar day as written (ISO 8601, RFC 2822, "
             "`March 3, 2024`, `2024/03/03`; `03/04/2024` is refused as ambiguous). "
             + _TEMPORAL_NUMBERS,
             '{ type = "string", hint = "date" }: "March 3, 2024" → "2024-03-03"',
             (Option("format", "text", "a Coda (Moment) date format, e.g. `MMM D, YYYY`"),)),
    HintSpec("time", "time", ("string", *NUMBER_TYPES),
             "Text becomes `HH:MM:SS` (24-hour; a fraction only when given), converted to UTC "
             "when it has an offset. Reads `17:24`, `5:24 PM`, `17:24:05Z` or a date-time. "
             + _TEMPORAL_NUMBERS,
             '{ type = "string", hint = "time" }: "5:24 pm" → "17:24:00"',
             (Option("format", "text", "a Coda (Moment) time format, e.g. `h:mm A`"),)),
    HintSpec("datetime", "datetime", ("string", *NUMBER_TYPES),
             "Text becomes a UTC instant `YYYY-MM-DDTHH:MM:SSZ` (`.fff` only when there is a "
             "fraction); no offset means UTC. Reads ISO 8601, RFC 2822 and HTTP dates and "
             "`March 3, 2024 5:24 PM`. " + _TEMPORAL_NUMBERS,
             '{ type = "string", hint = "datetime" }: "2024-03-03T09:24:00-08:00" → '
             '"2024-03-03T17:24:00Z"',
             (Option("date_format", "text", "a Coda (Moment) date format"),
              Option("time_format", "text", "a Coda (Moment) time format"))),
    HintSpec("duration", "duration", ("string", *NUMBER_TYPES),
             "Text becomes an ISO 8601 duration `PnDTnHnMnS` (zero parts left out, `PT0S` "
             "for none, `-` in front when negative) whose largest part is `max_unit`. Reads "
             "ISO 8601 (`P1W`, `PT90M`), clocks (`1:30` is 1 h 30 min) and words (`3 days 4 "
             "hours`, `1.5 hrs`); years and months are refused (no fixed length). A number is "
             "days (as Coda) and stays a number.",
             '{ type = "string", hint = "duration" }: "1 hour 30 minutes" → "PT1H30M"',
             (Option("max_unit", "choice", "the largest unit written",
                     ("days", "hours", "minutes", "seconds")),)),
    HintSpec("email", "email", ("string",),
             "A single address (`name@example.com`, no display name), checked by "
             "`email-validator` without DNS; its domain is lower-cased.",
             '{ type = "string", hint = "email" }: "Ann@Example.COM" → "Ann@example.com"',
             (Option("display", "choice", "what is shown",
                     ("icon_and_email", "icon_only", "email_only")),)),
    HintSpec("person", "person", ("object",),
             "An object whose `id_property` (required in the schema, a string property) holds "
             "the person's e-mail address: present, valid, normalised like `email`.",
             '{ type = "object", hint = "person", id_property = "email", display_property = '
             '"name", properties.email = { type = "string" }, properties.name = { type = '
             '"string" } }'),
    HintSpec("percent", "percent", NUMBER_TYPES,
             "A finite number, `0.5` meaning 50%.", '{ type = "number", hint = "percent" }: 0.25',
             (_PRECISION, _THOUSANDS)),
    HintSpec("currency", "currency", NUMBER_TYPES,
             "A finite number, an amount in `currency_code`.",
             '{ type = "number", hint = "currency", currency_code = "EUR", precision = 2 }: 9.5',
             (_PRECISION, Option("currency_code", "text", "three-letter ISO 4217 code, e.g. USD"),
              Option("format", "choice", "how it is shown",
                     ("currency", "accounting", "financial")))),
    HintSpec("image", "image", ("string",),
             "A URL of an image, linked to: " + _URL_RULE.format(extra=", or a `data:image/` "
                                                                   "URL"),
             '{ type = "string", hint = "image" }: "https://example.com/cat.png"', _IMAGE),
    HintSpec("image_attachment", "imageAttachment", ("string",),
             "A URL of an image the client copies: " + _URL_RULE.format(
                 extra=", or a `data:image/` URL"),
             '{ type = "string", hint = "image_attachment" }: "https://example.com/cat.png"',
             _IMAGE),
    HintSpec("url", "url", ("string",), "A link: " + _URL_RULE.format(extra=""),
             '{ type = "string", hint = "url" }: "https://example.com/a?b=c"',
             (Option("display", "choice", "how the link is shown",
                     ("icon_only", "url", "title", "card", "embed")), _FORCE)),
    HintSpec("markdown", "markdown", ("string",), _TEXT_RULE,
             '{ type = "string", hint = "markdown" }: "**bold**"'),
    HintSpec("html", "html", ("string",), _TEXT_RULE,
             '{ type = "string", hint = "html" }: "<b>bold</b>"'),
    HintSpec("embed", "embed", ("string",),
             "The URL of a page to embed: " + _URL_RULE.format(extra=""),
             '{ type = "string", hint = "embed" }: "https://www.youtube.com/watch?v=x"',
             (_FORCE,)),
    HintSpec("reference", "reference", ("object",),
             "A reference to a row of the sync table named by `identity`: the schema needs "
             "`identity`, `id_property` and `display_property`; the value's id must be present "
             "and not empty, its display property present.",
             '{ type = "object", hint = "reference", identity = "Tasks", id_property = "id", '
             'display_property = "name", properties.id = { type = "integer" }, properties.name '
             '= { type = "string" } }',
             (Option("identity", "identity", "the sync table referred to (one of the pack's)",
                     required=True),)),
    HintSpec("attachment", "attachment", ("string",),
             "The URL of a file the client copies: " + _URL_RULE.format(extra=", or a `data:` "
                                                                           "URL"),
             '{ type = "string", hint = "attachment" }: "https://example.com/report.pdf"'),
    HintSpec("slider", "slider", NUMBER_TYPES,
             "A number from `minimum` (default 0) to `maximum` (when given), on a `step` (when "
             "given).", '{ type = "number", hint = "slider", minimum = 0, maximum = 10, step = '
                        '0.5 }: 7.5', (_MIN, _MAX, _STEP, _SHOW)),
    HintSpec("scale", "scale", NUMBER_TYPES,
             "A whole number from 0 to `maximum` (when given); `3.0` becomes `3`.",
             '{ type = "integer", hint = "scale", maximum = 5, icon = "star" }: 4',
             (Option("maximum", "whole", "how many icons (1-100)"),
              Option("icon", "choice", "the icon", (
                  "star", "circle", "fire", "bug", "diamond", "bell", "thumbsup", "heart",
                  "chili", "smiley", "lightning", "currency", "coffee", "person", "battery",
                  "cocktail", "cloud", "sun", "checkmark", "lightbulb")))),
    HintSpec("progress_bar", "progressBar", NUMBER_TYPES,
             "A number from `minimum` (default 0) to `maximum` (when given), on a `step` (when "
             "given).", '{ type = "number", hint = "progress_bar", maximum = 1 }: 0.4',
             (_MIN, _MAX, _STEP, _SHOW)),
    HintSpec("toggle", "toggle", ("boolean",), "A boolean.",
             '{ type = "boolean", hint = "toggle" }: true'),
    HintSpec("coda_internal_rich_text", "codaInternalRichText", ("string",),
             _TEXT_RULE + " (Coda's own rich-text form, kept for packs that carry it.)",
             '{ type = "string", hint = "coda_internal_rich_text" }',
             (Option("is_canvas", "boolean", "a canvas column rather than a text column"),)),
    HintSpec("select_list", "selectList", ("string", "object"),
             "Text must be one of `options` (their `value`s) unless `allow_new_values`; "
             "without `options` (suggested by the pack at run time) any text passes. An "
             "object passes as an object.",
             '{ type = "string", hint = "select_list", options = ["red", "green"] }: "red"',
             (Option("options", "options", "the choices: strings or `{ display, value }` tables"),
              Option("allow_new_values", "boolean", "accept text outside `options`"),
              Option("require_for_updates", "boolean", "two-way sync refuses a blank value"))),
    HintSpec("code", "", ("string",), _TEXT_RULE + " (Corral's own: shown as code.)",
             '{ type = "string", hint = "code" }: "print(1)"'),
    HintSpec("phone", "", ("string",),
             "A phone number (Corral's own): an optional `+`, then digits, spaces, `.`, `-` and "
             "brackets with at least 3 digits, and an optional extension (`x12`, `ext. 12`).",
             '{ type = "string", hint = "phone" }: "+1 (555) 010-9999"'),
)}

#: Coda's camelCase spellings of the hints whose names differ.
HINT_ALIASES = {spec.coda: spec.name for spec in HINT_SPECS.values()
                if spec.coda and spec.coda != spec.name}
#: Every option key of any hint (a key of one hint used with another is named as such).
ALL_OPTIONS = {option.name for spec in HINT_SPECS.values() for option in spec.options}


def snake_case(name: str) -> str:
    """``iconAndEmail`` → ``icon_and_email`` (Coda's enum spellings)."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def option(schema: Any, name: str, default: Any = None) -> Any:
    """The value of a hint option of ``schema`` (a Schema), or ``default``."""
    for key, value in schema.hint_options:
        if key == name:
            return value
    return default


def read_hint(reader: _Reader, stype: str) -> tuple[str | None, tuple[tuple[str, Any], ...]]:
    """The schema's hint (canonical name) and its options, each checked; fails naming the key."""
    raw = reader.get("hint", str)
    if raw is None:
        stray = sorted(ALL_OPTIONS & set(reader.data))
        if stray:
            raise reader.fail(stray[0], f"is an option of a hint ({_owners(stray[0])}); this "
                                        "schema has none", "hint_option")
        return None, ()
    name = HINT_ALIASES.get(raw, raw)
    spec = HINT_SPECS.get(name)
    if spec is None:
        raise reader.fail("hint", f"{raw!r} is not one of {', '.join(HINT_SPECS)}", "enum")
    if stype not in spec.types:
        raise reader.fail("hint", f"hint {name!r} applies to {' or '.join(spec.types)} values, "
                                  f"not {stype}", "hint_type")
    for needed in (o for o in spec.options if o.required and o.name not in reader.data):
        raise reader.fail(needed.name, f"is required by hint {name!r}: {needed.doc}", "required")
    options = tuple((o.name, _read_option(reader, o, name)) for o in spec.options
                    if o.name in reader.data)
    foreign = sorted((ALL_OPTIONS - {o.name for o in spec.options}) & set(reader.data))
    if foreign:
        raise reader.fail(foreign[0], f"is not an option of hint {name!r} (it is one of "
                                      f"{_owners(foreign[0])})", "hint_option")
    _check_range(reader, name, dict(options))
    if name == "select_list" and stype == "object" and "options" in reader.data:
        raise reader.fail("options", "lists choices for text; an object select list takes "
                                     "none", "hint_option")
    return name, options


def _owners(key: str) -> str:
    return ", ".join(s.name for s in HINT_SPECS.values() if any(o.name == key for o in s.options))


def _read_option(reader: _Reader, spec: Option, hint: str) -> Any:
    if spec.kind == "number":
        value = reader.get(spec.name, (int, float), required=spec.required)
        if not math.isfinite(value):
            raise reader.fail(spec.name, "must be a finite number", "range")
        if spec.name in ("width", "height") and value < 0:
            raise reader.fail(spec.name, "must not be negative", "range")
        return value
    if spec.kind == "whole":
        value = reader.get(spec.name, int, required=spec.required)
        top = 100 if spec.name == "maximum" else 20
        if not (1 if spec.name == "maximum" else 0) <= value <= top:
            raise reader.fail(spec.name, f"must be a whole number up to {top}"
                              + (", at least 1" if spec.name == "maximum" else ""), "range")
        return value
    if spec.kind == "boolean":
        return reader.get(spec.name, bool)
    if spec.kind == "options":
        return _read_choices(reader, spec.name)
    value = reader.get(spec.name, str, required=spec.required)
    if spec.kind == "choice":
        choice = snake_case(value)
        if choice not in spec.choices:
            raise reader.fail(spec.name, f"{value!r} is not one of {', '.join(spec.choices)}",
                              "enum")
        return choice
    if spec.name == "currency_code" and not _CURRENCY_CODE.match(value):
        raise reader.fail(spec.name, f"{value!r} is not a three-letter ISO 4217 code like USD",
                          "currency_code")
    if spec.kind == "identity" and not _IDENTITY.match(value):
        raise reader.fail(spec.name, f"{value!r} must be a sync table's name", "name")
    if not value.strip():
        raise reader.fail(spec.name, f"must not be empty (hint {hint!r})", "required")
    return value


def _read_choices(reader: _Reader, key: str) -> tuple[tuple[str, str], ...]:
    """Select-list options as (display, value) pairs; a plain string is its own display."""
    choices: list[tuple[str, str]] = []
    for i, item in enumerate(reader.get(key, list)):
        where = f"{key}[{i}]"
        if isinstance(item, str):
            choices.append((item, item))
        elif (isinstance(item, dict) and set(item) == {"display", "value"}
              and all(isinstance(v, str) for v in item.values())):
            choices.append((item["display"], item["value"]))
        else:
            raise reader.fail(where, "must be a string or a { display, value } table of "
                                     "strings", "type")
    if not choices:
        raise reader.fail(key, "must list at least one choice (leave it out for choices the "
                               "pack suggests at run time)", "not_empty")
    return tuple(choices)


def _check_range(reader: _Reader, hint: str, options: dict[str, Any]) -> None:
    if hint not in ("slider", "progress_bar"):
        return
    low, high, step = options.get("minimum", 0), options.get("maximum"), options.get("step")
    if high is not None and high <= low:
        raise reader.fail("maximum", f"must be above the minimum ({low})", "range")
    if step is not None and step <= 0:
        raise reader.fail("step", "must be positive", "range")
    if step is not None and high is not None and step > high - low:
        raise reader.fail("step", f"must not exceed maximum - minimum ({high - low})", "range")


def check_hint_schema(reader: _Reader, schema: Any) -> None:
    """The shape a person or reference schema needs (its properties are read by now)."""
    if schema.hint == "person":
        prop = schema.property(schema.id_property) if schema.id_property else None
        if prop is None:
            raise reader.fail("id_property", "a person needs an id_property naming the "
                                             "property that holds the e-mail address",
                              "required")
        if prop.type != "string":
            raise reader.fail("id_property", f"a person's id property {schema.id_property!r} "
                                             f"holds an e-mail address, so must be a string, "
                                             f"not {prop.type}", "type")
    if schema.hint == "reference":
        for key in ("id_property", "display_property"):
            if not getattr(schema, key):
                raise reader.fail(key, f"a reference needs a {key} (the referenced row's "
                                       f"{'id' if key == 'id_property' else 'name'})",
                                  "required")
        id_type = schema.property(schema.id_property).type
        if id_type not in ("string", "integer", "number", "any"):
            raise reader.fail("id_property", f"a row id is a string or an integer, not "
                                             f"{id_type}", "type")


def reference_identities(schema: Any, path: str) -> list[tuple[str, str]]:
    """(path of the identity key, identity) of every reference hint in ``schema``."""
    found: list[tuple[str, str]] = []
    if schema.hint == "reference":
        found.append((f"{path}.identity", option(schema, "identity")))
    if schema.items is not None:
        found += reference_identities(schema.items, f"{path}.items")
    for key, child in schema.properties:
        found += reference_identities(child, f"{path}.properties.{key}")
    return found
