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

const sieve_size = 100_000;

/// Sieves the primes below 100,000 `rounds` times and returns how many there are: tight
/// loops of cheap loads, stores and branches over a buffer that stays in cache, which is
/// where fuel metering (a counter per basic block) costs the most.
fn work(ctx: *corral.Context, rounds: i64) !i64 {
    const composite = try ctx.arena.alloc(bool, sieve_size);
    var count: i64 = 0;
    var round: i64 = 0;
    while (round < rounds) : (round += 1) count = sieve(composite);
    return count;
}

fn sieve(composite: []bool) i64 {
    @memset(composite, false);
    var count: i64 = 0;
    var i: usize = 2;
    while (i < composite.len) : (i += 1) {
        if (composite[i]) continue;
        count += 1;
        if (i > (composite.len - 1) / i) continue; // i * i would pass the end
        var j = i * i;
        while (j < composite.len) : (j += i) composite[j] = true;
    }
    return count;
}
