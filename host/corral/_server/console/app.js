// @ts-check
/**
 * The Corral console's entry point: who is signed in, and which view the address shows.
 *
 * Views are chosen by the address's fragment (#/packs, #/packs/<name>,
 * #/playground?formula=…), so the server serves one page and the browser's history works.
 */
import { ApiError, currentSession, signOut } from "./api.js";
import { showAutomation, showAutomations } from "./automations.js";
import { byId, h, replace } from "./dom.js";
import { showPack, showPacks } from "./packs.js";
import { showPlayground } from "./playground.js";
import { showRuns } from "./runs.js";
import { showButton, showButtons } from "./buttons.js";
import { showConnections } from "./connections.js";
import { showSync, showSyncTables } from "./sync.js";
import { showSignIn } from "./signin.js";

/** @type {import("./api.js").Session | null} */
let session = null;

const view = byId("view");

/** @param {import("./api.js").Session | null} current */
function setSession(current) {
  session = current;
  byId("nav").hidden = !current;
  byId("who").hidden = !current;
  byId("who-name").textContent = current ? current.principal : "";
  byId("who-role").textContent = current ? current.role : "";
}

async function route() {
  // Each route draws into a new element: a slower route still loading when the address
  // changes again then draws into an element no longer on the page, never over this one.
  const target = h("div", { class: "view" });
  replace(view, target);
  if (!session) {
    showSignIn(target, (signedIn) => {
      setSession(signedIn);
      if (location.hash === "" || location.hash === "#/" || location.hash === "#/sign-in") {
        location.hash = "#/packs";
      } else {
        void route();
      }
    });
    return;
  }
  const [path, query] = location.hash.replace(/^#/, "").split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  markCurrent(parts[0] || "packs");
  try {
    if (parts[0] === "connections") {
      await showConnections(target, new URLSearchParams(query || ""));
    } else if (parts[0] === "sync") {
      await (parts[2] ? showSync(target, parts[1], parts[2]) : showSyncTables(target));
    } else if (parts[0] === "buttons") {
      await (parts[2] ? showButton(target, parts[1], parts[2]) : showButtons(target));
    } else if (parts[0] === "automations" && parts[1]) {
      await showAutomation(target, parts[1] === "new" ? null : parts[1]);
    } else if (parts[0] === "automations") {
      await showAutomations(target);
    } else if (parts[0] === "playground") {
      showPlayground(target, new URLSearchParams(query || "").get("formula") || undefined);
    } else if (parts[0] === "runs") {
      await showRuns(target, new URLSearchParams(query || ""));
    } else if (parts[0] === "packs" && parts[1]) {
      await showPack(target, parts[1], session.role === "admin");
    } else {
      await showPacks(target, session.role === "admin");
    }
  } catch (failure) {
    if (!target.isConnected) return;  // another view has replaced this one
    if (failure instanceof ApiError && failure.status === 401) {
      setSession(null);  // the session ended elsewhere (expired, signed out, key revoked)
      await route();
      return;
    }
    replace(target, h("div", { id: "error", class: "panel error", role: "alert" },
      failure instanceof Error ? failure.message : String(failure)));
  }
}

/** @param {string} current */
function markCurrent(current) {
  for (const link of document.querySelectorAll("#nav a")) {
    link.classList.toggle("current", link.getAttribute("data-view") === current);
  }
}

byId("sign-out").addEventListener("click", async () => {
  try {
    await signOut();
  } finally {
    setSession(null);
    history.replaceState(null, "", "#/sign-in");
    await route();
  }
});

window.addEventListener("hashchange", () => void route());

setSession(await currentSession());
await route();
