// @ts-check
/**
 * Completion in the playground's editor. The name being typed before the caret is matched
 * against the installed packs (GET /v1/packs) and, after "pack.", that pack's formulas.
 * Inside a call's argument whose parameter declares autocomplete, the pack's own
 * autocomplete op is asked (POST /v1/packs/{pack}/autocomplete/{formula}) with what is
 * typed so far and the literal arguments before it. Tab or a click takes a suggestion.
 */
import { call } from "./api.js";
import { h, replace } from "./dom.js";
import { literal } from "./playground.js";  // a cycle of function declarations: safe in ES modules

/** The name (or pack.name) that ends at the caret. */
const TYPED = /([A-Za-z_][A-Za-z0-9_]*)(?:\.([A-Za-z_][A-Za-z0-9_]*)?)?$/;
/** A pack call's callee, just before its "(". */
const CALLEE = /([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*)\s*$/;
const MAX_SUGGESTIONS = 8;
/** Wait this long after a keystroke before asking a pack for suggestions. */
const AUTOCOMPLETE_DELAY_MS = 120;

/**
 * @typedef {{label: string, insert: string, start: number}} Suggestion
 * @typedef {{pack: string, formula: string, index: number, argStart: number,
 *            args: string[]}} CallContext
 */

/** @type {Map<string, Promise<Record<string, any>>>} */
const details = new Map();

/**
 * A pack's detail (GET /v1/packs/{name}), asked once per playground visit.
 * @param {string} name
 * @returns {Promise<Record<string, any>>}
 */
export function packDetail(name) {
  let found = details.get(name);
  if (!found) {
    found = call("GET", `v1/packs/${encodeURIComponent(name)}`);
    found.catch(() => details.delete(name));
    details.set(name, found);
  }
  return found;
}

/** Forget the pack details asked for (a pack may have changed since). */
export function forgetPackDetails() {
  details.clear();
}

/**
 * Offer completions under ``editor`` in ``list``.
 * @param {HTMLTextAreaElement} editor
 * @param {HTMLElement} list
 */
export async function attachCompletion(editor, list) {
  /** @type {Map<string, string[]>} pack name -> its formula names */
  const packs = new Map();
  for (const pack of /** @type {Array<Record<string, any>>} */ (await call("GET", "v1/packs"))) {
    packs.set(pack.name, pack.formulas);
  }
  /** @type {Suggestion[]} */
  let offered = [];
  let asked = 0;  // numbers the autocomplete requests: only the latest one's answer shows
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;

  /** @param {Suggestion[]} suggestions */
  const show = (suggestions) => {
    offered = suggestions;
    replace(list, offered.map((s) => h("li", {},
      h("button", { type: "button", class: "suggestion", onclick: () => take(s) }, s.label))));
    list.hidden = offered.length === 0;
  };

  const refresh = () => {
    const before = editor.value.slice(0, editor.selectionStart);
    const ticket = ++asked;
    clearTimeout(timer);
    show(suggestionsFor(before, packs));
    const context = callAt(before);
    if (offered.length > 0 || !context || !packs.has(context.pack)) return;
    timer = setTimeout(async () => {
      const found = await argumentSuggestions(context, before).catch(() => []);
      if (ticket === asked) show(found);
    }, AUTOCOMPLETE_DELAY_MS);
  };

  /** @param {Suggestion} suggestion */
  const take = (suggestion) => {
    const caret = editor.selectionStart;
    editor.value = editor.value.slice(0, suggestion.start) + suggestion.insert + editor.value.slice(caret);
    const after = suggestion.start + suggestion.insert.length;
    editor.focus();
    editor.setSelectionRange(after, after);
    refresh();
  };

  editor.addEventListener("input", refresh);
  editor.addEventListener("click", refresh);
  editor.addEventListener("keydown", (event) => {
    if (event.key === "Tab" && offered.length > 0) {
      event.preventDefault();
      take(offered[0]);
    } else if (event.key === "Escape") {
      ++asked;
      offered = [];
      list.hidden = true;
    }
  });
  list.hidden = true;
}

/**
 * What may complete the text before the caret.
 * @param {string} before
 * @param {Map<string, string[]>} packs
 * @returns {Suggestion[]}
 */
export function suggestionsFor(before, packs) {
  const typed = TYPED.exec(before);
  if (!typed || inString(before)) return [];
  const [whole, first, second] = typed;
  const start = before.length - whole.length;
  if (whole.includes(".")) {
    const formulas = packs.get(first) || [];
    const prefix = (second || "").toLowerCase();
    return formulas.filter((name) => name.toLowerCase().startsWith(prefix) && name !== second)
      .slice(0, MAX_SUGGESTIONS)
      .map((name) => ({ label: `${first}.${name}(`, insert: `${first}.${name}(`, start }));
  }
  const prefix = first.toLowerCase();
  return [...packs.keys()].filter((name) => name.toLowerCase().startsWith(prefix) && name !== first)
    .slice(0, MAX_SUGGESTIONS)
    .map((name) => ({ label: `${name}.`, insert: `${name}.`, start }));
}

/**
 * The pack call whose argument list the caret is in, which argument, where it starts,
 * and the text of the arguments before it; null outside any pack call.
 * @param {string} before
 * @returns {CallContext | null}
 */
export function callAt(before) {
  /** @type {Array<{callee: RegExpExecArray | null, index: number, argStart: number, args: string[]}>} */
  const open = [];
  let quoted = false;
  for (let i = 0; i < before.length; i++) {
    const c = before[i];
    if (quoted) {
      if (c === "\\") i++;
      else if (c === '"') quoted = false;
      continue;
    }
    const top = open[open.length - 1];
    if (c === '"') {
      quoted = true;
    } else if (c === "(" || c === "[" || c === "{") {
      open.push({ callee: c === "(" ? CALLEE.exec(before.slice(0, i)) : null, index: 0, argStart: i + 1, args: [] });
    } else if ((c === ")" || c === "]" || c === "}") && top) {
      open.pop();
    } else if (c === "," && top) {
      top.args.push(before.slice(top.argStart, i).trim());
      top.index++;
      top.argStart = i + 1;
    }
  }
  const top = open[open.length - 1];
  if (!top || !top.callee) return null;
  const skipped = before.slice(top.argStart).length - before.slice(top.argStart).trimStart().length;
  return { pack: top.callee[1], formula: top.callee[2], index: top.index, argStart: top.argStart + skipped,
    args: top.args };
}

/**
 * The pack's suggestions for the argument at the caret, if its parameter autocompletes and
 * what is typed there is empty or an unfinished text.
 * @param {CallContext} context
 * @param {string} before
 * @returns {Promise<Suggestion[]>}
 */
async function argumentSuggestions(context, before) {
  const typed = before.slice(context.argStart);
  if (typed !== "" && !/^"([^"\\]|\\.)*$/.test(typed)) return [];
  const manifest = (await packDetail(context.pack)).manifest;
  const formula = [...(manifest.formulas || []), ...(manifest.actions || [])]
    .find((/** @type {Record<string, any>} */ f) => f.name.toLowerCase() === context.formula.toLowerCase());
  const params = /** @type {Array<Record<string, any>>} */ ((formula && formula.params) || []);
  const param = params[Math.min(context.index, params.length - 1)];
  if (!formula || !param || !param.autocomplete) return [];
  const search = typed === "" ? "" : JSON.parse(`${typed}"`);
  /** @type {{options: Array<{display: string, value: unknown}>}} */
  const answer = await call("POST",
    `v1/packs/${encodeURIComponent(context.pack)}/autocomplete/${encodeURIComponent(formula.name)}`,
    { param: param.name, search, args: leadingLiterals(context.args) });
  return answer.options.map((option) => ({ option, text: literal(option.value) }))
    .filter((o) => o.text !== null)
    .slice(0, MAX_SUGGESTIONS)
    .map(({ option, text }) => ({ label: String(option.display), insert: /** @type {string} */ (text),
      start: context.argStart }));
}

/**
 * The arguments before the caret's that are JSON literals, up to the first that is not
 * (a formula expression is not worked out here).
 * @param {string[]} args
 * @returns {unknown[]}
 */
function leadingLiterals(args) {
  const values = [];
  for (const text of args) {
    try {
      values.push(JSON.parse(text));
    } catch {
      break;
    }
  }
  return values;
}

/**
 * Whether the caret is inside a string literal (an odd number of unescaped quotes before it).
 * @param {string} before
 */
function inString(before) {
  return (before.replace(/\\./g, "").match(/"/g) || []).length % 2 === 1;
}
