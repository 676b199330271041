"""A child that registers pack versions with ``Host.register_bytes`` / ``register_file``.

    python -m benchmarks.reliability._writer DATA_DIR SEED START COUNT

It opens a Host on the data dir (the "next start" after the last kill), prints what it
finds as one JSON line (``{"state": ..., "answers": ...}``), then registers versions
``START``, ``START+1``, ... as :func:`plan` says, printing ``{"ack": [name, version]}``
after each one returns. The parent kills it at a random moment.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Any

from corral import Host

from ._packs import answer_pack, version_answer

NAMES = ("reg_a", "reg_b")


def plan(seed: int, index: int) -> tuple[str, str, str, bytes]:
    """Write number ``index``: pack name, version, ``bytes`` or ``file``, and the wasm."""
    rng = random.Random(f"{seed}/register/{index}")
    name = rng.choice(NAMES)
    version = f"1.0.{index}"
    padding = rng.randbytes(rng.randrange(8 << 10, 64 << 10))
    wasm = answer_pack(name, version, version_answer(name, version), padding=padding)
    return name, version, ("file" if index % 2 else "bytes"), wasm


def state(host: Host) -> dict[str, Any]:
    packs = {p.name: [p.version, [v.version for v in host.registry.versions(p.name)]]
             for p in host.registry.packs() if p.name in NAMES}
    answers = {name: host.call(name, "F") for name in packs}
    return {"state": packs, "answers": answers}


def main(argv: list[str]) -> int:
    data_dir, seed, start, count = Path(argv[0]), int(argv[1]), int(argv[2]), int(argv[3])
    with Host.from_settings(data_dir=str(data_dir), packs=[]) as host:
        print(json.dumps(state(host)), flush=True)
        for index in range(start, start + count):
            name, version, via, wasm = plan(seed, index)
            if via == "file":
                path = data_dir.parent / f"upload-{index}.wasm"
                path.write_bytes(wasm)
                host.register_file(path)
                path.unlink()
            else:
                host.register_bytes(wasm, source=f"writer {index}")
            print(json.dumps({"ack": [name, version, index]}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
