//! The raw Corral ABI v1 (see guest-sdk/ABI.md): the host's imports and the pointer
//! packing rules. Nothing friendly lives here; corral.zig builds on it.

/// Module `corral`, function `fetch`: request map in, response map out (written by the
/// host into memory it obtains from our `corral_alloc`), returned as ptr << 32 | len.
pub extern "corral" fn fetch(ptr: [*]const u8, len: u32) i64;

/// Module `corral`, function `log`: level 0 debug, 1 info, 2 warn, 3 error.
pub extern "corral" fn log(level: i32, ptr: [*]const u8, len: u32) void;

/// Module `corral`, function `blob`: a blob request map in (`{bytes, content_type}` or
/// `{url}`), `{ok: {url, expires_at}}` or `{err}` out, like `fetch`. Imported only by a
/// pack that stores blobs.
pub extern "corral" fn blob(ptr: [*]const u8, len: u32) i64;

/// Pack a guest buffer into the i64 that `corral_call` and `fetch` return.
pub fn packSlice(bytes: []const u8) i64 {
    const ptr: u64 = @intCast(@intFromPtr(bytes.ptr));
    return @bitCast((ptr << 32) | @as(u64, @intCast(bytes.len)));
}

/// Unpack an i64 returned by a host import into the guest slice it names.
pub fn unpackSlice(value: i64) []u8 {
    const bits: u64 = @bitCast(value);
    const ptr: usize = @intCast(bits >> 32);
    const len: usize = @intCast(bits & 0xffff_ffff);
    const many: [*]u8 = @ptrFromInt(ptr);
    return many[0..len];
}
