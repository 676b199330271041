// @ts-check
/**
 * The formula playground: a formula such as =hello.Greet("Ada") evaluated by
 * POST /v1/evaluate in the browser's time zone, its result rendered by the schema of the
 * pack formula it is (the Corral-Result-Of header names it), a syntax error shown at its
 * line and column (the caret is put there too), how long the server took (Server-Timing)
 * and whether the formula memo answered (Corral-Cache).
 */
import { ApiError, exchange } from "./api.js";
import { h, replace } from "./dom.js";
import { attachCompletion, forgetPackDetails, packDetail } from "./completion.js";
import { callerTimezone, renderValue } from "./render.js";

/**
 * @param {HTMLElement} view
 * @param {string} [initial]  a formula to start with (from a pack page's "Try it")
 */
export function showPlayground(view, initial) {
  const editor = /** @type {HTMLTextAreaElement} */ (h("textarea", {
    id: "formula", name: "formula", rows: 4, spellcheck: "false", autocomplete: "off",
    placeholder: '=hello.Greet("Ada")',
  }));
  editor.value = initial || '=hello.Greet("Ada")';
  const suggestions = h("ul", { id: "suggestions", class: "suggestions", hidden: true });
  const output = h("div", { id: "outcome", class: "outcome", "aria-live": "polite" });
  const button = /** @type {HTMLButtonElement} */ (h("button", { id: "run", type: "submit" }, "Run"));
  const form = /** @type {HTMLFormElement} */ (h("form", { id: "playground", class: "panel", onsubmit: run },
    h("h1", {}, "Formula playground"),
    h("label", { for: "formula" }, "Formula"), editor, suggestions,
    h("p", { class: "muted" }, "Tab completes a pack or formula name, or a suggested argument; ",
      "Ctrl+Enter runs it. Dates are shown in ", h("span", { id: "timezone" }, callerTimezone()), "."),
    button, output));
  editor.addEventListener("input", () => editor.removeAttribute("aria-invalid"));
  editor.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  replace(view, form);
  forgetPackDetails();  // a pack may have a new version since the last visit
  editor.focus();
  void attachCompletion(editor, suggestions).catch(() => { suggestions.hidden = true; });

  /** @param {Event} event */
  async function run(event) {
    event.preventDefault();
    const formula = editor.value;
    button.disabled = true;
    editor.removeAttribute("aria-invalid");
    replace(output, h("p", { class: "muted" }, "Running…"));
    const started = performance.now();
    try {
      const answer = await exchange("POST", "v1/evaluate", { formula, timezone: callerTimezone() });
      const schema = await resultSchema(answer.headers.get("Corral-Result-Of"));
      replace(output, h("div", { id: "result", class: "result" }, renderValue(answer.data.result, schema)),
        timing(answer.headers, started));
    } catch (failure) {
      replace(output, describeFailure(failure, formula, editor), timing(null, started));
    } finally {
      button.disabled = false;
    }
  }
}

/**
 * The declared result schema of ``pack.Formula`` (from the pack's manifest), if any.
 * @param {string | null} resultOf
 * @returns {Promise<Record<string, any> | undefined>}
 */
async function resultSchema(resultOf) {
  if (!resultOf) return undefined;
  const [pack, name] = resultOf.split(".");
  try {
    const manifest = (await packDetail(pack)).manifest;
    const found = [...(manifest.formulas || []), ...(manifest.actions || [])]
      .find((/** @type {Record<string, any>} */ f) => f.name === name);
    return found ? found.result : undefined;
  } catch {
    return undefined;  // shown without its schema, as plain values
  }
}

/**
 * How long the call took (the server's Server-Timing, else as the browser saw it) and
 * whether the memo answered it.
 * @param {Headers | null} headers
 * @param {number} started
 */
function timing(headers, started) {
  const server = headers && /dur=([0-9.]+)/.exec(headers.get("Server-Timing") || "");
  const ms = server ? Number(server[1]) : performance.now() - started;
  const cache = headers && headers.get("Corral-Cache");
  return h("p", { class: "muted timing" },
    h("span", { id: "duration" }, `Took ${ms < 10 ? ms.toFixed(1) : Math.round(ms)} ms`),
    cache ? [" · ", h("span", { id: "cache", class: `cache ${cache}`, "data-cache": cache },
      cache === "hit" ? "cache hit" : "cache miss")] : null);
}

/**
 * @param {unknown} failure
 * @param {string} formula
 * @param {HTMLTextAreaElement} editor
 */
function describeFailure(failure, formula, editor) {
  if (!(failure instanceof ApiError)) {
    return h("div", { id: "error", class: "error", role: "alert" }, String(failure));
  }
  const problem = failure.problem;
  const where = typeof problem.line === "number" && typeof problem.column === "number";
  if (where) {
    placeCaret(editor, formula, problem.line, problem.column);
    editor.setAttribute("aria-invalid", "true");
    editor.setAttribute("aria-errormessage", "error");
  }
  const firstLine = String(problem.detail || "").split("\n")[0];
  return h("div", { id: "error", class: "error", role: "alert", "data-kind": problem.kind || "" },
    h("strong", {}, where
      ? `${problem.kind === "formula_syntax" ? "Syntax error" : problem.title || "Error"} at line ${problem.line}, column ${problem.column}`
      : problem.title || `HTTP ${failure.status}`),
    h("p", {}, firstLine),
    where ? h("pre", { class: "caret" }, pointAt(formula, problem.line, problem.column)) : null);
}

/**
 * The formula's line with a ^ under the column (both counted from 1).
 * @param {string} formula
 * @param {number} line
 * @param {number} column
 */
export function pointAt(formula, line, column) {
  const text = formula.split("\n")[line - 1] || "";
  return `${text}\n${" ".repeat(Math.max(0, column - 1))}^`;
}

/**
 * @param {HTMLTextAreaElement} editor
 * @param {string} formula
 * @param {number} line
 * @param {number} column
 */
function placeCaret(editor, formula, line, column) {
  const lines = formula.split("\n");
  let offset = 0;
  for (let i = 0; i < line - 1 && i < lines.length; i++) offset += lines[i].length + 1;
  offset = Math.min(formula.length, offset + column - 1);
  editor.focus();
  editor.setSelectionRange(offset, offset);
}

/**
 * A value as formula syntax, or null if the formula language has no literal for it.
 * @param {unknown} value
 * @returns {string | null}
 */
export function literal(value) {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  if (typeof value === "boolean") return String(value);
  if (Array.isArray(value)) {
    const items = value.map(literal);
    return items.every((item) => item !== null) ? `[${items.join(", ")}]` : null;
  }
  return null;
}

/**
 * A formula calling ``pack.formula`` with its first example's arguments (else none).
 * @param {string} pack
 * @param {Record<string, any>} formula
 */
export function exampleFormula(pack, formula) {
  const example = (formula.examples || [])[0];
  const args = example ? example.params.map(literal) : [];
  const usable = args.every((/** @type {string | null} */ a) => a !== null);
  return `=${pack}.${formula.name}(${usable ? args.join(", ") : ""})`;
}
