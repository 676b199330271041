"""``corral sync <pack.wasm> <Table> [JSON args...]``: run a sync table, rows as NDJSON.

Each row is printed on its own line as soon as its page arrives, so the output can be
piped into ``jq`` or a file while a long sync is still running.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from .output import json_arg, to_json


def register_sync_command(subparsers: Any) -> None:
    """Add the ``sync`` command to the ``corral`` command line's subparsers."""
    sync = subparsers.add_parser("sync", help="run a sync table; prints one JSON row per line")
    sync.add_argument("wasm", help="the pack's .wasm file")
    sync.add_argument("table", help="the sync table's name")
    sync.add_argument("args", nargs="*", help="the table's arguments, as JSON")
    sync.add_argument("--connection", help="connection id to authenticate with")
    sync.add_argument("--principal", help="the caller owning the connection (default: local)")
    sync.add_argument("--url", dest="dynamic_url", help="a dynamic table's URL")
    sync.add_argument("--max-pages", type=int, help="stop quietly after this many pages")
    sync.add_argument("--data-dir", help="host data directory (default ./.corral)")
    sync.add_argument("--timezone", help="the caller's IANA time zone, e.g. Europe/Paris "
                      "(default: the host's default_timezone)")
    sync.add_argument("--doc-id", help="the caller's document id, in ctx.invocation_location")
    sync.set_defaults(func=cmd_sync)


def cmd_sync(args: argparse.Namespace, out: TextIO | None = None) -> int:
    from .._host import Host
    from .._runtime.tables import run_sync

    stream = out or sys.stdout
    with Host.from_settings(data_dir=args.data_dir, packs=[]) as host:
        pack = host.register_file(args.wasm)
        pages = run_sync(host.calls, pack, args.table, [json_arg(a) for a in args.args],
                         connection=args.connection, principal=args.principal,
                         max_pages=args.max_pages, dynamic_url=args.dynamic_url,
                         invocation=host.invocation(timezone=args.timezone,
                                                    doc_id=args.doc_id))
        for page in pages:
            for row in page:
                stream.write(to_json(row) + "\n")
            stream.flush()
    return 0

