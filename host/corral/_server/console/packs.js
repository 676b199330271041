// @ts-check
/** The packs page: the catalogue, and one pack's formulas with their parameters. */
import { ApiError, call, uploadPack } from "./api.js";
import { h, replace } from "./dom.js";
import { renderValue, typeName } from "./render.js";
import { exampleFormula, literal } from "./playground.js";

/**
 * @param {HTMLElement} view
 * @param {boolean} admin  admins may upload packs and activate versions
 */
export async function showPacks(view, admin) {
  replace(view, h("p", { class: "muted" }, "Loading packs…"));
  /** @type {Array<Record<string, any>>} */
  const packs = await call("GET", "v1/packs");
  const rows = packs.map((pack) => h("tr", { "data-pack": pack.name },
    h("td", {}, h("a", { href: `#/packs/${encodeURIComponent(pack.name)}` }, pack.name)),
    h("td", {}, pack.version),
    h("td", {}, pack.description),
    h("td", {}, domains(pack.network_domains)),
    h("td", {}, pack.auth_kind)));
  replace(view, h("section", { id: "packs", class: "panel" },
    h("h1", {}, "Packs"),
    packs.length === 0
      ? h("p", { class: "muted" }, "No packs are installed.")
      : h("table", { class: "grid" },
        h("thead", {}, h("tr", {}, ["Name", "Version", "Description", "Network", "Auth"].map((t) => h("th", {}, t)))),
        h("tbody", {}, rows)),
    admin ? uploadForm() : null));
}

/** The admin's form: upload a .wasm, then open the pack it registered. */
function uploadForm() {
  const file = /** @type {HTMLInputElement} */ (h("input", { id: "upload-wasm", type: "file", accept: ".wasm,application/wasm", required: true }));
  const error = h("p", { id: "upload-error", class: "error", role: "alert", hidden: true });
  return h("form", { id: "upload", class: "upload", onsubmit: async (/** @type {Event} */ event) => {
    event.preventDefault();
    const chosen = file.files && file.files[0];
    if (!chosen) return;
    error.hidden = true;
    try {
      const pack = await uploadPack(chosen);
      location.hash = `#/packs/${encodeURIComponent(pack.name)}`;
    } catch (failure) {
      error.textContent = failure instanceof ApiError ? failure.message : String(failure);
      error.hidden = false;
    }
  } }, h("h2", {}, "Upload a pack"), h("label", { for: "upload-wasm" }, "Pack (.wasm)"), file,
  h("button", { type: "submit" }, "Upload and activate"), error);
}

/**
 * @param {HTMLElement} view
 * @param {string} name
 * @param {boolean} admin
 */
export async function showPack(view, name, admin) {
  replace(view, h("p", { class: "muted" }, `Loading ${name}…`));
  /** @type {Record<string, any>} */
  const detail = await call("GET", `v1/packs/${encodeURIComponent(name)}`);
  const manifest = detail.manifest;
  /** @type {Array<Record<string, any>>} */
  const formulas = manifest.formulas || [];
  replace(view, h("section", { id: "pack", class: "panel", "data-pack": detail.name },
    h("p", {}, h("a", { href: "#/packs" }, "← All packs")),
    h("h1", {}, `${detail.name} `, h("span", { class: "muted" }, detail.version)),
    h("p", {}, manifest.pack.description),
    h("dl", { class: "facts" },
      h("dt", {}, "Network"), h("dd", {}, domains(manifest.pack.network_domains)),
      h("dt", {}, "Auth"), h("dd", {}, manifest.auth.kind),
      h("dt", {}, "Versions"), h("dd", {}, h("ul", { id: "versions", class: "versions" },
        detail.versions.map((/** @type {Record<string, any>} */ v) => versionItem(view, detail.name, v, admin)))),
      h("dt", {}, "SHA-256"), h("dd", {}, h("code", {}, detail.sha256))),
    h("h2", {}, "Formulas"),
    formulas.length === 0 ? h("p", { class: "muted" }, "This pack has no formulas.") : null,
    formulas.map((formula) => formulaCard(detail.name, formula, true)),
    section("Actions", "actions", (manifest.actions || []).map(
      (/** @type {Record<string, any>} */ action) => formulaCard(detail.name, action, false))),
    section("Sync tables", "tables", (manifest.sync_tables || []).map(
      (/** @type {Record<string, any>} */ table) => tableCard(detail.name, table)))));
}

/**
 * One stored version; an admin may make an inactive one active (activate or roll back).
 * @param {HTMLElement} view
 * @param {string} pack
 * @param {Record<string, any>} version
 * @param {boolean} admin
 */
function versionItem(view, pack, version, admin) {
  const activate = async () => {
    try {
      await call("POST", `v1/packs/${encodeURIComponent(pack)}/versions/${encodeURIComponent(version.version)}/activate`);
      await showPack(view, pack, admin);
    } catch (failure) {
      item.append(h("span", { class: "error", role: "alert" }, ` ${failure instanceof Error ? failure.message : failure}`));
    }
  };
  const item = h("li", { "data-version": version.version }, version.version,
    version.active ? h("span", { class: "muted" }, " (active)")
      : admin ? h("button", { type: "button", class: "activate", onclick: activate }, "Activate") : null);
  return item;
}

/**
 * A heading and its cards, or nothing when there are none.
 * @param {string} title
 * @param {string} id
 * @param {HTMLElement[]} cards
 */
function section(title, id, cards) {
  return cards.length ? h("section", { id }, h("h2", {}, title), cards) : null;
}

/** @param {Array<Record<string, any>>} params */
function paramsTable(params) {
  return params.length === 0 ? h("p", { class: "muted" }, "No parameters.") : h("table", { class: "params" },
    h("thead", {}, h("tr", {}, ["Parameter", "Type", "Description"].map((t) => h("th", {}, t)))),
    h("tbody", {}, params.map((param) => h("tr", { "data-param": param.name },
      h("td", {}, h("code", {}, param.name), param.optional ? h("span", { class: "muted" }, optional(param)) : null),
      h("td", {}, typeName(param), param.autocomplete ? h("span", { class: "muted" }, " (autocomplete)") : null),
      h("td", {}, param.description || "")))));
}

/**
 * @param {string} pack
 * @param {Record<string, any>} table
 */
function tableCard(pack, table) {
  /** @type {Record<string, Record<string, any>>} */
  const columns = (table.schema && table.schema.properties) || {};
  const kinds = [table.dynamic ? "dynamic" : null, table.updatable ? "two-way" : null,
    table.connection === "required" ? "needs a connection" : null].filter(Boolean);
  return h("article", { class: "formula", "data-table": table.name },
    h("h3", {}, h("code", {}, table.name), kinds.length ? h("span", { class: "muted" }, ` ${kinds.join(", ")}`) : null, " ",
      h("a", { class: "open-grid", href: `#/sync/${encodeURIComponent(pack)}/${encodeURIComponent(table.name)}` }, "Open the grid")),
    table.description ? h("p", {}, table.description) : null,
    paramsTable(table.params || []),
    h("table", { class: "params" },
      h("thead", {}, h("tr", {}, ["Column", "Type", ""].map((t) => h("th", {}, t)))),
      h("tbody", {}, Object.entries(columns).map(([name, column]) => h("tr", { "data-column": name },
        h("td", {}, h("code", {}, name), name === table.schema.id_property ? h("span", { class: "muted" }, " id") : null),
        h("td", {}, typeName(column)),
        h("td", {}, column.mutable ? "editable" : ""))))));
}

/**
 * @param {string} pack
 * @param {Record<string, any>} formula
 * @param {boolean} playable  formulas open in the playground; actions do not (yet)
 */
function formulaCard(pack, formula, playable) {
  const examples = /** @type {Array<Record<string, any>>} */ (formula.examples || []);
  const tryIt = `#/playground?formula=${encodeURIComponent(exampleFormula(pack, formula))}`;
  return h("article", { class: "formula", "data-formula": formula.name },
    h("h3", {}, h("code", {}, `${pack}.${formula.name}`), " ",
      playable ? h("a", { class: "try", href: tryIt }, "Try it")
        : h("a", { class: "press", href: `#/buttons/${encodeURIComponent(pack)}/${encodeURIComponent(formula.name)}` }, "Press it"),
      formula.connection === "required" ? h("span", { class: "muted" }, " needs a connection") : null),
    formula.description ? h("p", {}, formula.description) : null,
    paramsTable(formula.params || []),
    h("p", { class: "muted" }, `Returns ${formula.result ? typeName(formula.result) : "a value"}.`),
    examples.map((example) => h("div", { class: "example" },
      h("code", {}, `${pack}.${formula.name}(${example.params.map((/** @type {unknown} */ p) => literal(p) ?? JSON.stringify(p)).join(", ")})`),
      " → ", renderValue(example.result, formula.result))));
}

/** @param {Record<string, any>} param */
function optional(param) {
  const fallback = literal(param.default);
  return param.default === undefined || fallback === null ? " optional" : ` optional, default ${fallback}`;
}

/** @param {string[] | undefined} list */
function domains(list) {
  return list && list.length ? list.join(", ") : "none";
}
