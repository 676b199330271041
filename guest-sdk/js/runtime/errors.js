// Coda's errors -> the ABI error map (ABI.md 3.2).
import { CorralFetchError } from "./fetcher.js";
import { CorralBlobError } from "./blobs.js";

export class NotFound extends Error { constructor(m) { super(m); this.name = "NotFound"; } }
export class BadRequest extends Error { constructor(m) { super(m); this.name = "BadRequest"; } }

const MAX_RETRY_AFTER_S = 3600;

export function toErrorMap(err, pack) {
  const e = err === null || typeof err !== "object" ? { message: String(err) } : err;
  const message = String(e.message ?? e);
  if (e instanceof NotFound) return { err: { kind: "not_found", message } };
  if (e instanceof BadRequest) return { err: { kind: "bad_request", message } };
  if (e.name === "BadArgs") return { err: { kind: "bad_args", message } };
  if (e instanceof CorralBlobError) return { err: { kind: "blob", message } };
  if (e instanceof CorralFetchError) return { err: { kind: "fetch", fetch_kind: e.fetchKind, message } };
  if (e.name === "MissingScopesError") {
    const scopes = declaredScopes(pack);
    return { err: scopes.length ? { kind: "user", message, missing_scopes: scopes } : { kind: "user", message } };
  }
  if (e.name === "StatusCodeError" && Number.isInteger(e.statusCode)) {
    const out = { kind: "user", message, status: e.statusCode };
    const retry = retryAfter(e.response && e.response.headers);
    if (retry !== undefined) out.retry_after_s = retry;
    return { err: out };
  }
  if (e.isUserVisible || e.name === "UserVisibleError") return { err: { kind: "user", message } };
  const stack = typeof e.stack === "string" ? sourceLines(e.stack) : "";
  const head = `${e.name || "Error"}: ${message}`;
  return { err: { kind: "internal", message: stack.includes(message) ? stack : `${head}\n${stack}`.trim() } };
}

/** Coda's MissingScopesError names no scopes; the caller is asked for the auth's declared ones. */
function declaredScopes(pack) {
  const auth = pack.defaultAuthentication || {};
  return Array.isArray(auth.scopes) ? auth.scopes.filter((s) => typeof s === "string" && /^[!#-[\]-~]{1,256}$/.test(s)).slice(0, 64) : [];
}

function retryAfter(headers) {
  if (!headers) return undefined;
  const raw = headers["retry-after"];
  if (raw === undefined) return undefined;
  const text = String(raw).trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Math.min(Number(text), MAX_RETRY_AFTER_S);
  const when = Date.parse(text);
  const now = Date.parse(String(headers.date || ""));
  if (Number.isNaN(when) || Number.isNaN(now)) return undefined;
  return Math.min(Math.max(0, (when - now) / 1000), MAX_RETRY_AFTER_S);
}

/** Rewrite `file:LINE:COL` frames of the bundle to the pack's source line, where known. */
export function sourceLines(stack) {
  const map = globalThis.__corral_lines;
  if (!map) return stack;
  return stack.replace(/([^\s()]+):(\d+):(\d+)/g, (whole, file, line, col) => {
    const hit = map.lines[line];
    return hit ? `${map.sources[hit[0]]}:${hit[1]}` : whole;
  });
}
