//! A deliberately large pack: `variant_count` mixing functions, each with its own
//! constants so the compiler can neither merge nor drop them (they sit in a table).
const corral = @import("corral");

comptime {
    corral.exportPack(@This());
}

pub const formulas = .{ .Mix = mix };

const variant_count = 4000;

const Mixer = *const fn (u64) u64;

fn variant(comptime k: u64) Mixer {
    return struct {
        fn run(x: u64) u64 {
            var h = x ^ (k *% 0x9E3779B97F4A7C15);
            inline for (0..6) |round| {
                h ^= h >> (13 + round);
                h *%= 0xBF58476D1CE4E5B9 +% k *% (round + 1);
                h = (h << 7) | (h >> 57);
                h +%= k ^ (0x94D049BB133111EB >> round);
            }
            return h;
        }
    }.run;
}

const table: [variant_count]Mixer = blk: {
    @setEvalBranchQuota(100_000);
    var mixers: [variant_count]Mixer = undefined;
    for (&mixers, 0..) |*slot, i| slot.* = variant(i);
    break :blk mixers;
};

fn mix(seed: i64, index: i64) i64 {
    const slot: usize = @intCast(@mod(index, variant_count));
    return @bitCast(table[slot](@bitCast(seed)));
}
