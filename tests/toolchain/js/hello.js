// A hand-written JavaScript pack for the engine's tests: no Coda SDK, a minimal MessagePack
// codec, and __corral_dispatch answering the ABI directly (guest-sdk/ABI.md §8).
(function () {
  "use strict";
  const utf8 = {
    encode(s) {
      const out = [];
      for (const ch of s) {
        let c = ch.codePointAt(0);
        if (c < 0x80) out.push(c);
        else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
        else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
        else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
      }
      return out;
    },
    decode(bytes, start, end) {
      let s = "";
      for (let i = start; i < end;) {
        const b = bytes[i++];
        let c;
        if (b < 0x80) c = b;
        else if (b < 0xe0) c = ((b & 31) << 6) | (bytes[i++] & 63);
        else if (b < 0xf0) c = ((b & 15) << 12) | ((bytes[i++] & 63) << 6) | (bytes[i++] & 63);
        else c = ((b & 7) << 18) | ((bytes[i++] & 63) << 12) | ((bytes[i++] & 63) << 6) | (bytes[i++] & 63);
        s += String.fromCodePoint(c);
      }
      return s;
    },
  };

  function encode(value, out = []) {
    if (value === null || value === undefined) out.push(0xc0);
    else if (value === true) out.push(0xc3);
    else if (value === false) out.push(0xc2);
    else if (typeof value === "number" && Number.isInteger(value) && value >= 0 && value < 2 ** 32) {
      if (value < 128) out.push(value);
      else out.push(0xce, value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255);
    } else if (typeof value === "number") {
      const view = new DataView(new ArrayBuffer(8));
      view.setFloat64(0, value);
      out.push(0xcb, ...new Uint8Array(view.buffer));
    } else if (typeof value === "string") {
      const bytes = utf8.encode(value);
      if (bytes.length < 32) out.push(0xa0 | bytes.length);
      else out.push(0xdb, bytes.length >>> 24, (bytes.length >>> 16) & 255, (bytes.length >>> 8) & 255, bytes.length & 255);
      out.push(...bytes);
    } else if (value instanceof Uint8Array) {
      out.push(0xc6, value.length >>> 24, (value.length >>> 16) & 255, (value.length >>> 8) & 255, value.length & 255, ...value);
    } else if (Array.isArray(value)) {
      out.push(0xdd, value.length >>> 24, (value.length >>> 16) & 255, (value.length >>> 8) & 255, value.length & 255);
      for (const item of value) encode(item, out);
    } else {
      const keys = Object.keys(value);
      out.push(0xdf, keys.length >>> 24, (keys.length >>> 16) & 255, (keys.length >>> 8) & 255, keys.length & 255);
      for (const key of keys) { encode(key, out); encode(value[key], out); }
    }
    return out;
  }

  function decode(bytes) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let pos = 0;
    const uint = (n) => { let v = 0; for (let i = 0; i < n; i++) v = v * 256 + bytes[pos++]; return v; };
    const str = (n) => { const s = utf8.decode(bytes, pos, pos + n); pos += n; return s; };
    const bin = (n) => { const b = bytes.slice(pos, pos + n); pos += n; return b; };
    const arr = (n) => { const a = []; for (let i = 0; i < n; i++) a.push(read()); return a; };
    const map = (n) => { const m = {}; for (let i = 0; i < n; i++) { const k = read(); m[k] = read(); } return m; };
    function read() {
      const b = bytes[pos++];
      if (b < 0x80) return b;
      if (b >= 0xe0) return b - 256;
      if ((b & 0xf0) === 0x80) return map(b & 15);
      if ((b & 0xf0) === 0x90) return arr(b & 15);
      if ((b & 0xe0) === 0xa0) return str(b & 31);
      switch (b) {
        case 0xc0: return null;
        case 0xc2: return false;
        case 0xc3: return true;
        case 0xc4: return bin(uint(1));
        case 0xc5: return bin(uint(2));
        case 0xc6: return bin(uint(4));
        case 0xca: { const v = view.getFloat32(pos); pos += 4; return v; }
        case 0xcb: { const v = view.getFloat64(pos); pos += 8; return v; }
        case 0xcc: return uint(1);
        case 0xcd: return uint(2);
        case 0xce: return uint(4);
        case 0xcf: return uint(8);
        case 0xd0: { const v = view.getInt8(pos); pos += 1; return v; }
        case 0xd1: { const v = view.getInt16(pos); pos += 2; return v; }
        case 0xd2: { const v = view.getInt32(pos); pos += 4; return v; }
        case 0xd3: { const v = Number(view.getBigInt64(pos)); pos += 8; return v; }
        case 0xd9: return str(uint(1));
        case 0xda: return str(uint(2));
        case 0xdb: return str(uint(4));
        case 0xdc: return arr(uint(2));
        case 0xdd: return arr(uint(4));
        case 0xde: return map(uint(2));
        case 0xdf: return map(uint(4));
      }
      throw new Error("cannot decode MessagePack byte 0x" + b.toString(16));
    }
    return read();
  }

  let calls = 0;  // must read 1 in every call: each call is a fresh instance
  const formulas = {
    Hello: (name) => "Hello, " + name + "!",
    Counter: () => ++calls,
    Log: (text) => { __corral.log(1, text); __corral.log(3, "second: " + text); return "logged"; },
    Fail: (message) => { throw new Error(message); },
    Reject: async (message) => { await null; throw new TypeError(message); },
    Later: async (name) => { await null; await Promise.resolve(); return "later, " + name; },
    Never: () => new Promise(() => {}),
    NotBytes: () => 42,
    Now: () => Date.now(),
    Random: () => Math.random(),
    Fetch: async (url) => {
      const reply = decode(__corral.fetch(new Uint8Array(encode({ method: "GET", url, headers: {} }))));
      if (reply.err) return "fetch failed: " + reply.err.kind + ": " + reply.err.message;
      const body = reply.ok.body;
      return reply.ok.status + " " + (typeof body === "string" ? body : utf8.decode(body, 0, body.length));
    },
    Status: (url) => decode(__corral.fetch(new Uint8Array(encode({ method: "GET", url, headers: {} })))).ok.status,
    // Limits (tests/toolchain and benchmarks/security js_limits).
    Spin: () => { for (;;) {} },
    HeapBomb: () => { const keep = []; for (;;) keep.push(new ArrayBuffer(1 << 20)); },
    Recurse: () => { const deep = (n) => deep(n + 1) + 1; return deep(0); },
    NativeDecode: (hex) => {
      const value = __corral.decode(new Uint8Array(hex.match(/../g).map((h) => parseInt(h, 16))));
      if (value === undefined) return "undefined";
      return JSON.stringify(value, (k, v) => (v instanceof Uint8Array ? { bin: Array.from(v) } : v));
    },
    Depth: (n) => { const deep = (k) => (k === 0 ? 0 : deep(k - 1) + 1); return deep(Number(n)); },
    // Recursion through C frames QuickJS does not count (a getter, a callback of map): it
    // ends on the host's stack limit rather than on QuickJS's own.
    GetterRecurse: () => { const o = { get x() { return this.x; } }; return o.x; },
    MapRecurse: () => { const f = (n) => [n].map((k) => f(k + 1))[0]; return f(0); },
  };

  globalThis.__corral_dispatch = function (requestBytes) {
    const request = decode(requestBytes);
    if (request.op !== "formula" || !(request.name in formulas)) {
      return new Uint8Array(encode({ err: { kind: "not_found", message: "no formula " + request.name } }));
    }
    const answer = (value) => new Uint8Array(encode({ ok: value }));
    const result = formulas[request.name](...request.args);
    if (request.name === "NotBytes") return result;
    if (result instanceof Promise) return result.then(answer);
    return answer(result);
  };
})();
