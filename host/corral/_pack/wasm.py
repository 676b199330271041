"""Reading and writing a wasm binary's custom sections, without running anything.

A pack is one core wasm module whose custom section ``corral:manifest`` holds the
manifest as JSON. These helpers walk the section headers only; the code is never
parsed here (wasmtime validates it).
"""

from __future__ import annotations

from .._errors import PackValidationError

WASM_MAGIC = b"\x00asm"
WASM_VERSION = b"\x01\x00\x00\x00"
MANIFEST_SECTION = "corral:manifest"
_CUSTOM = 0


def _read_uleb(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise PackValidationError("truncated LEB128 integer in a section header", offset=pos)
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 35:
            raise PackValidationError("LEB128 integer too long in a section header", offset=pos)


def _write_uleb(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _sections(data: bytes) -> list[tuple[int, int, int, int]]:
    """(id, header start, payload start, payload end) for every section."""
    if data[:4] != WASM_MAGIC:
        raise PackValidationError("not a WebAssembly module (bad magic number)")
    if data[4:8] != WASM_VERSION:
        raise PackValidationError("not a core WebAssembly module of version 1 "
                                  "(components are not packs)")
    sections = []
    pos = 8
    while pos < len(data):
        start = pos
        section_id = data[pos]
        size, pos = _read_uleb(data, pos + 1)
        end = pos + size
        if end > len(data):
            raise PackValidationError(f"section {section_id} at offset {start} runs past the end",
                                      offset=start)
        sections.append((section_id, start, pos, end))
        pos = end
    return sections


def _custom_name(data: bytes, payload: int, end: int) -> tuple[str, int]:
    length, pos = _read_uleb(data, payload)
    if pos + length > end:
        raise PackValidationError("custom section name runs past its section", offset=payload)
    try:
        return data[pos:pos + length].decode("utf-8"), pos + length
    except UnicodeDecodeError as exc:
        raise PackValidationError("custom section name is not UTF-8", offset=payload) from exc


def custom_sections(data: bytes, name: str) -> list[bytes]:
    """The payloads of every custom section called ``name``, in order."""
    found = []
    for section_id, _, payload, end in _sections(data):
        if section_id == _CUSTOM:
            section_name, body = _custom_name(data, payload, end)
            if section_name == name:
                found.append(data[body:end])
    return found


def set_custom_section(data: bytes, name: str, payload: bytes) -> bytes:
    """Return ``data`` with every ``name`` section removed and one new one appended."""
    kept = bytearray(data[:8])
    for section_id, start, body, end in _sections(data):
        if section_id == _CUSTOM and _custom_name(data, body, end)[0] == name:
            continue
        kept += data[start:end]
    encoded_name = name.encode("utf-8")
    content = _write_uleb(len(encoded_name)) + encoded_name + payload
    return bytes(kept) + bytes([_CUSTOM]) + _write_uleb(len(content)) + content
