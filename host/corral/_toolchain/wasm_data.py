"""Appending an active data segment to a wasm module (how a bundle reaches the engine).

Only the data section's vector count and the DataCount section (when present) change;
every other byte of the module is kept as it was.
"""

from __future__ import annotations

from .._errors import BuildError
from .._pack.wasm import _read_uleb, _sections, _write_uleb

_DATA = 11
_DATA_COUNT = 12
_I32_CONST, _END = 0x41, 0x0B


def _write_sleb(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if (value == 0 and not byte & 0x40) or (value == -1 and byte & 0x40):
            out.append(byte)
            return bytes(out)
        out.append(byte | 0x80)


def append_data_segment(wasm: bytes, address: int, payload: bytes) -> bytes:
    """``wasm`` with one more active segment writing ``payload`` at ``address`` of memory 0."""
    segment = (_write_uleb(0) + bytes([_I32_CONST]) + _write_sleb(address) + bytes([_END])
               + _write_uleb(len(payload)) + payload)
    out = bytearray(wasm[:8])
    seen_data = False
    for section_id, start, body, end in _sections(wasm):
        if section_id == _DATA:
            count, pos = _read_uleb(wasm, body)
            content = _write_uleb(count + 1) + wasm[pos:end] + segment
            out += bytes([_DATA]) + _write_uleb(len(content)) + content
            seen_data = True
        elif section_id == _DATA_COUNT:
            count, _ = _read_uleb(wasm, body)
            content = _write_uleb(count + 1)
            out += bytes([_DATA_COUNT]) + _write_uleb(len(content)) + content
        else:
            out += wasm[start:end]
    if not seen_data:
        raise BuildError("the JavaScript engine has no data section to append the bundle to")
    return bytes(out)
