// context.fetcher: Coda's Fetcher interface over the host's fetch import (ABI.md section 5).
// The host performs the request under its fetch policy and injects the connection's
// credentials, so the pack never sees a token, as on Coda. The response takes the shape of
// Coda's fetcher: the body is parsed as JSON when it parses to an object, a Buffer with
// isBinaryResponse, and a status of 400 or more throws Coda's StatusCodeError.
import { encode, decode } from "@msgpack/msgpack";
import { handleFetcherStatusError } from "@codahq/packs-sdk/dist/runtime/thunk/thunk";

const METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/** A fetch the host refused or could not complete; uncaught, the call fails with kind fetch. */
export class CorralFetchError extends Error {
  constructor(kind, message, rule) {
    super(message);
    this.name = "CorralFetchError";
    this.fetchKind = kind;
    this.rule = rule;
  }
}

export class CorralFetcher {
  async fetch(request) {
    const wire = toWire(request);
    const answer = decode(globalThis.__corral.fetch(encode(wire)));
    if (answer && answer.err) {
      const err = answer.err;
      throw new CorralFetchError(err.kind, `fetch of ${request.url} failed (${err.kind}): ${err.message}`, err.rule);
    }
    const response = fromWire(answer.ok, request);
    handleFetcherStatusError(response, request);
    return response;
  }
}

function toWire(request) {
  if (!request || typeof request.url !== "string") throw new TypeError("fetch: the request needs a url");
  const method = String(request.method || "GET").toUpperCase();
  if (!METHODS.includes(method)) throw new TypeError(`fetch: ${method} is not a supported method`);
  const headers = {};
  for (const [name, value] of Object.entries(request.headers || {})) {
    if (value !== undefined && value !== null) headers[name] = String(value);
  }
  const wire = { method, url: request.url, headers };
  if (request.form) {
    wire.body = new URLSearchParamsLite(request.form).toString();
    if (!hasHeader(headers, "content-type")) headers["Content-Type"] = "application/x-www-form-urlencoded";
  } else if (request.body !== undefined && request.body !== null) {
    wire.body = typeof request.body === "string" ? request.body : new Uint8Array(request.body);
  }
  if (request.cacheTtlSecs && method === "GET") wire.cache_ttl_s = Math.max(0, Math.floor(request.cacheTtlSecs));
  if (request.isBinaryResponse) wire.binary = true;
  return wire;
}

function fromWire(ok, request) {
  const headers = { ...(ok.headers || {}) };
  let body = ok.body;
  if (request.isBinaryResponse) {
    body = Buffer.from(body instanceof Uint8Array ? body : String(body ?? ""), body instanceof Uint8Array ? undefined : "utf8");
  } else {
    if (body instanceof Uint8Array) body = new TextDecoder().decode(body);
    body = parseLikeCoda(body);
  }
  return { status: ok.status, headers, body };
}

/** Coda's fetcher tries JSON on every text body and keeps the text unless it parses to an
 * object (null and arrays included). XML bodies stay text here: Coda parses them with xml2js. */
function parseLikeCoda(text) {
  if (!text) return text;
  try {
    const parsed = JSON.parse(text);
    return typeof parsed === "object" ? parsed : text;
  } catch {
    return text;
  }
}

function hasHeader(headers, name) {
  return Object.keys(headers).some((k) => k.toLowerCase() === name);
}

/** application/x-www-form-urlencoded, without depending on a global URLSearchParams. */
class URLSearchParamsLite {
  constructor(form) { this.form = form; }
  toString() {
    const enc = (s) => encodeURIComponent(String(s)).replace(/%20/g, "+");
    return Object.entries(this.form).filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${enc(k)}=${enc(v)}`).join("&");
  }
}
