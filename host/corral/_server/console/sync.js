// @ts-check
/**
 * Sync tables as a grid: the table's rows shown page by page as the server streams them
 * (NDJSON), its columns from the schema (a dynamic table's from the URL picked in the
 * pack's list), values rendered by hint as text and links only. In a two-way table a
 * mutable cell can be edited: the edit goes back through the pack (sync_update) and the
 * row shows what the pack answered for it, the saved row or its error.
 */
import { ApiError, call, streamLines } from "./api.js";
import { h, replace } from "./dom.js";
import { browserTimezone, paramForm } from "./buttons.js";
import { connectionPicker } from "./connections.js";

/**
 * @typedef {Record<string, any>} Row
 * @typedef {{pack: string, table: Record<string, any>, schema: Record<string, any>,
 *            args: unknown[], connection: string | null, url: string | null}} Synced
 */

const EDITABLE_TYPES = new Set(["string", "number", "integer", "boolean"]);

/**
 * Every pack's sync tables, each a link to its grid.
 * @param {HTMLElement} view
 */
export async function showSyncTables(view) {
  replace(view, h("p", { class: "muted" }, "Loading sync tables…"));
  /** @type {Array<Record<string, any>>} */
  const packs = await call("GET", "v1/packs");
  const items = packs.flatMap((pack) => (pack.sync_tables || []).map((/** @type {string} */ table) =>
    h("li", { "data-table": `${pack.name}.${table}` },
      h("a", { href: `#/sync/${encodeURIComponent(pack.name)}/${encodeURIComponent(table)}` }, `${pack.name}.${table}`))));
  replace(view, h("section", { id: "sync-tables", class: "panel" },
    h("h1", {}, "Sync tables"),
    items.length ? h("ul", { class: "links" }, items) : h("p", { class: "muted" }, "No pack has sync tables.")));
}

/**
 * One table: its arguments, connection and (dynamic) URL, then the grid.
 * @param {HTMLElement} view
 * @param {string} pack
 * @param {string} name
 */
export async function showSync(view, pack, name) {
  replace(view, h("p", { class: "muted" }, `Loading ${pack}.${name}…`));
  /** @type {Record<string, any>} */
  const detail = await call("GET", `v1/packs/${encodeURIComponent(pack)}`);
  const table = (detail.manifest.sync_tables || []).find((/** @type {Record<string, any>} */ t) => t.name === name);
  if (!table) throw new Error(`pack ${pack} has no sync table named ${name}`);
  const picker = await connectionPicker(pack, table.connection || "none");
  const form = paramForm("sync-arg", table.params || [], { pack, name, connection: picker.value });
  const urls = /** @type {HTMLSelectElement} */ (h("select", { id: "dynamic-url" }));
  const urlField = table.dynamic ? h("div", { class: "field" }, h("label", { for: "dynamic-url" }, "Table"), urls) : null;
  const status = h("p", { id: "sync-status", class: "muted", role: "status" });
  const grid = h("div", { id: "grid", class: "grid-wrap" });
  const start = /** @type {HTMLButtonElement} */ (h("button", { id: "sync", type: "submit" }, "Sync"));
  /** @type {AbortController | null} */
  let running = null;
  const stop = /** @type {HTMLButtonElement} */ (h("button", { id: "stop-sync", type: "button", class: "secondary", hidden: true,
    onclick: () => running?.abort() }, "Stop"));
  replace(view, h("section", { id: "sync-table", class: "panel", "data-table": `${pack}.${name}` },
    h("p", {}, h("a", { href: "#/sync" }, "← All sync tables")),
    h("h1", {}, h("code", {}, `${pack}.${name}`), table.updatable ? h("span", { class: "muted" }, " two-way") : null),
    table.description ? h("p", {}, table.description) : null,
    h("form", { id: "sync-form", onsubmit: (/** @type {Event} */ event) => {
      event.preventDefault();
      void run();
    } }, picker.element, urlField, form.element, start, " ", stop),
    status, grid));
  if (table.dynamic) {
    await loadUrls(pack, name, urls, picker.value(), status);
    picker.element?.querySelector("select")?.addEventListener("change",
      () => void loadUrls(pack, name, urls, picker.value(), status));
  }

  async function run() {
    start.disabled = true;
    running?.abort();
    const mine = running = new AbortController();
    window.addEventListener("hashchange", () => mine.abort(), { once: true });  // left the page
    stop.hidden = false;
    try {
      const url = table.dynamic ? urls.value || null : null;
      /** @type {Synced} */
      const synced = { pack, table, schema: table.schema, args: form.values(), connection: picker.value(), url };
      if (url) {
        const answer = await call("POST", `v1/packs/${encodeURIComponent(pack)}/tables/${encodeURIComponent(name)}/schema`,
          { url, connection: synced.connection });
        synced.schema = answer.schema;
      }
      await streamGrid(synced, grid, status, mine.signal);
    } catch (failure) {
      if (mine.signal.aborted) {
        replace(status, `Stopped: ${grid.querySelectorAll("tbody tr").length} rows shown.`);
      } else {
        failed(status, failure);
      }
    } finally {
      start.disabled = false;
      stop.hidden = true;
    }
  }
}

/**
 * The dynamic table's list of URLs, from the pack.
 * @param {string} pack
 * @param {string} name
 * @param {HTMLSelectElement} select
 * @param {string | null} connection
 * @param {HTMLElement} status
 */
async function loadUrls(pack, name, select, connection, status) {
  const query = connection ? `?connection=${encodeURIComponent(connection)}` : "";
  const mine = (urlLoads.get(select) ?? 0) + 1;
  urlLoads.set(select, mine);
  try {
    const answer = await call("GET", `v1/packs/${encodeURIComponent(pack)}/tables/${encodeURIComponent(name)}/urls${query}`);
    if (urlLoads.get(select) !== mine) return;  // a later load (another connection) decides
    const kept = select.value;  // what the user picked meanwhile stays picked, if listed
    replace(select, answer.urls.map((/** @type {{display: string, url: string}} */ u) => h("option", { value: u.url }, u.display)));
    if (kept && Array.from(select.options).some((option) => option.value === kept)) select.value = kept;
  } catch (failure) {
    if (urlLoads.get(select) !== mine) return;
    replace(select);
    failed(status, failure);
  }
}

/** The latest load of each URL list: an answer to an earlier one is dropped. */
const urlLoads = /** @type {WeakMap<HTMLSelectElement, number>} */ (new WeakMap());

/**
 * @param {HTMLElement} status
 * @param {unknown} failure
 */
function failed(status, failure) {
  status.className = "error";
  status.setAttribute("role", "alert");
  replace(status, failure instanceof Error ? failure.message : String(failure));
}

/**
 * Run the sync and draw its rows as each page arrives.
 * @param {Synced} synced
 * @param {HTMLElement} grid
 * @param {HTMLElement} status
 * @param {AbortSignal} signal
 */
async function streamGrid(synced, grid, status, signal) {
  const columns = columnsOf(synced.schema);
  const body = h("tbody", {});
  replace(grid, h("table", { class: "grid sync" },
    h("thead", {}, h("tr", {}, columns.map(([column, prop]) => h("th", { "data-column": column },
      column, prop.mutable && synced.table.updatable ? h("span", { class: "muted" }, " ✎") : null)), synced.table.updatable ? h("th", { class: "row-result" }, "Result") : null)),
    body));
  status.className = "muted";
  status.setAttribute("role", "status");
  replace(status, "Syncing…");
  let rows = 0;
  let pages = 0;
  const path = `v1/packs/${encodeURIComponent(synced.pack)}/tables/${encodeURIComponent(synced.table.name)}/sync`;
  await streamLines(path, { args: synced.args, connection: synced.connection, dynamic_url: synced.url ?? undefined, timezone: browserTimezone() },
    (line) => {
      if (line.error) throw new ApiError(line.error.status || 500, line.error);
      if (line.done) {
        grid.setAttribute("data-pages", String(line.pages));
        replace(status, `${line.rows} rows in ${line.pages} ${line.pages === 1 ? "page" : "pages"}.`);
        return;
      }
      pages = line.page;
      rows += line.rows.length;
      for (const row of line.rows) body.append(rowElement(synced, columns, row));
      grid.setAttribute("data-pages-so-far", String(pages));
      replace(status, `Page ${pages}: ${rows} rows so far…`);
    }, signal);
}

/**
 * The schema's columns: the id first, then the display column, the featured ones in
 * their order, then the rest as listed.
 * @param {Record<string, any>} schema
 * @returns {Array<[string, Record<string, any>]>}
 */
function columnsOf(schema) {
  const entries = Object.entries(schema.properties || {});
  /** @type {string[]} */
  const featured = schema.featured || [];
  const rank = (/** @type {string} */ name) => (name === schema.id_property ? -2
    : name === schema.display_property ? -1 : featured.includes(name) ? featured.indexOf(name) : featured.length);
  return entries.map((entry, i) => /** @type {[number, number, [string, Record<string, any>]]} */ ([rank(entry[0]), i, entry]))
    .sort((a, b) => a[0] - b[0] || a[1] - b[1]).map((item) => item[2]);
}

/**
 * @param {Synced} synced
 * @param {Array<[string, Record<string, any>]>} columns
 * @param {Row} row
 */
function rowElement(synced, columns, row) {
  const id = synced.schema.id_property ? row[synced.schema.id_property] : undefined;
  const result = h("td", { class: "row-result" });
  const tr = h("tr", { "data-row-id": id === undefined ? "" : String(id) });
  /** @type {{row: Row}} */
  const current = { row };
  const draw = () => replace(tr, columns.map(([column, prop]) => {
    const td = h("td", { "data-column": column }, cell(current.row[column], prop));
    if (synced.table.updatable && prop.mutable && EDITABLE_TYPES.has(prop.type)) {
      td.classList.add("editable");
      td.title = "Click (or Enter) to edit";
      td.tabIndex = 0;
      td.addEventListener("click", () => edit(td, column, prop));
      td.addEventListener("keydown", (event) => {
        if ((event.key === "Enter" || event.key === "F2") && event.target === td) {
          event.preventDefault();
          edit(td, column, prop);
        }
      });
    }
    return td;
  }), synced.table.updatable ? result : null);

  /**
   * @param {HTMLElement} td
   * @param {string} column
   * @param {Record<string, any>} prop
   */
  const edit = (td, column, prop) => {
    if (td.querySelector("input")) return;
    const input = /** @type {HTMLInputElement} */ (h("input", { class: "cell-input", type: prop.type === "boolean" ? "checkbox"
      : prop.type === "string" ? "text" : "number", "aria-label": column }));
    if (prop.type === "boolean") input.checked = current.row[column] === true;
    else input.value = current.row[column] === null || current.row[column] === undefined ? "" : String(current.row[column]);
    let settled = false;
    const finish = (/** @type {boolean} */ keep) => {
      if (settled) return;
      settled = true;
      if (!keep) return draw();
      const value = prop.type === "boolean" ? input.checked : prop.type === "string" ? input.value : Number(input.value);
      if (value === current.row[column]) return draw();
      void save(column, value);
    };
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter") { event.preventDefault(); finish(true); }
      if (event.key === "Escape") finish(false);
    });
    input.addEventListener("blur", () => finish(true));
    replace(td, input);
    input.focus();
  };

  /**
   * @param {string} column
   * @param {unknown} value
   */
  const save = async (column, value) => {
    const previous = current.row;
    const edited = { ...previous, [column]: value };
    current.row = edited;
    draw();
    tr.classList.add("saving");
    replace(result, h("span", { class: "muted" }, "Saving…"));
    try {
      const answer = await call("POST", `v1/packs/${encodeURIComponent(synced.pack)}/tables/${encodeURIComponent(synced.table.name)}/update`, {
        updates: [{ previous, new: edited, updated_fields: [column] }], args: synced.args,
        connection: synced.connection, dynamic_url: synced.url ?? undefined, timezone: browserTimezone() });
      const [outcome] = answer.results;
      if (outcome.ok) {
        current.row = outcome.ok;
        draw();
        replace(result, h("span", { class: "ok" }, "Saved"));
      } else {
        current.row = previous;
        draw();
        replace(result, h("span", { class: "error", role: "alert" }, outcome.err));
      }
    } catch (failure) {
      current.row = previous;
      draw();
      replace(result, h("span", { class: "error", role: "alert" }, failure instanceof Error ? failure.message : String(failure)));
    } finally {
      tr.classList.remove("saving");
    }
  };

  draw();
  return tr;
}

/**
 * A value in a grid cell, by its schema's hint: text nodes, and links only to http(s).
 * @param {unknown} value
 * @param {Record<string, any>} prop
 * @returns {Node}
 */
export function cell(value, prop) {
  if (value === null || value === undefined) return h("span", { class: "value empty" });
  if (Array.isArray(value)) {
    return h("span", { class: "value list" }, value.flatMap((item, i) => [i ? ", " : "", cell(item, prop.items || {})]));
  }
  if (typeof value === "object") {
    const record = /** @type {Record<string, unknown>} */ (value);
    const shown = prop.display_property ? record[prop.display_property] : undefined;
    return h("span", { class: "value object", title: JSON.stringify(value) },
      shown === undefined ? JSON.stringify(value) : String(shown));
  }
  const text = String(value);
  switch (prop.hint) {
    case "url": case "image": case "image_reference": case "attachment":
      return safeLink(text, text);
    case "email":
      return h("a", { href: `mailto:${text}` }, text);
    case "datetime": case "date": {
      const when = new Date(text);
      if (Number.isNaN(when.getTime())) return document.createTextNode(text);
      return h("time", { datetime: text, title: text },
        prop.hint === "date" ? when.toLocaleDateString(undefined, { timeZone: "UTC" }) : when.toLocaleString());
    }
    case "percent":
      return document.createTextNode(typeof value === "number" ? `${+(value * 100).toFixed(4)}%` : text);
    case "currency":
      return document.createTextNode(typeof value === "number" && prop.currency_code
        ? new Intl.NumberFormat(undefined, { style: "currency", currency: prop.currency_code }).format(value) : text);
    default:
      return document.createTextNode(text);
  }
}

/**
 * @param {string} href
 * @param {string} text
 */
function safeLink(href, text) {
  try {
    const url = new URL(href);
    if (url.protocol === "https:" || url.protocol === "http:") {
      return h("a", { href: url.href, target: "_blank", rel: "noopener noreferrer" }, text);
    }
  } catch {
    // not a URL: shown as text below
  }
  return document.createTextNode(text);
}
