"""The example packs, built from source and called through `corral.load_pack`."""

from __future__ import annotations

from pathlib import Path

import pytest

import corral
from corral import ArgumentError, GuestError, NotFoundError, Sandbox


def test_hello_formulas(hello_wasm: Path, sandbox: Sandbox) -> None:
    pack = corral.load_pack(hello_wasm, sandbox=sandbox)
    assert pack.name == "hello"
    assert pack.call("Greet", "Ada") == "Hello, Ada!"
    assert pack.call("Add", 2, 2.5) == 4.5
    assert pack.call("WordCount", "héllo  wörld\u3000日本\u2003x\n") == 4
    assert pack.call("Describe", "Otto") == {"name": "Otto", "length": 4, "vowels": 2,
                                             "palindrome": True}
    assert pack.call("Shout", "hey", 3) == "HEY HEY HEY"
    assert pack.call("Shout", "hey") == "HEY", "the default for `times` is 1"


def test_hello_guest_error_is_the_packs_message(hello_wasm: Path, sandbox: Sandbox) -> None:
    pack = corral.load_pack(hello_wasm, sandbox=sandbox)
    with pytest.raises(GuestError, match="Greet needs a name") as info:
        pack.call("Greet", "")
    assert info.value.pack == "hello" and info.value.formula == "Greet"


def test_arguments_are_checked_and_coerced(hello_wasm: Path, sandbox: Sandbox) -> None:
    pack = corral.load_pack(hello_wasm, sandbox=sandbox)
    assert pack.call("Add", "1.5", 2) == 3.5
    with pytest.raises(ArgumentError, match="parameter 'b' is missing"):
        pack.call("Add", 1)
    with pytest.raises(ArgumentError, match="parameter 'a' expects number"):
        pack.call("Add", "lots", 1)
    with pytest.raises(ArgumentError, match="at most 2"):
        pack.call("Add", 1, 2, 3)


def test_formula_names_resolve_case_insensitively(hello_wasm: Path, sandbox: Sandbox) -> None:
    pack = corral.load_pack(hello_wasm, sandbox=sandbox)
    assert pack.call("greet", "Bo") == "Hello, Bo!"
    with pytest.raises(NotFoundError, match="no formula or action named 'Wave'"):
        pack.call("Wave")


def test_textstats_c_pack(textstats_wasm: Path, sandbox: Sandbox) -> None:
    pack = corral.load_pack(textstats_wasm, sandbox=sandbox)
    assert pack.call("Reverse", "héllo → wörld") == "dlröw → olléh"
    assert pack.call("Stats", "ab cd\nëf") == {"chars": 8, "bytes": 9, "words": 3, "lines": 2}
    assert pack.call("Fahrenheit", 100) == 212.0
    with pytest.raises(GuestError, match="below absolute zero"):
        pack.call("Fahrenheit", -300)


def test_every_declared_formula_is_callable(hello_wasm: Path, textstats_wasm: Path,
                                            sandbox: Sandbox) -> None:
    samples = {"string": "Ada", "number": 3, "integer": 2}
    for wasm in (hello_wasm, textstats_wasm):
        pack = corral.load_pack(wasm, sandbox=sandbox)
        for formula in pack.manifest.formulas:
            args = [samples[p.type] for p in formula.params if not p.optional]
            assert pack.call(formula.name, *args) is not None, formula.name
