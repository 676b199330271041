//! The performance suite's pack: one trivial formula, a fetch, and a CPU-bound loop.
const corral = @import("corral");

comptime {
    corral.exportPack(@This());
}

pub const formulas = .{
    .Add = add,
    .AddCached = add,
    .Fetch = fetch,
    .Work = work,
};

fn add(a: f64, b: f64) f64 {
    return a + b;
}

/// The same computation with no ABI around it, for the raw wasmtime-py baseline.
export fn perf_add(a: f64, b: f64) f64 {
    return a + b;
}

fn fetch(ctx: *corral.Context, url: []const u8) !i64 {
    const response = try ctx.fetch(.{ .url = url });
    return response.status;
}

/// Counts the primes below n with a sieve: tight loops of cheap loads, stores and
/// branches, where fuel metering (a counter per basic block) costs the most.
fn work(ctx: *corral.Context, n: i64) !i64 {
    if (n < 2) return 0;
    const size: usize = @intCast(n);
    const composite = try ctx.arena.alloc(bool, size);
    @memset(composite, false);
    var count: i64 = 0;
    var i: usize = 2;
    while (i < size) : (i += 1) {
        if (composite[i]) continue;
        count += 1;
        if (i > (size - 1) / i) continue; // i * i would pass the end (or overflow)
        var j = i * i;
        while (j < size) : (j += i) composite[j] = true;
    }
    return count;
}
