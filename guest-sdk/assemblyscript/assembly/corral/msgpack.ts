// MessagePack for Corral guests: a dynamic `Value`, a decoder into it, and a `Writer`
// that encodes values into raw (non-GC) memory, ready to hand to the host.

export enum Kind { Nil, Bool, Int, Uint, Float, Str, Bin, Array, Map }

/** One key/value pair of a map, in the order it was decoded or set. */
export class Entry {
  constructor(public key: Value, public value: Value) {}
}

/** A decoded (or built) MessagePack value. `Uint` holds integers above i64's range. */
export class Value {
  kind: Kind = Kind.Nil;
  b: bool = false;
  i: i64 = 0;
  f: f64 = 0;
  s: string = "";
  bytes: Uint8Array | null = null;
  items: Value[] | null = null;
  entries: Entry[] | null = null;

  // -- building ---------------------------------------------------------------------------

  static nil(): Value { return new Value(); }

  static ofBool(b: bool): Value {
    const v = new Value(); v.kind = Kind.Bool; v.b = b; return v;
  }

  static ofInt(i: i64): Value {
    const v = new Value(); v.kind = Kind.Int; v.i = i; return v;
  }

  static ofUint(u: u64): Value {
    if (u <= <u64>i64.MAX_VALUE) return Value.ofInt(<i64>u);
    const v = new Value(); v.kind = Kind.Uint; v.i = <i64>u; return v;
  }

  static ofFloat(f: f64): Value {
    const v = new Value(); v.kind = Kind.Float; v.f = f; return v;
  }

  static ofString(s: string): Value {
    const v = new Value(); v.kind = Kind.Str; v.s = s; return v;
  }

  static ofBytes(bytes: Uint8Array): Value {
    const v = new Value(); v.kind = Kind.Bin; v.bytes = bytes; return v;
  }

  static array(items: Value[] = []): Value {
    const v = new Value(); v.kind = Kind.Array; v.items = items; return v;
  }

  static map(): Value {
    const v = new Value(); v.kind = Kind.Map; v.entries = []; return v;
  }

  /** Set `key` in a map (replacing an existing key) and return the map, for chaining. */
  set(key: string, value: Value): Value {
    const entries = this.entries;
    if (entries === null) return this;
    for (let i = 0; i < entries.length; i++) {
      const entry = unchecked(entries[i]);
      if (entry.key.kind == Kind.Str && entry.key.s == key) {
        entry.value = value;
        return this;
      }
    }
    entries.push(new Entry(Value.ofString(key), value));
    return this;
  }

  /** Append to an array and return the array, for chaining. */
  push(value: Value): Value {
    const items = this.items;
    if (items !== null) items.push(value);
    return this;
  }

  // -- reading ----------------------------------------------------------------------------

  get isNil(): bool { return this.kind == Kind.Nil; }
  get isString(): bool { return this.kind == Kind.Str; }
  get isNumber(): bool {
    return this.kind == Kind.Int || this.kind == Kind.Uint || this.kind == Kind.Float;
  }

  /** Items of an array or entries of a map; 0 for anything else. */
  get length(): i32 {
    const items = this.items;
    if (items !== null) return items.length;
    const entries = this.entries;
    return entries !== null ? entries.length : 0;
  }

  /** The value under a string key of a map, or null. */
  get(key: string): Value | null {
    const entries = this.entries;
    if (entries === null) return null;
    for (let i = 0; i < entries.length; i++) {
      const entry = unchecked(entries[i]);
      if (entry.key.kind == Kind.Str && entry.key.s == key) return entry.value;
    }
    return null;
  }

  /** The `index`th item of an array, or null. */
  at(index: i32): Value | null {
    const items = this.items;
    if (items === null || index < 0 || index >= items.length) return null;
    return unchecked(items[index]);
  }

  asString(fallback: string = ""): string {
    return this.kind == Kind.Str ? this.s : fallback;
  }

  asBool(fallback: bool = false): bool {
    return this.kind == Kind.Bool ? this.b : fallback;
  }

  asInt(fallback: i64 = 0): i64 {
    if (this.kind == Kind.Int) return this.i;
    if (this.kind == Kind.Float && Math.floor(this.f) == this.f && Math.abs(this.f) < 9.0e18) {
      return <i64>this.f;
    }
    return fallback;
  }

  asFloat(fallback: f64 = 0): f64 {
    if (this.kind == Kind.Float) return this.f;
    if (this.kind == Kind.Int) return <f64>this.i;
    if (this.kind == Kind.Uint) return <f64>(<u64>this.i);
    return fallback;
  }

  /** Items of an array (empty for anything else). */
  asArray(): Value[] {
    const items = this.items;
    return items !== null ? items : [];
  }

  /** Entries of a map (empty for anything else). */
  asEntries(): Entry[] {
    const entries = this.entries;
    return entries !== null ? entries : [];
  }
}

// -- decoding -----------------------------------------------------------------------------

const MAX_DEPTH = 64;

class Reader {
  failed: bool = false;
  constructor(public pos: usize, public end: usize) {}

  /** Advance over `n` bytes and return where they start; sets `failed` when short. */
  take(n: usize): usize {
    if (this.failed || n > this.end - this.pos) {
      this.failed = true;
      return 0;
    }
    const at = this.pos;
    this.pos += n;
    return at;
  }

  u8(): u32 { const p = this.take(1); return this.failed ? 0 : <u32>load<u8>(p); }
  u16(): u32 { const p = this.take(2); return this.failed ? 0 : <u32>bswap<u16>(load<u16>(p)); }
  u32(): u32 { const p = this.take(4); return this.failed ? 0 : bswap<u32>(load<u32>(p)); }
  u64(): u64 { const p = this.take(8); return this.failed ? 0 : bswap<u64>(load<u64>(p)); }

  read(depth: i32): Value {
    if (depth > MAX_DEPTH) { this.failed = true; return Value.nil(); }
    const tag = this.u8();
    if (this.failed) return Value.nil();
    if (tag <= 0x7f) return Value.ofInt(<i64>tag);
    if (tag >= 0xe0) return Value.ofInt(<i64><i8>tag);
    if ((tag & 0xf0) == 0x80) return this.readMap(tag & 0x0f, depth);
    if ((tag & 0xf0) == 0x90) return this.readArray(tag & 0x0f, depth);
    if ((tag & 0xe0) == 0xa0) return this.readStr(tag & 0x1f);
    switch (tag) {
      case 0xc0: return Value.nil();
      case 0xc2: return Value.ofBool(false);
      case 0xc3: return Value.ofBool(true);
      case 0xc4: return this.readBin(this.u8());
      case 0xc5: return this.readBin(this.u16());
      case 0xc6: return this.readBin(this.u32());
      case 0xca: return Value.ofFloat(<f64>reinterpret<f32>(this.u32()));
      case 0xcb: return Value.ofFloat(reinterpret<f64>(this.u64()));
      case 0xcc: return Value.ofInt(<i64>this.u8());
      case 0xcd: return Value.ofInt(<i64>this.u16());
      case 0xce: return Value.ofInt(<i64>this.u32());
      case 0xcf: return Value.ofUint(this.u64());
      case 0xd0: return Value.ofInt(<i64><i8>this.u8());
      case 0xd1: return Value.ofInt(<i64><i16>this.u16());
      case 0xd2: return Value.ofInt(<i64><i32>this.u32());
      case 0xd3: return Value.ofInt(<i64>this.u64());
      case 0xd9: return this.readStr(this.u8());
      case 0xda: return this.readStr(this.u16());
      case 0xdb: return this.readStr(this.u32());
      case 0xdc: return this.readArray(this.u16(), depth);
      case 0xdd: return this.readArray(this.u32(), depth);
      case 0xde: return this.readMap(this.u16(), depth);
      case 0xdf: return this.readMap(this.u32(), depth);
    }
    this.failed = true;
    return Value.nil();
  }

  readStr(n: u32): Value {
    const p = this.take(<usize>n);
    return this.failed ? Value.nil() : Value.ofString(String.UTF8.decodeUnsafe(p, <usize>n));
  }

  readBin(n: u32): Value {
    const p = this.take(<usize>n);
    if (this.failed) return Value.nil();
    const bytes = new Uint8Array(<i32>n);
    memory.copy(bytes.dataStart, p, <usize>n);
    return Value.ofBytes(bytes);
  }

  readArray(n: u32, depth: i32): Value {
    // Every item takes at least one byte: refuse counts the input cannot hold.
    if (<usize>n > this.end - this.pos) { this.failed = true; return Value.nil(); }
    const items = new Array<Value>();
    for (let i: u32 = 0; i < n && !this.failed; i++) items.push(this.read(depth + 1));
    return Value.array(items);
  }

  readMap(n: u32, depth: i32): Value {
    if (<usize>n > (this.end - this.pos) / 2) { this.failed = true; return Value.nil(); }
    const map = Value.map();
    const entries = map.entries!;
    for (let i: u32 = 0; i < n && !this.failed; i++) {
      const key = this.read(depth + 1);
      const value = this.read(depth + 1);
      entries.push(new Entry(key, value));
    }
    return map;
  }
}

/** Decode exactly one value from `[ptr, ptr+len)`; null when the bytes are not one
 *  well-formed MessagePack value. */
export function decode(ptr: usize, len: usize): Value | null {
  const reader = new Reader(ptr, ptr + len);
  const value = reader.read(0);
  if (reader.failed || reader.pos != reader.end) return null;
  return value;
}

// -- encoding -----------------------------------------------------------------------------

/** A growable buffer in raw memory that MessagePack is written into. */
export class Writer {
  ptr: usize = 0;
  len: usize = 0;
  cap: usize = 0;

  reset(): void { this.len = 0; }

  private reserve(n: usize): usize {
    const need = this.len + n;
    if (need > this.cap) {
      let cap = this.cap > 0 ? this.cap * 2 : 256;
      while (cap < need) cap *= 2;
      this.ptr = this.ptr != 0 ? heap.realloc(this.ptr, cap) : heap.alloc(cap);
      this.cap = cap;
    }
    const at = this.ptr + this.len;
    this.len = need;
    return at;
  }

  private byte(b: u32): void { store<u8>(this.reserve(1), <u8>b); }

  private tag16(tag: u32, n: u32): void {
    const p = this.reserve(3);
    store<u8>(p, <u8>tag);
    store<u16>(p + 1, bswap<u16>(<u16>n));
  }

  private tag32(tag: u32, n: u32): void {
    const p = this.reserve(5);
    store<u8>(p, <u8>tag);
    store<u32>(p + 1, bswap<u32>(n));
  }

  private tag64(tag: u32, n: u64): void {
    const p = this.reserve(9);
    store<u8>(p, <u8>tag);
    store<u64>(p + 1, bswap<u64>(n));
  }

  writeNil(): void { this.byte(0xc0); }

  writeBool(b: bool): void { this.byte(b ? 0xc3 : 0xc2); }

  writeInt(i: i64): void {
    if (i >= 0 && i <= 0x7f) this.byte(<u32>i);
    else if (i < 0 && i >= -32) this.byte(<u32>(<u8>(<i8>i)));
    else if (i >= <i64>i32.MIN_VALUE && i <= <i64>i32.MAX_VALUE) this.tag32(0xd2, <u32>(<i32>i));
    else this.tag64(0xd3, <u64>i);
  }

  writeUint(u: u64): void {
    if (u <= <u64>i64.MAX_VALUE) this.writeInt(<i64>u);
    else this.tag64(0xcf, u);
  }

  writeFloat(f: f64): void { this.tag64(0xcb, reinterpret<u64>(f)); }

  writeString(s: string): void {
    const n = <u32>String.UTF8.byteLength(s);
    this.strHeader(n);
    const p = this.reserve(<usize>n);
    String.UTF8.encodeUnsafe(changetype<usize>(s), s.length, p);
  }

  /** Write a str from raw UTF-8 bytes already in memory. */
  writeUtf8(ptr: usize, n: u32): void {
    this.strHeader(n);
    memory.copy(this.reserve(<usize>n), ptr, <usize>n);
  }

  private strHeader(n: u32): void {
    if (n < 32) this.byte(0xa0 | n);
    else if (n <= 0xff) { this.byte(0xd9); this.byte(n); }
    else if (n <= 0xffff) this.tag16(0xda, n);
    else this.tag32(0xdb, n);
  }

  writeBytes(bytes: Uint8Array): void {
    const n = <u32>bytes.length;
    if (n <= 0xff) { this.byte(0xc4); this.byte(n); }
    else if (n <= 0xffff) this.tag16(0xc5, n);
    else this.tag32(0xc6, n);
    memory.copy(this.reserve(<usize>n), bytes.dataStart, <usize>n);
  }

  beginArray(n: u32): void {
    if (n < 16) this.byte(0x90 | n);
    else if (n <= 0xffff) this.tag16(0xdc, n);
    else this.tag32(0xdd, n);
  }

  beginMap(n: u32): void {
    if (n < 16) this.byte(0x80 | n);
    else if (n <= 0xffff) this.tag16(0xde, n);
    else this.tag32(0xdf, n);
  }

  writeValue(v: Value): void {
    switch (v.kind) {
      case Kind.Nil: this.writeNil(); break;
      case Kind.Bool: this.writeBool(v.b); break;
      case Kind.Int: this.writeInt(v.i); break;
      case Kind.Uint: this.writeUint(<u64>v.i); break;
      case Kind.Float: this.writeFloat(v.f); break;
      case Kind.Str: this.writeString(v.s); break;
      case Kind.Bin: this.writeBytes(v.bytes !== null ? v.bytes! : new Uint8Array(0)); break;
      case Kind.Array: {
        const items = v.asArray();
        this.beginArray(<u32>items.length);
        for (let i = 0; i < items.length; i++) this.writeValue(unchecked(items[i]));
        break;
      }
      case Kind.Map: {
        const entries = v.asEntries();
        this.beginMap(<u32>entries.length);
        for (let i = 0; i < entries.length; i++) {
          const entry = unchecked(entries[i]);
          this.writeValue(entry.key);
          this.writeValue(entry.value);
        }
        break;
      }
    }
  }
}

/** Encode one value into a fresh Writer. */
export function encode(value: Value): Writer {
  const out = new Writer();
  out.writeValue(value);
  return out;
}
