//! MessagePack for Corral guests: a dynamic `Value`, a decoder into it, and an encoder
//! that writes `Value`s or any plain Zig value (bool, ints, floats, strings, slices,
//! arrays, optionals, structs as maps, enums as strings, tagged unions as one-key maps).

const std = @import("std");

pub const Error = error{ Truncated, Malformed, OutOfMemory, TooDeep };

pub const Value = union(enum) {
    nil,
    boolean: bool,
    int: i64,
    uint: u64,
    float: f64,
    str: []const u8,
    bin: []const u8,
    array: []const Value,
    map: []const Entry,

    pub const Entry = struct { key: Value, value: Value };

    /// The value under a string key of a map, or null.
    pub fn get(self: Value, key: []const u8) ?Value {
        if (self != .map) return null;
        for (self.map) |entry| {
            if (entry.key == .str and std.mem.eql(u8, entry.key.str, key)) return entry.value;
        }
        return null;
    }

    /// The value under a string key, or nil when missing (for chaining).
    pub fn at(self: Value, key: []const u8) Value {
        return self.get(key) orelse .nil;
    }

    pub fn asStr(self: Value) ?[]const u8 {
        return switch (self) {
            .str => |s| s,
            .bin => |b| b,
            else => null,
        };
    }

    pub fn asInt(self: Value) ?i64 {
        return switch (self) {
            .int => |i| i,
            .uint => |u| if (u <= std.math.maxInt(i64)) @intCast(u) else null,
            .float => |f| if (@floor(f) == f and @abs(f) < 9.0e18) @intFromFloat(f) else null,
            else => null,
        };
    }

    pub fn asFloat(self: Value) ?f64 {
        return switch (self) {
            .int => |i| @floatFromInt(i),
            .uint => |u| @floatFromInt(u),
            .float => |f| f,
            else => null,
        };
    }

    pub fn asBool(self: Value) ?bool {
        return if (self == .boolean) self.boolean else null;
    }
};

const max_depth = 64;

/// Decode one MessagePack value from `bytes`; strings and binaries borrow from `bytes`.
pub fn decode(allocator: std.mem.Allocator, bytes: []const u8) Error!Value {
    var reader = Reader{ .bytes = bytes, .allocator = allocator };
    const value = try reader.read(0);
    if (reader.pos != bytes.len) return error.Malformed;
    return value;
}

const Reader = struct {
    bytes: []const u8,
    pos: usize = 0,
    allocator: std.mem.Allocator,

    fn take(self: *Reader, n: usize) Error![]const u8 {
        if (n > self.bytes.len - self.pos) return error.Truncated;
        const out = self.bytes[self.pos .. self.pos + n];
        self.pos += n;
        return out;
    }

    fn int(self: *Reader, comptime T: type) Error!T {
        const raw = try self.take(@sizeOf(T));
        return std.mem.readInt(T, raw[0..@sizeOf(T)], .big);
    }

    fn read(self: *Reader, depth: usize) Error!Value {
        if (depth > max_depth) return error.TooDeep;
        const tag = (try self.take(1))[0];
        return switch (tag) {
            0x00...0x7f => .{ .int = tag },
            0x80...0x8f => self.readMap(tag & 0x0f, depth),
            0x90...0x9f => self.readArray(tag & 0x0f, depth),
            0xa0...0xbf => .{ .str = try self.take(tag & 0x1f) },
            0xc0 => .nil,
            0xc2 => .{ .boolean = false },
            0xc3 => .{ .boolean = true },
            0xc4 => .{ .bin = try self.take(try self.int(u8)) },
            0xc5 => .{ .bin = try self.take(try self.int(u16)) },
            0xc6 => .{ .bin = try self.take(try self.int(u32)) },
            0xca => .{ .float = @as(f32, @bitCast(try self.int(u32))) },
            0xcb => .{ .float = @bitCast(try self.int(u64)) },
            0xcc => .{ .int = try self.int(u8) },
            0xcd => .{ .int = try self.int(u16) },
            0xce => .{ .int = try self.int(u32) },
            0xcf => blk: {
                const u = try self.int(u64);
                break :blk if (u <= std.math.maxInt(i64)) Value{ .int = @intCast(u) } else Value{ .uint = u };
            },
            0xd0 => .{ .int = try self.int(i8) },
            0xd1 => .{ .int = try self.int(i16) },
            0xd2 => .{ .int = try self.int(i32) },
            0xd3 => .{ .int = try self.int(i64) },
            0xd9 => .{ .str = try self.take(try self.int(u8)) },
            0xda => .{ .str = try self.take(try self.int(u16)) },
            0xdb => .{ .str = try self.take(try self.int(u32)) },
            0xdc => self.readArray(try self.int(u16), depth),
            0xdd => self.readArray(try self.int(u32), depth),
            0xde => self.readMap(try self.int(u16), depth),
            0xdf => self.readMap(try self.int(u32), depth),
            0xe0...0xff => .{ .int = @as(i8, @bitCast(tag)) },
            else => error.Malformed,
        };
    }

    fn readArray(self: *Reader, n: usize, depth: usize) Error!Value {
        if (n > self.bytes.len - self.pos) return error.Truncated;
        const items = try self.allocator.alloc(Value, n);
        for (items) |*item| item.* = try self.read(depth + 1);
        return .{ .array = items };
    }

    fn readMap(self: *Reader, n: usize, depth: usize) Error!Value {
        if (n > (self.bytes.len - self.pos) / 2) return error.Truncated;
        const entries = try self.allocator.alloc(Value.Entry, n);
        for (entries) |*entry| {
            entry.key = try self.read(depth + 1);
            entry.value = try self.read(depth + 1);
        }
        return .{ .map = entries };
    }
};

/// A growable buffer that MessagePack is written into.
pub const Writer = struct {
    buf: std.ArrayList(u8) = .empty,
    allocator: std.mem.Allocator,

    pub fn init(allocator: std.mem.Allocator) Writer {
        return .{ .allocator = allocator };
    }

    pub fn bytes(self: *const Writer) []const u8 {
        return self.buf.items;
    }

    pub fn reset(self: *Writer) void {
        self.buf.clearRetainingCapacity();
    }

    fn raw(self: *Writer, data: []const u8) Error!void {
        try self.buf.appendSlice(self.allocator, data);
    }

    fn tagged(self: *Writer, tag: u8, comptime T: type, n: T) Error!void {
        var tmp: [@sizeOf(T)]u8 = undefined;
        std.mem.writeInt(T, &tmp, n, .big);
        try self.raw(&.{tag});
        try self.raw(&tmp);
    }

    pub fn writeNil(self: *Writer) Error!void {
        try self.raw(&.{0xc0});
    }

    pub fn writeBool(self: *Writer, b: bool) Error!void {
        try self.raw(&.{if (b) 0xc3 else 0xc2});
    }

    pub fn writeInt(self: *Writer, i: i64) Error!void {
        if (i >= 0 and i <= 0x7f) return self.raw(&.{@intCast(i)});
        if (i < 0 and i >= -32) return self.raw(&.{@bitCast(@as(i8, @intCast(i)))});
        if (i >= std.math.minInt(i32) and i <= std.math.maxInt(i32)) return self.tagged(0xd2, i32, @intCast(i));
        return self.tagged(0xd3, i64, i);
    }

    pub fn writeUint(self: *Writer, u: u64) Error!void {
        if (u <= std.math.maxInt(i64)) return self.writeInt(@intCast(u));
        return self.tagged(0xcf, u64, u);
    }

    pub fn writeFloat(self: *Writer, f: f64) Error!void {
        return self.tagged(0xcb, u64, @bitCast(f));
    }

    pub fn writeStr(self: *Writer, s: []const u8) Error!void {
        if (s.len < 32) {
            try self.raw(&.{0xa0 | @as(u8, @intCast(s.len))});
        } else if (s.len <= 0xff) {
            try self.raw(&.{ 0xd9, @intCast(s.len) });
        } else if (s.len <= 0xffff) {
            try self.tagged(0xda, u16, @intCast(s.len));
        } else {
            try self.tagged(0xdb, u32, @intCast(s.len));
        }
        try self.raw(s);
    }

    pub fn writeBin(self: *Writer, b: []const u8) Error!void {
        if (b.len <= 0xff) {
            try self.raw(&.{ 0xc4, @intCast(b.len) });
        } else if (b.len <= 0xffff) {
            try self.tagged(0xc5, u16, @intCast(b.len));
        } else {
            try self.tagged(0xc6, u32, @intCast(b.len));
        }
        try self.raw(b);
    }

    pub fn beginArray(self: *Writer, n: usize) Error!void {
        if (n < 16) return self.raw(&.{0x90 | @as(u8, @intCast(n))});
        if (n <= 0xffff) return self.tagged(0xdc, u16, @intCast(n));
        return self.tagged(0xdd, u32, @intCast(n));
    }

    pub fn beginMap(self: *Writer, n: usize) Error!void {
        if (n < 16) return self.raw(&.{0x80 | @as(u8, @intCast(n))});
        if (n <= 0xffff) return self.tagged(0xde, u16, @intCast(n));
        return self.tagged(0xdf, u32, @intCast(n));
    }

    pub fn writeValue(self: *Writer, value: Value) Error!void {
        switch (value) {
            .nil => try self.writeNil(),
            .boolean => |b| try self.writeBool(b),
            .int => |i| try self.writeInt(i),
            .uint => |u| try self.writeUint(u),
            .float => |f| try self.writeFloat(f),
            .str => |s| try self.writeStr(s),
            .bin => |b| try self.writeBin(b),
            .array => |items| {
                try self.beginArray(items.len);
                for (items) |item| try self.writeValue(item);
            },
            .map => |entries| {
                try self.beginMap(entries.len);
                for (entries) |entry| {
                    try self.writeValue(entry.key);
                    try self.writeValue(entry.value);
                }
            },
        }
    }

    /// Write any plain Zig value. Structs become maps keyed by field name; a struct
    /// field whose value is null is written as nil.
    pub fn write(self: *Writer, value: anytype) Error!void {
        const T = @TypeOf(value);
        if (T == Value) return self.writeValue(value);
        switch (@typeInfo(T)) {
            .void, .null => try self.writeNil(),
            .bool => try self.writeBool(value),
            .comptime_int => try self.writeInt(value),
            .int => |info| if (info.signedness == .unsigned and info.bits > 63)
                try self.writeUint(value)
            else
                try self.writeInt(@intCast(value)),
            .comptime_float, .float => try self.writeFloat(@floatCast(value)),
            .optional => if (value) |inner| try self.write(inner) else try self.writeNil(),
            .@"enum" => try self.writeStr(@tagName(value)),
            .array => |info| if (info.child == u8)
                try self.writeStr(&value)
            else {
                try self.beginArray(info.len);
                for (value) |item| try self.write(item);
            },
            .pointer => |info| switch (info.size) {
                .slice => if (info.child == u8) try self.writeStr(value) else {
                    try self.beginArray(value.len);
                    for (value) |item| try self.write(item);
                },
                .one => switch (@typeInfo(info.child)) {
                    .array => |arr| if (arr.child == u8) try self.writeStr(value) else try self.write(value.*),
                    else => try self.write(value.*),
                },
                else => @compileError("cannot encode many-item pointer " ++ @typeName(T)),
            },
            .@"struct" => {
                const names = comptime std.meta.fieldNames(T);
                try self.beginMap(names.len);
                inline for (names) |name| {
                    try self.writeStr(name);
                    try self.write(@field(value, name));
                }
            },
            .@"union" => |info| {
                if (info.tag_type == null) @compileError("cannot encode untagged union " ++ @typeName(T));
                // A tagged union is a one-key map {tag: payload}, e.g. {ok: row} or {err: text}.
                try self.beginMap(1);
                switch (value) {
                    inline else => |payload, tag| {
                        try self.writeStr(@tagName(tag));
                        try self.write(payload);
                    },
                }
            },
            else => @compileError("cannot encode " ++ @typeName(T) ++ " as MessagePack"),
        }
    }
};
