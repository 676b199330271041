// @ts-check
/** The sign-in form: an API key, exchanged at once for the session cookie. */
import { ApiError, signIn } from "./api.js";
import { h, replace } from "./dom.js";

/**
 * @param {HTMLElement} view
 * @param {(session: import("./api.js").Session) => void} onSignedIn
 */
export function showSignIn(view, onSignedIn) {
  const key = /** @type {HTMLInputElement} */ (h("input", {
    id: "api-key", name: "api-key", type: "password", autocomplete: "off", required: true,
    spellcheck: "false", placeholder: "corral_…",
  }));
  const error = h("p", { id: "sign-in-error", class: "error", role: "alert", hidden: true });
  const button = /** @type {HTMLButtonElement} */ (h("button", { type: "submit" }, "Sign in"));
  const form = h("form", { id: "sign-in", class: "panel narrow", onsubmit: submit },
    h("h1", {}, "Sign in"),
    h("p", { class: "muted" },
      "Paste an API key (from `corral keys create`, or the admin key `corral serve` printed). ",
      "It is exchanged for a session cookie and kept nowhere in this page."),
    h("label", { for: "api-key" }, "API key"), key, button, error);
  replace(view, form);
  key.focus();

  /** @param {Event} event */
  async function submit(event) {
    event.preventDefault();
    button.disabled = true;
    error.hidden = true;
    const typed = key.value.trim();
    key.value = "";
    try {
      onSignedIn(await signIn(typed));
    } catch (failure) {
      error.textContent = failure instanceof ApiError && failure.status === 401
        ? "That API key is not valid."
        : `Could not sign in: ${failure instanceof Error ? failure.message : failure}`;
      error.hidden = false;
      key.focus();
    } finally {
      button.disabled = false;
    }
  }
}
