// @ts-check
/**
 * A value on the page, by its schema and hint: links, images, dates and times in the
 * caller's time zone (the browser's, which the playground also sends as the call's),
 * currency, percentages and durations formatted, objects as cards (the display property
 * as title, featured properties first), lists as lists. Everything is built as DOM nodes
 * with text: a value is never parsed as markup, whatever its hint (html, markdown).
 */
import { h } from "./dom.js";

/** @typedef {Record<string, any>} Schema */

/** The caller's IANA time zone, e.g. "Europe/Paris": the one dates are shown in. */
export function callerTimezone() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}

/**
 * @param {unknown} value
 * @param {Schema | undefined} [schema]
 * @returns {HTMLElement}
 */
export function renderValue(value, schema) {
  if (value === null || value === undefined) return h("span", { class: "value empty" }, "(blank)");
  if (Array.isArray(value)) {
    const items = schema && schema.items;
    return h("ol", { class: "value list" }, value.map((item) => h("li", {}, renderValue(item, items))));
  }
  if (typeof value === "object") return renderObject(/** @type {Record<string, unknown>} */ (value), schema);
  const hinted = schema && schema.hint ? renderHinted(/** @type {string | number | boolean} */ (value), schema) : null;
  if (hinted) return hinted;
  if (typeof value === "boolean") return h("span", { class: "value boolean" }, value ? "true" : "false");
  if (typeof value === "number") return h("span", { class: "value number" }, String(value));
  return h("span", { class: "value text" }, String(value));
}

/**
 * A text or number by its hint, or null when the hint does not apply to this value
 * (then it is shown plainly).
 * @param {string | number | boolean} value
 * @param {Schema} schema
 * @returns {HTMLElement | null}
 */
function renderHinted(value, schema) {
  const hint = schema.hint;
  const text = typeof value === "string" ? value : null;
  const number = typeof value === "number" && Number.isFinite(value) ? value : null;
  switch (hint) {
    case "url": case "embed": case "attachment":
      return text !== null && safeUrl(text, hint === "attachment") ? link(text, text, hint) : null;
    case "image": case "image_attachment":
      return text !== null && safeImage(text) ? image(text, schema) : null;
    case "email":
      return text !== null ? link(`mailto:${text}`, text, "email") : null;
    case "phone":
      return text !== null ? link(`tel:${text.replace(/[^0-9+]/g, "")}`, text, "phone") : null;
    case "date": case "time": case "datetime":
      return renderTemporal(hint, value);
    case "duration":
      return text !== null || number !== null ? h("span", { class: "value duration", title: String(value) },
        formatDuration(text !== null ? text : daysToIso(/** @type {number} */ (number)))) : null;
    case "percent":
      return number !== null ? h("span", { class: "value number percent" }, formatNumber(number, schema, { style: "percent" })) : null;
    case "currency":
      return number !== null ? h("span", { class: "value number currency" }, formatCurrency(number, schema)) : null;
    case "scale":
      return number !== null ? h("span", { class: "value scale", title: String(number) }, stars(number, schema)) : null;
    case "progress_bar": case "slider":
      return number !== null ? h("span", { class: `value ${hint}` },
        h("progress", { max: schema.maximum ?? 1, value: number - (schema.minimum ?? 0) }), ` ${number}`) : null;
    case "toggle":
      return typeof value === "boolean" ? h("span", { class: "value boolean toggle" }, value ? "✓ true" : "✗ false") : null;
    case "html": case "markdown": case "code": case "coda_internal_rich_text":
      return text !== null ? h("pre", { class: `value code ${hint}` }, text) : null;
    case "select_list":
      return text !== null ? h("span", { class: "value text select" }, optionDisplay(text, schema)) : null;
    default:
      return null;
  }
}

/**
 * @param {Record<string, unknown>} value
 * @param {Schema | undefined} schema
 */
function renderObject(value, schema) {
  if (typeof value.$binary === "string" && Object.keys(value).length === 1) {
    return h("code", { class: "value binary" }, `${value.$binary.length / 2} bytes: ${value.$binary.slice(0, 64)}`);
  }
  /** @type {Record<string, Schema>} */
  const properties = (schema && schema.properties) || {};
  const titleKey = schema && schema.display_property;
  const title = titleKey ? value[titleKey] : undefined;
  const hint = schema && schema.hint;
  return h("div", { class: `value card${hint ? ` ${hint}` : ""}` },
    title === undefined || title === null ? null : h("div", { class: "card-title" }, String(title)),
    h("dl", {}, shownProperties(value, schema).map((name) => [
      h("dt", {}, name),
      h("dd", { "data-property": name }, renderValue(value[name], properties[name])),
    ])));
}

/**
 * The properties a card shows, in order: the featured ones, then the schema's, then any
 * others the value has; the display property is the title, so not repeated.
 * @param {Record<string, unknown>} value
 * @param {Schema | undefined} schema
 * @returns {string[]}
 */
function shownProperties(value, schema) {
  const order = [...((schema && schema.featured) || []), ...Object.keys((schema && schema.properties) || {}),
    ...Object.keys(value)];
  const skip = schema && schema.display_property;
  return [...new Set(order)].filter((name) => name in value && name !== skip);
}

/**
 * @param {string} href
 * @param {string | HTMLElement} text
 * @param {string} kind
 */
function link(href, text, kind) {
  return h("a", { class: `value link ${kind}`, href, target: "_blank", rel: "noopener noreferrer" }, text);
}

/**
 * @param {string} src
 * @param {Schema} schema
 */
function image(src, schema) {
  const size = /** @type {Record<string, number>} */ ({});
  if (schema.width) size.width = schema.width;
  if (schema.height) size.height = schema.height;
  const shape = schema.image_shape_style === "circle" ? " circle" : "";
  const img = h("img", { class: `value image${shape}`, src, alt: src, ...size });
  // The page's CSP shows only images of this server or data: URLs; the link opens others.
  return /^data:/i.test(src) ? img : link(src, img, "image");
}

/**
 * Only http(s) links (and data: for attachments): a javascript: URL is shown as text.
 * @param {string} text
 * @param {boolean} [data]
 */
function safeUrl(text, data = false) {
  try {
    const { protocol } = new URL(text);
    return protocol === "https:" || protocol === "http:" || (data && protocol === "data:");
  } catch {
    return false;
  }
}

/** @param {string} text */
function safeImage(text) {
  return safeUrl(text) || /^data:image\//i.test(text);
}

/**
 * A date, time or date-time in the caller's time zone. A date written as YYYY-MM-DD is a
 * calendar day and is not shifted; a time of day or an instant is UTC (as the host
 * normalises them) and shown in the caller's zone; a number is seconds since the epoch.
 * @param {"date" | "time" | "datetime"} hint
 * @param {unknown} value
 * @returns {HTMLElement | null}
 */
function renderTemporal(hint, value) {
  /** @type {Intl.DateTimeFormatOptions} */
  const options = hint === "date" ? { dateStyle: "medium" }
    : hint === "time" ? { timeStyle: "short" } : { dateStyle: "medium", timeStyle: "long" };
  let instant;
  if (typeof value === "number" && Number.isFinite(value)) {
    instant = new Date(value * 1000);
  } else if (typeof value === "string" && hint === "date" && /^\d{4}-\d{2}-\d{2}$/.test(value)) {
    instant = new Date(`${value}T00:00:00Z`);
    options.timeZone = "UTC";  // a calendar day, the same everywhere
  } else if (typeof value === "string" && hint === "time" && /^\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(value)) {
    instant = new Date(`${new Date().toISOString().slice(0, 10)}T${value}Z`);
  } else if (typeof value === "string") {
    instant = new Date(value);
  }
  if (!instant || Number.isNaN(instant.getTime())) return null;
  return h("time", { class: `value ${hint}`, datetime: typeof value === "string" ? value : instant.toISOString(),
    title: String(value) }, new Intl.DateTimeFormat(undefined, options).format(instant));
}

/**
 * @param {number} value
 * @param {Schema} schema
 * @param {Intl.NumberFormatOptions} options
 */
function formatNumber(value, schema, options) {
  const digits = typeof schema.precision === "number" ? schema.precision : undefined;
  return new Intl.NumberFormat(undefined, {
    ...options, minimumFractionDigits: digits, maximumFractionDigits: digits,
    useGrouping: schema.use_thousands_separator !== false,
  }).format(value);
}

/**
 * @param {number} value
 * @param {Schema} schema
 */
function formatCurrency(value, schema) {
  const code = typeof schema.currency_code === "string" ? schema.currency_code : "USD";
  const sign = schema.format === "accounting" || schema.format === "financial" ? "accounting" : "standard";
  try {
    return formatNumber(value, schema, { style: "currency", currency: code, currencySign: sign });
  } catch {
    return `${value} ${code}`;  // a code this browser's Intl does not know
  }
}

const DURATION = /^(-)?P(?:(\d+(?:\.\d+)?)W)?(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$/;

/**
 * An ISO 8601 duration in words: "PT1H30M" → "1 hr 30 min".
 * @param {string} iso
 */
export function formatDuration(iso) {
  const parts = DURATION.exec(iso);
  if (!parts) return iso;
  const units = ["wk", "d", "hr", "min", "s"];
  const words = parts.slice(2).map((n, i) => (n && Number(n) !== 0 ? `${Number(n)} ${units[i]}` : null))
    .filter(Boolean);
  return (parts[1] ? "−" : "") + (words.length ? words.join(" ") : "0 s");
}

/** @param {number} days */
function daysToIso(days) {
  let seconds = Math.round(Math.abs(days) * 86400);
  const d = Math.floor(seconds / 86400); seconds -= d * 86400;
  const hr = Math.floor(seconds / 3600); seconds -= hr * 3600;
  const min = Math.floor(seconds / 60); seconds -= min * 60;
  return `${days < 0 ? "-" : ""}P${d ? `${d}D` : ""}T${hr ? `${hr}H` : ""}${min ? `${min}M` : ""}${seconds ? `${seconds}S` : ""}`;
}

/**
 * @param {number} value
 * @param {Schema} schema
 */
function stars(value, schema) {
  const most = Math.max(Math.round(value), typeof schema.maximum === "number" ? schema.maximum : 5);
  const filled = Math.max(0, Math.round(value));
  return "★".repeat(filled) + "☆".repeat(Math.max(0, most - filled));
}

/**
 * @param {string} value
 * @param {Schema} schema
 */
function optionDisplay(value, schema) {
  const found = (schema.options || []).find((/** @type {any} */ o) => (o && o.value) === value);
  return found && found.display ? found.display : value;
}

/**
 * A parameter's type as the pack declares it, e.g. "string", "list of number".
 * @param {Record<string, any>} param
 * @returns {string}
 */
export function typeName(param) {
  const base = param.type === "array" && param.items ? `list of ${typeName(param.items)}` : String(param.type);
  return param.hint ? `${base} (${param.hint})` : base;
}
