// The Web/Node globals a Coda pack and the packs-sdk expect, for an engine that has none
// (QuickJS-NG). Each is installed only when missing, so the same bundle also runs in Node
// (the build-time manifest derivation and the Node test harness).
import { Buffer } from "buffer";
import { installTimers } from "./timers.js";
import { installConsole } from "./console.js";
import { installIntl } from "./intl.js";

const g = globalThis;
if (typeof g.global === "undefined") g.global = g;
if (typeof g.TextEncoder === "undefined") g.TextEncoder = class TextEncoder {
  get encoding() { return "utf-8"; }
  encode(text = "") { return utf8Encode(String(text)); }
  encodeInto(text, into) {
    const bytes = utf8Encode(String(text));
    const written = Math.min(bytes.length, into.length);
    into.set(bytes.subarray(0, written));
    return { read: text.length, written };
  }
};
if (typeof g.TextDecoder === "undefined") g.TextDecoder = class TextDecoder {
  get encoding() { return "utf-8"; }
  decode(bytes) {
    if (bytes === undefined) return "";
    const view = bytes instanceof Uint8Array ? bytes
      : new Uint8Array(bytes.buffer || bytes, bytes.byteOffset || 0, bytes.byteLength);
    return utf8Decode(view);
  }
};
if (typeof g.Buffer === "undefined") g.Buffer = Buffer;
if (typeof g.atob === "undefined") g.atob = (text) => Buffer.from(String(text), "base64").toString("latin1");
if (typeof g.btoa === "undefined") g.btoa = (text) => {
  const s = String(text);
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) > 255) throw new Error("btoa: the string has characters outside Latin-1");
  }
  return Buffer.from(s, "latin1").toString("base64");
};
if (typeof g.process === "undefined") g.process = { env: {}, nextTick: (fn, ...args) => Promise.resolve().then(() => fn(...args)) };
installTimers(g);
installConsole(g);
installIntl(g);

function utf8Encode(s) {
  const out = [];
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c >= 0xd800 && c < 0xdc00 && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d < 0xe000) { c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00); i++; }
      else c = 0xfffd;
    } else if (c >= 0xd800 && c < 0xe000) c = 0xfffd;
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
  return new Uint8Array(out);
}

function utf8Decode(b) {
  let out = "";
  const units = [];
  const flush = () => { out += String.fromCharCode.apply(null, units); units.length = 0; };
  for (let i = 0; i < b.length;) {
    const c = b[i];
    let cp = 0xfffd, n = 1;
    if (c < 0x80) cp = c;
    else if (c >= 0xc2 && c < 0xe0 && cont(b, i, 1)) { cp = ((c & 31) << 6) | (b[i + 1] & 63); n = 2; }
    else if (c >= 0xe0 && c < 0xf0 && cont(b, i, 2)) {
      cp = ((c & 15) << 12) | ((b[i + 1] & 63) << 6) | (b[i + 2] & 63); n = 3;
      if (cp < 0x800 || (cp >= 0xd800 && cp < 0xe000)) cp = 0xfffd;
    } else if (c >= 0xf0 && c < 0xf5 && cont(b, i, 3)) {
      cp = ((c & 7) << 18) | ((b[i + 1] & 63) << 12) | ((b[i + 2] & 63) << 6) | (b[i + 3] & 63); n = 4;
      if (cp < 0x10000 || cp > 0x10ffff) cp = 0xfffd;
    }
    if (cp >= 0x10000) { cp -= 0x10000; units.push(0xd800 + (cp >> 10), 0xdc00 + (cp & 1023)); }
    else units.push(cp);
    if (units.length > 4096) flush();
    i += n;
  }
  flush();
  return out;
}

function cont(b, i, n) {
  for (let k = 1; k <= n; k++) if (i + k >= b.length || (b[i + k] & 0xc0) !== 0x80) return false;
  return true;
}
