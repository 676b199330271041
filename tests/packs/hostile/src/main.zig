//! A hostile pack: each formula attacks one sandbox limit. Used by the limit tests
//! (with two manifests: tight fuel in hostile/, tight wall clock in hostile_time/).
const std = @import("std");
const corral = @import("corral");

comptime {
    corral.exportPack(@This());
}

pub const formulas = .{
    .Ping = ping,
    .Spin = spin,
    .GrowBomb = growBomb,
    .AllocHuge = allocHuge,
    .Recurse = recurse,
    .BigOutput = bigOutput,
    .Burn = burn,
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

fn depth(n: u32) u32 {
    if (n == 0) return 0;
    const below = @call(.never_inline, depth, .{n - 1});
    return below *% 3 +% 1;
}

/// Recursion far deeper than the wasm stack allows.
fn recurse(levels: i64) i64 {
    return @intCast(@call(.never_inline, depth, .{@as(u32, @intCast(levels))}));
}

/// A response of `bytes` bytes, to cross the output cap.
fn bigOutput(ctx: *corral.Context, bytes: i64) ![]const u8 {
    const out = try ctx.arena.alloc(u8, @intCast(bytes));
    @memset(out, 'x');
    return out;
}

/// Bounded but heavy work: `rounds` iterations of a hash-like mix.
fn burn(rounds: i64) i64 {
    var acc: u64 = 1469598103934665603;
    var i: i64 = 0;
    while (i < rounds) : (i += 1) {
        acc = (acc ^ @as(u64, @intCast(i))) *% 1099511628211;
    }
    return @intCast(acc >> 1);
}
