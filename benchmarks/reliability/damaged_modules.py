"""Damaged and swapped precompiled modules in the module cache, between restarts.

Two packs compute different numbers in machine code (``lcg_pack``). Their precompiled
artifacts, saved whole after the first start, are put back before each trial and then
damaged one way: bytes flipped anywhere, bytes flipped in the compiled functions (the ELF
``.text`` section), the file truncated, the two packs' files swapped, or one pack's file
copied over the other's. Then the server starts and both packs are called; then it starts
once more with nothing touched. A verified cache recompiles what it cannot trust: every
answer right, no crash. Counted: crashes (the server died by a signal), failed starts,
and wrong answers or 5xx (errors). Trial 0 is a control with nothing damaged.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path
from typing import Callable

from ._cycles import start
from ._packs import lcg_value
from ._procs import Server
from ._tally import Context, Tally

CALLS_PER_PACK = 3
KINDS = ("flip_anywhere", "flip_code", "truncate", "swap", "plant")
QUICK_KINDS = ("flip_code", "truncate", "swap")


def elf_code_span(data: bytes) -> tuple[int, int] | None:
    """Where the compiled functions sit in a file holding a 64-bit little-endian ELF image
    (the host may put a record before it): the ``.text`` section up to the end of the last
    function symbol (the rest is padding)."""
    start = data.find(b"\x7fELF", 0, _ELF_SEARCH_BYTES)
    if start < 0:
        return None
    span = _image_code_span(data[start:])
    return None if span is None else (start + span[0], span[1])


#: How far into a module file the ELF image may start (after the host's record).
_ELF_SEARCH_BYTES = 4096


def _image_code_span(data: bytes) -> tuple[int, int] | None:
    if len(data) < 64 or data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return None

    def num(at: int, size: int) -> int:
        return int.from_bytes(data[at:at + size], "little")

    shoff, shentsize, shnum, shstrndx = num(0x28, 8), num(0x3A, 2), num(0x3C, 2), num(0x3E, 2)
    if shoff + shnum * shentsize > len(data) or shstrndx >= shnum:
        return None
    sections = [(num(h, 4), num(h + 4, 4), num(h + 0x18, 8), num(h + 0x20, 8))
                for h in (shoff + i * shentsize for i in range(shnum))]
    names_at = sections[shstrndx][2]
    text = next((i for i, (name, _, offset, size) in enumerate(sections)
                 if data[names_at + name:names_at + name + 6] == b".text\0"
                 and size and offset + size <= len(data)), None)
    if text is None:
        return None
    offset, size = sections[text][2], sections[text][3]
    return offset, _functions_end(data, sections, text) or size


def _functions_end(data: bytes, sections: list[tuple[int, int, int, int]], text: int) -> int:
    """The end of the last function symbol in section ``text`` (0 without a symbol table)."""
    symtab_type, func_type = 2, 2
    end = 0
    for _, kind, offset, size in sections:
        if kind != symtab_type or offset + size > len(data):
            continue
        for at in range(offset, offset + size - 23, 24):
            info, section = data[at + 4], int.from_bytes(data[at + 6:at + 8], "little")
            value = int.from_bytes(data[at + 8:at + 16], "little")
            length = int.from_bytes(data[at + 16:at + 24], "little")
            if info & 0xF == func_type and section == text:
                end = max(end, value + length)
    return end if end <= sections[text][3] else 0


def _flip(data: bytearray, rng: random.Random, span: tuple[int, int]) -> None:
    offset, size = span
    for _ in range(rng.randint(1, 4)):
        data[offset + rng.randrange(size)] ^= rng.randrange(1, 256)


def damage(kind: str, files: dict[str, Path], rng: random.Random) -> str:
    """Damage the artifacts of ``files`` (pack name -> artifact) one way; what was done."""
    victim_name = rng.choice(sorted(files))
    victim = files[victim_name]
    other = files[next(n for n in sorted(files) if n != victim_name)]
    data = bytearray(victim.read_bytes())
    if kind == "swap":
        victim.write_bytes(other.read_bytes())
        other.write_bytes(bytes(data))
        return "swapped the two packs' files"
    if kind == "plant":
        victim.write_bytes(other.read_bytes())
        return f"copied the other pack's file over {victim_name}'s"
    if kind == "truncate":
        victim.write_bytes(bytes(data[:rng.randrange(len(data))]))
        return f"truncated {victim_name}'s file"
    span = elf_code_span(bytes(data)) if kind == "flip_code" else None
    _flip(data, rng, span or (0, len(data)))
    victim.write_bytes(bytes(data))
    return f"flipped bytes in {victim_name}'s {'code' if span else 'file'}"


def artifacts(modules: Path, digests: dict[str, str]) -> dict[str, Path]:
    """Each pack's precompiled file (an ELF file): the one whose name carries its wasm's
    sha256; if the names do not tell, the artifacts in the cache in name order."""
    files = [p for p in sorted(modules.rglob("*")) if p.is_file() and _is_elf(p)] \
        if modules.is_dir() else []
    found = {}
    for name, digest in digests.items():
        named = [p for p in files if digest[:16] in p.name]
        if named:
            found[name] = named[0]
    if len(found) == len(digests):
        return found
    return {f"file{i + 1}": path for i, path in enumerate(files[:len(digests)])}


def _is_elf(path: Path) -> bool:
    """The file holds an ELF image near its start (a precompiled module, with or without
    the host's record before it)."""
    with open(path, "rb") as data:
        return b"\x7fELF" in data.read(_ELF_SEARCH_BYTES)


class _Trials:
    def __init__(self, ctx: Context, tally: Tally) -> None:
        packs = ctx.extra["packs"]
        self.scratch = ctx.scratch("damaged_modules")
        self.data_dir = self.scratch / "data"
        self.modules = self.data_dir / "modules"
        self.pristine = self.scratch / "pristine"
        self.packs = list(packs.lcg.values())
        self.expected = {name: lcg_value(seed) for name, seed in packs.lcg_seeds.items()}
        self.digests = dict(packs.lcg_digests)
        self.rng = ctx.rng("damaged_modules")
        self.tally = tally
        self.starts = 0

    def serve(self, what: str, check: Callable[[Server], None]) -> bool:
        self.starts += 1
        server = Server(self.data_dir, self.packs, self.scratch / f"serve-{self.starts}.log")
        try:
            if not start(server, self.tally, what):
                return False
            check(server)
            if server.crashed:
                self.tally.broke("crashes", f"{what}: the server died ({server.exit_text()})")
            return True
        finally:
            server.close()

    def calls(self, what: str) -> Callable[[Server], None]:
        def check(server: Server) -> None:
            for name, want in sorted(self.expected.items()):
                wrong: list[str] = []
                for _ in range(CALLS_PER_PACK):
                    if server.crashed:
                        break
                    answer = server.api.call(name, "F")
                    self.tally.attempt(answer.ok)
                    got = answer.body.get("result") if answer.ok else None
                    if answer.ok and got == want:
                        continue
                    if answer.dropped and not server.settle():
                        break
                    wrong.append(repr(got) if answer.ok else answer.describe("").lstrip(": "))
                if wrong:
                    self.tally.broke("errors", f"{what}: {name}.F answered {wrong[0]} "
                                               f"({len(wrong)} of {CALLS_PER_PACK} calls wrong)",
                                     len(wrong))
        return check

    def save_pristine(self) -> dict[str, Path]:
        files = artifacts(self.modules, self.digests)
        shutil.rmtree(self.pristine, ignore_errors=True)
        shutil.copytree(self.modules, self.pristine)
        return files

    def restore(self) -> None:
        shutil.rmtree(self.modules, ignore_errors=True)
        shutil.copytree(self.pristine, self.modules)


def run_damaged(ctx: Context) -> Tally:
    tally = Tally()
    trials = _Trials(ctx, tally)
    if not trials.serve("the first start", trials.calls("control")):
        return tally
    files = trials.save_pristine()
    if len(files) < 2:
        raise RuntimeError(f"found {len(files)} precompiled files in {trials.modules}: "
                           "nothing to damage, so nothing was tested")
    if set(files) != set(trials.expected):
        tally.notes.append("the artifacts' names do not carry the wasm digest: damaging the "
                           "two largest files of the module cache")
    kinds = list(QUICK_KINDS) if ctx.quick else list(KINDS) * 2
    trials.rng.shuffle(kinds)
    done: dict[str, int] = {}
    for number, kind in enumerate(kinds, start=1):
        trials.restore()
        what = damage(kind, artifacts(trials.modules, trials.digests), trials.rng)
        done[kind] = done.get(kind, 0) + 1
        label = f"trial {number} ({what})"
        trials.serve(label, trials.calls(label))
        trials.serve(f"{label}, next start", trials.calls(f"{label}, next start"))
    tally.notes.append("trials: " + ", ".join(f"{k} x{n}" for k, n in sorted(done.items())))
    return tally
