"""``corral packs``: the packs registered in a data dir, their versions, and which is active.

``corral packs activate NAME VERSION`` makes a stored version the active one (a rollback is
the same command with an older version). The registry is shared by every process on the
data dir, so a running ``corral serve`` answers with the activated version on its next call.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def register_packs_command(subparsers: Any) -> None:
    """Add ``packs list``, ``packs versions`` and ``packs activate`` to the command line."""
    packs = subparsers.add_parser("packs", help="list packs and versions; activate or roll back")
    actions = packs.add_subparsers(dest="packs_command", required=True)
    listing = actions.add_parser("list", help="the active version of every pack")
    versions = actions.add_parser("versions", help="every stored version of one pack")
    versions.add_argument("name")
    activate = actions.add_parser("activate", help="make a stored version the active one")
    activate.add_argument("name")
    activate.add_argument("version")
    for parser in (listing, versions, activate):
        parser.add_argument("--data-dir", help="host data directory (default ./.corral)")
    listing.set_defaults(func=cmd_packs_list)
    versions.set_defaults(func=cmd_packs_versions)
    activate.set_defaults(func=cmd_packs_activate)


def _host(args: argparse.Namespace) -> Any:
    from .._host import Host
    from .._settings import load_settings

    return Host(load_settings(data_dir=Path(args.data_dir) if args.data_dir else None,
                              packs=()))


def cmd_packs_list(args: argparse.Namespace) -> int:
    with _host(args) as host:
        for pack in host.registry.packs():
            print(json.dumps({"name": pack.name, "id": pack.pack_id, "version": pack.version,
                              "sha256": pack.sha256}))
    return 0


def cmd_packs_versions(args: argparse.Namespace) -> int:
    with _host(args) as host:
        for entry in host.registry.versions(args.name):
            print(json.dumps({"name": entry.name, "version": entry.version,
                              "sha256_prefix": entry.sha256, "active": entry.active}))
    return 0


def cmd_packs_activate(args: argparse.Namespace) -> int:
    with _host(args) as host:
        pack = host.registry.activate(args.name, args.version)
        print(f"corral packs: {pack.name} {pack.version} is active", file=sys.stderr)
    return 0
