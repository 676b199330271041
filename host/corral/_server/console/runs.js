// @ts-check
/**
 * The runs page: the signed-in principal's recent calls from GET /v1/runs, newest first,
 * filtered by pack, formula and outcome (the filters live in the address, #/runs?pack=…,
 * so the history works), a page at a time ("Older runs" follows the answer's ``next``
 * cursor). A row opens to show the call's arguments, logs and error.
 */
import { call } from "./api.js";
import { h, replace } from "./dom.js";

const PAGE_SIZE = 25;
const FILTERS = ["pack", "formula", "outcome"];
const COLUMNS = ["When", "Pack", "Formula", "Kind", "Outcome", "Duration", "Fuel", "Fetches", "Cache"];

/**
 * @typedef {{id: string, at: string | number, pack: string | null, formula: string | null, kind: string,
 *            args: unknown, outcome: string, error: {kind: string, message: string} | null,
 *            duration_ms: number, fuel: number | null, fetches: number | null,
 *            cache_hit: boolean, logs: unknown[], automation: string | null}} Run
 */

/**
 * @param {HTMLElement} view
 * @param {URLSearchParams} query  the filters: pack, formula, outcome
 */
export async function showRuns(view, query) {
  const filters = new URLSearchParams();
  for (const name of FILTERS) {
    const value = (query.get(name) || "").trim();
    if (value) filters.set(name, value);
  }
  const body = h("tbody", {});
  const more = /** @type {HTMLButtonElement} */ (h("button", { id: "runs-more", type: "button", hidden: true }, "Older runs"));
  const empty = h("p", { id: "runs-empty", class: "muted", hidden: true }, "No runs match.");
  replace(view, h("section", { id: "runs", class: "panel" },
    h("h1", {}, "Runs"),
    h("p", { class: "muted" }, "Your recent calls: formulas, actions, syncs and automations."),
    filterForm(filters),
    h("table", { class: "grid runs" },
      h("thead", {}, h("tr", {}, COLUMNS.map((t) => h("th", {}, t)))), body),
    empty, more));

  /** @param {string | null} cursor */
  const load = async (cursor) => {
    const params = new URLSearchParams(filters);
    params.set("limit", String(PAGE_SIZE));
    if (cursor) params.set("cursor", cursor);
    more.disabled = true;
    /** @type {{runs: Run[], next: string | null}} */
    const page = await call("GET", `v1/runs?${params}`);
    for (const run of page.runs) body.append(...runRows(run));
    empty.hidden = body.childElementCount > 0;
    more.hidden = !page.next;
    more.disabled = false;
    more.onclick = () => void load(page.next).catch((failure) => showFailure(view, failure));
  };
  await load(null);
}

/** @param {URLSearchParams} filters */
function filterForm(filters) {
  const field = (/** @type {string} */ name, /** @type {string} */ label) => h("span", { class: "filter" },
    h("label", { for: `runs-${name}` }, label),
    h("input", { id: `runs-${name}`, name, value: filters.get(name) || "", autocomplete: "off" }));
  const outcome = h("select", { id: "runs-outcome", name: "outcome" },
    ["", "ok", "error"].map((value) => h("option", { value, selected: (filters.get("outcome") || "") === value },
      value || "any")));
  return h("form", { id: "runs-filters", class: "filters", onsubmit: (/** @type {Event} */ event) => {
    event.preventDefault();
    const chosen = new URLSearchParams();
    for (const [name, value] of new FormData(/** @type {HTMLFormElement} */ (event.target))) {
      if (typeof value === "string" && value.trim()) chosen.set(name, value.trim());
    }
    const text = chosen.toString();
    location.hash = `#/runs${text ? `?${text}` : ""}`;
  } }, field("pack", "Pack"), field("formula", "Formula"),
  h("span", { class: "filter" }, h("label", { for: "runs-outcome" }, "Outcome"), outcome),
  h("button", { type: "submit" }, "Filter"));
}

/**
 * A run's row, and the row under it that opens to show its details.
 * @param {Run} run
 * @returns {HTMLElement[]}
 */
function runRows(run) {
  const details = h("tr", { class: "run-details", "data-run": run.id, hidden: true },
    h("td", { colspan: COLUMNS.length }, runDetails(run)));
  const toggle = () => {
    details.hidden = !details.hidden;
    row.setAttribute("aria-expanded", String(!details.hidden));
  };
  const row = h("tr", { class: `run run-${run.outcome}`, "data-run": run.id, "data-outcome": run.outcome,
    tabindex: 0, "aria-expanded": "false", onclick: toggle,
    onkeydown: (/** @type {Event} */ event) => {
      if (/** @type {KeyboardEvent} */ (event).key === "Enter") toggle();
    } },
  h("td", {}, when(run.at)),
  h("td", {}, run.pack || ""),
  h("td", {}, h("code", {}, run.formula || evaluated(run.args))),
  h("td", {}, run.kind, run.automation ? h("span", { class: "muted" }, " (automation)") : null),
  h("td", { class: `outcome-${run.outcome}` }, run.outcome),
  h("td", { class: "number" }, `${formatMs(run.duration_ms)}`),
  h("td", { class: "number" }, count(run.fuel)),
  h("td", { class: "number" }, count(run.fetches)),
  h("td", {}, run.cache_hit ? "hit" : "miss"));
  return [row, details];
}

/** @param {Run} run */
function runDetails(run) {
  return h("div", { class: "run-detail" },
    run.error ? h("div", { class: "error run-error" },
      h("strong", {}, run.error.kind), ": ", run.error.message) : null,
    h("h3", {}, "Arguments"),
    h("pre", { class: "run-args" }, argsText(run.args)),
    h("h3", {}, "Logs"),
    run.logs && run.logs.length
      ? h("ol", { class: "run-logs" }, run.logs.map((line) => h("li", {}, logText(line))))
      : h("p", { class: "muted" }, "No logs."),
    run.automation ? h("p", { class: "muted" }, `Run by automation ${run.automation}.`) : null,
    h("p", { class: "muted" }, `Run ${run.id}`));
}

/**
 * A run's arguments as the log keeps them: a list, a call's {args, connection}, an
 * evaluated formula's {formula, variables, connections}, or a truncated preview.
 * @param {unknown} args
 * @returns {string}
 */
function argsText(args) {
  if (Array.isArray(args)) return args.map((arg) => JSON.stringify(arg)).join(", ") || "(none)";
  if (!args || typeof args !== "object") return args === undefined || args === null ? "(none)" : JSON.stringify(args);
  const logged = /** @type {Record<string, any>} */ (args);
  const parts = [];
  if (typeof logged.formula === "string") parts.push(logged.formula);
  if (Array.isArray(logged.args)) parts.push(argsText(logged.args));
  if (typeof logged.truncated === "string") parts.push(`${logged.truncated}…`);
  for (const [name, value] of Object.entries(logged)) {
    if (["formula", "args", "truncated"].includes(name) || value === null || value === undefined) continue;
    if (typeof value === "object" && Object.keys(value).length === 0) continue;
    parts.push(`${name}: ${JSON.stringify(value)}`);
  }
  return parts.join("\n") || "(none)";
}

/**
 * The formula text of an evaluate run that named no pack formula (the memo answered it, or
 * it failed before any pack code ran).
 * @param {unknown} args
 */
function evaluated(args) {
  const text = args && typeof args === "object" ? /** @type {Record<string, unknown>} */ (args).formula : null;
  return typeof text === "string" ? text : "";
}

/** @param {unknown} line */
function logText(line) {
  if (typeof line === "string") return line;
  if (line && typeof line === "object" && "message" in line) {
    const entry = /** @type {Record<string, unknown>} */ (line);
    return `${entry.level ? `[${entry.level}] ` : ""}${entry.message}`;
  }
  return JSON.stringify(line);
}

/**
 * When a run started (ISO 8601, or Unix seconds), in the caller's zone.
 * @param {string | number} at
 */
function when(at) {
  const instant = new Date(typeof at === "number" ? at * 1000 : at);
  if (Number.isNaN(instant.getTime())) return String(at);
  return h("time", { datetime: instant.toISOString(), title: instant.toISOString() },
    new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" }).format(instant));
}

/** @param {number | null | undefined} ms */
function formatMs(ms) {
  if (typeof ms !== "number") return "";
  return `${ms < 10 ? ms.toFixed(1) : Math.round(ms)} ms`;
}

/** @param {number | null | undefined} n */
function count(n) {
  return typeof n === "number" ? n.toLocaleString() : "";
}

/**
 * @param {HTMLElement} view
 * @param {unknown} failure
 */
function showFailure(view, failure) {
  view.append(h("p", { class: "error", role: "alert" }, failure instanceof Error ? failure.message : String(failure)));
}
