// context.temporaryBlobStorage: Coda's TemporaryBlobStorage over the host's blob import
// (ABI.md 4.1). The host keeps the bytes for the caller and answers with the URL it serves
// them at; storeUrl's download goes through the call's own fetch path (domains, policy).
import { encode, decode } from "@msgpack/msgpack";

/** A blob the host could not store; uncaught, the call fails with kind blob, and the caller
 * sees the host's original error (too large, quota, ...). */
export class CorralBlobError extends Error {
  constructor(kind, message) {
    super(message);
    this.name = "CorralBlobError";
    this.blobKind = kind;
  }
}

export class CorralBlobStorage {
  async storeBlob(blobData, contentType, opts) {
    if (typeof contentType !== "string" || !contentType) throw new TypeError("storeBlob: a content type is required");
    const bytes = typeof blobData === "string" ? new TextEncoder().encode(blobData) : toBytes(blobData);
    return store({ bytes, content_type: contentType }, opts, "a blob");
  }

  async storeUrl(url, opts) {
    if (typeof url !== "string" || !url) throw new TypeError("storeUrl: the url must be a non-empty string");
    const request = { url };
    if (opts && typeof opts.contentType === "string") request.content_type = opts.contentType;
    return store(request, opts, url);
  }
}

function toBytes(data) {
  if (data instanceof Uint8Array) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  throw new TypeError("storeBlob: the data must be a Buffer, Uint8Array or string");
}

function store(request, opts, what) {
  const host = globalThis.__corral;
  if (!host || typeof host.blob !== "function") {
    throw new CorralBlobError("unavailable", "context.temporaryBlobStorage: this engine has no blob import");
  }
  // Coda's expiryMs and downloadFilename have no counterpart: the host sets the lifetime.
  void opts;
  const answer = decode(host.blob(encode(request)));
  if (answer && answer.err) {
    throw new CorralBlobError(answer.err.kind, `storing ${what} failed (${answer.err.kind}): ${answer.err.message}`);
  }
  return String(answer.ok.url);
}
