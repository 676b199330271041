"""``corral serve`` and ``corral keys``: the HTTP service on an embedded default.

On a fresh data directory ``corral serve`` makes everything it needs: the directory, the
LMDB stores and secret key file (made by the host on first use), the pack store, and an
admin API key that is printed once on stdout. With ``CORRAL_ADMIN_KEY`` set, that key is
the admin key and nothing is printed. With no packs configured, the example packs in the
checkout's ``packs/`` directory are built (cached) and registered; installed from a wheel
there are none, and it says so.

    corral serve --data-dir .corral --port 8787
    corral keys create alice --role caller
    corral keys rotate          # re-seal connection secrets under a new key (server may run)

``python -m corral serve ...`` runs it too.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

from .._errors import ConfigError, CorralError
from .._settings import Settings, load_settings
from .stack import exit_cleanly_on_sigterm, uvicorn_config

log = logging.getLogger("corral.serve")

ADMIN_KEY_LINE = "corral: admin API key (shown once, keep it safe): "


NO_EXAMPLES_LINE = ("corral: no packs configured and no example packs here (they live in a "
                    "source checkout's packs/); serving none. Upload packs over the API or "
                    "set CORRAL_PACKS.")


def example_packs_root() -> Path | None:
    """The checkout's ``packs/``, or None when corral runs from an installed wheel."""
    from .._toolchain.sdk import checkout_root

    root = checkout_root()
    return root / "packs" if root is not None else None


def example_pack_dirs(root: Path | None = None) -> tuple[Path, ...]:
    """The pack directories (with a pack.toml) under ``root`` (default the examples), by name."""
    root = root if root is not None else example_packs_root()
    if root is None or not root.is_dir():
        return ()
    return tuple(sorted(p for p in root.iterdir() if (p / "pack.toml").is_file()))


def serve(settings: Settings, *, out: TextIO | None = None) -> None:
    """Run the HTTP service until SIGINT / SIGTERM; calls in flight finish first. With
    ``settings.http_workers`` above 1, that many processes answer on one socket."""
    out = out or sys.stdout
    if settings.http_workers < 1:
        raise ConfigError(f"setting 'http_workers' must be at least 1, not "
                          f"{settings.http_workers}", setting="http_workers")
    host, keys = _prepare(settings, out)
    if settings.http_workers > 1:
        _serve_with_workers(host, settings, out)
        return
    try:
        _serve_in_process(host, keys, settings, out)
    finally:
        host.close()


def _serve_in_process(host: Any, keys: Any, settings: Settings, out: TextIO) -> None:
    import uvicorn

    from .._server.app import create_app

    host.connections  # noqa: B018 - a lost key file beside sealed secrets refuses to start
    app = create_app(host, host.settings, keys=keys)
    _say_serving(settings, out)
    exit_cleanly_on_sigterm()
    uvicorn.Server(uvicorn_config(app, settings)).run()


def _serve_with_workers(host: Any, settings: Settings, out: TextIO) -> None:
    from .workers import Workers, bind_listening_socket

    try:
        host.connections  # noqa: B018 - checked once here, before any worker starts
    finally:
        host.close()  # the workers open their own; nothing of LMDB crosses a process
    sock = bind_listening_socket(settings)
    try:
        _say_serving(settings, out, f", {settings.http_workers} worker processes")
        status = Workers(settings, sock).run()
    finally:
        sock.close()
    if status:
        raise SystemExit(status)


def _say_serving(settings: Settings, out: TextIO, extra: str = "") -> None:
    print(f"corral: serving on http://{settings.host}:{settings.port} "
          f"(data dir {settings.data_dir}{extra})", file=out, flush=True)


def _prepare(settings: Settings, out: TextIO) -> tuple[Any, Any]:
    from .._host import Host
    from .._server.apikeys import ApiKeyStore

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    embedded = not settings.packs
    # Configured packs must all load; the embedded examples are best effort, so one
    # broken example cannot keep the service from starting.
    host = Host(settings)
    if embedded:
        _register_examples(host, out)
    if settings.store_url:
        host.connections  # noqa: B018 - a node lacking a key the others seal with stops here
    keys = ApiKeyStore.for_settings(settings)
    new_key = keys.ensure_admin(settings.admin_key)
    if new_key is not None:
        print(ADMIN_KEY_LINE + new_key, file=out, flush=True)
    return host, keys


def _register_examples(host: Any, out: TextIO) -> None:
    pack_dirs = example_pack_dirs()
    if not pack_dirs:
        print(NO_EXAMPLES_LINE, file=out, flush=True)
    for pack_dir in pack_dirs:
        try:
            # The bundled examples are the operator's own choice: their declared domains
            # are approved (docs/security.md, "Approved domains").
            pack = _register_example(host, pack_dir)
        except CorralError as exc:
            print(f"corral: skipped example pack {pack_dir.name}: [{exc.kind}] {exc}",
                  file=out, flush=True)
        else:
            print(f"corral: registered {pack.name} {pack.version}", file=out, flush=True)


def _register_example(host: Any, pack_dir: Path) -> Any:
    from .._runtime.pack import read_manifest
    from .._toolchain.build import build_pack

    wasm = build_pack(pack_dir).path.read_bytes()
    domains = read_manifest(wasm, source=str(pack_dir)).network_domains
    return host.register_bytes(wasm, source=str(pack_dir), approved_domains=domains)


# -- commands ------------------------------------------------------------------------------


def _settings_from(args: argparse.Namespace, **extra: Any) -> Settings:
    overrides = {"data_dir": Path(args.data_dir) if args.data_dir else None, **extra}
    return load_settings(args.config, **overrides)


def cmd_serve(args: argparse.Namespace) -> int:
    settings = _settings_from(args, host=args.host, port=args.port, public_url=args.public_url,
                              http_workers=args.workers)
    if not settings.public_url:
        print("corral: OAuth2 flows are off until public_url is set (--public-url or "
              "CORRAL_PUBLIC_URL: the address browsers reach this service at)", flush=True)
    serve(settings)
    return 0


def cmd_keys_create(args: argparse.Namespace) -> int:
    from .._server.apikeys import ApiKeyStore

    settings = _settings_from(args)
    info, key = ApiKeyStore.for_settings(settings).create(args.name, args.role)
    print(f"created {info.role} key {info.id} for {info.owner} (shown once):")
    print(key)
    return 0


def cmd_keys_list(args: argparse.Namespace) -> int:
    from .._server.apikeys import ApiKeyStore

    settings = _settings_from(args)
    for info in ApiKeyStore.for_settings(settings).list_keys():
        print(f"{info.id}  {info.role:6}  {info.owner}")
    return 0


def cmd_keys_revoke(args: argparse.Namespace) -> int:
    from .._server.apikeys import ApiKeyStore

    settings = _settings_from(args)
    ApiKeyStore.for_settings(settings).revoke(args.key_id)
    print(f"revoked key {args.key_id}")
    return 0


def cmd_keys_rotate(args: argparse.Namespace) -> int:
    count, retired = rotate_secret_key(_settings_from(args))
    print(f"re-sealed {count} connection secrets under a new key; retired {retired} old keys")
    return 0


#: How long a rotation waits before its second re-seal pass and before it drops old keys.
ROTATION_GRACE_S = 0.5


def rotate_secret_key(settings: Settings, *,
                      grace_s: float = ROTATION_GRACE_S) -> tuple[int, int]:
    """Seal every connection secret under a fresh key and drop the old keys; returns
    (secrets re-sealed, keys retired).

    With a key file, a new key is added, every secret re-sealed, then the old keys
    dropped. Running servers need no restart: they seal with the newest key of the file
    (they compare its stamp before each seal) and re-read it when they meet a blob sealed
    under a key they lack. A second re-seal pass after ``grace_s`` catches a seal that
    began before the new key was in the file; only then do the old keys go. Each step is
    atomic, so a kill at any point leaves every secret openable; rotations run one at a
    time (a lock beside the key file). With ``CORRAL_SECRET_KEY`` the operator has already
    set the new key (and the old one in ``CORRAL_SECRET_KEY_OLD``); this only re-seals.
    """
    from .._connections.crypto import rotation_lock
    from .._connections.ring_source import key_file_for, keyring_for
    from .._host import Host

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with rotation_lock(key_file_for(settings)), Host(replace(settings, packs=())) as host:
        ring = keyring_for(settings)
        if ring.path is None:
            return host.connections.rotate_keys(), 0
        ring.rotate_to_new_key()
        count: int = host.connections.rotate_keys()
        time.sleep(grace_s)
        count += host.connections.rotate_keys()
        return count, ring.retire_old_keys()


def register_serve_command(subparsers: Any) -> None:
    """Add ``serve`` and ``keys`` to the ``corral`` command line."""
    serve_cmd = subparsers.add_parser("serve", help="run the HTTP service")
    _common(serve_cmd)
    serve_cmd.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve_cmd.add_argument("--port", type=int, help="port to listen on (default 8787)")
    serve_cmd.add_argument("--public-url", help="the address browsers reach the service at, "
                                                "e.g. https://corral.example.com (OAuth2 "
                                                "redirects are built from it alone)")
    serve_cmd.add_argument("--workers", type=int,
                           help="processes answering on the one socket (default 1; they "
                                "share the data dir)")
    serve_cmd.set_defaults(func=cmd_serve)

    keys = subparsers.add_parser("keys", help="manage API keys and the secret key")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="make an API key and print it once")
    create.add_argument("name", help="the key's owner (its principal)")
    create.add_argument("--role", choices=("caller", "admin"), default="caller")
    create.set_defaults(func=cmd_keys_create)
    listing = keys_sub.add_parser("list", help="list API keys (never the keys themselves)")
    listing.set_defaults(func=cmd_keys_list)
    revoke = keys_sub.add_parser("revoke", help="revoke an API key by id")
    revoke.add_argument("key_id")
    revoke.set_defaults(func=cmd_keys_revoke)
    rotate = keys_sub.add_parser("rotate", help="re-seal connection secrets under a new key "
                                                "(running servers follow it)")
    rotate.set_defaults(func=cmd_keys_rotate)
    for sub in (create, listing, revoke, rotate):
        _common(sub)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", help="data directory (default ./.corral)")
    parser.add_argument("--config", help="TOML settings file (CORRAL_* variables override it)")

