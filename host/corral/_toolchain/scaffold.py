"""``corral new``: scaffold a pack directory that builds, runs and tests from the start.

``new_pack("weather", "zig")`` writes ``weather/`` with a ``pack.toml``, the source of one
formula in the chosen guest language, a README, and a pytest file that builds the pack
from source and calls it through :mod:`corral.testing`.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._errors import ArgumentError, ManifestError
from .._pack.manifest import NAME_RE
from .scaffold_js import typescript_files

LANGUAGES = ("zig", "c", "assemblyscript", "typescript")
_PLACEHOLDER = "__NAME__"


@dataclass(frozen=True)
class _Language:
    source: str
    code: str
    sdk_doc: str


_ZIG = """//! The __NAME__ pack: one formula to start from.
const corral = @import("corral");

comptime {
    corral.exportPack(@This());
}

pub const formulas = .{ .Greet = greet, .Invite = invite, .Zone = zone };

// Failing when an upstream API answered an error (after `ctx.fetch`):
//     return ctx.failResponse(response, "the API answered {d}", .{response.status});
// reports its status and Retry-After (the host retries a 429, 502, 503 or 504), and
// `ctx.failMissingScopes(&.{"repo"}, ...)` asks the caller to reconnect granting them.
fn greet(ctx: *corral.Context, name: []const u8) ![]const u8 {
    if (name.len == 0) return ctx.fail("Greet needs a name", .{});
    return ctx.print("Hello, {s}!", .{name});
}

// A date arrives as a corral.DateTime (the host sends YYYY-MM-DDTHH:MM:SS.sssZ, UTC) and
// an array as a slice; a sparse array (`sparse = true`) as a slice of optionals.
fn invite(ctx: *corral.Context, day: corral.DateTime, guests: []const []const u8) ![]const u8 {
    return ctx.print("{d} guest(s) on {d:0>4}-{d:0>2}-{d:0>2}", .{ guests.len, day.year, day.month, day.day });
}

// The call's context: the caller's time zone (an IANA name such as "Europe/Paris"; the
// host's default_timezone when the caller gives none) and `ctx.invocationLocation()`.
// `ctx.storeBlob(bytes, "image/png")` hands the host a temporary blob and returns its URL.
fn zone(ctx: *corral.Context) ![]const u8 {
    return ctx.print("It is {s} time for the caller", .{ctx.timezone()});
}
"""

_C = """/* The __NAME__ pack: one formula to start from. */
#define CORRAL_IMPLEMENTATION
#include "corral.h"

/* Failing when an upstream API answered an error (after corral_fetch):
 *     return corral_fail_response(ctx, &resp, "the API answered %lld", (long long)resp.status);
 * reports its status and Retry-After (the host retries a 429, 502, 503 or 504), and
 * corral_fail_missing_scopes() asks the caller to reconnect granting the scopes named. */
static int greet(corral_ctx *ctx, const corral_value *args, corral_writer *out) {
    const char *name; uint32_t len;
    if (!corral_arg_str(ctx, args, 0, &name, &len)) return -1;
    if (len == 0) return corral_fail(ctx, "Greet needs a name");
    corral_write_fmt(out, "Hello, %.*s!", (int)len, name);
    return 0;
}

/* A date arrives as YYYY-MM-DDTHH:MM:SS.sssZ (UTC), read by corral_arg_datetime; an array
 * by corral_arg_array (in a sparse array, `sparse = true`, an empty cell is nil). */
static int invite(corral_ctx *ctx, const corral_value *args, corral_writer *out) {
    corral_datetime day; const corral_value *guests;
    if (!corral_arg_datetime(ctx, args, 0, &day) || !corral_arg_array(ctx, args, 1, &guests)) return -1;
    corral_write_fmt(out, "%u guest(s) on %04d-%02d-%02d", corral_len(guests), day.year, day.month, day.day);
    return 0;
}

/* The call's context: the caller's time zone (an IANA name such as "Europe/Paris"; the
 * host's default_timezone when the caller gives none), corral_protocol_and_host() and
 * corral_doc_id(). corral_store_blob() hands the host a temporary blob and returns its URL. */
static int zone(corral_ctx *ctx, const corral_value *args, corral_writer *out) {
    (void)args;
    const char *tz; uint32_t len;
    corral_timezone(ctx, &tz, &len);
    corral_write_fmt(out, "It is %.*s time for the caller", (int)len, tz);
    return 0;
}

CORRAL_PACK(
    CORRAL_FORMULA("Greet", greet),
    CORRAL_FORMULA("Invite", invite),
    CORRAL_FORMULA("Zone", zone),
)
"""

_ASSEMBLYSCRIPT = """// The __NAME__ pack: one formula to start from.
import * as corral from "corral";
import { Context, Value } from "corral";
export { corral_alloc, corral_call, corral_abi_v1 } from "corral";

// Failing when an upstream API answered an error (after ctx.fetch):
//     return ctx.failResponse(response, "the API answered " + response.status.toString());
// reports its status and Retry-After (the host retries a 429, 502, 503 or 504), and
// ctx.failMissingScopes(["repo"], message) asks the caller to reconnect granting them.
function greet(ctx: Context): Value {
  const name = ctx.argString(0);
  if (name.length == 0) return ctx.fail("Greet needs a name");
  return Value.ofString("Hello, " + name + "!");
}

// A date arrives as YYYY-MM-DDTHH:MM:SS.sssZ (UTC), read by ctx.argDate as a Date; an array
// by ctx.argArray (in a sparse array, `sparse = true`, an empty cell is a nil Value).
function invite(ctx: Context): Value {
  const day = ctx.argDate(0);
  const guests = ctx.argArray(1);
  if (ctx.failed) return Value.nil();
  const date = day.toISOString().substring(0, 10);
  return Value.ofString(guests.length.toString() + " guest(s) on " + date);
}

// The call's context: the caller's time zone (an IANA name such as "Europe/Paris"; the
// host's default_timezone when the caller gives none), ctx.protocolAndHost(), ctx.docId().
// ctx.storeBlob(bytes, "image/png") hands the host a temporary blob and returns its URL.
function zone(ctx: Context): Value {
  return Value.ofString("It is " + ctx.timezone() + " time for the caller");
}

corral.formula("Greet", greet);
corral.formula("Invite", invite);
corral.formula("Zone", zone);
"""

_LANGUAGES: dict[str, _Language] = {
    "zig": _Language("src/main.zig", _ZIG, "guest-sdk/zig/corral.zig"),
    "c": _Language("src/main.c", _C, "guest-sdk/c/corral.h"),
    "assemblyscript": _Language("assembly/index.ts", _ASSEMBLYSCRIPT,
                                "guest-sdk/assemblyscript/README.md"),
}

_PACK_TOML = """[pack]
name = "__NAME__"
version = "0.1.0"
description = "The __NAME__ pack."
# Hosts this pack may fetch from, e.g. ["api.example.com"]; nothing else is reachable.
network_domains = []
build = { language = "__LANGUAGE__", source = "__SOURCE__" }

[limits]
fuel = 50_000_000
memory_mb = 16
timeout_ms = 2000

[[formulas]]
name = "Greet"
description = "Says hello to someone."
params = [{ name = "name", type = "string", description = "Who to greet." }]
result = { type = "string" }
cache_ttl_s = 3600
# Calls with known results: checked at build, run by `corral validate --examples` and
# by the generated test (in the sandbox, without network).
examples = [{ params = ["Ada"], result = "Hello, Ada!" }]

[[formulas]]
name = "Invite"
description = "Says how many guests come on a day."
# Parameter types: string number integer boolean date html markdown image file email,
# and arrays of them (`type = "array", items = "..."`, `sparse = true` to allow nulls).
params = [
  { name = "day", type = "date", suggested = 2026-12-02, description = "Any ISO 8601 date or date-time." },
  { name = "guests", type = "array", items = "string", default = [] },
]
# A hint says what a result is, and the host checks and normalises it: date, datetime,
# time, duration, url, image, email, percent, currency, markdown, ... (docs/reference.md).
result = { type = "string", hint = "markdown" }

[[formulas]]
name = "Zone"
description = "Says which time zone the caller is in (ctx.timezone)."
result = { type = "string" }
"""

_README = """# __NAME__

A Corral pack written in __LANGUAGE__ (ABI v1, see guest-sdk/ABI.md; the SDK is
documented in __SDK_DOC__).

| formula | does |
| --- | --- |
| `Greet(name)` | `"Hello, <name>!"`; fails with "Greet needs a name" on an empty name |
| `Invite(day, guests)` | `"<n> guest(s) on <YYYY-MM-DD>"`: a date and an array parameter |
| `Zone()` | `"It is <time zone> time for the caller"`: the caller's `ctx.timezone` |

    corral build .                      # -> build/__NAME__.wasm
    corral call build/__NAME__.wasm Greet '"Ada"'
    corral call build/__NAME__.wasm Zone --timezone Europe/Paris
    corral validate --examples build/__NAME__.wasm   # runs the examples in pack.toml
    python -m pytest test___NAME__.py   # builds from source and calls it

Declare every host the pack fetches from in `network_domains` (pack.toml); fetches
anywhere else are refused by the host. Tests run fetches against a local fixture server
with `corral.testing` (`FixtureServer`, `run_formula(..., server=api)`).
"""

_TEST = '''"""Tests for the __NAME__ pack: build it from source and call it through a real host."""

from __future__ import annotations

from pathlib import Path

import pytest

from corral import GuestError
from corral.testing import PackHarness, run_examples, run_formula

PACK = Path(__file__).resolve().parent


def test_examples() -> None:
    """Every `examples` entry in pack.toml gives its result (no network, no connection)."""
    outcomes = run_examples(PACK)
    assert [o.verdict for o in outcomes] == ["pass"] * len(outcomes)


def test_greet() -> None:
    assert run_formula(PACK, "Greet", "Ada") == "Hello, Ada!"


def test_greet_needs_a_name() -> None:
    with pytest.raises(GuestError, match="Greet needs a name"):
        run_formula(PACK, "Greet", "")


def test_invite_reads_a_date_and_an_array() -> None:
    # The host reads the date in any ISO 8601 form and hands the guest its UTC instant.
    assert run_formula(PACK, "Invite", "2026-12-02T23:30:00-02:00", ["Ada", "Grace"]) == \
        "2 guest(s) on 2026-12-03"
    assert run_formula(PACK, "Invite", "2026-12-02") == "0 guest(s) on 2026-12-02"


def test_zone_is_the_callers_time_zone() -> None:
    with PackHarness(PACK) as harness:
        assert harness.call("Zone", timezone="Europe/Paris") == "It is Europe/Paris time for the caller"
        assert harness.call("Zone") == "It is UTC time for the caller"  # the host's default
'''


def _fill(template: str, **values: str) -> str:
    for key, value in values.items():
        template = template.replace(f"__{key.upper()}__", value)
    return template


def new_pack(name: str, language: str, directory: str | Path | None = None) -> Path:
    """Write a new pack named ``name`` in ``language`` into ``directory`` (default ``./name``).

    Refuses a name that is not a valid pack name, an unknown language, and a directory
    that already holds files. Returns the pack directory.
    """
    if not NAME_RE.match(name):
        raise ManifestError(f"{name!r} must start with a letter and hold only letters, digits "
                            "and '_' (at most 64)", field="pack.name", rule="name")
    if language not in LANGUAGES:
        raise ArgumentError(f"--lang {language!r} is not one of {', '.join(LANGUAGES)}",
                            parameter="lang")
    target = Path(directory) if directory is not None else Path(name)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ArgumentError(f"{target} already exists and is not an empty directory; choose "
                            "another with --dir", parameter="dir")
    files = typescript_files(name) if language == "typescript" else _files(name, language)
    for relative, text in files.items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return target


def _files(name: str, language: str) -> dict[str, str]:
    spec = _LANGUAGES[language]
    values = {"name": name, "language": language, "source": spec.source,
              "sdk_doc": spec.sdk_doc}
    return {
        "pack.toml": _fill(_PACK_TOML, **values),
        spec.source: _fill(spec.code, **values),
        "README.md": _fill(_README, **values),
        f"test_{name}.py": _fill(_TEST, **values),
    }


def cmd_new(args: argparse.Namespace) -> int:
    target = new_pack(args.name, args.lang, args.dir)
    print(f"created the {args.lang} pack {args.name} in {target}")
    print(f"  build it:  corral build {target}")
    print(f"  test it:   python -m pytest {target}")
    return 0


def register_new_command(subparsers: Any) -> None:
    """Add ``corral new NAME --lang zig|c|assemblyscript|typescript [--dir D]`` to the CLI."""
    parser = subparsers.add_parser("new", help="scaffold a pack (source, pack.toml, README, test)")
    parser.add_argument("name", help="the pack's name: a letter, then letters, digits or _")
    parser.add_argument("--lang", required=True, choices=LANGUAGES, help="the guest language")
    parser.add_argument("--dir", help="where to create it (default: ./NAME)")
    parser.set_defaults(func=cmd_new)
