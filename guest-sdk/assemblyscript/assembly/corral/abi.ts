// The raw Corral ABI v1 (see guest-sdk/ABI.md): the two host imports and the pointer
// packing rule. Nothing friendly lives here; the other files build on it.

/** Module `corral`, function `fetch`: request map in, response map out (written by the
 *  host into memory it obtains from our `corral_alloc`), returned as ptr << 32 | len. */
@external("corral", "fetch")
export declare function rawFetch(ptr: usize, len: u32): i64;

/** Module `corral`, function `log`: level 0 debug, 1 info, 2 warn, 3 error. */
@external("corral", "log")
export declare function rawLog(level: i32, ptr: usize, len: u32): void;

/** Module `corral`, function `blob`: a blob request map in (`{bytes, content_type}` or
 *  `{url}`), `{ok: {url, expires_at}}` or `{err}` out, like `fetch`. Imported only by a
 *  pack that stores blobs. */
@external("corral", "blob")
export declare function rawBlob(ptr: usize, len: u32): i64;

/** Pack a guest buffer into the i64 that `corral_call` and `fetch` return. */
export function packSlice(ptr: usize, len: u32): i64 {
  return ((<u64>ptr) << 32 | <u64>len) as i64;
}

/** The pointer half of a packed slice. */
export function slicePtr(packed: i64): usize {
  return <usize>((<u64>packed) >> 32);
}

/** The length half of a packed slice. */
export function sliceLen(packed: i64): u32 {
  return <u32>((<u64>packed) & 0xffffffff);
}
