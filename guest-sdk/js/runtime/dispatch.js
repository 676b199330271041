// The ABI v1 request handler: one MessagePack request in, one response map out (ABI.md 3).
// Formulas, sync tables and metadata formulas are found and run by the packs-sdk's own thunk
// (the code Coda's runner calls inside its isolate), and results are normalised with the SDK's
// transformBody, as `coda execute` does; values an API sent loosely typed are then brought to
// their declared type where nothing is lost (loose_values.js).
import { encode, decode } from "@msgpack/msgpack";
import { findAndExecutePackFunction } from "@codahq/packs-sdk/dist/runtime/thunk/thunk";
import { transformBody, untransformBody } from "@codahq/packs-sdk/dist/handler_templates";
import { FormulaType, MetadataFormulaType } from "@codahq/packs-sdk/dist/runtime/types";
import { makeContext } from "./context.js";
import { toErrorMap, NotFound, BadRequest } from "./errors.js";
import { toCodaArgs, argsByName } from "./params.js";
import { toCorralSchema } from "./corral_schema.js";
import { settle } from "./timers.js";
import { resultSchema, toDeclared } from "./loose_values.js";

const VOCAB = typeof __CORRAL_VOCAB__ !== "undefined" ? __CORRAL_VOCAB__
  : { types: ["string", "number", "integer", "boolean", "array", "object", "any"], hints: [] };

export function makeDispatcher(pack) {
  return (bytes) => settle(Promise.resolve().then(() => handle(pack, bytes)))
    .then((ok) => encode(plain({ ok })), (err) => encode(toErrorMap(err, pack)));
}

async function handle(pack, bytes) {
  let req;
  try {
    req = decodeRequest(bytes);
  } catch (err) {
    throw new BadRequest(`the request is not MessagePack: ${err.message}`);
  }
  if (!req || typeof req.op !== "string") throw new BadRequest("the request has no op");
  const op = OPS[req.op];
  if (!op) throw new NotFound(`this pack has no op ${req.op}`);
  return op(pack, req);
}

// The engine's native MessagePack decoder when there is one (guest-sdk/js/engine/bridge.c);
// it answers undefined for what it leaves to @msgpack/msgpack.
function decodeRequest(bytes) {
  const native = globalThis.__corral && globalThis.__corral.decode;
  const value = native ? native(bytes) : undefined;
  return value === undefined ? decode(bytes) : value;
}

const OPS = {
  formula: (pack, req) => runFormula(pack, req, false),
  action: (pack, req) => runFormula(pack, req, true),
  sync: runSync,
  sync_update: runSyncUpdate,
  autocomplete: runAutocomplete,
  dynamic_urls: runDynamicUrls,
  dynamic_schema: runDynamicSchema,
  connection_name: runConnectionName,
};

function formulaDef(pack, name, wantAction) {
  const f = (pack.formulas || []).find((x) => x.name === name && Boolean(x.isAction) === wantAction);
  if (!f) throw new NotFound(`this pack has no ${wantAction ? "action" : "formula"} named ${name}`);
  return f;
}

function tableDef(pack, name) {
  const t = (pack.syncTables || []).find((x) => x.name === name);
  if (!t) throw new NotFound(`this pack has no sync table named ${name}`);
  return t;
}

async function runFormula(pack, req, isAction) {
  const formula = formulaDef(pack, req.name, isAction);
  const params = toCodaArgs(formula, req.args);
  const result = await run(pack, { type: FormulaType.Standard, formulaName: formula.name }, params, makeContext(pack, req));
  const shaped = typeof result === "object" && result !== null ? transformBody(result, formula.schema) : result;
  return toDeclared(shaped, resultSchema(formula));
}

/** The schema of one row: a sync formula's schema is an array of them. */
function rowSchema(schema) {
  return schema && schema.type === "array" ? schema.items : schema;
}

async function tableSchema(pack, table, req, context) {
  if (!table.getSchema || !req.url) return table.getter.schema || table.schema;
  const spec = { type: FormulaType.Metadata, metadataFormulaType: MetadataFormulaType.SyncGetSchema, syncTableName: table.name };
  return run(pack, spec, metadataParams("", argsByName(table.getter, req.args)), context);
}

async function runSync(pack, req) {
  const table = tableDef(pack, req.name);
  const context = makeContext(pack, req, { continuation: req.continuation ?? undefined, dynamicUrl: req.url ?? undefined });
  const schema = await tableSchema(pack, table, req, context);
  context.sync.schema = schema;
  const params = toCodaArgs(table.getter, req.args);
  const page = await run(pack, { type: FormulaType.Sync, formulaName: table.name }, params, context);
  const rowsSchema = { type: "array", items: rowSchema(schema) };
  const rows = toDeclared(transformBody(page.result || [], rowsSchema), rowsSchema);
  const out = { rows };
  if (page.continuation !== undefined && page.continuation !== null) out.continuation = page.continuation;
  return out;
}

async function runSyncUpdate(pack, req) {
  const table = tableDef(pack, req.name);
  const context = makeContext(pack, req, { dynamicUrl: req.url ?? undefined });
  const tableSchemaValue = await tableSchema(pack, table, req, context);
  context.sync.schema = tableSchemaValue;
  const schema = rowSchema(tableSchemaValue);
  const updates = (req.updates || []).map((u) => ({
    previousValue: untransformBody(u.previous || {}, schema),
    newValue: untransformBody(u.new || {}, schema),
    updatedFields: (u.updated_fields || []).map((f) => packKey(schema, f)),
  }));
  const params = toCodaArgs(table.getter, req.args);
  const response = await run(pack, { type: FormulaType.SyncUpdate, formulaName: table.name }, params, context, updates);
  return response.result.map((r) => (r.error !== undefined
    ? { err: r.error && r.error.message !== undefined ? String(r.error.message) : String(r.error) }
    : { ok: toDeclared(transformBody(r.finalValue, schema), schema) }));
}

async function runAutocomplete(pack, req) {
  const formula = (pack.formulas || []).find((x) => x.name === req.name);
  const table = formula ? undefined : (pack.syncTables || []).find((x) => x.name === req.name);
  if (!formula && !table) throw new NotFound(`this pack has no formula or sync table named ${req.name}`);
  const parent = formula || table.getter;
  const spec = {
    type: FormulaType.Metadata, metadataFormulaType: MetadataFormulaType.ParameterAutocomplete,
    parentFormulaName: formula ? formula.name : table.name,
    parentFormulaType: formula ? FormulaType.Standard : FormulaType.Sync, parameterName: req.param,
  };
  const all = parent.parameters.concat(parent.varargParameters || []);
  if (!all.some((p) => p.name === req.param && p.autocomplete)) {
    throw new NotFound(`parameter ${req.param} of ${req.name} has no autocomplete`);
  }
  const results = await run(pack, spec, metadataParams(req.search, argsByName(parent, req.args)), makeContext(pack, req));
  return (results || []).map((r) => (r !== null && typeof r === "object" ? { display: String(r.display ?? r.value), value: r.value } : { display: String(r), value: r }));
}

async function runDynamicUrls(pack, req) {
  const table = tableDef(pack, req.name);
  if (!table.listDynamicUrls) throw new NotFound(`sync table ${req.name} is not dynamic`);
  const spec = { type: FormulaType.Metadata, metadataFormulaType: MetadataFormulaType.SyncListDynamicUrls, syncTableName: table.name };
  const results = await run(pack, spec, metadataParams(req.search, argsByName(table.getter, req.args)), makeContext(pack, req));
  return (results || []).map((r) => ({ display: String(r.display), url: String(r.value) }));
}

async function runDynamicSchema(pack, req) {
  const table = tableDef(pack, req.name);
  const context = makeContext(pack, req, { dynamicUrl: req.url ?? undefined });
  const schema = rowSchema(await tableSchema(pack, table, req, context));
  const notes = [];
  const out = toCorralSchema(schema, VOCAB, (feature, where) => notes.push(`${feature} at ${where}`), table.name);
  if (notes.length) console.warn(`dynamic schema of ${table.name}: not carried by Corral: ${notes.join("; ")}`);
  return out;
}

async function runConnectionName(pack, req) {
  const spec = { type: FormulaType.Metadata, metadataFormulaType: MetadataFormulaType.GetConnectionName };
  const name = await run(pack, spec, metadataParams("", {}), makeContext(pack, req));
  return name === undefined || name === null ? "" : String(name);
}

/** A normalised property name as the pack's code knows it (its fromKey). */
function packKey(schema, name) {
  const prop = schema && schema.properties && schema.properties[name];
  return (prop && prop.fromKey) || name;
}

function metadataParams(search, formulaContext) {
  return [search || "", Object.keys(formulaContext).length ? JSON.stringify(formulaContext) : ""];
}

function run(pack, formulaSpec, params, executionContext, updates) {
  return findAndExecutePackFunction({ params, formulaSpec, manifest: pack, executionContext, updates, shouldWrapError: false });
}

/** The result as JSON would carry it (Dates as ISO strings, undefined dropped), as Coda's
 * runner hands results over. */
function plain(value) {
  return value === undefined ? null : JSON.parse(JSON.stringify(value));
}
