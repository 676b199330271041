"""AWS on the host side: SigV4 request signing (by botocore) and STS AssumeRole.

The host signs the whole outgoing request (method, path, query, the guest's headers and
the body) after the policy checked it, so the secret access key never reaches the guest
and a signature covers exactly what goes on the wire. Temporary credentials from
AssumeRole are minted by the host with its own base credentials (Settings) and kept in
memory until shortly before they expire (:mod:`corral._connections.minted`).
"""

from __future__ import annotations

import logging
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime
from typing import Mapping
from urllib.parse import urlencode, urlsplit

from .._errors import AuthFlowError, CredentialError, FetchError
from .._types import OutgoingRequest
from .oauth import TokenClient, TokenRoute

#: Headers the host sets on a signed request; a guest may not set them.
SIGNED_HEADER_NAMES = frozenset({"authorization", "x-amz-date", "x-amz-security-token",
                                 "x-amz-content-sha256"})
_REGION_IN_HOST = re.compile(r"\.([a-z]{2}(?:-gov)?-[a-z]+-\d{1,2})\.amazonaws\.com(?:\.cn)?$")
_STS_NS = "{https://sts.amazonaws.com/doc/2011-06-15/}"


@dataclass(frozen=True)
class AwsKeys:
    """One set of AWS credentials (long-lived or temporary). Secrets stay out of repr."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)
    expires_at: float | None = None


def region_for(host: str, declared: str | None) -> str:
    """The signing region: the manifest's ``auth.region``, else the one in an
    ``*.<region>.amazonaws.com`` host."""
    if declared:
        return declared
    found = _REGION_IN_HOST.search(host)
    if found is None:
        raise CredentialError(f"cannot tell the AWS region of {host}: declare auth.region")
    return found.group(1)


def _not_canonical_text(record: logging.LogRecord) -> bool:
    """botocore logs the canonical request at DEBUG: it holds every signed header value,
    the session token among them, before the fetch path knows to redact a minted one."""
    return not str(record.msg).startswith(("CanonicalRequest", "StringToSign", "Signature"))


_quiet = logging.getLogger("botocore.auth")
_quiet.addFilter(_not_canonical_text)


def sign(request: OutgoingRequest, keys: AwsKeys, *, service: str,
         region: str) -> OutgoingRequest:
    """``request`` with SigV4 headers added (any the guest set are replaced)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials as BotoCredentials

    default = {"https": 443, "http": 80}[request.scheme]
    netloc = request.host if request.port == default else f"{request.host}:{request.port}"
    headers = [(n, v) for n, v in request.headers if n.lower() not in SIGNED_HEADER_NAMES]
    boto = AWSRequest(method=request.method, url=f"{request.scheme}://{netloc}{request.target}",
                      data=request.body or b"", headers=dict(headers))
    SigV4Auth(BotoCredentials(keys.access_key_id, keys.secret_access_key,
                              keys.session_token), service, region).add_auth(boto)
    added = [(name, str(value)) for name, value in boto.headers.items()
             if name.lower() in SIGNED_HEADER_NAMES]
    return OutgoingRequest(request.method, request.scheme, request.host, request.port,
                           request.target, (*headers, *added), request.body)


# -- STS AssumeRole -----------------------------------------------------------------------

@dataclass(frozen=True)
class StsSettings:
    """Where and as whom the host calls AssumeRole."""

    endpoint: str = "https://sts.amazonaws.com/"
    region: str = "us-east-1"
    base: AwsKeys | None = None
    duration_s: int = 3600


def assume_role(http: TokenClient, sts: StsSettings, *, role_arn: str,
                external_id: str | None, session_name: str) -> AwsKeys:
    """Temporary credentials for ``role_arn``, from a SigV4-signed AssumeRole request."""
    if sts.base is None:
        raise CredentialError("aws_assume_role needs the host's own AWS credentials: set "
                              "the aws_access_key_id and aws_secret_access_key settings")
    form = {"Action": "AssumeRole", "Version": "2011-06-15", "RoleArn": role_arn,
            "RoleSessionName": session_name, "DurationSeconds": str(sts.duration_s)}
    if external_id:
        form["ExternalId"] = external_id
    body = urlencode(form).encode()
    parts = urlsplit(sts.endpoint)
    scheme, host = parts.scheme, parts.hostname or ""
    port = parts.port or {"https": 443, "http": 80}.get(scheme, 443)
    unsigned = OutgoingRequest("POST", scheme, host, port, parts.path or "/",
                               (("Content-Type", "application/x-www-form-urlencoded"),), body)
    signed = sign(unsigned, sts.base, service="sts", region=sts.region)
    route = TokenRoute("aws-sts", (host if port == {"https": 443, "http": 80}.get(scheme)
                                   else f"{host}:{port}",))
    try:
        reply = http.post(sts.endpoint, body, dict(signed.headers), route)
    except FetchError as exc:
        raise AuthFlowError(f"the STS request to {sts.endpoint} failed: {exc.message}",
                            rejected=False) from exc
    if reply.status != 200:
        raise AuthFlowError(f"STS refused AssumeRole for {role_arn}: HTTP {reply.status} "
                            f"({_sts_error_code(reply.body)})", rejected=400 <= reply.status < 500)
    return _parse_assumed(reply.body)


def _sts_error_code(body: bytes) -> str:
    found = re.search(rb"<Code>([A-Za-z0-9_.]{1,64})</Code>", body)
    return found.group(1).decode() if found else "no error code"


def _parse_assumed(body: bytes) -> AwsKeys:
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise AuthFlowError("STS answered AssumeRole with malformed XML",
                            rejected=False) from exc
    creds = root.find(f".//{_STS_NS}Credentials")
    if creds is None:
        creds = root.find(".//Credentials")
    ns = _STS_NS if creds is not None and creds.tag.startswith("{") else ""

    def text(name: str) -> str:
        node = creds.find(f"{ns}{name}") if creds is not None else None
        if node is None or not (node.text or "").strip():
            raise AuthFlowError(f"STS answered AssumeRole without {name}", rejected=False)
        return (node.text or "").strip()

    expiry = datetime.fromisoformat(text("Expiration").replace("Z", "+00:00"))
    return AwsKeys(text("AccessKeyId"), text("SecretAccessKey"), text("SessionToken"),
                   expires_at=expiry.timestamp())


def secret_strings(values: Mapping[str, object]) -> set[str]:
    """What a response must not show of a set of AWS credentials."""
    return {v for k in ("secret_access_key", "session_token")
            if isinstance(v := values.get(k), str) and v}
