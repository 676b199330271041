// @ts-check
/**
 * A formula's result on the page: text as text, numbers and booleans as themselves,
 * lists as lists and objects as cards (the display property, when the schema names one,
 * as the card's title). Rendering by hint (links, images, dates, currency) is to come.
 */
import { h } from "./dom.js";

/**
 * @param {unknown} value
 * @param {Record<string, any> | undefined} [schema]
 * @returns {HTMLElement}
 */
export function renderValue(value, schema) {
  if (value === null || value === undefined) return h("span", { class: "value empty" }, "(blank)");
  if (Array.isArray(value)) {
    const items = schema && schema.items;
    return h("ol", { class: "value list" }, value.map((item) => h("li", {}, renderValue(item, items))));
  }
  if (typeof value === "object") return renderObject(/** @type {Record<string, unknown>} */ (value), schema);
  if (typeof value === "boolean") return h("span", { class: "value boolean" }, value ? "true" : "false");
  if (typeof value === "number") return h("span", { class: "value number" }, String(value));
  return h("span", { class: "value text" }, String(value));
}

/**
 * @param {Record<string, unknown>} value
 * @param {Record<string, any> | undefined} schema
 */
function renderObject(value, schema) {
  if (typeof value.$binary === "string" && Object.keys(value).length === 1) {
    return h("code", { class: "value binary" }, `${value.$binary.length / 2} bytes: ${value.$binary.slice(0, 64)}`);
  }
  const properties = (schema && schema.properties) || {};
  const title = schema && schema.display_property ? value[schema.display_property] : undefined;
  return h("div", { class: "value card" },
    title === undefined ? null : h("div", { class: "card-title" }, String(title)),
    h("dl", {}, Object.entries(value).map(([name, item]) => [
      h("dt", {}, name),
      h("dd", {}, renderValue(item, properties[name])),
    ])));
}

/**
 * A parameter's type as the pack declares it, e.g. "string", "list of number".
 * @param {Record<string, any>} param
 */
export function typeName(param) {
  const base = param.type === "array" && param.items ? `list of ${typeName(param.items)}` : String(param.type);
  return param.hint ? `${base} (${param.hint})` : base;
}
