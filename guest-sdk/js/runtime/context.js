// The Coda ExecutionContext of one call, built from the request's ctx (ABI.md 3.1).
import { CorralFetcher } from "./fetcher.js";
import { CorralBlobStorage } from "./blobs.js";

// The values Coda's own runner gives a call outside a doc (packs-sdk testing mocks).
const DEFAULT_TIMEZONE = "America/Los_Angeles";
const DEFAULT_LOCATION = "https://coda.io";

export function makeContext(pack, req, sync) {
  const ctx = req.ctx || {};
  const context = {
    invocationLocation: { protocolAndHost: ctx.invocation_location || DEFAULT_LOCATION },
    timezone: ctx.timezone || DEFAULT_TIMEZONE,
    invocationToken: String(ctx.invocation_id ?? ""),
    endpoint: ctx.endpoint || undefined,
    fetcher: new CorralFetcher(),
    temporaryBlobStorage: new CorralBlobStorage(),
  };
  if (ctx.doc_id) context.invocationLocation.docId = String(ctx.doc_id);
  context.sync = sync || {};
  return context;
}
