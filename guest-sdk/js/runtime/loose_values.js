// Loosely typed API values, brought to the type the pack declares before they reach the host.
// Real APIs send ids as numbers and amounts as strings where a pack's schema says otherwise;
// the packs-sdk's thunk hands such values on untouched and Coda converts them at ingestion.
// Only conversions that lose nothing are made (a number and its JS text, a boolean and
// "true"/"false"); any other mismatch stays as it is, so the host refuses it naming the field.

// The SDK's Type enum (a scalar formula's resultType) -> the value type it is carried as.
const RESULT_TYPES = ["string", "number", "object", "boolean", "date", "string", "string",
  "string", "string", "string"];

/** The schema a formula's result is checked against: its own, or one made of its resultType. */
export function resultSchema(formula) {
  if (formula.schema) return formula.schema;
  const type = RESULT_TYPES[formula.resultType];
  return type ? { type } : undefined;
}

/** `value` with every losslessly convertible mismatch converted to its declared type. */
export function toDeclared(value, schema) {
  if (value === null || value === undefined || !schema || typeof schema !== "object") return value;
  switch (schema.type) {
    case "string": return toText(value);
    case "number": return toNumber(value);
    case "array": return Array.isArray(value) ? value.map((v) => toDeclared(v, schema.items)) : value;
    case "object": return isPlainObject(value) ? objectToDeclared(value, schema) : value;
    default: return value;
  }
}

function objectToDeclared(value, schema) {
  const properties = schema.properties || {};
  let out = value;
  for (const key of Object.keys(value)) {
    if (!Object.prototype.hasOwnProperty.call(properties, key)) continue;
    const converted = toDeclared(value[key], properties[key]);
    if (converted === value[key]) continue;
    if (out === value) out = { ...value };  // the pack's own object is never changed
    out[key] = converted;
  }
  return out;
}

function toText(value) {
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  if (typeof value === "boolean") return value ? "true" : "false";
  return value;
}

function toNumber(value) {
  if (typeof value !== "string") return value;
  const n = Number(value);
  return Number.isFinite(n) && denotesExactly(value.trim(), n) ? n : value;
}

// A decimal literal: optional sign, digits with an optional fraction, optional exponent.
// Hex, octal and binary forms, which Number() also reads, are not numbers an API means.
const DECIMAL = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;

/** Whether `text` is a decimal literal whose value `n` holds exactly (no digits lost:
 * "12.50" is 12.5, "12345678901234567890" is not a double). */
function denotesExactly(text, n) {
  const written = canonical(text);
  return written !== null && written === canonical(String(n));
}

/** A decimal literal as "<sign><digits>e<exponent>", its digits without leading or trailing
 * zeros, so two literals of the same value have the same canonical form. */
function canonical(text) {
  const m = DECIMAL.exec(text);
  if (!m || (m[2] === "" && !m[3])) return null;
  const fraction = m[3] || "";
  const digits = (m[2] + fraction).replace(/^0+/, "");
  const significant = digits.replace(/0+$/, "");
  if (significant === "") return "0";
  const exponent = Number(m[4] || 0) - fraction.length + (digits.length - significant.length);
  return `${m[1] === "-" ? "-" : ""}${significant}e${exponent}`;
}

function isPlainObject(value) {
  return typeof value === "object" && !Array.isArray(value) && !(value instanceof Date);
}
