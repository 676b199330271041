// @ts-check
/**
 * Connections: the signed-in principal's accounts at the services packs call. The list
 * (test, delete), a form for a new one made from the pack's auth kind (the secret goes
 * to the server once and is never shown again), and OAuth2's browser flow: the server
 * starts it and sets the flow's binding cookie, the browser goes to the provider, and the
 * provider sends it back to the callback, which finishes only in this browser and then
 * sends it on to #/connections?connected=<id>.
 */
import { ApiError, call } from "./api.js";
import { h, replace } from "./dom.js";

/**
 * @typedef {{path: string[], label: string, secret: boolean, optional?: boolean,
 *            multiline?: boolean, hint?: string}} SecretField
 */

/**
 * The fields of a secret for the pack's auth (a manifest's ``auth`` table), in the shape
 * the server checks (see the host's connections docs).
 * @param {Record<string, any>} auth
 * @returns {SecretField[]}
 */
export function secretFields(auth) {
  /** @type {SecretField[]} */
  const fields = auth.requires_endpoint_url ? [{ path: ["endpoint"], label: "Endpoint URL", secret: false,
    hint: `an https address inside ${auth.endpoint_domain || "the pack's domain"}` }] : [];
  /** @param {any} item */
  const named = (item) => (typeof item === "string" ? item : String(item.name));
  switch (auth.kind) {
    case "bearer":
      return [...fields, { path: ["token"], label: "Token", secret: true,
        hint: `Sent as Authorization: ${auth.prefix === undefined ? "Bearer" : auth.prefix} <token>` }];
    case "header":
      return [...fields, { path: ["value"], label: `${auth.name} header`, secret: true }];
    case "headers":
      return [...fields, ...(auth.headers || []).map((/** @type {any} */ item) => (
        { path: ["values", named(item)], label: `${named(item)} header`, secret: true }))];
    case "query":
      return [...fields, { path: ["value"], label: `${auth.param} query parameter`, secret: true }];
    case "queries":
      return [...fields, ...(auth.params || []).map((/** @type {any} */ item) => (
        { path: ["values", named(item)], label: `${named(item)} query parameter`, secret: true }))];
    case "basic":
      return [...fields, { path: ["username"], label: "User name", secret: false },
        { path: ["password"], label: "Password", secret: true, optional: true }];
    case "custom":
      return [...fields, ...(auth.params || []).map((/** @type {any} */ item) => (
        { path: ["values", named(item)], label: named(item), secret: true, hint: item.description || undefined }))];
    case "aws_access_key":
      return [...fields, { path: ["access_key_id"], label: "Access key id", secret: false },
        { path: ["secret_access_key"], label: "Secret access key", secret: true },
        { path: ["session_token"], label: "Session token", secret: true, optional: true }];
    case "aws_assume_role":
      return [...fields, { path: ["role_arn"], label: "Role ARN", secret: false, hint: "arn:aws:iam::123456789012:role/Name" },
        { path: ["external_id"], label: "External id", secret: false, optional: true }];
    case "google_service_account":
      return [...fields, { path: ["service_account_key"], label: "Service-account key (the JSON file)",
        secret: true, multiline: true }];
    case "oauth2_client_credentials":
      return [...fields, { path: ["client_id"], label: "Client id", secret: false },
        { path: ["client_secret"], label: "Client secret", secret: true }];
    default:
      return fields;
  }
}

/**
 * A connection chooser for calls of one pack: the principal's connections of that pack.
 * @param {string} pack
 * @param {string} mode  the call's connection mode: none, optional or required
 * @returns {Promise<{element: HTMLElement | null, value: () => string | null}>}
 */
export async function connectionPicker(pack, mode) {
  if (mode === "none") return { element: null, value: () => null };
  /** @type {Array<Record<string, any>>} */
  const mine = await call("GET", `v1/connections?pack=${encodeURIComponent(pack)}`);
  const select = /** @type {HTMLSelectElement} */ (h("select", { id: "connection" },
    mode === "optional" ? h("option", { value: "" }, "(no connection)") : null,
    mine.map((c) => h("option", { value: c.id }, `${c.name} (${c.status})`))));
  const element = h("div", { class: "field" }, h("label", { for: "connection" }, "Connection"),
    mine.length || mode === "optional" ? select : h("p", { id: "no-connection", class: "error" },
      `This needs a connection to ${pack}: `, h("a", { href: "#/connections" }, "make one"), " first."));
  return { element, value: () => select.value || null };
}

/**
 * @param {HTMLElement} view
 * @param {URLSearchParams} query  ``connected`` names the connection an OAuth2 flow just made
 */
export async function showConnections(view, query) {
  replace(view, h("p", { class: "muted" }, "Loading connections…"));
  const [mine, packs] = await Promise.all([call("GET", "v1/connections"), call("GET", "v1/packs")]);
  /** @type {Array<Record<string, any>>} */
  const authPacks = packs.filter((/** @type {Record<string, any>} */ p) => p.auth_kind && p.auth_kind !== "none");
  const connected = query.get("connected");
  const just = connected ? mine.find((/** @type {Record<string, any>} */ c) => c.id === connected) : undefined;
  const creating = h("div", { id: "new-connection-fields" });
  /** @param {Record<string, any>} connection  an OAuth2 connection to authorize again */
  const reconnect = (connection) => {
    select.value = connection.pack;
    void drawCreate(creating, connection.pack, view, connection);
    creating.scrollIntoView();
  };
  const list = h("tbody", {}, mine.map((/** @type {Record<string, any>} */ c) => connectionRow(c, view, query, reconnect)));
  const select = /** @type {HTMLSelectElement} */ (h("select", { id: "new-connection-pack",
    onchange: () => void drawCreate(creating, select.value, view) },
  h("option", { value: "" }, "Choose a pack…"),
  authPacks.map((p) => h("option", { value: p.name }, `${p.name} (${p.auth_kind})`))));
  replace(view, h("section", { id: "connections", class: "panel" },
    h("h1", {}, "Connections"),
    just ? h("p", { id: "connected", class: "notice", role: "status" }, `Connected: ${just.name} (${just.pack}).`) : null,
    query.has("oauth_failed") ? h("p", { id: "oauth-failed", class: "error", role: "alert" },
      flowFailure(query.get("oauth_failed") || "")) : null,
    mine.length === 0 ? h("p", { id: "no-connections", class: "muted" }, "You have no connections yet.")
      : h("table", { class: "grid" },
        h("thead", {}, h("tr", {}, ["Name", "Pack", "Kind", "Status", "Created", ""].map((t) => h("th", {}, t)))),
        list),
    h("h2", {}, "New connection"),
    authPacks.length === 0 ? h("p", { class: "muted" }, "No installed pack takes a connection.")
      : h("div", {}, h("label", { for: "new-connection-pack" }, "Pack"), select, creating)));
}

/**
 * What an OAuth2 flow's failure means, in the console's own words: the address carries
 * only the error's kind, and anyone can make such an address.
 * @param {string} kind
 */
function flowFailure(kind) {
  if (kind === "auth_flow") {
    return "No account was connected: the authorization did not complete. It was declined at the provider, " +
      "took too long, was used already, or was started in another browser. Start it again below.";
  }
  const named = /^[a-z_]{1,40}$/.test(kind) ? ` (${kind})` : "";
  return `No account was connected: the server could not finish the authorization${named}. Start it again below.`;
}

/**
 * @param {Record<string, any>} connection
 * @param {HTMLElement} view
 * @param {URLSearchParams} query
 * @param {(connection: Record<string, any>) => void} reconnect
 */
function connectionRow(connection, view, query, reconnect) {
  const status = h("td", { class: "status" }, connection.status);
  const note = h("span", { class: "row-note", role: "status" });
  const test = async () => {
    note.textContent = " testing…";
    note.className = "row-note muted";
    try {
      const tested = await call("POST", `v1/connections/${encodeURIComponent(connection.id)}/test`);
      status.textContent = tested.status;
      note.textContent = " works";
      note.className = "row-note ok";
    } catch (failure) {
      note.textContent = ` ${failure instanceof Error ? failure.message : failure}`;
      note.className = "row-note error";
    }
  };
  const remove = async () => {
    if (!confirm(`Delete the connection ${connection.name}? Calls that use it will fail.`)) return;
    try {
      await call("DELETE", `v1/connections/${encodeURIComponent(connection.id)}`);
      query.delete("connected");
      await showConnections(view, query);
    } catch (failure) {
      note.textContent = ` ${failure instanceof Error ? failure.message : failure}`;
      note.className = "row-note error";
    }
  };
  return h("tr", { "data-connection": connection.id, "data-name": connection.name },
    h("td", {}, connection.name), h("td", {}, connection.pack), h("td", {}, connection.kind), status,
    h("td", {}, new Date(connection.created_at * 1000).toLocaleString()),
    h("td", {}, h("button", { type: "button", class: "test", onclick: test }, "Test"), " ",
      h("button", { type: "button", class: "delete", onclick: remove }, "Delete"),
      connection.kind === "oauth2_code" ? [" ", h("button", { type: "button", class: "reconnect",
        onclick: () => reconnect(connection) }, "Reconnect")] : null, note));
}

/**
 * The form for a new connection to ``pack``: its secret's fields, or OAuth2's connect.
 * @param {HTMLElement} target
 * @param {string} pack
 * @param {HTMLElement} view
 * @param {Record<string, any>} [again]  an OAuth2 connection to authorize again
 */
async function drawCreate(target, pack, view, again) {
  replace(target);
  if (!pack) return;
  /** @type {Record<string, any>} */
  const detail = await call("GET", `v1/packs/${encodeURIComponent(pack)}`);
  const auth = detail.manifest.auth || { kind: "none" };
  if (!target.isConnected) return;
  replace(target, auth.kind === "oauth2_code" ? oauthForm(pack, auth, again) : secretForm(pack, auth, view));
}

/** @param {string} id @param {string} label @param {boolean} [optional] */
function nameField(id, label, optional = true) {
  const input = /** @type {HTMLInputElement} */ (h("input", { id, type: "text", autocomplete: "off",
    placeholder: optional ? "(the pack names it)" : "" }));
  return { input, element: h("div", { class: "field" }, h("label", { for: id }, label), input) };
}

/**
 * @param {string} pack
 * @param {Record<string, any>} auth
 * @param {HTMLElement} view
 */
function secretForm(pack, auth, view) {
  const fields = secretFields(auth);
  const name = nameField("new-connection-name", "Name");
  const inputs = fields.map((field) => {
    const id = `secret-${field.path.join("-")}`;
    const input = /** @type {HTMLInputElement | HTMLTextAreaElement} */ (field.multiline
      ? h("textarea", { id, rows: 4, spellcheck: "false", autocomplete: "off" })
      : h("input", { id, type: field.secret ? "password" : "text", autocomplete: "off", spellcheck: "false",
        required: !field.optional }));
    return { field, input, element: h("div", { class: "field", "data-secret": field.path.join(".") },
      h("label", { for: id }, field.label, field.optional ? h("span", { class: "muted" }, " optional") : null),
      input, field.hint ? h("p", { class: "muted hint" }, field.hint) : null) };
  });
  const error = h("p", { id: "new-connection-error", class: "error", role: "alert", hidden: true });
  const submit = async (/** @type {Event} */ event) => {
    event.preventDefault();
    error.hidden = true;
    /** @type {Record<string, any>} */
    const secret = {};
    for (const { field, input } of inputs) {
      if (input.value === "" && field.optional) continue;
      let slot = secret;
      for (const key of field.path.slice(0, -1)) slot = slot[key] = slot[key] || {};
      slot[field.path[field.path.length - 1]] = input.value;
    }
    try {
      const made = await call("POST", "v1/connections", { pack, name: name.input.value.trim() || undefined, secret });
      for (const { input } of inputs) input.value = "";  // the secret leaves the page
      await showConnections(view, new URLSearchParams({ connected: made.id }));
    } catch (failure) {
      error.textContent = failure instanceof ApiError ? failure.message : String(failure);
      error.hidden = false;
    }
  };
  return h("form", { id: "new-connection", "data-kind": auth.kind, onsubmit: submit },
    h("p", { class: "muted" }, `${pack} authenticates with ${auth.kind}. The secret is sealed on the server and never shown again.`),
    name.element, inputs.map((item) => item.element),
    h("button", { type: "submit" }, "Create connection"), error);
}

/**
 * OAuth2 authorization code: the app's client id (and secret, for a confidential client),
 * then off to the provider. Given ``again``, the flow renews that connection's tokens.
 * @param {string} pack
 * @param {Record<string, any>} auth
 * @param {Record<string, any>} [again]
 */
function oauthForm(pack, auth, again) {
  const name = nameField("oauth-name", "Name");
  const clientId = /** @type {HTMLInputElement} */ (h("input", { id: "oauth-client-id", type: "text", required: true, autocomplete: "off" }));
  const clientSecret = /** @type {HTMLInputElement} */ (h("input", { id: "oauth-client-secret", type: "password", autocomplete: "off" }));
  const error = h("p", { id: "oauth-error", class: "error", role: "alert", hidden: true });
  const submit = async (/** @type {Event} */ event) => {
    event.preventDefault();
    error.hidden = true;
    try {
      const started = await call("POST", `v1/oauth2/${encodeURIComponent(pack)}/start`, {
        client_id: clientId.value.trim(), client_secret: clientSecret.value || undefined,
        name: again ? undefined : name.input.value.trim() || undefined, connection_id: again ? again.id : undefined });
      const target = new URL(started.authorize_url);
      if (target.protocol !== "https:" && target.protocol !== "http:") throw new Error("the provider's address is not a web address");
      location.assign(target.href);
    } catch (failure) {
      error.textContent = failure instanceof ApiError ? failure.message : String(failure);
      error.hidden = false;
    }
  };
  return h("form", { id: "oauth-connect", "data-kind": auth.kind, "data-reconnect": again ? again.id : undefined, onsubmit: submit },
    again ? h("h3", {}, `Reconnect ${again.name}`) : null,
    h("p", { class: "muted" }, `${pack} signs in with OAuth2 at ${new URL(auth.authorize_url).host}`,
      auth.pkce ? " (PKCE)" : "", ". You will be sent there to approve, then back here."),
    again ? null : name.element,
    h("div", { class: "field" }, h("label", { for: "oauth-client-id" }, "Client id"), clientId),
    h("div", { class: "field" }, h("label", { for: "oauth-client-secret" }, "Client secret ",
      h("span", { class: "muted" }, "optional: only for a confidential client")), clientSecret),
    h("button", { id: "oauth-start", type: "submit" }, again ? "Reconnect" : "Connect"), error);
}
