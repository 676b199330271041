// @ts-check
/**
 * Automations (when → if → then): the caller's list with each one's status, a form to
 * create or edit one, and its runs from the execution log (GET /v1/runs?automation=…).
 *
 * Views: #/automations, #/automations/new, #/automations/<id>. A webhook's URL holds its
 * secret and is shown once, right after it is made.
 */
import { ApiError, call } from "./api.js";
import { h, replace } from "./dom.js";

const EXAMPLE_ACTIONS = JSON.stringify(
  [{ pack: "hello", name: "Greet", args: ["=$$[variable:trigger].name"] }], null, 2);

/** @param {HTMLElement} view */
export async function showAutomations(view) {
  const answer = await call("GET", "v1/automations");
  /** @type {Record<string, any>[]} */
  const found = answer.automations;
  const rows = found.map((a) => h("tr", { "data-automation": a.id },
    h("td", {}, h("a", { href: `#/automations/${encodeURIComponent(a.id)}` }, a.name)),
    h("td", {}, describeTrigger(a.trigger)),
    h("td", {}, statusBadge(a)),
    h("td", {}, String(a.failures)),
    h("td", {}, a.next_run_at ? when(a.next_run_at) : "—"),
    h("td", {}, a.actions.map((/** @type {any} */ s) => `${s.pack}.${s.name}`).join(", "))));
  replace(view, h("section", { id: "automations", class: "panel" },
    h("h1", {}, "Automations"),
    h("p", {}, h("a", { id: "new-automation", href: "#/automations/new" }, "New automation")),
    found.length === 0
      ? h("p", { class: "muted" }, "No automations yet.")
      : h("table", {},
        h("thead", {}, h("tr", {}, ...["Name", "When", "Status", "Failures", "Next run",
          "Then"].map((t) => h("th", {}, t)))),
        h("tbody", {}, rows))));
}

/**
 * The form for a new automation, or for editing ``id`` with its runs below.
 * @param {HTMLElement} view
 * @param {string | null} id
 */
export async function showAutomation(view, id) {
  const current = id ? await call("GET", `v1/automations/${encodeURIComponent(id)}`) : null;
  let editing = id;  // once a new one is made, saving the form again edits it
  let saves = 0;
  const savedNote = h("p", { id: "automation-saved", class: "muted", "data-saves": "0", hidden: true },
    "Saved.");
  const form = automationForm(current, async (body) => {
    const saved = editing
      ? await call("PUT", `v1/automations/${encodeURIComponent(editing)}`, body)
      : await call("POST", "v1/automations", body);
    if (saved.webhook_url) showHookUrl(view, saved.webhook_url);
    if (!editing) history.replaceState(null, "", `#/automations/${encodeURIComponent(saved.id)}`);
    editing = saved.id;
    await drawRuns(runs, saved.id);
    replace(state, statusBadge(saved));
    replace(title, saved.name);
    saves += 1;
    savedNote.setAttribute("data-saves", String(saves));
    savedNote.hidden = false;
    return saved.id;
  });
  const state = h("span", { id: "automation-status" }, current ? statusBadge(current) : "new");
  const runs = h("div", { id: "automation-runs" });
  const title = h("span", { id: "automation-title" }, current ? current.name : "New automation");
  const panel = h("section", { id: "automation", class: "panel" },
    h("p", {}, h("a", { href: "#/automations" }, "← All automations")),
    h("h1", {}, title, " ", state),
    current && current.last_error
      ? h("p", { id: "last-error", class: "error" },
        `Last error (${current.last_error.kind}): ${current.last_error.message}`)
      : null,
    h("div", { id: "hook-url" }),
    form, savedNote, runs);
  replace(view, panel);
  if (current) {
    panel.appendChild(h("button", { id: "delete-automation", type: "button",
      onclick: async () => {
        await call("DELETE", `v1/automations/${encodeURIComponent(current.id)}`);
        location.hash = "#/automations";
      } }, "Delete"));
    if (current.trigger.type !== "webhook") {
      panel.appendChild(h("button", { id: "run-now", type: "button", onclick: async () => {
        try {
          await call("POST", `v1/automations/${encodeURIComponent(current.id)}/run`);
        } finally {
          await drawRuns(runs, current.id);
        }
      } }, "Run now"));
    }
    await drawRuns(runs, current.id);
  }
}

/**
 * @param {HTMLElement} view
 * @param {string} url
 */
function showHookUrl(view, url) {
  const slot = view.querySelector("#hook-url");
  if (!slot) return;
  replace(slot, h("div", { class: "panel" },
    h("strong", {}, "Webhook URL (shown only now; it holds the secret):"),
    h("pre", {}, h("code", { id: "webhook-url" }, url))));
}

/**
 * @param {Record<string, any> | null} current
 * @param {(body: Record<string, any>) => Promise<string>} save
 */
function automationForm(current, save) {
  const trigger = current ? current.trigger : { type: "webhook" };
  const name = field("input", "auto-name", current ? current.name : "");
  const type = /** @type {HTMLSelectElement} */ (h("select", { id: "auto-trigger", name: "trigger" },
    ...["webhook", "schedule", "rows"].map((t) => h("option", { value: t }, t))));
  type.value = trigger.type;
  const every = field("input", "auto-every", trigger.every_s ? String(trigger.every_s) : "");
  const daily = field("input", "auto-daily", trigger.daily_at || "");
  const zone = field("input", "auto-timezone", trigger.timezone || "UTC");
  const table = field("input", "auto-table", trigger.pack ? `${trigger.pack}.${trigger.table}` : "");
  const tableArgs = field("input", "auto-table-args", JSON.stringify(trigger.args || []));
  const condition = field("textarea", "auto-condition", current?.condition || "");
  const actions = field("textarea", "auto-actions",
    current ? JSON.stringify(current.actions, null, 2) : EXAMPLE_ACTIONS);
  const connections = field("input", "auto-connections", JSON.stringify(current?.connections || {}));
  const enabled = /** @type {HTMLInputElement} */ (h("input", { id: "auto-enabled", type: "checkbox" }));
  enabled.checked = current ? current.enabled : true;
  const error = h("div", { id: "automation-error", class: "error", role: "alert", hidden: true });
  const button = /** @type {HTMLButtonElement} */ (h("button", { id: "save-automation", type: "submit" },
    current ? "Save" : "Create"));
  const form = h("form", { id: "automation-form", onsubmit: submit },
    labelled("Name", name),
    labelled("When", type),
    labelled("Every (seconds): schedule or rows", every),
    labelled('Daily at ("HH:MM"): schedule', daily),
    labelled("Time zone", zone),
    labelled("Sync table (pack.Table): rows", table),
    labelled("Table arguments (JSON)", tableArgs),
    labelled("If (a formula; $$[variable:payload], $$[variable:row], $$[variable:trigger])", condition),
    labelled('Then (JSON steps; an argument starting with "=" is a formula)', actions),
    labelled("Connections (JSON: pack → connection id)", connections),
    h("label", { for: "auto-enabled" }, enabled, " Enabled"),
    button, error);
  return form;

  /** @param {Event} event */
  async function submit(event) {
    event.preventDefault();
    error.hidden = true;
    button.disabled = true;
    try {
      await save(readBody());
    } catch (failure) {
      replace(error, describe(failure));
      error.hidden = false;
    } finally {
      button.disabled = false;
    }
  }

  function readBody() {
    /** @type {Record<string, any>} */
    const when = { type: type.value, timezone: zone.value.trim() || "UTC" };
    if (every.value.trim()) when.every_s = Number(every.value);
    if (daily.value.trim()) when.daily_at = daily.value.trim();
    if (type.value === "rows") {
      const [pack, ...rest] = table.value.trim().split(".");
      Object.assign(when, { pack, table: rest.join("."), args: parsed(tableArgs.value, "Table arguments") });
    }
    return {
      name: name.value.trim(), trigger: when,
      condition: condition.value.trim() || null,
      actions: parsed(actions.value, "Then"),
      connections: parsed(connections.value || "{}", "Connections"),
      enabled: enabled.checked,
    };
  }
}

/**
 * @param {string} text
 * @param {string} what
 */
function parsed(text, what) {
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`${what} is not valid JSON`);
  }
}

/** @param {unknown} failure */
function describe(failure) {
  if (!(failure instanceof ApiError)) return String(failure instanceof Error ? failure.message : failure);
  const p = failure.problem;
  const where = typeof p.line === "number" ? ` (line ${p.line}, column ${p.column})` : "";
  const fieldName = p.field || (p.errors && p.errors[0] ? p.errors[0].loc.join(".") : "");
  return `${fieldName ? fieldName + ": " : ""}${String(p.detail || "").split("\n")[0]}${where}`;
}

/**
 * @param {HTMLElement} target
 * @param {string} id
 */
async function drawRuns(target, id) {
  const page = await call("GET", `v1/runs?automation=${encodeURIComponent(id)}&limit=50`);
  /** @type {Record<string, any>[]} */
  const found = page.runs;
  replace(target, h("h2", {}, "Runs"),
    h("button", { id: "refresh-runs", type: "button", onclick: () => void drawRuns(target, id) },
      "Refresh"),
    found.length === 0
      ? h("p", { id: "no-runs", class: "muted" }, "No runs yet.")
      : h("table", { id: "runs-table" },
        h("thead", {}, h("tr", {}, ...["At", "Outcome", "Duration", "Fuel", "Details"]
          .map((t) => h("th", {}, t)))),
        h("tbody", {}, found.map((run) => h("tr", { "data-run": run.id, "data-outcome": run.outcome },
          h("td", {}, when(run.at)),
          h("td", { class: run.outcome === "ok" ? "" : "error" }, run.outcome),
          h("td", {}, `${Math.round(run.duration_ms)} ms`),
          h("td", {}, String(run.fuel)),
          h("td", { class: "run-details" }, run.error
            ? `${run.error.kind}: ${run.error.message}`
            : JSON.stringify(run.args.results ?? run.args)))))));
}

/** @param {Record<string, any>} trigger */
function describeTrigger(trigger) {
  if (trigger.type === "webhook") return "webhook";
  if (trigger.type === "rows") return `new rows of ${trigger.pack}.${trigger.table}`;
  return trigger.daily_at ? `daily at ${trigger.daily_at} ${trigger.timezone}`
    : `every ${trigger.every_s} s`;
}

/** @param {Record<string, any>} automation */
function statusBadge(automation) {
  return h("span", { class: `badge status-${automation.status}`, "data-status": automation.status },
    automation.status === "failing"
      ? `failing (${automation.failures})` : automation.status);
}

/** @param {number} seconds */
function when(seconds) {
  return new Date(seconds * 1000).toLocaleString();
}

/**
 * @param {string} tag
 * @param {string} id
 * @param {string} value
 */
function field(tag, id, value) {
  const element = /** @type {HTMLInputElement} */ (h(tag, { id, name: id, spellcheck: "false",
    autocomplete: "off", ...(tag === "textarea" ? { rows: 4 } : {}) }));
  element.value = value;
  return element;
}

/**
 * @param {string} text
 * @param {HTMLElement} control
 */
function labelled(text, control) {
  return [h("label", { for: control.id }, text), control];
}
