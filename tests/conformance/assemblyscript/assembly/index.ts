// The conformance pack in AssemblyScript (see ../pack.toml and tests/test_conformance.py).
import * as corral from "corral";
import { Context, FetchRequest, LogLevel, Value } from "corral";
export { corral_alloc, corral_call, corral_abi_v1 } from "corral";

function echo(ctx: Context): Value {
  return ctx.arg(0);
}

function build(ctx: Context): Value {
  const bytes = new Uint8Array(4);
  bytes[0] = 0x00; bytes[1] = 0x01; bytes[2] = 0xfe; bytes[3] = 0xff;
  const list = Value.array()
    .push(Value.ofInt(1)).push(Value.ofString("two")).push(Value.ofFloat(3.5)).push(Value.nil());
  const deeper = Value.array().push(Value.array()).push(Value.map());
  return Value.map()
    .set("nil", Value.nil())
    .set("yes", Value.ofBool(true))
    .set("no", Value.ofBool(false))
    .set("small", Value.ofInt(7))
    .set("negative", Value.ofInt(-33))
    .set("int32", Value.ofInt(-70000))
    .set("big", Value.ofInt(1 << 40))
    .set("min64", Value.ofInt(i64.MIN_VALUE))
    .set("max_u64", Value.ofUint(u64.MAX_VALUE))
    .set("float", Value.ofFloat(3.25))
    .set("text", Value.ofString("naïve ☃ 日本"))
    .set("empty", Value.ofString(""))
    .set("bytes", Value.ofBytes(bytes))
    .set("list", list)
    .set("nested", Value.map().set("deep", Value.map().set("deeper", deeper)));
}

function fail(ctx: Context): Value {
  const message = ctx.argString(0);
  if (ctx.failed) return Value.nil();
  return ctx.fail(message);
}

function logAll(ctx: Context): Value {
  const message = ctx.argString(0);
  ctx.log(LogLevel.Debug, "debug: " + message);
  ctx.log(LogLevel.Info, "info: " + message);
  ctx.log(LogLevel.Warn, "warn: " + message);
  ctx.log(LogLevel.Error, "error: " + message);
  return Value.ofInt(4);
}

function fetchJson(ctx: Context): Value {
  const response = ctx.fetch(new FetchRequest(ctx.argString(0)).header("X-Conformance", "yes").expectJson());
  if (response === null) return ctx.failWithFetchError();
  const servedBy = response.header("x-served-by");
  return Value.map()
    .set("status", Value.ofInt(response.status))
    .set("served_by", servedBy !== null ? Value.ofString(servedBy) : Value.nil())
    .set("json", response.json);
}

function postJson(ctx: Context): Value {
  const request = new FetchRequest(ctx.argString(0)).withMethod("POST").sendJson(ctx.arg(1)).expectJson();
  const response = ctx.fetch(request);
  if (response === null) return ctx.failWithFetchError();
  return response.json;
}

function fetchBytes(ctx: Context): Value {
  const response = ctx.fetch(new FetchRequest(ctx.argString(0)).expectBinary());
  if (response === null) return ctx.failWithFetchError();
  return Value.ofBytes(response.bytes);
}

function fetchStatus(ctx: Context): Value {
  const response = ctx.fetch(new FetchRequest(ctx.argString(0)));
  if (response === null) return ctx.failWithFetchError();
  return Value.ofInt(response.status);
}

function fetchOrFallback(ctx: Context): Value {
  const response = ctx.fetch(new FetchRequest(ctx.argString(0)));
  if (response === null) return Value.ofString("fallback: " + ctx.fetchKind);
  return Value.ofString("status " + response.status.toString());
}

function fetchOrFailUpstream(ctx: Context): Value {
  const response = ctx.fetch(new FetchRequest(ctx.argString(0)));
  if (response === null) return ctx.failWithFetchError();
  if (response.status >= 200 && response.status < 300) return Value.ofInt(response.status);
  return ctx.failResponse(response, "the upstream answered " + response.status.toString());
}

function failUpstream(ctx: Context): Value {
  const status = ctx.argInt(0);
  return ctx.failUpstream(<i32>status, ctx.argFloat(1), "upstream status " + status.toString());
}

function needScopes(ctx: Context): Value {
  const given = ctx.arg(0).asArray();
  const scopes = new Array<string>();
  for (let i = 0; i < given.length; i++) scopes.push(unchecked(given[i]).asString());
  return ctx.failMissingScopes(scopes, "the connection may not do this");
}

function pick(ctx: Context): Value {
  return Value.ofString(ctx.argString(0));
}

function crash(ctx: Context): Value {
  throw new Error("crash on purpose");
}

function bump(ctx: Context): Value {
  return Value.ofInt(ctx.argInt(0) + 1);
}

function items(ctx: Context): Value {
  const count = ctx.argInt(0);
  const continuation = ctx.continuation();
  let offset: i64 = 0;
  if (continuation !== null) {
    const at = continuation.get("offset");
    if (at !== null) offset = at.asInt();
  }
  const end = offset + 2 < count ? offset + 2 : count;
  const rows = new Array<Value>();
  for (let i = offset; i < end; i++) {
    rows.push(Value.map().set("id", Value.ofInt(i)).set("name", Value.ofString("item " + i.toString())));
  }
  return ctx.page(rows, end < count ? Value.map().set("offset", Value.ofInt(end)) : null);
}

function updateItems(ctx: Context): Value {
  const updates = ctx.updates();
  const results = Value.array();
  for (let i = 0; i < updates.length; i++) {
    const row = updates[i].get("new");
    const name = row !== null ? row.get("name") : null;
    if (row === null || name === null || name.asString().length == 0) {
      results.push(Value.map().set("err", Value.ofString("name must not be empty")));
      continue;
    }
    const id = row.get("id");
    const updated = Value.map()
      .set("id", id !== null ? id : Value.nil())
      .set("name", Value.ofString(name.asString() + "!"));
    results.push(Value.map().set("ok", updated));
  }
  return results;
}

function dyn(ctx: Context): Value {
  return ctx.page([Value.map().set("id", Value.ofString("one"))]);
}

const FRUITS = ["Apple", "Banana", "Blueberry", "Cherry"];

function completeFruit(ctx: Context): Value {
  const search = ctx.search().toLowerCase();
  const matches = Value.array();
  for (let i = 0; i < FRUITS.length; i++) {
    const lower = FRUITS[i].toLowerCase();
    if (!lower.startsWith(search)) continue;
    matches.push(Value.map().set("display", Value.ofString(FRUITS[i])).set("value", Value.ofString(lower)));
  }
  return matches;
}

function urlChoice(display: string, url: string): Value {
  return Value.map().set("display", Value.ofString(display)).set("url", Value.ofString(url));
}

function dynUrls(ctx: Context): Value {
  return Value.array().push(urlChoice("Alpha", "dyn://alpha")).push(urlChoice("Beta", "dyn://beta"));
}

function dynSchema(ctx: Context): Value {
  return Value.map()
    .set("type", Value.ofString("object"))
    .set("description", Value.ofString(ctx.url()))
    .set("id_property", Value.ofString("id"))
    .set("properties", Value.map().set("id", Value.map().set("type", Value.ofString("string"))));
}

function connectionName(ctx: Context): Value {
  const id = ctx.connectionId();
  return Value.ofString(id !== null ? "Conformance for " + id : "Conformance");
}

corral.formula("Echo", echo);
corral.formula("Build", build);
corral.formula("Fail", fail);
corral.formula("Log", logAll);
corral.formula("FetchJson", fetchJson);
corral.formula("PostJson", postJson);
corral.formula("FetchBytes", fetchBytes);
corral.formula("FetchStatus", fetchStatus);
corral.formula("FetchOrFallback", fetchOrFallback);
corral.formula("FetchOrFailUpstream", fetchOrFailUpstream);
corral.formula("FailUpstream", failUpstream);
corral.formula("NeedScopes", needScopes);
corral.formula("Pick", pick);
corral.formula("Crash", crash);
corral.action("Bump", bump);
corral.syncTable("Items", items);
corral.syncTable("Dyn", dyn);
corral.syncUpdate("Items", updateItems);
corral.autocomplete("Pick", completeFruit);
corral.dynamicUrls("Dyn", dynUrls);
corral.dynamicSchema("Dyn", dynSchema);
corral.connectionName(connectionName);

// -- parameter types (issue 16): each formula returns what the SDK read ----------------

function echoText(ctx: Context): Value {
  const text = ctx.argString(0);
  return ctx.failed ? Value.nil() : Value.ofString(text);
}

function echoNumber(ctx: Context): Value { return Value.ofFloat(ctx.argFloat(0)); }
function echoInteger(ctx: Context): Value { return Value.ofInt(ctx.argInt(0)); }
function echoBoolean(ctx: Context): Value { return Value.ofBool(ctx.argBool(0)); }

function echoDate(ctx: Context): Value {
  const date = ctx.argDate(0);
  if (ctx.failed) return Value.nil();
  const parts = Value.array()
    .push(Value.ofInt(date.getUTCFullYear())).push(Value.ofInt(date.getUTCMonth() + 1))
    .push(Value.ofInt(date.getUTCDate())).push(Value.ofInt(date.getUTCHours()))
    .push(Value.ofInt(date.getUTCMinutes())).push(Value.ofInt(date.getUTCSeconds()))
    .push(Value.ofInt(date.getUTCMilliseconds()));
  return Value.map()
    .set("iso", Value.ofString(date.toISOString()))
    .set("epoch_ms", Value.ofInt(date.getTime()))
    .set("parts", parts);
}

const LIST_NAMES = ["strings", "numbers", "integers", "booleans", "dates",
                    "htmls", "markdowns", "images", "files", "emails"];

/** One item as the SDK reads its kind (the list's index); nil stays nil. */
function readItem(ctx: Context, item: Value, list: i32): Value {
  if (item.isNil) return item;
  if (list == 1) return item.isNumber ? Value.ofFloat(item.asFloat()) : ctx.fail("not a number");
  if (list == 2) return item.kind == corral.Kind.Int ? Value.ofInt(item.asInt()) : ctx.fail("not an integer");
  if (list == 3) return item.kind == corral.Kind.Bool ? Value.ofBool(item.b) : ctx.fail("not a boolean");
  if (list == 4) {
    const date = item.isString ? corral.parseDate(item.s) : null;
    return date !== null ? Value.ofString(date.toISOString()) : ctx.fail("not a date");
  }
  return item.isString ? Value.ofString(item.s) : ctx.fail("not a string");
}

/** EchoArrays and EchoSparse: one array of each type, in the manifest's order. */
function echoLists(ctx: Context): Value {
  const out = Value.map();
  for (let i = 0; i < LIST_NAMES.length; i++) {
    const items = ctx.argArray(i);
    const read = Value.array();
    for (let j = 0; j < items.length; j++) read.push(readItem(ctx, items[j], i));
    out.set(LIST_NAMES[i], read);
  }
  return out;
}

corral.formula("EchoString", echoText);
corral.formula("EchoNumber", echoNumber);
corral.formula("EchoInteger", echoInteger);
corral.formula("EchoBoolean", echoBoolean);
corral.formula("EchoDate", echoDate);
corral.formula("EchoHtml", echoText);
corral.formula("EchoMarkdown", echoText);
corral.formula("EchoImage", echoText);
corral.formula("EchoFile", echoText);
corral.formula("EchoEmail", echoText);
corral.formula("EchoArrays", echoLists);
corral.formula("EchoSparse", echoLists);

// -- value hints (issue 16 item 2): a value for every hint, most written loosely ------------

function hints(ctx: Context): Value {
  return Value.map()
    .set("date", Value.ofString("March 3, 2024"))
    .set("time", Value.ofString("5:24 pm"))
    .set("datetime", Value.ofString("2024-03-03T09:24:00-08:00"))
    .set("epoch", Value.ofInt(1709486640))
    .set("duration", Value.ofString("1 hour 30 minutes"))
    .set("days", Value.ofFloat(1.5))
    .set("email", Value.ofString("Ann@Example.COM"))
    .set("person", Value.map().set("email", Value.ofString("Bo@Example.COM")).set("name", Value.ofString("Bo")))
    .set("percent", Value.ofFloat(0.25))
    .set("currency", Value.ofFloat(9.5))
    .set("image", Value.ofString("https://conformance.test/cat.png"))
    .set("image_attachment", Value.ofString("data:image/png;base64,iVBORw0KGgo="))
    .set("url", Value.ofString("https://conformance.test/a?b=c"))
    .set("markdown", Value.ofString("**bold**"))
    .set("html", Value.ofString("<b>bold</b>"))
    .set("embed", Value.ofString("https://conformance.test/video"))
    .set("reference", Value.map().set("id", Value.ofInt(1)).set("name", Value.ofString("item 1")))
    .set("attachment", Value.ofString("https://conformance.test/report.pdf"))
    .set("slider", Value.ofFloat(7.5))
    .set("scale", Value.ofFloat(4.0))
    .set("progress_bar", Value.ofFloat(0.4))
    .set("toggle", Value.ofBool(true))
    .set("rich_text", Value.ofString("plain"))
    .set("select_list", Value.ofString("green"))
    .set("code", Value.ofString("print(1)"))
    .set("phone", Value.ofString("+1 (555) 010-9999"));
}

corral.formula("Hints", hints);
corral.formula("HintEcho", echo);

// -- formula metadata: examples, validate_parameters, a formula's own timeout_ms ----------

function double(ctx: Context): Value {
  return Value.ofFloat(ctx.argFloat(0) * 2);
}

function span(ctx: Context): Value {
  return Value.ofInt(ctx.argInt(1) - ctx.argInt(0));
}

function validateSpan(ctx: Context): Value {
  const low = ctx.argInt(0), high = ctx.argInt(1);
  if (low == 13) return ctx.fail("the validation of 13 fails on purpose");
  const errors: corral.FieldError[] = [];
  if (low < 0) errors.push(new corral.FieldError("low", "must not be negative"));
  if (high < low) errors.push(new corral.FieldError("high", "must be at least low"));
  if (errors.length > 0) return corral.Validation.invalid("the range is not valid", errors);
  return corral.Validation.valid();
}

// One turn of Endless and Countdown: a host call with a message encoded once (no
// allocation per turn, so memory never runs out however long the loop runs).
const DOT = String.UTF8.encode(".");

function turn(): void {
  corral.rawLog(0, changetype<usize>(DOT), 1);
}

function endless(ctx: Context): Value {
  while (ctx.args.length >= 0) turn();
  return Value.nil();
}

function countdown(ctx: Context): Value {
  const n = ctx.argInt(0);
  for (let i: i64 = 0; i < n; i++) turn();
  return Value.ofInt(n);
}

corral.formula("Double", double);
corral.formula("Span", span);
corral.validateParameters("Span", validateSpan);
corral.formula("Endless", endless);
corral.formula("Countdown", countdown);

// -- the execution context: time zone, invocation location, temporary blobs --------------

function ctxTimezone(ctx: Context): Value {
  return Value.ofString(ctx.timezone());
}

function ctxLocation(ctx: Context): Value {
  const doc = ctx.docId();
  return Value.map()
    .set("protocol_and_host", Value.ofString(ctx.protocolAndHost()))
    .set("doc_id", doc !== null ? Value.ofString(doc) : Value.nil());
}

function storedBlob(ctx: Context, blob: corral.StoredBlob | null): Value {
  if (blob === null) return ctx.failWithBlobError();
  return Value.map().set("url", Value.ofString(blob.url))
    .set("expires_at", Value.ofString(blob.expiresAt));
}

function ctxStoreBlob(ctx: Context): Value {
  const text = ctx.argString(0), contentType = ctx.argString(1);
  if (ctx.failed) return Value.nil();
  return storedBlob(ctx, ctx.storeBlob(Uint8Array.wrap(String.UTF8.encode(text)), contentType));
}

function ctxStoreUrl(ctx: Context): Value {
  const url = ctx.argString(0);
  if (ctx.failed) return Value.nil();
  return storedBlob(ctx, ctx.storeUrl(url));
}

corral.formula("CtxTimezone", ctxTimezone);
corral.formula("CtxLocation", ctxLocation);
corral.formula("CtxStoreBlob", ctxStoreBlob);
corral.formula("CtxStoreUrl", ctxStoreUrl);
