"""The request-signing and minted-token auth kinds, attacked: an AWS API that echoes the
whole signed request (the secret key and the session token must not reach the guest), a
guest forging the signature headers, a Google API echoing the minted bearer token and a
guest reaching for the token endpoint (the JWT assertion and the private key stay on the
host), and custom-auth placeholders sent to a domain that is not an auth domain (left
unfilled) or reflected by the auth domain (redacted).

The stand-ins verify what they receive the way AWS and Google do (:mod:`corral.testing`),
so an attack that "passes" because nothing was signed would be caught by ``verify``."""

from __future__ import annotations

import json
import time
from typing import Any, Callable

from corral._fetch.guest import GuestFetch
from corral._metrics import Metrics
from corral.testing import AwsServer, GoogleTokenServer, LocalServer, Reply, new_service_account
from corral.testing._signing import Key, Role

from ..harness import Attack, Bench, Observation
from ..recorder import install_recorder
from ..world import register, with_manifest

AWS_SECRET = "bench-aws-SECRET-wJalrXUtnFEMI-K7MDENG"
BASE_SECRET = "bench-host-base-SECRET-0123456789"
ROLE = "arn:aws:iam::123456789012:role/BenchReader"
CUSTOM_KEY = "bench-custom-SECRET-apikey-77"
SCOPES = ("https://www.googleapis.com/auth/drive.readonly",)


class _Echo(LocalServer):
    def __init__(self) -> None:
        super().__init__(name="signing-echo")
        for method in ("GET", "POST"):
            self.route(method, "/{path}", lambda r: Reply(json={
                "target": r.raw_target, "headers": r.headers, "body": r.body.decode()}))


def _world(bench: Bench) -> dict[str, Any]:
    if "signing" in bench.extras:
        world: dict[str, Any] = bench.extras["signing"]
        return world
    aws, echo = AwsServer(), _Echo()
    account = new_service_account()
    google = GoogleTokenServer(account, host="cdn.test", scopes=SCOPES)
    for server in (aws, echo, google):
        server.__enter__()
        bench.on_close(server.close)
    aws.add_key("AKIABENCHEXAMPLE0001", AWS_SECRET)
    aws.base_keys["AKIABENCHHOSTBASE001"] = Key(BASE_SECRET)
    aws.roles[ROLE] = Role(ROLE, external_id="bench-ext")
    pem_lines = [ln for ln in account.private_pem.splitlines() if not ln.startswith("-----")]
    bench.detector.add(AWS_SECRET, BASE_SECRET, CUSTOM_KEY, *pem_lines[1:4])
    host = bench.make_host("signing", aws_sts_endpoint=f"http://bench.test:{aws.port}/sts",
                           aws_access_key_id="AKIABENCHHOSTBASE001",
                           aws_secret_access_key=BASE_SECRET, allow_dev_token_uris=True)
    bench.on_close(host.close)
    bench.extras.setdefault("hosts", []).append(host)
    install_recorder(host, bench.guest_inputs)
    zig = bench.build("hostile")
    aws_domain, google_domain = f"bench.test:{aws.port}", f"bench.test:{google.port}"
    packs = {
        "zsigkey": ([aws_domain], {"kind": "aws_access_key", "service": "execute-api",
                                   "region": "eu-west-1"}),
        "zsigrole": ([aws_domain], {"kind": "aws_assume_role", "service": "execute-api",
                                    "region": "eu-west-1"}),
        "zsa": ([google_domain], {"kind": "google_service_account", "scopes": list(SCOPES)}),
        "zcustom": ([f"bench.test:{echo.port}", f"cdn.test:{echo.port}"],
                    {"kind": "custom", "domains": [f"bench.test:{echo.port}"], "params": [
                        {"name": "apiKey", "places": ["header", "query", "body"]}]}),
    }
    for name, (domains, auth) in packs.items():
        register(host, with_manifest(zig, pack={"name": name, "network_domains": domains},
                                     auth=auth), name, approve=tuple(domains))
    secrets = {"zsigkey": {"access_key_id": "AKIABENCHEXAMPLE0001",
                           "secret_access_key": AWS_SECRET},
               "zsigrole": {"role_arn": ROLE, "external_id": "bench-ext"},
               "zsa": {"service_account_key": account.key_file(google.token_uri)},
               "zcustom": {"values": {"apiKey": CUSTOM_KEY}}}
    conns = {pack: host.create_connection(principal="alice", pack=pack, secret=secret,
                                          name=pack).id for pack, secret in secrets.items()}
    world = {"host": host, "aws": aws, "google": google, "echo": echo, "conns": conns,
             "account": account}
    bench.extras["signing"] = world
    return world


def prepare(bench: Bench) -> None:
    _world(bench)


def _call(pack: str, formula: str, path: Callable[[dict[str, Any]], str],
          *extra: str) -> Callable[[Bench], Any]:
    def run(bench: Bench) -> Any:
        world = _world(bench)
        return world["host"].call(pack, formula, path(world), *extra,
                                  connection=world["conns"][pack], principal="alice")
    return run


def _aws_url(world: dict[str, Any]) -> str:
    return f"http://bench.test:{world['aws'].port}/api/echo?probe=1"


def _signature_verified(bench: Bench, seen: Observation) -> str | None:
    """The stand-in verified the signature (so the echo is of a really signed request),
    and no temporary credential it minted reached the guest."""
    aws: AwsServer = _world(bench)["aws"]
    if aws.refusals:
        return f"the AWS stand-in refused the request: {aws.refusals[-1]}"
    text = json.dumps([seen.value, seen.guest_inputs, seen.new_logs], default=repr)
    if "x-amz-date" not in text.lower():
        return "the echo did not come back: nothing to judge"
    minted = [k for k in aws.keys.values() if k.session_token]
    for key in minted:
        if key.secret in text or (key.session_token or "") in text:
            return "a temporary AWS credential reached the guest or a log"
    return None


def _no_assertion(bench: Bench, seen: Observation) -> str | None:
    google: GoogleTokenServer = _world(bench)["google"]
    if google.grants == 0:
        return "no token was ever minted: nothing to judge"
    text = json.dumps([seen.value, seen.guest_inputs, seen.new_logs], default=repr)
    if any(a in text for a in google.assertions):
        return "the JWT assertion reached the guest or a log"
    if any(t in text for t in google.live):
        return "the minted access token reached the guest"
    return None


def _custom(url_host: str, check: Callable[[dict[str, Any], dict[str, Any]], str | None]
            ) -> tuple[Callable[[Bench], Any], Callable[[Bench, Observation], str | None]]:
    """A guest fetch (host level: the guest writes the placeholder its ctx names)."""
    def run(bench: Bench) -> Any:
        world = _world(bench)
        host = world["host"]
        pack = host.registry.get("zcustom")
        creds = host.connections.credentials("alice", world["conns"]["zcustom"], pack.manifest)
        placeholder = "{{apiKey-" + creds.guest_facts()["placeholder_token"] + "}}"
        guest = GuestFetch(host.fetch_client, Metrics(), pack="zcustom", pack_hash=pack.sha256,
                           principal="alice", domains=pack.manifest.network_domains,
                           credentials=creds, approved_domains=pack.approved_domains)
        got = guest.fetch({"method": "POST",
                           "url": f"http://{url_host}:{world['echo'].port}/x?k={placeholder}",
                           "headers": {"X-Key": placeholder}, "body": placeholder},
                          time.monotonic() + 10)
        bench.extras["custom_placeholder"] = placeholder
        return got

    def verify(bench: Bench, seen: Observation) -> str | None:
        echo: LocalServer = _world(bench)["echo"]
        last = echo.requests[-1] if echo.requests else None
        if last is None:
            return "the request never arrived"
        return check({"target": last.raw_target, "headers": last.headers,
                      "body": last.body.decode()}, {"placeholder": bench.extras[
                          "custom_placeholder"], "value": seen.value})
    return run, verify


def _unfilled(arrived: dict[str, Any], ctx: dict[str, Any]) -> str | None:
    if CUSTOM_KEY in json.dumps(arrived):
        return "the custom secret was filled into a request to a non-auth domain"
    if ctx["placeholder"] not in arrived["headers"].get("x-key", ""):
        return "the placeholder did not arrive as the guest wrote it"
    return None


def _filled_but_redacted(arrived: dict[str, Any], ctx: dict[str, Any]) -> str | None:
    if arrived["headers"].get("x-key") != CUSTOM_KEY or CUSTOM_KEY not in arrived["body"]:
        return "the auth domain did not get the secret where it was declared"
    if CUSTOM_KEY in json.dumps(ctx["value"]):
        return "the reflected custom secret reached the guest"
    return None


def attacks() -> list[Attack]:
    other_run, other_verify = _custom("cdn.test", _unfilled)
    own_run, own_verify = _custom("bench.test", _filled_but_redacted)
    return [
        Attack("aws access key: a reflecting API echoes the whole signed request", "signing",
               "ok", _call("zsigkey", "Fetch", _aws_url), verify=_signature_verified,
               quick=True, language="zig"),
        Attack("aws access key: the guest forges X-Amz-Date", "signing", "fetch_denied",
               _call("zsigkey", "FetchWithHeader", _aws_url, "X-Amz-Date", "20200101T000000Z"),
               rule="header", language="zig"),
        Attack("aws access key: the guest forges the Authorization header", "signing",
               "fetch_denied", _call("zsigkey", "FetchWithHeader", _aws_url, "Authorization",
                                     "AWS4-HMAC-SHA256 Credential=x"),
               rule="header", quick=True, language="zig"),
        Attack("aws assume role: the echoed request holds the session token", "signing", "ok",
               _call("zsigrole", "Fetch", _aws_url), verify=_signature_verified, quick=True,
               language="zig"),
        Attack("google service account: the API echoes the minted bearer token", "signing",
               "ok", _call("zsa", "Fetch",
                           lambda w: f"http://bench.test:{w['google'].port}/api/echo"),
               verify=_no_assertion, quick=True, language="zig"),
        Attack("google service account: the guest posts to the token endpoint itself",
               "signing", "fetch_denied",
               _call("zsa", "FetchMethod", lambda w: w["google"].token_uri, "POST"),
               rule="undeclared_domain", language="zig"),
        Attack("custom: placeholders sent to a declared non-auth domain stay unfilled",
               "signing", "ok", other_run, verify=other_verify, quick=True),
        Attack("custom: the auth domain reflects the filled secret", "signing", "ok", own_run,
               verify=own_verify, quick=True),
    ]
