// The entry of every JavaScript pack bundle: globals first, then the pack is installed as
// `globalThis.__corral_dispatch`, the function the engine's bridge calls once per request.
import "./globals.js";
import { makeDispatcher } from "./dispatch.js";

export function install(packModule) {
  const pack = packModule.pack || packModule.manifest || packModule.default;
  if (!pack || typeof pack !== "object") {
    throw new Error("the pack module exports no `pack` (export const pack = coda.newPack())");
  }
  globalThis.__corral_pack = pack;
  globalThis.__corral_dispatch = makeDispatcher(pack);
}
