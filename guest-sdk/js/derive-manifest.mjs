// Derive Corral's manifest (the JSON of `corral:manifest`) from a bundled Coda pack, at build
// time: `node derive-manifest.mjs BUNDLE NAME VOCAB_JSON`. Prints {manifest, warnings} as
// JSON. A Coda feature Corral cannot carry at all fails the build (exit 1, naming the feature
// and where it is declared); one that degrades is a warning.
import fs from "node:fs";
import vm from "node:vm";
import { fileURLToPath } from "node:url";
import { toCorralSchema, paramType, hostType, codaHint, TYPE_NAMES } from "./runtime/corral_schema.js";

export class Unsupported extends Error {}

export function loadPack(bundlePath) {
  vm.runInThisContext(fs.readFileSync(bundlePath, "utf8"), { filename: bundlePath });
  const pack = globalThis.__corral_pack;
  if (!pack) throw new Unsupported("the bundle installed no pack");
  return pack;
}

export function deriveManifest(pack, name, vocab) {
  const warnings = new Map();
  const note = (feature, where) => { if (!warnings.has(feature)) warnings.set(feature, where); };
  const auth = deriveAuth(pack, note);
  // Coda's default: a pack with user authentication needs the caller's account; with system
  // authentication the operator's connection serves every caller, so one is optional.
  const defaultConnection = auth.kind === "none" ? "none"
    : pack.defaultAuthentication ? "required" : "optional";
  const formulas = [], actions = [];
  for (const f of pack.formulas || []) {
    const out = deriveFormula(f, vocab, note, defaultConnection);
    (f.isAction ? actions : formulas).push(out);
  }
  const tables = (pack.syncTables || []).map((t) => deriveTable(t, vocab, note, defaultConnection));
  for (const format of pack.formats || []) {
    note(`column format ${format.name} (its formula ${format.formulaName} stays callable; Corral has no column formats)`, `formats.${format.name}`);
  }
  for (const key of ["skills", "mcpServers", "suggestedPrompts"]) {
    if ((pack[key] || []).length) note(`pack ${key} (agent features)`, key);
  }
  if ((pack.adminAuthentications || []).length) note("admin authentications", "adminAuthentications");
  const manifest = {
    pack: { name, version: validVersion(pack.version), description: "",
      network_domains: [...(pack.networkDomains || [])] },
    auth, formulas, actions, sync_tables: tables,
  };
  return { manifest, warnings: [...warnings].map(([feature, where]) => `${feature} (at ${where})`) };
}

function validVersion(v) { return typeof v === "string" && /^\d+\.\d+\.\d+/.test(v) ? v : "1.0.0"; }

function connection(f, defaultConnection) {
  const req = f.connectionRequirement;
  if (req === "none" || req === "optional" || req === "required") return req;
  return defaultConnection;
}

function deriveFormula(f, vocab, note, defaultConnection) {
  const where = `formulas.${f.name}`;
  const out = { name: f.name, params: deriveParams(f, vocab, note, where), connection: connection(f, defaultConnection) };
  if (f.description) out.description = f.description;
  out.result = resultSchema(f, vocab, note, where);
  if (f.isAction) {
    out.idempotent = false;
  } else if (typeof f.cacheTtlSecs === "number" && f.cacheTtlSecs > 0) {
    out.cache_ttl_s = f.cacheTtlSecs;
  }
  if (f.examples && f.examples.length) note("formula examples", where);
  if (f.validateParameters) note("validateParameters", where);
  if (f.isExperimental || f.isSystem) note("experimental/system formula flags", where);
  return out;
}

// A formula's resultType is the SDK's Type enum; Coda's richer scalar types are strings
// with a display hint in Corral's schema.
function resultSchema(f, vocab, note, where) {
  if (f.schema) return toCorralSchema(f.schema, vocab, note, `${where}.schema`);
  const name = TYPE_NAMES[f.resultType] ?? "any";
  const scalar = ["string", "number", "boolean", "object"].includes(name);
  const out = { type: scalar ? name : "string" };
  const hint = codaHint(f.codaType || (scalar ? undefined : name), vocab, note, where);
  if (hint) out.hint = hint;
  return out;
}

function deriveParams(f, vocab, note, where) {
  const params = (f.parameters || []).map((p, i) => deriveParam(p, vocab, note, `${where}.parameters[${i}]`));
  const varargs = f.varargParameters || [];
  if (varargs.length) {
    const first = deriveParam(varargs[0], vocab, note, `${where}.varargParameters[0]`);
    if (varargs.length > 1) {
      note(`a group of ${varargs.length} vararg parameters (taken as one vararg of any type, arguments in groups)`, `${where}.varargParameters`);
      first.type = "any";
      delete first.items;
      first.description = varargs.map((p) => `${p.name}: ${p.description || ""}`).join("; ");
      if (varargs.some((p) => p.autocomplete)) first.autocomplete = true;
    }
    first.vararg = true;
    delete first.optional;
    delete first.default;
    params.push(first);
  }
  return params;
}

function deriveParam(p, vocab, note, where) {
  if (!/^[A-Za-z][A-Za-z0-9_]{0,63}$/.test(p.name)) {
    throw new Unsupported(`parameter name ${JSON.stringify(p.name)} at ${where}: Corral parameter names are a letter, then letters, digits or _`);
  }
  const t = paramType(p.type);
  const out = { name: p.name };
  if (t.type === "array") {
    out.type = "array";
    out.items = hostType(t.items, vocab, note, `${where}.items`);
    if (t.sparse) {
      if ((vocab.param_fields || []).includes("sparse")) out.sparse = true;
      else note("sparse array parameters (null elements)", where);
    }
  } else {
    out.type = hostType(t.type, vocab, note, where);
  }
  if (p.description) out.description = p.description;
  if (p.optional) out.optional = true;
  if (p.autocomplete) out.autocomplete = true;
  if (p.suggestedValue !== undefined) note("parameter suggestedValue (Coda pre-fills it in its UI only)", where);
  if (p.allowedPresetValues || p.crawlStrategy || p.supportsIncrementalSync) note("parameter crawl/preset options", where);
  return out;
}

function deriveTable(t, vocab, note, defaultConnection) {
  const where = `syncTables.${t.name}`;
  const schema = toCorralSchema(t.schema, vocab, note, `${where}.schema`);
  if (!schema.id_property) {
    const id = t.schema && (t.schema.idProperty || t.schema.id);
    throw new Unsupported(`sync table ${t.name}: its schema has no idProperty${id ? ` (${id} is not a property)` : ""}`);
  }
  const getter = t.getter || {};
  const out = { name: t.name, schema, params: deriveParams(getter, vocab, note, `${where}.formula`),
    connection: connection(getter, defaultConnection) };
  if (t.description || getter.description) out.description = t.description || getter.description;
  if (t.getSchema && (t.listDynamicUrls || t.isDynamic)) out.dynamic = true;
  else if (t.getSchema) note("a static sync table with getSchema (the static schema is declared)", where);
  if (getter.executeUpdate) out.updatable = true;
  if (getter.executeGetPermissions) note("sync table permissions (executeGetPermissions)", where);
  if (t.namedPropertyOptions && Object.keys(t.namedPropertyOptions).length) note("property options formulas", where);
  if (t.searchDynamicUrls) note("searchDynamicUrls", where);
  if (t.getDisplayUrl || t.getName) note("dynamic table getName/getDisplayUrl", where);
  if (t.identityName) note("sync table identity", where);
  if (getter.supportsIncrementalSync || t.role) note("incremental sync / table roles", where);
  return out;
}

const AUTH = {
  None: () => ({ kind: "none" }),
  HeaderBearerToken: (a) => ({ kind: "bearer" }),
  CodaApiHeaderBearerToken: (a) => ({ kind: "bearer" }),
  CustomHeaderToken: (a) => withPrefix({ kind: "header", name: a.headerName }, a.tokenPrefix),
  MultiHeaderToken: (a) => ({ kind: "headers", headers: a.headers.map((h) => (h.tokenPrefix ? { name: h.name, prefix: h.tokenPrefix } : h.name)) }),
  QueryParamToken: (a) => ({ kind: "query", param: a.paramName }),
  MultiQueryParamToken: (a) => ({ kind: "queries", params: a.params.map((p) => p.name) }),
  WebBasic: () => ({ kind: "basic" }),
  OAuth2: (a) => {
    const out = { kind: "oauth2_code", authorize_url: a.authorizationUrl, token_url: a.tokenUrl };
    if (a.scopes && a.scopes.length) out.scopes = [...a.scopes];
    if (a.scopeDelimiter) out.scope_delimiter = a.scopeDelimiter;
    if (a.tokenPrefix) out.prefix = a.tokenPrefix;
    if (a.useProofKeyForCodeExchange) out.pkce = true;
    if (a.additionalParams) out.extra_authorize_params = Object.fromEntries(Object.entries(a.additionalParams).map(([k, v]) => [k, String(v)]));
    return out;
  },
  OAuth2ClientCredentials: (a) => {
    const out = { kind: "oauth2_client_credentials", token_url: a.tokenUrl };
    if (a.scopes && a.scopes.length) out.scopes = [...a.scopes];
    if (a.scopeDelimiter) out.scope_delimiter = a.scopeDelimiter;
    if (a.tokenPrefix) out.prefix = a.tokenPrefix;
    return out;
  },
};

function withPrefix(out, prefix) { if (prefix) out.prefix = prefix; return out; }

function deriveAuth(pack, note) {
  const system = pack.systemConnectionAuthentication;
  const auth = pack.defaultAuthentication || system;
  if (!auth) return { kind: "none" };
  const where = pack.defaultAuthentication ? "setUserAuthentication" : "setSystemAuthentication";
  const make = AUTH[auth.type];
  if (!make) throw new Unsupported(`authentication type ${auth.type} (${where}) is not supported by Corral`);
  const out = make(auth);
  if (system && !pack.defaultAuthentication) note("system authentication (the operator creates the pack's connection)", where);
  if (auth.networkDomain) out.domains = Array.isArray(auth.networkDomain) ? [...auth.networkDomain] : [auth.networkDomain];
  if (auth.requiresEndpointUrl || auth.endpointDomain) note("endpoint URLs (requiresEndpointUrl)", where);
  if (auth.postSetup && auth.postSetup.length) note("post-setup steps", where);
  if (auth.getConnectionUserId) note("getConnectionUserId", where);
  if (auth.credentialsLocation && auth.credentialsLocation !== "Automatic" && auth.credentialsLocation !== "automatic") note(`OAuth credentialsLocation ${auth.credentialsLocation}`, where);
  for (const key of ["nestedResponseKey", "tokenQueryParam", "scopeParamName", "authorizationParams"]) {
    if (auth[key] !== undefined) note(`OAuth option ${key}`, where);
  }
  return out;
}

async function main() {
  const [bundlePath, name, vocabJson] = process.argv.slice(2);
  try {
    const pack = loadPack(bundlePath);
    process.stdout.write(JSON.stringify(deriveManifest(pack, name, JSON.parse(vocabJson))));
  } catch (err) {
    process.stderr.write((err instanceof Unsupported ? "" : (err.stack || "") + "\n") + String(err.message || err) + "\n");
    process.exit(1);
  }
}

if (process.argv[1] && fs.realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
