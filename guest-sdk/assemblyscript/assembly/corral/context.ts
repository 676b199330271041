// Per-call state a handler works with: the request, its arguments, logs, fetch, and the
// error the call ends with. AssemblyScript has no exceptions, so a handler reports a
// failure by calling `ctx.fail(...)` (or an `arg*` accessor does it) and returning; the
// dispatcher then answers `{err}` whatever value the handler returned. When an upstream
// API refused, `ctx.failResponse(response, message)` also reports its status and
// `Retry-After` (the host retries a 429, 502, 503 or 504 within the call's deadline),
// `ctx.failUpstream(status, retryAfterS, message)` does so by hand, and
// `ctx.failMissingScopes(scopes, message)` tells the caller to reconnect granting them.
import { rawBlob, rawFetch, rawLog, sliceLen, slicePtr } from "./abi";
import { parseDate } from "./dates";
import { retryAfterSeconds } from "./http";
import { Kind, Value, Writer, decode } from "./msgpack";

export enum LogLevel { Debug = 0, Info = 1, Warn = 2, Error = 3 }

/** Write `text` to the host log `corral.pack.<name>`. */
export function log(level: LogLevel, text: string): void {
  const bytes = String.UTF8.encode(text);
  rawLog(<i32>level, changetype<usize>(bytes), <u32>bytes.byteLength);
}

/** A fetch through the host (guest-sdk/ABI.md §5). Build with chained setters:
 *  `new FetchRequest(url).header("Accept", "application/json").expectJson()`. */
export class FetchRequest {
  method: string = "GET";
  headerPairs: string[] = [];
  body: string | null = null;
  bodyBytes: Uint8Array | null = null;
  jsonBody: Value | null = null;
  cacheTtlS: u32 = 0;
  binary: bool = false;
  json: bool = false;

  constructor(public url: string) {}

  withMethod(method: string): FetchRequest { this.method = method; return this; }
  header(name: string, value: string): FetchRequest {
    this.headerPairs.push(name);
    this.headerPairs.push(value);
    return this;
  }
  /** Send `value` as a JSON body; the host encodes it and sets Content-Type. */
  sendJson(value: Value): FetchRequest { this.jsonBody = value; return this; }
  sendText(text: string): FetchRequest { this.body = text; return this; }
  sendBytes(bytes: Uint8Array): FetchRequest { this.bodyBytes = bytes; return this; }
  /** Let the host answer a GET from its cache for `seconds`. */
  cacheFor(seconds: u32): FetchRequest { this.cacheTtlS = seconds; return this; }
  /** Ask the host to parse the body as JSON into `Response.json`. */
  expectJson(): FetchRequest { this.json = true; return this; }
  /** Ask for the body as bytes (`Response.bytes`) rather than text. */
  expectBinary(): FetchRequest { this.binary = true; return this; }

  encode(out: Writer): void {
    out.beginMap(8);
    out.writeString("method"); out.writeString(this.method);
    out.writeString("url"); out.writeString(this.url);
    out.writeString("headers");
    const pairs = this.headerPairs;
    out.beginMap(<u32>(pairs.length / 2));
    for (let i = 0; i + 1 < pairs.length; i += 2) {
      out.writeString(unchecked(pairs[i]));
      out.writeString(unchecked(pairs[i + 1]));
    }
    out.writeString("body");
    const text = this.body, bytes = this.bodyBytes;
    if (bytes !== null) out.writeBytes(bytes);
    else if (text !== null) out.writeString(text);
    else out.writeNil();
    out.writeString("json_body");
    const json = this.jsonBody;
    if (json !== null) out.writeValue(json); else out.writeNil();
    out.writeString("cache_ttl_s"); out.writeInt(<i64>this.cacheTtlS);
    out.writeString("binary"); out.writeBool(this.binary);
    out.writeString("json"); out.writeBool(this.json);
  }
}

/** An HTTP response (any status: a 404 is a response, not a failure). */
export class Response {
  status: i32 = 0;
  headers: Value = Value.map();
  /** The body as text (empty when it came as bytes or was parsed as JSON). */
  body: string = "";
  /** The body as bytes when `expectBinary()` was set. */
  bytes: Uint8Array = new Uint8Array(0);
  /** The parsed body when `expectJson()` was set. */
  json: Value = Value.nil();

  /** A response header by its lower-case name, or null. */
  header(name: string): string | null {
    const value = this.headers.get(name.toLowerCase());
    return value !== null && value.isString ? value.s : null;
  }

  /** The seconds the `Retry-After` header asks for (delay-seconds, or an HTTP-date relative
   *  to the `Date` header: a guest has no clock); negative when there is none to read. */
  retryAfter(): f64 {
    const value = this.header("retry-after");
    return value !== null ? retryAfterSeconds(value, this.header("date")) : -1;
  }
}

/** A blob the host stored: the URL it serves it at, until `expiresAt` (ISO 8601, UTC). */
export class StoredBlob {
  constructor(public url: string, public expiresAt: string) {}
}

export class Context {
  /** The decoded request map: `op`, `name`, `args`, `ctx` and the op's own keys. */
  request: Value;
  args: Value[];
  /** "" while the call is fine; else the ABI error kind the call ends with. */
  errorKind: string = "";
  message: string = "";
  /** Kind and message of the last failed fetch (`denied`, `timeout`, ...). */
  fetchKind: string = "";
  fetchMessage: string = "";
  /** Set by `failUpstream` / `failResponse`: the upstream's status (0: none) and the
   *  seconds its Retry-After asked for (negative: none). */
  upstreamStatus: i32 = 0;
  retryAfterS: f64 = -1;
  /** Set by `failMissingScopes`. */
  missingScopes: string[] = [];
  /** Kind and message of the last failed `storeBlob` / `storeUrl` (`too_large`, ...). */
  blobKind: string = "";
  blobMessage: string = "";

  constructor(request: Value) {
    this.request = request;
    const args = request.get("args");
    this.args = args !== null ? args.asArray() : [];
  }

  get failed(): bool { return this.errorKind.length > 0; }

  /** End the call with a message for the user. Returns nil so `return ctx.fail(...)`. */
  fail(message: string): Value {
    this.errorKind = "user";
    this.message = message;
    this.upstreamStatus = 0;
    this.retryAfterS = -1;
    this.missingScopes = [];
    return Value.nil();
  }

  /** Like `fail`, reporting the upstream API's HTTP status (100-599) and the seconds its
   *  Retry-After asked for (negative when it gave none). The host retries 429, 502, 503
   *  and 504 within the call's deadline; the caller sees `upstream_status` and Retry-After. */
  failUpstream(status: i32, retryAfterS: f64, message: string): Value {
    this.fail(message);
    if (status >= 100 && status <= 599) this.upstreamStatus = status;
    if (retryAfterS >= 0 && isFinite(retryAfterS)) this.retryAfterS = retryAfterS;
    return Value.nil();
  }

  /** `failUpstream` for a non-2xx response: its status and its Retry-After. */
  failResponse(response: Response, message: string): Value {
    return this.failUpstream(response.status, response.retryAfter(), message);
  }

  /** Like `fail`, naming the OAuth scopes the connection lacks: the caller is told to
   *  reconnect granting them (`missing_scopes`, HTTP 403). */
  failMissingScopes(scopes: string[], message: string): Value {
    this.fail(message);
    this.missingScopes = scopes.slice(0);
    return Value.nil();
  }

  /** End the call with the last fetch's failure (reported to the caller as that fetch
   *  error, with its rule). */
  failWithFetchError(): Value {
    this.errorKind = "fetch";
    this.message = this.fetchMessage;
    return Value.nil();
  }

  // -- the request ------------------------------------------------------------------------

  /** A field the host put in `ctx` (`pack`, `invocation_id`, `connection`, ...). */
  field(name: string): Value | null {
    const ctx = this.request.get("ctx");
    return ctx !== null ? ctx.get(name) : null;
  }

  /** The caller's IANA time zone (`ctx.timezone`, e.g. "Europe/Paris"); "UTC" if none. */
  timezone(): string {
    const zone = this.field("timezone");
    return zone !== null && zone.isString ? zone.s : "UTC";
  }

  /** The host's base URL (`ctx.invocation_location.protocol_and_host`; "" if none). */
  protocolAndHost(): string {
    const location = this.field("invocation_location");
    const host = location !== null ? location.get("protocol_and_host") : null;
    return host !== null && host.isString ? host.s : "";
  }

  /** The caller's document id (`ctx.invocation_location.doc_id`), or null. */
  docId(): string | null {
    const location = this.field("invocation_location");
    const doc = location !== null ? location.get("doc_id") : null;
    return doc !== null && doc.isString ? doc.s : null;
  }

  /** The caller's connection id, or null when the call has no connection. */
  connectionId(): string | null {
    const connection = this.field("connection");
    if (connection === null) return null;
    const id = connection.get("id");
    return id !== null && id.isString ? id.s : null;
  }

  /** `sync`: the continuation the previous page returned (null on the first page). */
  continuation(): Value | null {
    const value = this.request.get("continuation");
    return value !== null && !value.isNil ? value : null;
  }

  /** `sync_update`: `[{previous, new, updated_fields}]`. */
  updates(): Value[] { return this.requestField("updates").asArray(); }
  /** `autocomplete`: the text typed so far and the parameter being completed. */
  search(): string { return this.requestField("search").asString(); }
  param(): string { return this.requestField("param").asString(); }
  /** `dynamic_schema`: the dynamic table's URL. */
  url(): string { return this.requestField("url").asString(); }

  private requestField(name: string): Value {
    const value = this.request.get(name);
    return value !== null ? value : Value.nil();
  }

  // -- arguments --------------------------------------------------------------------------

  /** Argument `i` (nil when absent). */
  arg(i: i32): Value {
    return i >= 0 && i < this.args.length ? unchecked(this.args[i]) : Value.nil();
  }

  argString(i: i32): string {
    const v = this.arg(i);
    if (!v.isString) this.badArgument(i, "a string");
    return v.s;
  }

  argInt(i: i32): i64 {
    const v = this.arg(i);
    const integral = v.kind == Kind.Int || (v.kind == Kind.Float && Math.floor(v.f) == v.f);
    if (!integral) this.badArgument(i, "an integer");
    return v.asInt();
  }

  argFloat(i: i32): f64 {
    const v = this.arg(i);
    if (!v.isNumber) this.badArgument(i, "a number");
    return v.asFloat();
  }

  argBool(i: i32): bool {
    const v = this.arg(i);
    if (v.kind != Kind.Bool) this.badArgument(i, "a boolean");
    return v.b;
  }

  /** An optional argument: `fallback` when absent or nil. */
  argIntOr(i: i32, fallback: i64): i64 {
    return this.arg(i).isNil ? fallback : this.argInt(i);
  }

  // string, html, markdown, image, file and email arrive as strings (`argString`).

  /** A `date` argument as a `Date` (the host sends `YYYY-MM-DDTHH:MM:SS.sssZ`). */
  argDate(i: i32): Date {
    const v = this.arg(i);
    const date = v.isString ? parseDate(v.s) : null;
    if (date === null) { this.badArgument(i, "a date"); return new Date(0); }
    return date;
  }

  /** An array argument, plain or sparse: in a sparse array an empty cell is a nil Value;
   *  read items with `isNil`, `asString()`, `asFloat()`, `corral.parseDate(item.s)`... */
  argArray(i: i32): Value[] {
    const v = this.arg(i);
    if (v.kind != Kind.Array) { this.badArgument(i, "an array"); return []; }
    return v.asArray();
  }

  private badArgument(i: i32, what: string): void {
    if (this.failed) return;
    this.errorKind = "user";
    this.message = "argument " + (i + 1).toString() + " must be " + what;
  }

  // -- results ----------------------------------------------------------------------------

  /** One page of a sync table: rows and the continuation for the next page (null ends). */
  page(rows: Value[], continuation: Value | null = null): Value {
    return Value.map()
      .set("rows", Value.array(rows))
      .set("continuation", continuation !== null ? continuation : Value.nil());
  }

  // -- host calls -------------------------------------------------------------------------

  log(level: LogLevel, text: string): void { log(level, text); }

  /** Hand the host `bytes` as a temporary blob of `contentType`. Null when it could not
   *  be stored; then `blobKind` and `blobMessage` say why, and `failWithBlobError()`
   *  passes it on. */
  storeBlob(bytes: Uint8Array, contentType: string): StoredBlob | null {
    const out = new Writer();
    out.beginMap(2);
    out.writeString("bytes"); out.writeBytes(bytes);
    out.writeString("content_type"); out.writeString(contentType);
    return this.blobRequest(out);
  }

  /** Have the host fetch `url` (under the pack's fetch policy) and keep the answer as a
   *  temporary blob. Null on failure, as for `storeBlob`. */
  storeUrl(url: string): StoredBlob | null {
    const out = new Writer();
    out.beginMap(1);
    out.writeString("url"); out.writeString(url);
    return this.blobRequest(out);
  }

  /** End the call with the last blob failure (reported to the caller as that error). */
  failWithBlobError(): Value {
    this.errorKind = "blob";
    this.message = this.blobMessage;
    return Value.nil();
  }

  private blobRequest(out: Writer): StoredBlob | null {
    const packed = rawBlob(out.ptr, <u32>out.len);
    const reply = decode(slicePtr(packed), <usize>sliceLen(packed));
    if (reply === null) {
      this.blobKind = "unavailable";
      this.blobMessage = "the host's blob response could not be decoded";
      return null;
    }
    const err = reply.get("err");
    if (err !== null) {
      const kind = err.get("kind"), message = err.get("message");
      this.blobKind = kind !== null ? kind.asString("unavailable") : "unavailable";
      this.blobMessage = message !== null ? message.asString() : "";
      return null;
    }
    const ok = reply.get("ok");
    const url = ok !== null ? ok.get("url") : null;
    const expires = ok !== null ? ok.get("expires_at") : null;
    return new StoredBlob(url !== null ? url.asString() : "",
                          expires !== null ? expires.asString() : "");
  }

  /** Fetch through the host. Null when the host refused or the fetch failed; then
   *  `fetchKind` and `fetchMessage` say why, and `failWithFetchError()` passes it on. */
  fetch(request: FetchRequest): Response | null {
    const out = new Writer();
    request.encode(out);
    const packed = rawFetch(out.ptr, <u32>out.len);
    const reply = decode(slicePtr(packed), <usize>sliceLen(packed));
    if (reply === null) {
      this.fetchKind = "network";
      this.fetchMessage = "the host's fetch response could not be decoded";
      return null;
    }
    const err = reply.get("err");
    if (err !== null) {
      const kind = err.get("kind"), message = err.get("message");
      this.fetchKind = kind !== null ? kind.asString("network") : "network";
      this.fetchMessage = message !== null ? message.asString() : "";
      return null;
    }
    const ok = reply.get("ok");
    const response = new Response();
    if (ok === null) return response;
    const status = ok.get("status"), headers = ok.get("headers");
    const body = ok.get("body"), json = ok.get("json");
    if (status !== null) response.status = <i32>status.asInt();
    if (headers !== null) response.headers = headers;
    if (body !== null) {
      if (body.isString) response.body = body.s;
      else if (body.bytes !== null) response.bytes = body.bytes!;
    }
    if (json !== null) response.json = json;
    return response;
  }
}
