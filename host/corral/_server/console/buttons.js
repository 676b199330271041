// @ts-check
/**
 * Buttons: a pack's action run with arguments from a form made from its parameters, and
 * the action's result (or error) shown. Also the parameter form the sync page uses.
 */
import { ApiError, call } from "./api.js";
import { h, replace } from "./dom.js";
import { renderValue, typeName } from "./render.js";
import { connectionPicker } from "./connections.js";

/**
 * @typedef {{element: HTMLElement, values: () => unknown[]}} ParamForm
 *   ``values`` reads the arguments in call order; it throws an Error naming a parameter
 *   whose text is not a value of its type.
 */

/** The browser's IANA time zone, sent as the call's (the pack's ctx.timezone). */
export function browserTimezone() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}

/**
 * @typedef {{pack: string, name: string, connection: () => string | null}} Completing
 *   where a parameter that declares ``autocomplete`` asks for suggestions
 */

/**
 * Inputs for a formula's, action's or sync table's parameters.
 * @param {string} prefix  ids are ``<prefix>-<parameter>``
 * @param {Array<Record<string, any>>} params
 * @param {Completing} [completing]
 * @returns {ParamForm}
 */
export function paramForm(prefix, params, completing) {
  const inputs = params.map((param) => paramInput(`${prefix}-${param.name}`, param));
  const values = () => argumentValues(params, inputs);
  const element = h("div", { class: "param-form" }, params.map((param, i) => {
    const id = `${prefix}-${param.name}`;
    const options = completing && param.autocomplete && param.type === "string"
      ? suggestions(id, param.name, inputs[i], completing, values) : null;
    return h("div", { class: "field", "data-param": param.name },
      h("label", { for: id }, param.name, " ",
        h("span", { class: "muted" }, typeName(param), param.optional ? ", optional" : "")),
      inputs[i], options,
      param.description ? h("p", { class: "muted hint" }, param.description) : null);
  }));
  return { element, values };
}

/**
 * The pack's suggestions for a parameter, offered as the input's list as the user types.
 * @param {string} id
 * @param {string} param
 * @param {HTMLInputElement | HTMLTextAreaElement} input
 * @param {Completing} completing
 * @param {() => unknown[]} values
 */
function suggestions(id, param, input, completing, values) {
  const list = h("datalist", { id: `${id}-options` });
  input.setAttribute("list", `${id}-options`);
  let asked = 0;
  const ask = async () => {
    const mine = ++asked;
    /** @type {unknown[]} */
    let args = [];
    try {
      args = values();
    } catch {
      // another parameter's text is not a value yet: complete without the arguments
    }
    try {
      const answer = await call("POST", `v1/packs/${encodeURIComponent(completing.pack)}/autocomplete/${encodeURIComponent(completing.name)}`,
        { param, search: input.value, args, connection: completing.connection() });
      if (mine !== asked) return;  // a later keystroke's answer is the one to show
      replace(list, answer.options.map((/** @type {{display: string, value: unknown}} */ o) =>
        h("option", { value: String(o.value) }, o.display)));
    } catch {
      replace(list);  // no suggestions; the form still takes any text
    }
  };
  input.addEventListener("input", () => void ask());
  input.addEventListener("focus", () => void ask(), { once: true });
  return list;
}

/**
 * @param {string} id
 * @param {Record<string, any>} param
 * @returns {HTMLInputElement | HTMLTextAreaElement}
 */
function paramInput(id, param) {
  const fallback = param.default !== undefined ? param.default : param.suggested;
  if (param.type === "boolean") {
    const box = /** @type {HTMLInputElement} */ (h("input", { id, type: "checkbox", class: "checkbox" }));
    box.checked = fallback === true;
    return box;
  }
  if (param.type === "array" || param.type === "object" || param.type === "any") {
    const area = /** @type {HTMLTextAreaElement} */ (h("textarea", { id, rows: 2, spellcheck: "false",
      placeholder: param.type === "array" ? '["a", "b"] (JSON)' : "a JSON value" }));
    if (fallback !== undefined) area.value = JSON.stringify(fallback);
    return area;
  }
  const numeric = param.type === "number" || param.type === "integer";
  const input = /** @type {HTMLInputElement} */ (h("input", { id, type: numeric ? "number" : "text",
    step: param.type === "integer" ? "1" : numeric ? "any" : undefined, autocomplete: "off" }));
  if (fallback !== undefined && fallback !== null) input.value = String(fallback);
  return input;
}

/**
 * The arguments in call order; a blank optional parameter is left out when nothing after
 * it is given, else sent as its default (or null).
 * @param {Array<Record<string, any>>} params
 * @param {Array<HTMLInputElement | HTMLTextAreaElement>} inputs
 */
function argumentValues(params, inputs) {
  /** @type {unknown[]} */
  const args = [];
  let given = 0;
  params.forEach((param, i) => {
    const value = readInput(param, inputs[i]);
    if (value !== undefined) given = i + 1;
    args.push(value === undefined ? (param.default !== undefined ? param.default : null) : value);
  });
  return args.slice(0, given);
}

/**
 * @param {Record<string, any>} param
 * @param {HTMLInputElement | HTMLTextAreaElement} input
 * @returns {unknown} undefined when left blank
 */
function readInput(param, input) {
  if (param.type === "boolean") return /** @type {HTMLInputElement} */ (input).checked;
  const text = input.value.trim();
  if (text === "") return undefined;
  if (param.type === "number" || param.type === "integer") {
    const number = Number(text);
    if (!Number.isFinite(number)) throw new Error(`${param.name}: ${JSON.stringify(text)} is not a number`);
    return number;
  }
  if (param.type === "array" || param.type === "object" || param.type === "any") {
    try {
      return JSON.parse(text);
    } catch {
      throw new Error(`${param.name}: not valid JSON`);
    }
  }
  return input.value;
}

/**
 * The list of every pack's actions, each a link to its button.
 * @param {HTMLElement} view
 */
export async function showButtons(view) {
  replace(view, h("p", { class: "muted" }, "Loading actions…"));
  /** @type {Array<Record<string, any>>} */
  const packs = await call("GET", "v1/packs");
  const items = packs.flatMap((pack) => (pack.actions || []).map((/** @type {string} */ action) =>
    h("li", { "data-action": `${pack.name}.${action}` },
      h("a", { href: `#/buttons/${encodeURIComponent(pack.name)}/${encodeURIComponent(action)}` },
        `${pack.name}.${action}`))));
  replace(view, h("section", { id: "buttons", class: "panel" },
    h("h1", {}, "Buttons"),
    h("p", { class: "muted" }, "An action changes something upstream (opens an issue, sends a message): ",
      "fill in its arguments and press it."),
    items.length ? h("ul", { class: "links" }, items) : h("p", { class: "muted" }, "No pack has actions.")));
}

/**
 * One action's button: its arguments' form, a connection, and what pressing it gave.
 * @param {HTMLElement} view
 * @param {string} pack
 * @param {string} name
 */
export async function showButton(view, pack, name) {
  replace(view, h("p", { class: "muted" }, `Loading ${pack}.${name}…`));
  /** @type {Record<string, any>} */
  const detail = await call("GET", `v1/packs/${encodeURIComponent(pack)}`);
  const action = (detail.manifest.actions || []).find((/** @type {Record<string, any>} */ a) => a.name === name);
  if (!action) throw new Error(`pack ${pack} has no action named ${name}`);
  const picker = await connectionPicker(pack, action.connection || "none");
  const form = paramForm("arg", action.params || [], { pack, name, connection: picker.value });
  const outcome = h("div", { id: "outcome", class: "outcome" });
  const press = /** @type {HTMLButtonElement} */ (h("button", { id: "press", type: "submit" }, name));
  replace(view, h("section", { id: "button", class: "panel", "data-action": `${pack}.${name}` },
    h("p", {}, h("a", { href: "#/buttons" }, "← All buttons")),
    h("h1", {}, h("code", {}, `${pack}.${name}`)),
    action.description ? h("p", {}, action.description) : null,
    h("form", { id: "action-form", onsubmit: (/** @type {Event} */ event) => {
      event.preventDefault();
      void run();
    } }, picker.element, form.element, press),
    outcome));

  async function run() {
    press.disabled = true;
    replace(outcome, h("p", { class: "muted" }, "Running…"));
    try {
      const body = { args: form.values(), connection: picker.value(), timezone: browserTimezone() };
      const started = performance.now();
      const answer = await call("POST", `v1/packs/${encodeURIComponent(pack)}/actions/${encodeURIComponent(name)}`, body);
      replace(outcome, h("h2", {}, "Result"),
        h("div", { id: "result", class: "result" }, renderValue(answer.result, action.result)),
        h("p", { id: "duration", class: "muted" }, `Took ${(performance.now() - started).toFixed(0)} ms`));
    } catch (failure) {
      replace(outcome, h("div", { id: "error", class: "error", role: "alert" },
        failure instanceof ApiError ? h("strong", {}, failure.problem.title || "Error") : null,
        h("p", {}, failure instanceof Error ? failure.message : String(failure))));
    } finally {
      press.disabled = false;
    }
  }
}
