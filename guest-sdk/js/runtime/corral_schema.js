// Coda schemas and parameter types in Corral's manifest vocabulary. Shared by the build-time
// manifest derivation and by the bundle (a dynamic table's schema is translated at call time).
// `vocab` names what the host accepts ({types, hints, param_fields}); a Coda feature outside
// it degrades to the nearest thing the host has and is reported through `note(feature, where)`,
// never dropped silently.

const HINT_CANDIDATES = {
  image: ["image"], imageAttachment: ["imageAttachment", "image_attachment", "image"],
  progressBar: ["progressBar", "progress_bar"], selectList: ["selectList", "select_list"],
  codaInternalRichText: [],
};

// Display options a Coda schema may carry that Corral's schema has no field for.
const DISPLAY_ONLY = ["precision", "useThousandsSeparator", "currencyCode", "format", "dateFormat",
  "timeFormat", "daysAfter", "minimum", "maximum", "step", "showValue", "icon", "style",
  "attribution", "titleProperty", "subtitleProperties", "snippetProperty", "imageProperty",
  "linkProperty", "createdAtProperty", "createdByProperty", "modifiedAtProperty",
  "modifiedByProperty", "userEmailProperty", "userIdProperty", "groupIdProperty",
  "memberGroupIdProperty", "bodyTextProperty", "popularityRankProperty", "versionProperty",
  "index", "parentIdProperty", "inline", "displayType", "fixedId", "allowNewValues",
  "includeUnknownProperties", "autocomplete", "primary"];

export function codaHint(codaType, vocab, note, where) {
  if (!codaType) return undefined;
  const candidates = HINT_CANDIDATES[codaType] ?? [codaType, snake(codaType)];
  for (const c of candidates) if (vocab.hints.includes(c)) return c;
  note(`value hint ${codaType}`, where);
  return undefined;
}

export function toCorralSchema(schema, vocab, note, where) {
  if (!schema || typeof schema !== "object") return { type: "any" };
  const out = { type: vocab.types.includes(schema.type) ? schema.type : "any" };
  if (out.type !== schema.type) note(`value type ${schema.type}`, where);
  const hint = codaHint(schema.codaType, vocab, note, where);
  if (hint) out.hint = hint;
  if (schema.description) out.description = String(schema.description);
  for (const key of DISPLAY_ONLY) if (schema[key] !== undefined) note(`schema option ${key}`, where);
  if (schema.options !== undefined) note("property options (select lists)", where);
  if (schema.identity !== undefined) note("schema identity (cross-table references)", where);
  if (schema.type === "array" && schema.items) out.items = toCorralSchema(schema.items, vocab, note, `${where}.items`);
  if (schema.type === "object") objectParts(schema, out, vocab, note, where);
  return out;
}

function objectParts(schema, out, vocab, note, where) {
  const properties = {};
  const required = [];
  for (const [name, prop] of Object.entries(schema.properties || {})) {
    properties[name] = toCorralSchema(prop, vocab, note, `${where}.properties.${name}`);
    if (prop.required) required.push(name);
    if (prop.mutable) properties[name].mutable = true;
  }
  out.properties = properties;
  if (required.length) out.required = required;
  const id = schema.idProperty ?? schema.id;
  if (id && properties[id]) out.id_property = id;
  const display = schema.displayProperty ?? schema.primary;
  if (display && properties[display]) out.display_property = display;
  const featured = (schema.featuredProperties ?? schema.featured ?? []).filter((k) => properties[k]);
  if (featured.length) out.featured = featured;
}

// A compiled Coda parameter type (the SDK's Type enum number, or {type: "array", items,
// allowEmpty}) -> {type, items, sparse} in Corral's names.
export const TYPE_NAMES = ["string", "number", "object", "boolean", "date", "html", "image", "file", "markdown", "email"];

export function paramType(codaType) {
  if (codaType && typeof codaType === "object" && codaType.type === "array") {
    return { type: "array", items: TYPE_NAMES[codaType.items] ?? "any", sparse: Boolean(codaType.allowEmpty) };
  }
  return { type: TYPE_NAMES[codaType] ?? "any", items: undefined, sparse: false };
}

/** The nearest type this host accepts for a Coda scalar parameter type. */
export function hostType(type, vocab, note, where) {
  if (vocab.types.includes(type)) return type;
  const fallback = type === "boolean" || type === "number" ? type : "string";
  note(`parameter type ${type} (passed as ${fallback})`, where);
  return fallback;
}

function snake(s) { return s.replace(/[A-Z]/g, (c) => "_" + c.toLowerCase()); }
function lowerFirst(s) { return s.charAt(0).toLowerCase() + s.slice(1); }
