//! The hello pack: a first Corral pack in Zig.
const std = @import("std");
const corral = @import("corral");

comptime {
    corral.exportPack(@This());
}

pub const formulas = .{
    .Greet = greet,
    .Add = add,
    .WordCount = wordCount,
    .Describe = describe,
    .Shout = shout,
};

fn greet(ctx: *corral.Context, name: []const u8) ![]const u8 {
    if (name.len == 0) return ctx.fail("Greet needs a name", .{});
    return ctx.print("Hello, {s}!", .{name});
}

fn add(a: f64, b: f64) f64 {
    return a + b;
}

/// Counts words separated by Unicode whitespace, decoding UTF-8 properly.
fn wordCount(ctx: *corral.Context, text: []const u8) !i64 {
    const view = std.unicode.Utf8View.init(text) catch return ctx.fail("the text is not valid UTF-8", .{});
    var it = view.iterator();
    var words: i64 = 0;
    var in_word = false;
    while (it.nextCodepoint()) |cp| {
        if (isSpace(cp)) {
            in_word = false;
        } else if (!in_word) {
            in_word = true;
            words += 1;
        }
    }
    return words;
}

fn isSpace(cp: u21) bool {
    return switch (cp) {
        ' ', '\t', '\n', '\r', 0x0b, 0x0c, 0x85, 0xa0, 0x1680, 0x2000...0x200a, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000 => true,
        else => false,
    };
}

const Description = struct {
    name: []const u8,
    length: usize,
    vowels: usize,
    palindrome: bool,
};

fn describe(name: []const u8) Description {
    var vowels: usize = 0;
    for (name) |c| {
        switch (std.ascii.toLower(c)) {
            'a', 'e', 'i', 'o', 'u' => vowels += 1,
            else => {},
        }
    }
    var palindrome = true;
    for (0..name.len / 2) |i| {
        if (std.ascii.toLower(name[i]) != std.ascii.toLower(name[name.len - 1 - i])) palindrome = false;
    }
    return .{ .name = name, .length = name.len, .vowels = vowels, .palindrome = palindrome };
}

fn shout(ctx: *corral.Context, text: []const u8, times: ?i64) ![]const u8 {
    const n: usize = @intCast(@max(1, @min(times orelse 1, 10)));
    const upper = try std.ascii.allocUpperString(ctx.arena, text);
    var parts: std.ArrayList(u8) = .empty;
    for (0..n) |i| {
        if (i > 0) try parts.append(ctx.arena, ' ');
        try parts.appendSlice(ctx.arena, upper);
    }
    ctx.log(.info, "shouted {d} times", .{n});
    return parts.items;
}
