//! The Corral Zig SDK: write plain Zig functions, list them in the root file, and this
//! module exports the ABI v1 entry points (see guest-sdk/ABI.md) and dispatches to them.
//!
//!     const corral = @import("corral");
//!     comptime { corral.exportPack(@This()); }
//!     pub const formulas = .{ .Greet = greet };
//!     fn greet(ctx: *corral.Context, name: []const u8) ![]const u8 {
//!         return ctx.print("Hello, {s}!", .{name});
//!     }
//!
//! Declarations the root may provide (each optional): `formulas`, `actions`,
//! `sync_tables`, `sync_updates`, `autocomplete`, `dynamic_urls`, `dynamic_schemas`,
//! `connection_name`, `validate_parameters`. A function may take `*corral.Context` as its
//! first parameter; the other parameters are decoded from the call's arguments by type:
//! `[]const u8` for string, html, markdown, image, file and email; `f64`, `i64`, `bool`;
//! `corral.DateTime` for a date; a slice for an array and a slice of optionals
//! (`[]const ?f64`) for a sparse one.
//!
//! A formula declared with `validate_parameters = true` in pack.toml is asked first: its
//! entry in `validate_parameters` takes the formula's parameters and returns a
//! `corral.Validation` (`Validation.accept()`, or `Validation.reject(message, field_errors)`
//! naming the parameters at fault); a rejection fails the call with `invalid_parameters`.
//!
//! A function fails by returning `ctx.fail(fmt, args)` (a message for the user). When an
//! upstream API refused, `ctx.failResponse(response, fmt, args)` also reports its status
//! and `Retry-After` (the host retries a 429, 502, 503 or 504 within the call's deadline),
//! `ctx.failUpstream(status, retry_after_s, fmt, args)` does so by hand, and
//! `ctx.failMissingScopes(scopes, fmt, args)` tells the caller to reconnect granting them.
//!
//! The call's context: `ctx.timezone()` (the caller's IANA time zone) and
//! `ctx.invocationLocation()` (the host's base URL and the caller's document id).
//! `ctx.storeBlob(bytes, content_type)` and `ctx.storeUrl(url)` hand the host a temporary
//! blob and return the URL it serves it at, until `expires_at`.

const std = @import("std");
pub const abi = @import("abi.zig");
pub const msgpack = @import("msgpack.zig");
pub const http = @import("http.zig");
/// A `date` argument (see datetime.zig); usable as a parameter type.
pub const DateTime = @import("datetime.zig").DateTime;
pub const Value = msgpack.Value;
pub const Writer = msgpack.Writer;

/// The guest allocator: a bump region in static memory first (no `memory.grow`, so a
/// small call touches no new pages), then the wasm page allocator. Each call runs in a
/// fresh instance, so nothing needs to be returned.
pub const allocator: std.mem.Allocator = .{ .ptr = @ptrCast(&heap_fixed), .vtable = &heap_vtable };

var heap_buffer: [128 * 1024]u8 align(16) = undefined;
var heap_fixed: std.heap.FixedBufferAllocator = .{ .end_index = 0, .buffer = &heap_buffer };
const heap_fallback = std.heap.wasm_allocator;
const Fixed = std.heap.FixedBufferAllocator;
const heap_vtable: std.mem.Allocator.VTable = .{
    .alloc = heapAlloc,
    .resize = heapResize,
    .remap = heapRemap,
    .free = heapFree,
};

fn heapAlloc(ctx: *anyopaque, len: usize, alignment: std.mem.Alignment, ra: usize) ?[*]u8 {
    if (Fixed.alloc(ctx, len, alignment, ra)) |ptr| return ptr;
    return heap_fallback.vtable.alloc(heap_fallback.ptr, len, alignment, ra);
}

fn heapResize(ctx: *anyopaque, memory: []u8, alignment: std.mem.Alignment, new_len: usize, ra: usize) bool {
    if (heap_fixed.ownsSlice(memory)) return Fixed.resize(ctx, memory, alignment, new_len, ra);
    return heap_fallback.vtable.resize(heap_fallback.ptr, memory, alignment, new_len, ra);
}

fn heapRemap(ctx: *anyopaque, memory: []u8, alignment: std.mem.Alignment, new_len: usize, ra: usize) ?[*]u8 {
    if (heap_fixed.ownsSlice(memory)) return Fixed.remap(ctx, memory, alignment, new_len, ra);
    return heap_fallback.vtable.remap(heap_fallback.ptr, memory, alignment, new_len, ra);
}

fn heapFree(ctx: *anyopaque, memory: []u8, alignment: std.mem.Alignment, ra: usize) void {
    if (heap_fixed.ownsSlice(memory)) return Fixed.free(ctx, memory, alignment, ra);
    heap_fallback.vtable.free(heap_fallback.ptr, memory, alignment, ra);
}

/// The ABI version this SDK speaks; exported as the marker function `corral_abi_v1`.
pub const abi_version = 1;

/// Errors a pack function may return besides its own: `UserError` carries the message
/// set by `Context.fail` (and the upstream status, Retry-After or missing scopes set by
/// its siblings), `FetchFailed` the host's fetch error.
pub const PackError = error{ UserError, FetchFailed, BlobFailed, BadArgument, OutOfMemory };

/// Where the call was made from (ABI.md §3.1 `ctx.invocation_location`).
pub const InvocationLocation = struct {
    /// The host's public base URL, e.g. `https://corral.example.net` ("" if none).
    protocol_and_host: []const u8,
    /// The caller's document (or other location) id, if it gave one.
    doc_id: ?[]const u8,
};

/// A blob the host stored: the URL it serves it at, and when that ends (ISO 8601, UTC).
pub const StoredBlob = struct { url: []const u8, expires_at: []const u8 };

pub const LogLevel = enum(i32) { debug = 0, info = 1, warn = 2, err = 3 };

pub const Header = struct { name: []const u8, value: []const u8 };

pub const FetchRequest = struct {
    method: []const u8 = "GET",
    url: []const u8,
    headers: []const Header = &.{},
    body: ?[]const u8 = null,
    /// Send this value as a JSON body (the host encodes it and sets Content-Type).
    json_body: ?Value = null,
    cache_ttl_s: u32 = 0,
    binary: bool = false,
    /// Ask the host to parse the response body as JSON into `Response.json`.
    json: bool = false,
};

pub const Response = struct {
    status: i64,
    headers: Value,
    body: []const u8,
    json: Value,

    pub fn header(self: Response, name: []const u8) ?[]const u8 {
        const value = self.headers.get(name) orelse return null;
        return value.asStr();
    }

    /// The seconds the response's `Retry-After` asks for (delay-seconds, or an HTTP-date
    /// relative to its `Date` header), or null when it has none this can read.
    pub fn retryAfter(self: Response) ?f64 {
        return http.retryAfterSeconds(self.header("retry-after") orelse return null, self.header("date"));
    }
};

/// One parameter a `validate_parameters` entry faults, and why.
pub const FieldError = struct { parameter: []const u8, message: []const u8 };

/// What a `validate_parameters` entry returns (ABI.md §3.1): encoded as
/// `{valid, message, field_errors}`.
pub const Validation = struct {
    valid: bool,
    message: ?[]const u8 = null,
    field_errors: []const FieldError = &.{},

    /// The arguments are fine: the formula runs.
    pub fn accept() Validation {
        return .{ .valid = true };
    }

    /// The arguments are not acceptable: the call fails before the formula runs, with
    /// `message` and each parameter's own message.
    pub fn reject(message: ?[]const u8, field_errors: []const FieldError) Validation {
        return .{ .valid = false, .message = message, .field_errors = field_errors };
    }
};

/// One page of a sync table: rows plus an optional continuation for the next page.
pub fn SyncPage(comptime Row: type) type {
    return struct { rows: []const Row, continuation: ?Value = null };
}

/// Per-call state: the request's `ctx`, the arena, and the last error.
pub const Context = struct {
    request: Value,
    message: []const u8 = "",
    fetch_kind: []const u8 = "",
    /// Set when `storeBlob` / `storeUrl` fail: `too_large`, `quota`, `limit`, `denied`...
    blob_kind: []const u8 = "",
    /// Set by `failUpstream` / `failResponse`: the upstream's status and Retry-After.
    upstream_status: ?u16 = null,
    retry_after_s: ?f64 = null,
    /// Set by `failMissingScopes`.
    missing_scopes: []const []const u8 = &.{},
    arena: std.mem.Allocator = allocator,

    /// The connection, sync continuation and other fields the host put in `ctx`.
    pub fn field(self: *Context, name: []const u8) ?Value {
        const ctx = self.request.get("ctx") orelse return null;
        return ctx.get(name);
    }

    /// The caller's IANA time zone (`ctx.timezone`, e.g. "Europe/Paris"); "UTC" if none.
    pub fn timezone(self: *Context) []const u8 {
        const value = self.field("timezone") orelse return "UTC";
        return value.asStr() orelse "UTC";
    }

    /// The host's base URL and the caller's document id (`ctx.invocation_location`).
    pub fn invocationLocation(self: *Context) InvocationLocation {
        const location = self.field("invocation_location") orelse Value.nil;
        const host = location.get("protocol_and_host") orelse Value{ .str = "" };
        const doc = location.get("doc_id") orelse Value.nil;
        return .{ .protocol_and_host = host.asStr() orelse "", .doc_id = doc.asStr() };
    }

    /// Hand the host `bytes` as a temporary blob of `content_type`; the URL it serves
    /// them at. Failures return `error.BlobFailed` with `blob_kind` and `message` set.
    pub fn storeBlob(self: *Context, bytes: []const u8, content_type: []const u8) PackError!StoredBlob {
        var out = Writer.init(self.arena);
        out.beginMap(2) catch return error.OutOfMemory;
        out.writeStr("bytes") catch return error.OutOfMemory;
        out.writeBin(bytes) catch return error.OutOfMemory;
        out.writeStr("content_type") catch return error.OutOfMemory;
        out.writeStr(content_type) catch return error.OutOfMemory;
        return self.blobRequest(out.bytes());
    }

    /// Have the host fetch `url` (under the pack's fetch policy) and keep the answer as a
    /// temporary blob; the URL it serves it at.
    pub fn storeUrl(self: *Context, url: []const u8) PackError!StoredBlob {
        var out = Writer.init(self.arena);
        out.beginMap(1) catch return error.OutOfMemory;
        out.writeStr("url") catch return error.OutOfMemory;
        out.writeStr(url) catch return error.OutOfMemory;
        return self.blobRequest(out.bytes());
    }

    fn blobRequest(self: *Context, request: []const u8) PackError!StoredBlob {
        const raw = abi.unpackSlice(abi.blob(request.ptr, @intCast(request.len)));
        const reply = msgpack.decode(self.arena, raw) catch {
            self.blob_kind = "unavailable";
            self.message = "the host's blob response could not be decoded";
            return error.BlobFailed;
        };
        if (reply.get("err")) |err| {
            self.blob_kind = (err.get("kind") orelse Value{ .str = "unavailable" }).asStr() orelse "unavailable";
            self.message = (err.get("message") orelse Value{ .str = "" }).asStr() orelse "";
            return error.BlobFailed;
        }
        const ok = reply.get("ok") orelse Value.nil;
        return .{
            .url = (ok.get("url") orelse Value{ .str = "" }).asStr() orelse "",
            .expires_at = (ok.get("expires_at") orelse Value{ .str = "" }).asStr() orelse "",
        };
    }

    /// A dynamic table's URL (`sync` and `dynamic_schema` of a dynamic table).
    pub fn dynamicUrl(self: *Context) ?[]const u8 {
        const value = self.request.get("url") orelse return null;
        return value.asStr();
    }

    pub fn continuation(self: *Context) ?Value {
        const value = self.request.get("continuation") orelse return null;
        return if (value == .nil) null else value;
    }

    pub fn print(self: *Context, comptime fmt: []const u8, args: anytype) ![]const u8 {
        return std.fmt.allocPrint(self.arena, fmt, args);
    }

    /// Return `error.UserError` with a message the caller will see.
    pub fn fail(self: *Context, comptime fmt: []const u8, args: anytype) PackError {
        self.message = std.fmt.allocPrint(self.arena, fmt, args) catch "error";
        self.upstream_status = null;
        self.retry_after_s = null;
        self.missing_scopes = &.{};
        return error.UserError;
    }

    /// Like `fail`, reporting the upstream API's HTTP status (100-599) and the seconds its
    /// `Retry-After` asked for (null if it gave none). The host retries 429, 502, 503 and
    /// 504 within the call's deadline; the caller sees `upstream_status` and `Retry-After`.
    pub fn failUpstream(self: *Context, status: u16, retry_after_s: ?f64, comptime fmt: []const u8, args: anytype) PackError {
        const err = self.fail(fmt, args);
        if (status >= 100 and status <= 599) self.upstream_status = status;
        if (retry_after_s) |seconds| {
            if (std.math.isFinite(seconds) and seconds >= 0) self.retry_after_s = seconds;
        }
        return err;
    }

    /// `failUpstream` for a non-2xx response: its status and its `Retry-After`.
    pub fn failResponse(self: *Context, response: Response, comptime fmt: []const u8, args: anytype) PackError {
        const status = std.math.cast(u16, response.status) orelse 0;
        return self.failUpstream(status, response.retryAfter(), fmt, args);
    }

    /// Like `fail`, saying the connection lacks these OAuth scopes: the caller is told to
    /// reconnect granting them (`missing_scopes`, HTTP 403).
    pub fn failMissingScopes(self: *Context, scopes: []const []const u8, comptime fmt: []const u8, args: anytype) PackError {
        const err = self.fail(fmt, args);
        self.missing_scopes = self.arena.dupe([]const u8, scopes) catch &.{};
        return err;
    }

    pub fn log(self: *Context, level: LogLevel, comptime fmt: []const u8, args: anytype) void {
        const text = std.fmt.allocPrint(self.arena, fmt, args) catch return;
        abi.log(@intFromEnum(level), text.ptr, @intCast(text.len));
    }

    /// Fetch through the host. Host refusals and failures return `error.FetchFailed`
    /// with `fetch_kind` and `message` set; a non-2xx status is a normal Response.
    pub fn fetch(self: *Context, request: FetchRequest) PackError!Response {
        var out = Writer.init(self.arena);
        encodeFetchRequest(&out, request) catch return error.OutOfMemory;
        const bytes = out.bytes();
        const raw = abi.unpackSlice(abi.fetch(bytes.ptr, @intCast(bytes.len)));
        const reply = msgpack.decode(self.arena, raw) catch {
            self.fetch_kind = "network";
            self.message = "the host's fetch response could not be decoded";
            return error.FetchFailed;
        };
        if (reply.get("err")) |err| {
            self.fetch_kind = (err.get("kind") orelse Value{ .str = "network" }).asStr() orelse "network";
            self.message = (err.get("message") orelse Value{ .str = "" }).asStr() orelse "";
            return error.FetchFailed;
        }
        const ok = reply.get("ok") orelse Value.nil;
        return .{
            .status = (ok.get("status") orelse Value{ .int = 0 }).asInt() orelse 0,
            .headers = ok.get("headers") orelse Value.nil,
            .body = (ok.get("body") orelse Value{ .str = "" }).asStr() orelse "",
            .json = ok.get("json") orelse Value.nil,
        };
    }
};

fn encodeFetchRequest(out: *Writer, request: FetchRequest) !void {
    try out.beginMap(8);
    try out.writeStr("method");
    try out.writeStr(request.method);
    try out.writeStr("url");
    try out.writeStr(request.url);
    try out.writeStr("headers");
    try out.beginMap(request.headers.len);
    for (request.headers) |h| {
        try out.writeStr(h.name);
        try out.writeStr(h.value);
    }
    try out.writeStr("body");
    if (request.body) |body| try out.writeStr(body) else try out.writeNil();
    try out.writeStr("json_body");
    if (request.json_body) |value| try out.writeValue(value) else try out.writeNil();
    try out.writeStr("cache_ttl_s");
    try out.writeInt(request.cache_ttl_s);
    try out.writeStr("binary");
    try out.writeBool(request.binary);
    try out.writeStr("json");
    try out.writeBool(request.json);
}

// -- decoding arguments ------------------------------------------------------------------

/// Convert a decoded argument to the Zig type a pack function asks for.
pub fn fromValue(comptime T: type, value: Value) PackError!T {
    if (T == Value) return value;
    if (T == DateTime) return DateTime.parse(value.asStr() orelse return error.BadArgument) orelse error.BadArgument;
    switch (@typeInfo(T)) {
        .bool => return value.asBool() orelse error.BadArgument,
        .int => {
            const i = value.asInt() orelse return error.BadArgument;
            return std.math.cast(T, i) orelse error.BadArgument;
        },
        .float => return @floatCast(value.asFloat() orelse return error.BadArgument),
        .optional => |info| return if (value == .nil) null else try fromValue(info.child, value),
        .pointer => |info| {
            if (info.size != .slice) @compileError("unsupported parameter type " ++ @typeName(T));
            if (info.child == u8) return value.asStr() orelse error.BadArgument;
            if (value != .array) return error.BadArgument;
            const items = try allocator.alloc(info.child, value.array.len);
            for (value.array, items) |src, *dst| dst.* = try fromValue(info.child, src);
            return items;
        },
        .@"struct" => {
            if (value != .map) return error.BadArgument;
            var result: T = undefined;
            inline for (comptime std.meta.fieldNames(T)) |name| {
                const inner = value.get(name) orelse Value.nil;
                @field(result, name) = try fromValue(@FieldType(T, name), inner);
            }
            return result;
        },
        else => @compileError("unsupported parameter type " ++ @typeName(T)),
    }
}

// -- dispatch ----------------------------------------------------------------------------

/// Export the ABI v1 entry points for the pack whose root file is `Root`.
pub fn exportPack(comptime Root: type) void {
    const Entry = struct {
        fn alloc(size: i32) callconv(.c) i32 {
            if (size < 0) return 0;
            const mem = allocator.alloc(u8, @intCast(size)) catch return 0;
            return @intCast(@intFromPtr(mem.ptr));
        }

        fn call(ptr: i32, len: i32) callconv(.c) i64 {
            const start: usize = @intCast(@as(u32, @bitCast(ptr)));
            const count: usize = @intCast(@as(u32, @bitCast(len)));
            const many: [*]const u8 = @ptrFromInt(start);
            return abi.packSlice(handle(Root, many[0..count]));
        }

        fn marker() callconv(.c) void {}
    };
    @export(&Entry.alloc, .{ .name = "corral_alloc" });
    @export(&Entry.call, .{ .name = "corral_call" });
    @export(&Entry.marker, .{ .name = "corral_abi_v1" });
}

fn handle(comptime Root: type, input: []const u8) []const u8 {
    var out = Writer.init(allocator);
    const request = msgpack.decode(allocator, input) catch {
        writeError(&out, "bad_request", "the request is not valid MessagePack") catch {};
        return out.bytes();
    };
    var ctx = Context{ .request = request };
    dispatch(Root, &ctx, &out) catch |err| {
        out.reset();
        writeFailure(&out, &ctx, err) catch {};
    };
    return out.bytes();
}

fn writeError(out: *Writer, kind: []const u8, message: []const u8) !void {
    try out.beginMap(1);
    try out.writeStr("err");
    try out.beginMap(2);
    try out.writeStr("kind");
    try out.writeStr(kind);
    try out.writeStr("message");
    try out.writeStr(message);
}

/// `{err: {kind: "user", message}}` plus the upstream fields that are set (ABI.md §3.2).
fn writeUserError(out: *Writer, ctx: *Context) !void {
    const scopes = ctx.missing_scopes.len > 0;
    const extra = @as(usize, @intFromBool(ctx.upstream_status != null)) +
        @intFromBool(ctx.retry_after_s != null) + @intFromBool(scopes);
    try out.beginMap(1);
    try out.writeStr("err");
    try out.beginMap(2 + extra);
    try out.writeStr("kind");
    try out.writeStr("user");
    try out.writeStr("message");
    try out.writeStr(ctx.message);
    if (ctx.upstream_status) |status| {
        try out.writeStr("status");
        try out.writeInt(status);
    }
    if (ctx.retry_after_s) |seconds| {
        try out.writeStr("retry_after_s");
        try out.writeFloat(seconds);
    }
    if (scopes) {
        try out.writeStr("missing_scopes");
        try out.beginArray(ctx.missing_scopes.len);
        for (ctx.missing_scopes) |scope| try out.writeStr(scope);
    }
}

fn writeFailure(out: *Writer, ctx: *Context, err: anyerror) !void {
    switch (err) {
        error.UserError => try writeUserError(out, ctx),
        error.BadArgument => try writeError(out, "bad_args", "an argument has the wrong type"),
        error.NotFound => try writeError(out, "not_found", ctx.message),
        error.BlobFailed => try writeError(out, "blob", ctx.message),
        error.FetchFailed => {
            try out.beginMap(1);
            try out.writeStr("err");
            try out.beginMap(3);
            try out.writeStr("kind");
            try out.writeStr("fetch");
            try out.writeStr("fetch_kind");
            try out.writeStr(ctx.fetch_kind);
            try out.writeStr("message");
            try out.writeStr(ctx.message);
        },
        else => try writeError(out, "internal", @errorName(err)),
    }
}

fn opName(ctx: *Context) []const u8 {
    const op = ctx.request.get("op") orelse return "";
    return op.asStr() orelse "";
}

fn callName(ctx: *Context) []const u8 {
    const name = ctx.request.get("name") orelse return "";
    return name.asStr() orelse "";
}

fn dispatch(comptime Root: type, ctx: *Context, out: *Writer) !void {
    const op = opName(ctx);
    const args = ctx.request.get("args") orelse Value{ .array = &.{} };
    if (std.mem.eql(u8, op, "formula")) return callTable(Root, "formulas", ctx, args, out);
    if (std.mem.eql(u8, op, "action")) return callTable(Root, "actions", ctx, args, out);
    if (std.mem.eql(u8, op, "sync")) return callTable(Root, "sync_tables", ctx, args, out);
    if (std.mem.eql(u8, op, "sync_update")) return callTable(Root, "sync_updates", ctx, Value{ .array = &.{ctx.request.get("updates") orelse Value.nil} }, out);
    if (std.mem.eql(u8, op, "autocomplete")) return callTable(Root, "autocomplete", ctx, Value{ .array = &.{ ctx.request.get("search") orelse Value{ .str = "" }, ctx.request.get("args") orelse Value.nil, ctx.request.get("param") orelse Value.nil } }, out);
    if (std.mem.eql(u8, op, "dynamic_urls")) return callTable(Root, "dynamic_urls", ctx, Value{ .array = &.{} }, out);
    if (std.mem.eql(u8, op, "dynamic_schema")) return callTable(Root, "dynamic_schemas", ctx, Value{ .array = &.{ctx.request.get("url") orelse Value.nil} }, out);
    if (std.mem.eql(u8, op, "validate_parameters")) return callTable(Root, "validate_parameters", ctx, args, out);
    if (std.mem.eql(u8, op, "connection_name")) {
        if (@hasDecl(Root, "connection_name")) return callFunction(Root.connection_name, ctx, Value{ .array = &.{} }, out);
        ctx.message = "this pack does not name connections";
        return error.NotFound;
    }
    ctx.message = try ctx.print("unknown op '{s}'", .{op});
    return error.NotFound;
}

fn callTable(comptime Root: type, comptime table: []const u8, ctx: *Context, args: Value, out: *Writer) !void {
    const name = callName(ctx);
    if (@hasDecl(Root, table)) {
        const entries = @field(Root, table);
        inline for (comptime std.meta.fieldNames(@TypeOf(entries))) |entry| {
            if (std.mem.eql(u8, entry, name)) return callFunction(@field(entries, entry), ctx, args, out);
        }
    }
    ctx.message = try ctx.print("no {s} entry named '{s}'", .{ table, name });
    return error.NotFound;
}

fn callFunction(comptime function: anytype, ctx: *Context, args: Value, out: *Writer) !void {
    const Fn = @TypeOf(function);
    const info = @typeInfo(Fn).@"fn";
    var tuple: std.meta.ArgsTuple(Fn) = undefined;
    const items: []const Value = if (args == .array) args.array else &.{};
    comptime var offset: usize = 0;
    inline for (info.param_types, 0..) |param_type, i| {
        const P = param_type.?;
        if (P == *Context) {
            tuple[i] = ctx;
            offset += 1;
        } else {
            const index = i - offset;
            const value = if (index < items.len) items[index] else Value.nil;
            tuple[i] = fromValue(P, value) catch |err| {
                ctx.message = try ctx.print("argument {d} has the wrong type", .{index + 1});
                return if (err == error.BadArgument) error.UserError else err;
            };
        }
    }
    const result = @call(.auto, function, tuple);
    const value = switch (@typeInfo(@TypeOf(result))) {
        .error_union => try result,
        else => result,
    };
    try out.beginMap(1);
    try out.writeStr("ok");
    try out.write(value);
}
