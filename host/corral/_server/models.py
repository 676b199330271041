"""The HTTP service's request and response bodies (pydantic models, so the OpenAPI
schema documents every endpoint exactly).

This module does not use ``from __future__ import annotations``: pydantic and FastAPI
read these annotations at import time.
"""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .._server.apikeys import ADMIN, CALLER


class ProblemDocument(BaseModel):
    """RFC 9457 problem details, with Corral's error kind and the pack call it concerns."""

    model_config = ConfigDict(extra="allow")
    type: str
    title: str
    status: int
    detail: str
    kind: str
    pack: str | None = None
    formula: str | None = None
    instance: str | None = None


_TIMEZONE_DOC = ("The caller's IANA time zone (e.g. Europe/Paris), the guest's ctx.timezone; "
                 "else the Corral-Timezone header, else the host's default_timezone.")
_DOC_ID_DOC = "The caller's document (or other location) id, in ctx.invocation_location."


class CallBody(BaseModel):
    args: list[Any] = Field(default_factory=list, description="Positional arguments.")
    connection: str | None = Field(None, description="Id of one of the caller's connections.")
    timezone: str | None = Field(None, description=_TIMEZONE_DOC)
    doc_id: str | None = Field(None, description=_DOC_ID_DOC)


class CallResult(BaseModel):
    result: Any = Field(description="The value the formula or action returned.")


class EvaluateBody(BaseModel):
    formula: str = Field(description='A formula such as =hello.Greet("Ada") & "!"')
    connections: dict[str, str] = Field(default_factory=dict,
                                        description="Pack name -> the caller's connection id.")
    variables: dict[str, Any] = Field(
        default_factory=dict,
        description="Values of the formula's $$[variable:NAME] references: name -> a JSON "
                    "value (text, number, boolean, null, list or object).")
    timezone: str | None = Field(None, description=_TIMEZONE_DOC)
    doc_id: str | None = Field(None, description=_DOC_ID_DOC)


class SyncBody(BaseModel):
    args: list[Any] = Field(default_factory=list)
    connection: str | None = None
    max_pages: int | None = Field(None, ge=1)
    dynamic_url: str | None = Field(None, description="The table's URL, for a dynamic table "
                                                      "(GET .../urls lists them).")
    timezone: str | None = Field(None, description=_TIMEZONE_DOC)
    doc_id: str | None = Field(None, description=_DOC_ID_DOC)


class UpdateBody(BaseModel):
    updates: list[dict[str, Any]] = Field(
        description="Edited rows: {previous: row, new: row, updated_fields?: [name]}.")
    args: list[Any] = Field(default_factory=list, description="The table's arguments.")
    connection: str | None = None
    dynamic_url: str | None = Field(None, description="The table's URL, for a dynamic table.")
    timezone: str | None = Field(None, description=_TIMEZONE_DOC)
    doc_id: str | None = Field(None, description=_DOC_ID_DOC)


class UpdateResults(BaseModel):
    results: list[dict[str, Any]] = Field(
        description="One per update, in order: {ok: row} or {err: message}.")


class AutocompleteBody(BaseModel):
    param: str = Field(description="The parameter being completed.")
    search: str = Field("", description="What the user has typed so far.")
    args: list[Any] = Field(default_factory=list, description="The other arguments so far.")
    connection: str | None = None


class Options(BaseModel):
    options: list[dict[str, Any]] = Field(description="[{display, value}]")


class DynamicUrls(BaseModel):
    urls: list[dict[str, str]] = Field(description="[{display, url}]")


class DynamicSchemaBody(BaseModel):
    url: str
    connection: str | None = None


class SchemaOut(BaseModel):
    schema_: dict[str, Any] = Field(alias="schema", serialization_alias="schema")
    model_config = ConfigDict(populate_by_name=True)


class PackSummary(BaseModel):
    name: str
    id: int | None = Field(None, description="The registry's stable numeric id of the pack, "
                                             "as in a formula's $$[pack:ID]::Formula().")
    version: str
    description: str
    sha256: str
    network_domains: list[str] = Field(default_factory=list,
                                       description="Domains the pack may fetch from.")
    auth_kind: str = Field("none", description="How the pack's connections authenticate.")
    formulas: list[str]
    actions: list[str]
    sync_tables: list[str]


class PackVersionInfo(BaseModel):
    version: str
    sha256_prefix: str
    active: bool
    approved_domains: list[str] = Field(default_factory=list,
                                        description="Approved for this version (see PackDetail).")


class PackDetail(BaseModel):
    name: str
    id: int | None = Field(None, description="The registry's stable numeric id of the pack.")
    version: str
    sha256: str
    manifest: dict[str, Any]
    versions: list[PackVersionInfo]
    approved_domains: list[str] = Field(
        default_factory=list,
        description="Declared domains the operator approved, when registering the active "
                    "version, for calls that hold a connection. Such a call reaches only the "
                    "pack's auth domains and these.")


class ConnectionCreate(BaseModel):
    pack: str
    name: str | None = Field(default=None, description="Unset: the pack's connection_name "
                             "op names it (else '<pack> connection').")
    secret: dict[str, Any] = Field(description="Shaped by the pack's auth kind; never returned.")


class ConnectionOut(BaseModel):
    id: str
    pack: str
    name: str
    kind: str
    status: str
    created_at: float
    expires_at: float | None = None
    endpoint: str | None = Field(default=None, description="The connection's own endpoint, "
                                 "for packs whose auth sets requires_endpoint_url.")


class OAuthStartBody(BaseModel):
    client_id: str
    client_secret: str | None = None
    name: str | None = None
    connection_id: str | None = Field(None, description="Reconnect this connection instead.")


class OAuthStart(BaseModel):
    authorize_url: str


class KeyCreate(BaseModel):
    name: str = Field(description="The key's owner: the principal its calls run as.")
    role: str = Field(CALLER, pattern=f"^({ADMIN}|{CALLER})$")


class KeyInfo(BaseModel):
    id: str
    owner: str
    role: str
    created_at: float


class KeyCreated(KeyInfo):
    key: str = Field(description="The API key itself. It is shown only in this response.")


class Status(BaseModel):
    status: str
    packs: int | None = None


class Ready(Status):
    #: ``native`` or ``public``: the path the sandbox's calls take.
    call_path: str
