// ABI arguments (already coerced by the host to the manifest's types) -> the values a Coda
// formula receives: Date objects for date parameters, undefined for optional ones not given.
export function toCodaArgs(formula, args) {
  const list = Array.isArray(args) ? args : [];
  const fixed = formula.parameters || [];
  const vararg = formula.varargParameters || [];
  return list.map((value, i) => {
    const def = i < fixed.length ? fixed[i] : vararg[(i - fixed.length) % Math.max(1, vararg.length)];
    return def ? toCoda(def.type, value) : value;
  });
}

export function argsByName(formula, args) {
  const out = {};
  const list = Array.isArray(args) ? args : [];
  (formula.parameters || []).forEach((p, i) => {
    if (i < list.length && list[i] !== null && list[i] !== undefined) out[p.name] = toCoda(p.type, list[i]);
  });
  return out;
}

const DATE = 4;  // the SDK's Type.date

function toCoda(type, value) {
  if (value === null || value === undefined) return undefined;
  if (type === DATE) return toDate(value);
  if (type && type.type === "array" && type.items === DATE && Array.isArray(value)) {
    return value.map((v) => (v === null ? undefined : toDate(v)));
  }
  return value;
}

function toDate(value) {
  if (value instanceof Date) return value;
  const d = new Date(typeof value === "number" ? value * 1000 : value);
  if (Number.isNaN(d.getTime())) throw new (class extends Error { constructor() { super(`${JSON.stringify(value)} is not a date`); this.name = "BadArgs"; } })();
  return d;
}
