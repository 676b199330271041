"""The ``corral`` command line: one parser, one function per command; heavy imports happen
inside each command."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from .. import __version__
from .._errors import CorralError
from .output import json_arg, print_json

Command = Callable[[argparse.Namespace], int]


def cmd_build(args: argparse.Namespace) -> int:
    from .._toolchain.build import build_pack

    result = build_pack(args.pack_dir, args.output, force=args.force)
    state = "up to date" if result.cached else "built"
    print(f"{result.manifest.name} {result.manifest.version}: {state} -> {result.path}")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from .._runtime.pack import validate_pack

    if args.examples:
        from .examples import cmd_validate_examples

        return cmd_validate_examples(args.wasm)
    path = Path(args.wasm)
    try:
        wasm = path.read_bytes()
    except OSError as exc:
        raise CorralError(f"cannot read {path}: {exc.strerror}") from exc
    manifest = validate_pack(wasm, source=str(path))
    names = [f.name for f in manifest.formulas] + [t.name for t in manifest.sync_tables]
    print(f"{path}: valid Corral pack {manifest.name} {manifest.version} (ABI v1); "
          f"{len(names)} entries: {', '.join(names)}")
    return 0


def cmd_call(args: argparse.Namespace) -> int:
    from .._host import Host

    with Host.from_settings(data_dir=args.data_dir, packs=[]) as host:
        pack = host.register_file(args.wasm)
        invocation = host.invocation(timezone=args.timezone, doc_id=args.doc_id)
        result = host.call(pack.name, args.formula, *[json_arg(a) for a in args.args],
                           connection=args.connection, invocation=invocation)
    print_json(result)
    return 0


def _open_host(args: argparse.Namespace) -> Any:
    from .._host import Host

    host = Host.from_settings(data_dir=args.data_dir, packs=[])
    for path in getattr(args, "pack", None) or []:
        host.register_path(path)
    return host


def _connections_arg(items: list[str] | None) -> dict[str, str]:
    pairs = {}
    for item in items or []:
        pack, sep, connection = item.partition("=")
        if not sep:
            raise CorralError(f"--connection takes PACK=CONNECTION_ID, not {item!r}")
        pairs[pack] = connection
    return pairs


def _variables_arg(items: list[str] | None) -> dict[str, Any]:
    """``--var NAME=VALUE``: the value as JSON, or as text when it is not JSON."""
    variables: dict[str, Any] = {}
    for item in items or []:
        name, sep, raw = item.partition("=")
        if not sep or not name:
            raise CorralError(f"--var takes NAME=VALUE (VALUE as JSON, or text), not {item!r}")
        try:
            variables[name] = json.loads(raw)
        except ValueError:
            variables[name] = raw
    return variables


def cmd_eval(args: argparse.Namespace) -> int:
    with _open_host(args) as host:
        result = host.evaluate(args.formula, principal=args.principal,
                               connections=_connections_arg(args.connection),
                               variables=_variables_arg(args.var),
                               invocation=host.invocation(timezone=args.timezone,
                                                          doc_id=args.doc_id))
    print_json(result)
    return 0


def cmd_connect(args: argparse.Namespace) -> int:
    with _open_host(args) as host:
        name = _connect_target(host, args.target)
        secret = json_arg(args.secret) if args.secret else {}
        if not isinstance(secret, dict):
            raise CorralError("--secret must be a JSON object, e.g. '{\"token\": \"...\"}'")
        info = host.create_connection(principal=args.principal, pack=name, secret=secret,
                                      name=args.name)
    print_json(info.to_dict())
    return 0


def _connect_target(host: Any, target: str) -> str:
    """The pack ``corral connect`` is for: a .wasm file or a pack directory is registered
    first; anything else names a pack already registered in the data directory."""
    if target.endswith(".wasm") or Path(target).is_dir():
        return str(host.register_path(target).name)
    return target


def _add_context_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--timezone", metavar="IANA",
                        help="the caller's IANA time zone, e.g. Europe/Paris, which formulas "
                             "read dates in and packs see (default: the host's "
                             "default_timezone)")
    parser.add_argument("--doc-id", help="the caller's document id, in "
                        "ctx.invocation_location")


def _add_host_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", help="host data directory (default ./.corral)")
    parser.add_argument("--principal", default="local", help="who is calling (default: local)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="corral", description="Corral: sandboxed WebAssembly packs")
    parser.add_argument("--version", action="version", version=f"corral {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    build = sub.add_parser("build", help="compile a pack directory into one .wasm")
    build.add_argument("pack_dir")
    build.add_argument("-o", "--output")
    build.add_argument("--force", action="store_true", help="rebuild even if up to date")
    build.set_defaults(func=cmd_build)

    validate = sub.add_parser("validate", help="check a .wasm against ABI v1 and its manifest")
    validate.add_argument("wasm", metavar="PACK", help="a .wasm (with --examples, a pack "
                          "directory too: it is built first)")
    validate.add_argument("--examples", action="store_true",
                          help="also run every formula example in the sandbox (no network); "
                               "exit 1 if one fails")
    validate.set_defaults(func=cmd_validate)

    call = sub.add_parser("call", help="call a formula or action; arguments are JSON")
    call.add_argument("wasm")
    call.add_argument("formula")
    call.add_argument("args", nargs="*")
    call.add_argument("--connection", help="connection id to authenticate with")
    call.add_argument("--data-dir", help="host data directory (default ./.corral)")
    _add_context_options(call)
    call.set_defaults(func=cmd_call)

    evaluate = sub.add_parser("eval", help="evaluate a formula such as '=hello.Greet(\"Ada\")'")
    evaluate.add_argument("formula")
    evaluate.add_argument("--pack", action="append", help="register this pack dir or .wasm first")
    evaluate.add_argument("--connection", action="append", metavar="PACK=ID",
                          help="the connection to use for a pack's calls")
    evaluate.add_argument("--var", action="append", metavar="NAME=VALUE",
                          help="bind $$[variable:NAME] to VALUE (JSON, or else text)")
    _add_host_options(evaluate)
    _add_context_options(evaluate)
    evaluate.set_defaults(func=cmd_eval)

    connect = sub.add_parser("connect", help="store a connection (credentials) for a pack")
    connect.add_argument("target", metavar="PACK",
                         help="a pack registered in the data dir, a pack directory or a .wasm")
    connect.add_argument("--name", help="a name for the connection")
    connect.add_argument("--secret", help="the secret as JSON, e.g. '{\"token\": \"...\"}'")
    _add_host_options(connect)
    connect.set_defaults(func=cmd_connect)

    for register in _command_registrars():
        register(sub)
    return parser


def _command_registrars() -> list[Callable[[Any], None]]:
    """Commands that live beside their feature (serve, sync, new, bench, reference)."""
    from .._server.serve import register_serve_command
    from .._toolchain.scaffold import register_new_command
    from .bench import register_bench_command
    from .packs import register_packs_command
    from .reference import register_reference_command
    from .sync import register_sync_command

    registrars: list[Callable[[Any], None]] = [register_serve_command, register_sync_command,
                                               register_new_command, register_bench_command,
                                               register_reference_command, register_packs_command]
    return registrars


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
        return code
    except CorralError as exc:
        print(f"corral {args.command}: error [{exc.kind}]: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
