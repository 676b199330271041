// @ts-check
/**
 * Completion of pack and formula names in the playground's editor: the name being typed
 * before the caret is matched against the installed packs (GET /v1/packs) and, after
 * "pack.", that pack's formulas. Tab or a click takes a suggestion.
 */
import { call } from "./api.js";
import { h, replace } from "./dom.js";

/** The name (or pack.name) that ends at the caret. */
const TYPED = /([A-Za-z_][A-Za-z0-9_]*)(?:\.([A-Za-z_][A-Za-z0-9_]*)?)?$/;
const MAX_SUGGESTIONS = 8;

/**
 * @typedef {{label: string, insert: string, start: number}} Suggestion
 */

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

  const refresh = () => {
    offered = suggestionsFor(editor.value.slice(0, editor.selectionStart), packs);
    replace(list, offered.map((s) => h("li", {},
      h("button", { type: "button", class: "suggestion", onclick: () => take(s) }, s.label))));
    list.hidden = offered.length === 0;
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
 * Whether the caret is inside a string literal (an odd number of unescaped quotes before it).
 * @param {string} before
 */
function inString(before) {
  return (before.replace(/\\./g, "").match(/"/g) || []).length % 2 === 1;
}
