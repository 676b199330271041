"""Host settings: defaults, a TOML file, then ``CORRAL_*`` environment variables.

Precedence, lowest first: the defaults below, a TOML file (``--config``, else the file
named by ``CORRAL_CONFIG``), ``CORRAL_*`` environment variables, then explicit keyword
arguments. docs/reference.md lists every setting (``corral reference`` writes it).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal, Mapping

from ._errors import ArgumentError, ConfigError
from ._types import check_timezone

CallPath = Literal["auto", "native", "public"]
#: ``auto`` runs calls on the native helper if it can be used, else on wasmtime-py's public
#: API (with one warning); ``native`` refuses to start without the helper; ``public``
#: never loads it.
CALL_PATHS: tuple[CallPath, ...] = ("auto", "native", "public")


@dataclass(frozen=True)
class Settings:
    #: The data directory: LMDB stores, the secret key file, the pack store, API keys.
    data_dir: Path = Path(".corral")
    #: Example packs (directories with pack.toml, or .wasm files) registered at start.
    packs: tuple[Path, ...] = ()
    #: Let packs fetch plain http:// URLs (for local development; https only otherwise).
    allow_http: bool = False
    #: Exact host name -> IP address, optionally with a port (`api.example.com=127.0.0.1:8443`:
    #: its https URLs go to that port); mapped names may resolve to private addresses. A name
    #: mapped to a loopback address is a test mapping: with allow_http, credentials may go
    #: to it over plain http (to no other http URL). For tests and development.
    host_map: Mapping[str, str] = field(default_factory=dict)
    #: A PEM file of CA certificates trusted for fetches instead of the certifi bundle (for
    #: tests and development: a local TLS stand-in of a real API, `CORRAL_CA_FILE`).
    ca_file: Path | None = None
    #: Size of the LMDB map holding cached formula results (eviction keeps them within it).
    result_cache_bytes: int = 256 * 1024 * 1024
    #: Size of the LMDB map holding cached GET responses.
    fetch_cache_bytes: int = 256 * 1024 * 1024
    #: First size of the LMDB map holding connections (sealed secrets).
    connections_map_bytes: int = 64 * 1024 * 1024
    #: Worker threads that run pack calls.
    max_workers: int = 8
    #: Calls running at once across all packs (and HTTP calls admitted at once).
    global_concurrency: int = 32
    #: Calls of one pack running at once; below max_workers, so one pack never holds them all.
    per_pack_concurrency: int = 4
    #: HTTP calls that may wait for a turn; beyond that the service answers 429.
    max_queue: int = 64
    #: A call first tries to run on the submitting thread for at most this long, without
    #: network, before it goes to a worker (see _calls/scheduler.py); 0 turns that off.
    inline_budget_ms: float = 2.0
    #: Deadline of one evaluation, sync or HTTP call, in seconds.
    evaluate_deadline_s: float = 30.0
    #: The key sealing connection secrets (base64url of 32 bytes); unset: the data dir's key file.
    secret_key: str | None = None
    #: The key file sealing connection secrets when secret_key is unset; unset: the data
    #: dir's `secret.key`. With store_url, every node must read the same file.
    secret_key_file: Path | None = None
    #: The admin API key `corral serve` accepts; unset: one is made and printed once.
    admin_key: str | None = None
    #: Address `corral serve` listens on.
    host: str = "127.0.0.1"
    #: Port `corral serve` listens on.
    port: int = 8787
    #: Processes `corral serve` runs, all answering on its one socket and sharing the data
    #: dir (`--workers`); in-memory rate limits and admission counters are per process.
    http_workers: int = 1
    #: Largest pack upload the HTTP service accepts.
    max_upload_bytes: int = 32 * 1024 * 1024
    #: Requests per second each principal may make (token bucket rate).
    rate_limit_per_s: float = 200.0
    #: Requests a principal may make at once (token bucket size).
    rate_limit_burst: int = 400
    #: The service's public base URL, for OAuth2 redirect URIs; unset: the request's own URL.
    public_url: str | None = None
    #: The caller's time zone (an IANA name) when a call gives none: the guest's
    #: ``ctx.timezone``.
    default_timezone: str = "UTC"
    #: How long a blob a pack stores (``corral.blob``) is served, in seconds.
    blob_ttl_s: float = 900.0
    #: The largest blob a pack may store, in bytes.
    blob_max_bytes: int = 10 * 1024 * 1024
    #: Per principal: bytes of blobs stored and not yet expired.
    blob_quota_bytes_per_principal: int = 100 * 1024 * 1024
    #: First size of the LMDB map holding blobs.
    blob_map_bytes: int = 64 * 1024 * 1024
    #: Ceiling the blob map grows to; past it, storing a blob fails with storage_full.
    blob_map_max_bytes: int = 4 * 1024 * 1024 * 1024
    #: How pack calls cross into wasmtime: ``native`` (the helper), ``public``
    #: (wasmtime-py's API) or ``auto``; unset, ``CORRAL_CALL_PATH`` or ``auto``.
    call_path: CallPath = field(default_factory=lambda: call_path_from_env())
    #: OAuth2 token requests: the largest response read, and one deadline for the whole
    #: exchange (connect, send, every byte of the answer).
    oauth_max_response_bytes: int = 256 * 1024
    #: OAuth2 token requests: one deadline for the whole exchange, in seconds.
    oauth_deadline_s: float = 15.0
    #: AWS STS endpoint the host calls AssumeRole on (aws_assume_role auth).
    aws_sts_endpoint: str = "https://sts.amazonaws.com/"
    #: Region the host signs its STS requests for.
    aws_sts_region: str = "us-east-1"
    #: The host's own AWS access key id, which AssumeRole is called as; unset: no aws_assume_role.
    aws_access_key_id: str | None = None
    #: The host's own AWS secret access key (never logged or shown).
    aws_secret_access_key: str | None = field(default=None, repr=False)
    #: Lifetime asked for the temporary credentials of AssumeRole, in seconds.
    aws_assume_role_duration_s: int = 3600
    #: Let a service-account key's token_uri name a host_map name (tests and local
    #: development); otherwise only Google's https token endpoints are accepted.
    allow_dev_token_uris: bool = False
    #: Per principal: stored connections, and bytes of records and sealed secrets.
    max_connections_per_principal: int = 100
    #: Per principal: bytes of connection records and sealed secrets.
    max_connection_bytes_per_principal: int = 1024 * 1024
    #: Per principal: calls running at once and calls waiting (of global_concurrency and
    #: max_queue in all), so one caller's flood cannot take every slot. Keep the first
    #: below max_workers, so a flooding caller leaves worker threads for the others.
    principal_concurrency: int = 4
    #: Per principal: HTTP calls waiting for a turn (of max_queue in all).
    principal_queue: int = 32
    #: The largest JSON request body (uploads have max_upload_bytes).
    max_body_bytes: int = 4 * 1024 * 1024
    #: Routes without an API key (health, metrics, the OAuth2 callback, docs) and failed
    #: key checks: a token bucket per client address.
    public_rate_limit_per_s: float = 20.0
    #: The burst of that per-address token bucket.
    public_rate_limit_burst: int = 40
    #: A refusal for capacity or rate (429) is sent after this long (or its Retry-After,
    #: if shorter), so a caller that retries at once cannot turn refusals into a flood
    #: of requests that busies the service for everyone.
    refusal_delay_s: float = 1.0
    #: Ceiling the result cache's map may grow to when evicting down to result_cache_bytes
    #: cannot make room; past it results are simply not cached.
    result_cache_max_bytes: int = 512 * 1024 * 1024
    #: Ceiling the connection map grows to (doubling from connections_map_bytes); past it,
    #: or on a full disk, a connection write answers 507.
    connections_map_max_bytes: int = 4 * 1024 * 1024 * 1024
    #: First size of the LMDB map holding API keys (hashed).
    api_keys_map_bytes: int = 16 * 1024 * 1024
    #: Ceiling the API key map grows to; past it, making a key answers 507.
    api_keys_map_max_bytes: int = 1024 * 1024 * 1024
    #: First size of the LMDB map holding the pack registry's active versions.
    registry_map_bytes: int = 64 * 1024 * 1024
    #: Ceiling the registry map grows to; past it, an upload answers 507.
    registry_map_max_bytes: int = 1024 * 1024 * 1024
    #: Where durable state lives when nodes share it: a ``postgresql://`` URL puts the
    #: registry, connections (sealed), API keys, quotas, sessions, blobs and automations in
    #: PostgreSQL; unset, they stay in LMDB in the data dir. May hold a password: never logged.
    store_url: str | None = field(default=None, repr=False)
    #: A ``redis://`` URL for the fast state nodes share: result and GET caches, memo
    #: invalidation, rate limits, admission counters and single-flight; unset, in-process
    #: and LMDB. May hold a password: never logged.
    cache_url: str | None = field(default=None, repr=False)
    #: With ``cache_url``: refuse calls (503) while Redis is unreachable instead of running
    #: them without the shared rate limit.
    rate_limit_strict: bool = False
    #: With ``cache_url``: what every Redis key of this deployment starts with (nodes
    #: sharing state use the same prefix; deployments sharing one Redis, different ones).
    cache_prefix: str = "corral:"
    #: With ``cache_url``: calls one principal may run at once across all the nodes
    #: (refused with 429 past it); 0 leaves only each node's ``principal_concurrency``.
    cluster_principal_concurrency: int = 0
    #: The execution log keeps at most this many runs per principal (the oldest go first).
    runs_max_per_principal: int = 1000
    #: The execution log forgets runs older than this many seconds.
    runs_max_age_s: float = 7 * 24 * 3600.0
    #: Runs waiting to be written; past it a run is dropped (counted), never a call slowed.
    runs_queue_size: int = 10_000
    #: First size of the LMDB map holding the execution log.
    runs_map_bytes: int = 64 * 1024 * 1024
    #: Automations one principal may have.
    automations_max_per_principal: int = 100
    #: An automation failing this many times in a row is disabled.
    automations_max_failures: int = 5
    #: The first retry of a failing automation waits this long; each further failure
    #: doubles it, up to automations_backoff_max_s.
    automations_backoff_s: float = 30.0
    #: The longest a failing automation waits before its next attempt.
    automations_backoff_max_s: float = 3600.0
    #: How often the server's automation scheduler looks for due runs, in seconds.
    automations_tick_s: float = 1.0

    @property
    def module_cache_dir(self) -> Path:
        return self.data_dir / "modules"


_ENV_PREFIX = "CORRAL_"


def call_path_setting(raw: object, *, source: str = "call_path") -> CallPath:
    """``raw`` as a call path, or a ConfigError naming the choices."""
    value = str(raw).strip().lower()
    if value not in CALL_PATHS:
        raise ConfigError(f"{source}: setting 'call_path' must be one of "
                          f"{', '.join(CALL_PATHS)}, not {raw!r}", setting="call_path")
    return value


def call_path_from_env(env: Mapping[str, str] | None = None) -> CallPath:
    """``CORRAL_CALL_PATH``, else ``auto``: the default of every sandbox's call path."""
    env = os.environ if env is None else env
    return call_path_setting(env.get("CORRAL_CALL_PATH", "auto"), source="CORRAL_CALL_PATH")


def load_settings(config_file: str | os.PathLike[str] | None = None,
                  env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build settings from a TOML file, the environment and keyword overrides."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    path = Path(config_file) if config_file else (
        Path(env["CORRAL_CONFIG"]) if "CORRAL_CONFIG" in env else None)
    if path is not None:
        values.update(_from_toml(path))
    values.update(_from_env(env))
    values.update({k: v for k, v in overrides.items() if v is not None})
    return _coerce(values, source=str(path) if path else "settings")


def _from_toml(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read the config file {path}: {exc.strerror}",
                          setting="config") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}", setting="config") from exc
    return dict(data.get("corral", data))


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    names = {f.name for f in fields(Settings)}
    out: dict[str, Any] = {}
    for key, value in env.items():
        if key.startswith(_ENV_PREFIX):
            name = key[len(_ENV_PREFIX):].lower()
            if name in names:
                out[name] = value
    return out


def _coerce(values: dict[str, Any], *, source: str) -> Settings:
    base = Settings()
    known = {f.name: f for f in fields(Settings)}
    converted: dict[str, Any] = {}
    for name, raw in values.items():
        if name not in known:
            raise ConfigError(f"{source}: unknown setting {name!r}", setting=name)
        converted[name] = _convert(name, raw, getattr(base, name), source)
    return replace(base, **converted)


def _convert(name: str, raw: Any, default: Any, source: str) -> Any:
    try:
        if name == "packs":
            items = raw.split(os.pathsep) if isinstance(raw, str) else list(raw)
            return tuple(Path(p) for p in items if p)
        if name in ("ca_file", "secret_key_file"):
            return Path(raw) if raw not in ("", None) else None
        if name == "call_path":
            return call_path_setting(raw, source=source)
        if name == "default_timezone":
            return check_timezone(str(raw), field="default_timezone")
        if name == "host_map":
            if isinstance(raw, str):
                pairs = (item.split("=", 1) for item in raw.split(",") if item.strip())
                return {k.strip().lower(): v.strip() for k, v in pairs}
            return {str(k).lower(): str(v) for k, v in dict(raw).items()}
        if isinstance(default, bool):
            return raw if isinstance(raw, bool) else str(raw).lower() in ("1", "true", "yes", "on")
        if isinstance(default, Path):
            return Path(raw)
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        return None if raw in ("", None) else str(raw)
    except ArgumentError as exc:
        raise ConfigError(f"{source}: {exc.message}", setting=name) from exc
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: setting {name!r} has an invalid value: {exc}",
                          setting=name) from exc
