// The oracle: run one call of a Coda pack through the packs-sdk's own execution helpers (the
// in-process runner `coda execute --no-vm` uses), with Coda's own fetcher, whose network
// layer is replaced by canned responses. `node coda-oracle.mjs JOB.json` prints
// {"ok": value} or {"err": {...}}, and the requests the pack made.
//
// JOB: {source, op, name, args, search?, param?, url?, continuation?, updates?,
//       responses: [{method?, url, status?, headers?, body}], credentials?}
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import * as esbuild from "esbuild";
import { fileURLToPath } from "node:url";

import { toCorralSchema } from "./runtime/corral_schema.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const execution = require("@codahq/packs-sdk/dist/testing/execution");
const fetcherModule = require("@codahq/packs-sdk/dist/testing/fetcher");
const { getPackAuth } = require("@codahq/packs-sdk/dist/cli/helpers");
const { transformBody } = require("@codahq/packs-sdk/dist/handler_templates");

export async function loadSourcePack(source) {
  // Coda's runner compiles the pack with esbuild too; CommonJS so it can be required here.
  // Compiled beside node_modules, so the pack and these helpers share one packs-sdk.
  fs.mkdirSync(path.join(here, ".oracle"), { recursive: true });
  const dir = fs.mkdtempSync(path.join(here, ".oracle", "pack-"));
  const out = path.join(dir, "pack.cjs");
  await esbuild.build({ entryPoints: [source], bundle: true, platform: "node", format: "cjs",
    target: "es2020", outfile: out, nodePaths: [path.join(here, "node_modules")], logLevel: "silent",
    external: ["@codahq/packs-sdk", "@codahq/packs-sdk/*"] });
  const mod = require(out);
  fs.rmSync(dir, { recursive: true, force: true });
  return mod.pack || mod.manifest || mod.default;
}

export function cannedFetching(responses, log) {
  fetcherModule.requestHelper.makeRequest = async (request) => {
    const url = new URL(request.uri);
    log.push({ method: request.method || "GET", url: request.uri, body: request.body ?? (request.form ? new URLSearchParams(request.form).toString() : undefined) });
    const bare = url.origin + url.pathname;
    const found = responses.find((r) => (r.method || "GET") === (request.method || "GET") && (r.url === request.uri || r.url === bare));
    if (!found) return { statusCode: 404, headers: { "content-type": "text/plain" }, body: `no canned response for ${request.method} ${request.uri}` };
    const body = typeof found.body === "string" ? found.body : JSON.stringify(found.body);
    const headers = { "content-type": typeof found.body === "string" ? "text/plain" : "application/json", ...(found.headers || {}) };
    const status = found.status || 200;
    if (status >= 400) {
      // Coda's request layer throws a StatusCodeError for these (node_fetcher `simple`).
      const { StatusCodeError } = require("@codahq/packs-sdk/dist/api");
      throw new StatusCodeError(status, parseMaybe(body), request, { body, headers });
    }
    return { statusCode: status, headers, body: request.encoding === null ? Buffer.from(body) : body };
  };
}

function parseMaybe(text) { try { return JSON.parse(text); } catch { return text; } }

const DATE = 4;
export function codaArgs(formula, args) {
  const defs = (formula.parameters || []).concat();
  const va = formula.varargParameters || [];
  return (args || []).map((v, i) => {
    const def = i < defs.length ? defs[i] : va[(i - defs.length) % Math.max(1, va.length)];
    if (v === null || v === undefined) return undefined;
    if (def && def.type === DATE) return new Date(v);
    if (def && def.type && def.type.items === DATE && Array.isArray(v)) return v.map((d) => (d === null ? undefined : new Date(d)));
    return v;
  });
}

function byName(formula, args) {
  const out = {};
  (formula.parameters || []).forEach((p, i) => { if (args && args[i] !== null && args[i] !== undefined) out[p.name] = codaArgs(formula, args)[i]; });
  return out;
}

export async function runJob(pack, job) {
  const context = execution.newRealFetcherSyncExecutionContext(pack, undefined);
  // newFetcherExecutionContext with the job's credentials (Coda's own credential injection).
  const ctx = fetcherModule.newFetcherSyncExecutionContext(() => {}, getPackAuth(pack), pack.networkDomains, job.credentials);
  Object.assign(context, ctx, { invocationToken: job.invocation_id || "", timezone: "America/Los_Angeles" });
  context.sync = {};
  const table = (pack.syncTables || []).find((t) => t.name === job.name);
  const formula = (pack.formulas || []).find((f) => f.name === job.name);
  // Parameters arrive already coerced by the host, as Coda coerces them before a call.
  const opts = { validateParams: false, validateResult: false };
  // A formula's result is checked against its declared type, as `coda execute` checks it.
  // Sync rows are not: they come as the packs-sdk thunk hands them on (values untouched),
  // which Corral's runtime then converts losslessly where the schema declares another type.
  const formulaOpts = { ...opts, validateResult: true };
  const schemaOf = async () => {
    if (!table.getSchema || !job.url) return undefined;
    return execution.executeMetadataFormula(table.getSchema, { formulaContext: byName(table.getter, job.args) }, context);
  };
  switch (job.op) {
    case "formula": case "action":
      return execution.executeFormulaFromPackDef(pack, job.name, codaArgs(formula, job.args), context, formulaOpts);
    case "sync": {
      context.sync = { continuation: job.continuation ?? undefined, dynamicUrl: job.url };
      context.sync.schema = await schemaOf();
      const page = await execution.executeSyncFormulaFromPackDefSingleIteration(pack, job.name, codaArgs(table.getter, job.args), context, opts);
      const out = { rows: page.result };
      if (page.continuation !== undefined && page.continuation !== null) out.continuation = page.continuation;
      return out;
    }
    case "sync_update": {
      context.sync = { dynamicUrl: job.url };
      context.sync.schema = (await schemaOf()) || table.getter.schema || table.schema;
      const schema = context.sync.schema.type === "array" ? context.sync.schema.items : context.sync.schema;
      const { untransformBody } = require("@codahq/packs-sdk/dist/handler_templates");
      const updates = job.updates.map((u) => ({ previousValue: untransformBody(u.previous, schema), newValue: untransformBody(u.new, schema), updatedFields: u.updated_fields.map((f) => (schema.properties[f] && schema.properties[f].fromKey) || f) }));
      const response = await execution.executeUpdateFormulaFromPackDef(pack, job.name, codaArgs(table.getter, job.args), context, updates, opts);
      // Coda's sync service normalises the returned rows as it does sync pages.
      return response.result.map((r) => (r.outcome === "error" || r.error ? { err: String(r.error.message ?? r.error) } : { ok: transformBody(r.finalValue, schema) }));
    }
    case "autocomplete": {
      const parent = formula || table.getter;
      const def = parent.parameters.concat(parent.varargParameters || []).find((p) => p.name === job.param);
      const results = await execution.executeMetadataFormula(def.autocomplete, { search: job.search, formulaContext: byName(parent, job.args) }, context);
      return results.map((r) => (r !== null && typeof r === "object" ? { display: String(r.display ?? r.value), value: r.value } : { display: String(r), value: r }));
    }
    case "dynamic_urls": {
      const results = await execution.executeMetadataFormula(table.listDynamicUrls, { search: job.search, formulaContext: byName(table.getter, job.args) }, context);
      return results.map((r) => ({ display: String(r.display), url: String(r.value) }));
    }
    case "dynamic_schema": {
      // Coda's getSchema, in Corral's vocabulary (the translation is Corral's own code).
      context.sync = { dynamicUrl: job.url };
      const schema = await schemaOf();
      const rows = schema && schema.type === "array" ? schema.items : schema;
      return toCorralSchema(rows, job.vocab, () => {}, table.name);
    }
    case "connection_name":
      return execution.executeMetadataFormula(pack.defaultAuthentication.getConnectionName, {}, context);
    default:
      throw new Error(`the oracle has no op ${job.op}`);
  }
}

export function errorOf(err) {
  const e = err && err.cause ? err.cause : err;  // the helpers wrap pack errors in DeveloperError
  const out = { name: e.name, message: String(e.message) };
  if (e.statusCode !== undefined) out.status = e.statusCode;
  if (e.isUserVisible) out.user_visible = true;
  if (e.constructor && e.constructor.name === "ResultValidationException") out.result_type = true;
  return out;
}

// A credential of every shape Coda's fetcher reads, so any auth kind can inject one.
const TEST_CREDENTIALS = { token: "TEST-TOKEN", paramValue: "TEST-TOKEN", accessToken: "TEST-TOKEN",
  username: "user", password: "secret", params: {}, headers: {} };

/** `node coda-oracle.mjs JOBS.json`: JOBS is an array; prints an array of answers. */
async function main() {
  const jobs = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
  const packs = new Map();
  const answers = [];
  for (const job of jobs) {
    const requests = [];
    cannedFetching(job.responses || [], requests);
    if (!packs.has(job.source)) packs.set(job.source, await loadSourcePack(job.source));
    const pack = packs.get(job.source);
    const auth = getPackAuth(pack);
    const credentials = job.credentials || (auth ? credentialsFor(auth) : undefined);
    let answer;
    try {
      answer = { ok: JSON.parse(JSON.stringify((await runJob(pack, { ...job, credentials })) ?? null)) };
    } catch (err) {
      answer = { err: errorOf(err) };
    }
    answers.push({ ...answer, requests });
  }
  process.stdout.write(JSON.stringify(answers));
}

function credentialsFor(auth) {
  const out = { ...TEST_CREDENTIALS, params: {}, headers: {} };
  for (const p of auth.params || []) out.params[p.name] = "TEST-TOKEN";
  for (const h of auth.headers || []) out.headers[h.name] = "TEST-TOKEN";
  return out;
}

if (process.argv[1] && fs.realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
