"""Local stand-ins for AWS and Google that check requests the way the real services do,
for testing packs that use the aws_* and google_service_account auth kinds.

* :func:`verify_sigv4` recomputes a SigV4 signature from the public specification (the
  canonical request, the string to sign, the HMAC key chain) and the known secret key,
  independently of botocore, which the host signs with.
* :class:`AwsServer`: ``POST /sts`` is an STS stand-in (AssumeRole, signed with the
  host's base key, answers temporary credentials as STS's XML); every other route
  answers 200 with an echo of the request when its signature verifies for ``service``,
  else 403 naming the reason.
* :class:`GoogleTokenServer`: ``POST /token`` takes the JWT bearer grant (RFC 7523) and
  checks the assertion's RS256 signature against the service account's public key, and
  its ``iss``, ``aud``, ``scope``, ``iat`` and ``exp``; ``/api/...`` answers 200 for a live
  access token.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import posixpath
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, unquote

from ._server import Exchange, LocalServer, Reply

AUTH_RE = re.compile(r"^AWS4-HMAC-SHA256 Credential=([^/,\s]+)/(\d{8})/([a-z0-9-]+)/"
                     r"([a-z0-9-]+)/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?"
                     r"Signature=([0-9a-f]{64})$")
MAX_SKEW_S = 5 * 60


@dataclass
class Key:
    secret: str
    session_token: str | None = None
    expires_at: float | None = None


class SignatureError(Exception):
    pass


def _encode(text: str) -> str:
    return quote(text, safe="-_.~")


def canonical_uri(raw_path: str) -> str:
    """Normalised (no dot segments, no doubled slashes), then each byte outside the
    unreserved set percent-encoded; services other than S3 encode the path twice, so
    the already encoded path is encoded again here."""
    path = raw_path or "/"
    normal = posixpath.normpath(path) if path != "/" else "/"
    if path.endswith("/") and normal != "/":
        normal += "/"
    normal = re.sub("/+", "/", normal)
    return quote(normal, safe="/~")


def canonical_query(raw_query: str) -> str:
    pairs = []
    for part in raw_query.split("&") if raw_query else []:
        name, _, value = part.partition("=")
        pairs.append((_encode(unquote(name)), _encode(unquote(value))))
    return "&".join(f"{n}={v}" for n, v in sorted(pairs))


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def verify_sigv4(method: str, raw_target: str, headers: dict[str, str], body: bytes,
                 keys: dict[str, Key], *, service: str, region: str | None = None,
                 now: float | None = None) -> str:
    """The access key id a request was signed with; raises SignatureError naming why not.
    ``headers`` have lower-cased names."""
    found = AUTH_RE.match(headers.get("authorization", ""))
    if found is None:
        raise SignatureError("no SigV4 Authorization header")
    key_id, date, scope_region, scope_service, signed_text, signature = found.groups()
    key = keys.get(key_id)
    if key is None:
        raise SignatureError("InvalidClientTokenId")
    if scope_service != service or (region is not None and scope_region != region):
        raise SignatureError("the credential scope names another service or region")
    amz_date = headers.get("x-amz-date", "")
    try:
        signed_at = dt.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(
            tzinfo=dt.timezone.utc).timestamp()
    except ValueError:
        raise SignatureError("no valid X-Amz-Date") from None
    if not amz_date.startswith(date):
        raise SignatureError("the credential scope's date is not the request's")
    if abs((now or time.time()) - signed_at) > MAX_SKEW_S:
        raise SignatureError("RequestExpired")
    signed = signed_text.split(";")
    if signed != sorted(signed) or "host" not in signed:
        raise SignatureError("SignedHeaders must be sorted and include host")
    if key.session_token is not None and (
            "x-amz-security-token" not in signed
            or headers.get("x-amz-security-token") != key.session_token):
        raise SignatureError("InvalidToken")
    if key.expires_at is not None and (now or time.time()) >= key.expires_at:
        raise SignatureError("ExpiredToken")
    missing = [name for name in signed if name not in headers]
    if missing:
        raise SignatureError(f"signed header {missing[0]} is missing")
    payload_hash = hashlib.sha256(body).hexdigest()
    if headers.get("x-amz-content-sha256", payload_hash) != payload_hash:
        raise SignatureError("XAmzContentSHA256Mismatch")
    path, _, query = raw_target.partition("?")
    canonical_headers = "".join(f"{name}:{' '.join(headers[name].strip().split())}\n"
                                for name in signed)
    canonical = "\n".join([method, canonical_uri(path), canonical_query(query),
                           canonical_headers, signed_text, payload_hash])
    scope = f"{date}/{scope_region}/{scope_service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    signing_key = _hmac(_hmac(_hmac(_hmac(("AWS4" + key.secret).encode(), date),
                                    scope_region), scope_service), "aws4_request")
    expected = hmac.new(signing_key, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        raise SignatureError("SignatureDoesNotMatch")
    return key_id


@dataclass
class Role:
    arn: str
    external_id: str | None = None


class AwsServer(LocalServer):
    """An AWS API (``service``) and an STS stand-in on 127.0.0.1."""

    def __init__(self, *, service: str = "execute-api", region: str = "eu-west-1",
                 temp_lifetime_s: int = 3600) -> None:
        super().__init__(name="aws-server")
        self.service = service
        self.region = region
        self.temp_lifetime_s = temp_lifetime_s
        self.keys: dict[str, Key] = {}
        self.base_keys: dict[str, Key] = {}
        self.roles: dict[str, Role] = {}
        self.assumed: list[dict[str, str]] = []
        self.refusals: list[str] = []
        self._lock = threading.Lock()
        self.handle("POST", "/sts", self._serve_sts)
        for method in ("GET", "POST", "PUT", "DELETE"):
            self.handle(method, "/api/{name}", self._serve_api)

    def add_key(self, key_id: str, secret: str, **extra: Any) -> None:
        self.keys[key_id] = Key(secret, **extra)

    def _refuse(self, exchange: Exchange, why: str) -> Reply:
        with self._lock:
            self.refusals.append(why)
        return Reply(status=403, json={"error": why})

    def _serve_api(self, exchange: Exchange) -> Reply:
        r = exchange.request
        try:
            key_id = verify_sigv4(r.method, r.raw_target, r.headers, r.body, self.keys,
                                  service=self.service, region=self.region)
        except SignatureError as exc:
            return self._refuse(exchange, str(exc))
        # Echo what arrived, as a careless API or error page would.
        return Reply(json={"ok": True, "key": key_id, "headers": r.headers,
                           "body": r.body.decode("utf-8", "replace"), "target": r.raw_target})

    def _serve_sts(self, exchange: Exchange) -> Reply:
        r = exchange.request
        try:
            verify_sigv4(r.method, r.raw_target, r.headers, r.body, self.base_keys,
                         service="sts", region="us-east-1")
        except SignatureError as exc:
            return self._sts_error(exchange, "SignatureDoesNotMatch", str(exc))
        form = dict(parse_qsl(r.body.decode()))
        role = self.roles.get(form.get("RoleArn", ""))
        if form.get("Action") != "AssumeRole" or role is None:
            return self._sts_error(exchange, "AccessDenied", "unknown role")
        if role.external_id is not None and form.get("ExternalId") != role.external_id:
            return self._sts_error(exchange, "AccessDenied", "wrong external id")
        key_id = "ASIA" + secrets.token_hex(8).upper()
        temp = Key("temp-" + secrets.token_urlsafe(30), session_token="tok-" +
                   secrets.token_urlsafe(40), expires_at=time.time() + self.temp_lifetime_s)
        with self._lock:
            self.keys[key_id] = temp
            self.assumed.append(form)
        expiry = dt.datetime.fromtimestamp(temp.expires_at or 0, dt.timezone.utc)
        xml = (f'<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
               f"<AssumeRoleResult><Credentials><AccessKeyId>{key_id}</AccessKeyId>"
               f"<SecretAccessKey>{temp.secret}</SecretAccessKey>"
               f"<SessionToken>{temp.session_token}</SessionToken>"
               f"<Expiration>{expiry.strftime('%Y-%m-%dT%H:%M:%SZ')}</Expiration>"
               f"</Credentials></AssumeRoleResult></AssumeRoleResponse>")
        return Reply(body=xml, headers={"Content-Type": "text/xml"})

    def _sts_error(self, exchange: Exchange, code: str, why: str) -> Reply:
        with self._lock:
            self.refusals.append(why)
        return Reply(status=403, body=f"<ErrorResponse><Error><Code>{code}</Code>"
                     f"</Error></ErrorResponse>", headers={"Content-Type": "text/xml"})

    def unmatched(self, exchange: Exchange) -> Reply:
        return Reply(status=404, json={})


# -- Google ----------------------------------------------------------------------------------

@dataclass
class ServiceAccount:
    email: str
    key_id: str
    private_pem: str = field(repr=False)
    public_pem: str

    def key_file(self, token_uri: str) -> dict[str, str]:
        """The JSON key file a caller downloads from Google Cloud."""
        return {"type": "service_account", "project_id": "corral-test",
                "private_key_id": self.key_id, "private_key": self.private_pem,
                "client_email": self.email, "client_id": "1234567890",
                "token_uri": token_uri}


def new_service_account(email: str = "robot@corral-test.iam.gserviceaccount.com"
                        ) -> ServiceAccount:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return ServiceAccount(email, secrets.token_hex(20), private, public.decode())


class GoogleTokenServer(LocalServer):
    """Google's token endpoint for service accounts, and an API taking its tokens."""

    def __init__(self, account: ServiceAccount, *, host: str = "google-token.test",
                 scopes: tuple[str, ...] = (), expires_in: int = 3600) -> None:
        super().__init__(name="google-token")
        self.account = account
        self.host_name = host
        self.scopes = scopes
        self.expires_in = expires_in
        self.grants = 0
        self.assertions: list[str] = []
        self.refusals: list[str] = []
        self.live: set[str] = set()
        self._lock = threading.Lock()
        self.handle("POST", "/token", self._serve_token)
        self.handle("GET", "/api/{name}", self._serve_api)

    @property
    def token_uri(self) -> str:
        return f"http://{self.host_name}:{self.port}/token"

    def _refuse(self, why: str) -> Reply:
        with self._lock:
            self.refusals.append(why)
        return Reply(status=400, json={"error": "invalid_grant", "error_description": why})

    def _serve_token(self, exchange: Exchange) -> Reply:
        import jwt

        form = dict(parse_qsl(exchange.request.body.decode()))
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return self._refuse("unsupported grant_type")
        assertion = form.get("assertion", "")
        try:
            header = jwt.get_unverified_header(assertion)
            claims = jwt.decode(assertion, self.account.public_pem, algorithms=["RS256"],
                                audience=self.token_uri, issuer=self.account.email,
                                options={"require": ["iss", "aud", "exp", "iat", "scope"]})
        except jwt.PyJWTError as exc:
            return self._refuse(f"{type(exc).__name__}")
        if header.get("kid") != self.account.key_id:
            return self._refuse("unknown kid")
        if claims["exp"] - claims["iat"] > 3600 or claims["iat"] > time.time() + 60:
            return self._refuse("bad iat/exp")
        if claims["scope"].split() != list(self.scopes):
            return self._refuse("wrong scope")
        token = "ya29." + secrets.token_urlsafe(30)
        with self._lock:
            self.grants += 1
            self.assertions.append(assertion)
            self.live.add(token)
        return Reply(json={"access_token": token, "expires_in": self.expires_in,
                           "token_type": "Bearer"})

    def _serve_api(self, exchange: Exchange) -> Reply:
        auth = exchange.request.headers.get("authorization", "")
        token = auth[len("Bearer "):] if auth.startswith("Bearer ") else ""
        with self._lock:
            ok = token in self.live
        if not ok:
            return Reply(status=401, json={"error": "unauthenticated"})
        return Reply(json={"ok": True, "headers": exchange.request.headers})

    def expire_tokens(self) -> None:
        with self._lock:
            self.live.clear()

    def unmatched(self, exchange: Exchange) -> Reply:
        return Reply(status=404, json={})
