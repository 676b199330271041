// The pack's registry and the ABI v1 entry points. A pack registers its handlers at
// top level and re-exports the entry points from its entry file:
//
//     export { corral_alloc, corral_call, corral_abi_v1 } from "corral";
//     corral.formula("Greet", greet);
import { packSlice } from "./abi";
import { Context } from "./context";
import { Value, Writer, decode } from "./msgpack";

/** Every handler takes the call's Context and returns its `ok` value. */
export type Handler = (ctx: Context) => Value;

class Registration {
  constructor(public op: string, public name: string, public handler: Handler) {}
}

const registry = new Array<Registration>();

function register(op: string, name: string, handler: Handler): void {
  registry.push(new Registration(op, name, handler));
}

/** A formula: `ctx.args` holds its arguments, coerced by the host. */
export function formula(name: string, handler: Handler): void { register("formula", name, handler); }
/** An action: like a formula, never cached. */
export function action(name: string, handler: Handler): void { register("action", name, handler); }
/** A sync table: return `ctx.page(rows, continuation)`. */
export function syncTable(name: string, handler: Handler): void { register("sync", name, handler); }
/** Row updates of a sync table: `ctx.updates()` in, `[{ok: row} | {err: message}]` out. */
export function syncUpdate(name: string, handler: Handler): void { register("sync_update", name, handler); }
/** Completions for a formula's parameter: `ctx.search()`, `ctx.param()`, `ctx.args`. */
export function autocomplete(name: string, handler: Handler): void { register("autocomplete", name, handler); }
/** The URLs a dynamic sync table offers: `[{display, url}]`. */
export function dynamicUrls(name: string, handler: Handler): void { register("dynamic_urls", name, handler); }
/** The schema of a dynamic sync table at `ctx.url()`. */
export function dynamicSchema(name: string, handler: Handler): void { register("dynamic_schema", name, handler); }
/** Asked before each call of a formula declared with `validate_parameters = true`:
 *  return `Validation.valid()` or `Validation.invalid(message, fieldErrors)`. */
export function validateParameters(name: string, handler: Handler): void {
  register("validate_parameters", name, handler);
}
/** The display name of a caller's new connection. */
export function connectionName(handler: Handler): void { register("connection_name", "", handler); }

function find(op: string, name: string): Registration | null {
  for (let i = 0; i < registry.length; i++) {
    const entry = unchecked(registry[i]);
    if (entry.op == op && (entry.name.length == 0 || entry.name == name)) return entry;
  }
  return null;
}

// The response must outlive `corral_call`'s return (the host reads it afterwards), so the
// writer lives in a global rather than in GC-managed temporaries.
const response = new Writer();

function errorResponse(kind: string, message: string, fetchKind: string): i64 {
  response.reset();
  response.beginMap(1);
  response.writeString("err");
  response.beginMap(fetchKind.length > 0 ? 3 : 2);
  response.writeString("kind"); response.writeString(kind);
  response.writeString("message"); response.writeString(message);
  if (fetchKind.length > 0) {
    response.writeString("fetch_kind"); response.writeString(fetchKind);
  }
  return packSlice(response.ptr, <u32>response.len);
}

/** `{err: {kind: "user", message}}` plus the upstream fields the handler set (ABI.md §3.2). */
function userErrorResponse(ctx: Context): i64 {
  const scopes = ctx.missingScopes;
  const extra = (ctx.upstreamStatus != 0 ? 1 : 0) + (ctx.retryAfterS >= 0 ? 1 : 0) +
    (scopes.length > 0 ? 1 : 0);
  response.reset();
  response.beginMap(1);
  response.writeString("err");
  response.beginMap(<u32>(2 + extra));
  response.writeString("kind"); response.writeString("user");
  response.writeString("message"); response.writeString(ctx.message);
  if (ctx.upstreamStatus != 0) {
    response.writeString("status"); response.writeInt(<i64>ctx.upstreamStatus);
  }
  if (ctx.retryAfterS >= 0) {
    response.writeString("retry_after_s"); response.writeFloat(ctx.retryAfterS);
  }
  if (scopes.length > 0) {
    response.writeString("missing_scopes");
    response.beginArray(<u32>scopes.length);
    for (let i = 0; i < scopes.length; i++) response.writeString(unchecked(scopes[i]));
  }
  return packSlice(response.ptr, <u32>response.len);
}

function handle(request: Value): i64 {
  const opValue = request.get("op"), nameValue = request.get("name");
  const op = opValue !== null ? opValue.asString() : "";
  const name = nameValue !== null ? nameValue.asString() : "";
  const entry = find(op, name);
  if (entry === null) {
    return errorResponse("not_found", "no " + op + " handler named '" + name + "'", "");
  }
  const ctx = new Context(request);
  const value = entry.handler(ctx);
  if (ctx.failed) {
    if (ctx.errorKind == "user") return userErrorResponse(ctx);
    return errorResponse(ctx.errorKind, ctx.message, ctx.errorKind == "fetch" ? ctx.fetchKind : "");
  }
  response.reset();
  response.beginMap(1);
  response.writeString("ok");
  response.writeValue(value);
  return packSlice(response.ptr, <u32>response.len);
}

/** ABI: `size` fresh bytes for the host to write into (raw memory, never collected). */
export function corral_alloc(size: i32): usize {
  if (size < 0) return 0;
  return heap.alloc(size > 0 ? <usize>size : 1);
}

/** ABI: handle one request; the response is returned as ptr << 32 | len. */
export function corral_call(ptr: usize, len: i32): i64 {
  const request = decode(ptr, <usize>len);
  if (request === null || len < 0) {
    return errorResponse("bad_request", "the request is not valid MessagePack", "");
  }
  return handle(request);
}

/** ABI: the presence of this export declares ABI version 1. */
export function corral_abi_v1(): void {}
