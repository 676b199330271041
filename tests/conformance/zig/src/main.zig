//! The conformance pack in Zig (see ../pack.toml and tests/test_conformance.py).
const std = @import("std");
const corral = @import("corral");
const Value = corral.Value;
const Context = corral.Context;

comptime {
    corral.exportPack(@This());
}

pub const formulas = .{
    .Echo = echo,
    .Build = build,
    .Fail = fail,
    .Log = logAll,
    .FetchJson = fetchJson,
    .PostJson = postJson,
    .FetchBytes = fetchBytes,
    .FetchStatus = fetchStatus,
    .FetchOrFallback = fetchOrFallback,
    .FetchOrFailUpstream = fetchOrFailUpstream,
    .FailUpstream = failUpstream,
    .NeedScopes = needScopes,
    .Pick = pick,
    .Crash = crash,
    .CtxTimezone = ctxTimezone,
    .CtxLocation = ctxLocation,
    .CtxStoreBlob = ctxStoreBlob,
    .CtxStoreUrl = ctxStoreUrl,
};
pub const actions = .{ .Bump = bump };
pub const sync_tables = .{ .Items = items, .Dyn = dyn };
pub const sync_updates = .{ .Items = updateItems };
pub const autocomplete = .{ .Pick = completeFruit };
pub const dynamic_urls = .{ .Dyn = dynUrls };
pub const dynamic_schemas = .{ .Dyn = dynSchema };
pub const connection_name = connectionName;

fn entry(key: []const u8, value: Value) Value.Entry {
    return .{ .key = .{ .str = key }, .value = value };
}

fn object(ctx: *Context, entries: []const Value.Entry) !Value {
    return .{ .map = try ctx.arena.dupe(Value.Entry, entries) };
}

fn echo(value: Value) Value {
    return value;
}

fn build(ctx: *Context) !Value {
    const list = try ctx.arena.dupe(Value, &.{ .{ .int = 1 }, .{ .str = "two" }, .{ .float = 3.5 }, .nil });
    const deeper = try ctx.arena.dupe(Value, &.{ .{ .array = &.{} }, .{ .map = &.{} } });
    const deep = try object(ctx, &.{entry("deeper", .{ .array = deeper })});
    return object(ctx, &.{
        entry("nil", .nil),
        entry("yes", .{ .boolean = true }),
        entry("no", .{ .boolean = false }),
        entry("small", .{ .int = 7 }),
        entry("negative", .{ .int = -33 }),
        entry("int32", .{ .int = -70000 }),
        entry("big", .{ .int = 1 << 40 }),
        entry("min64", .{ .int = std.math.minInt(i64) }),
        entry("max_u64", .{ .uint = std.math.maxInt(u64) }),
        entry("float", .{ .float = 3.25 }),
        entry("text", .{ .str = "naïve ☃ 日本" }),
        entry("empty", .{ .str = "" }),
        entry("bytes", .{ .bin = &.{ 0x00, 0x01, 0xfe, 0xff } }),
        entry("list", .{ .array = list }),
        entry("nested", try object(ctx, &.{entry("deep", deep)})),
    });
}

fn fail(ctx: *Context, message: []const u8) ![]const u8 {
    return ctx.fail("{s}", .{message});
}

fn logAll(ctx: *Context, message: []const u8) i64 {
    ctx.log(.debug, "debug: {s}", .{message});
    ctx.log(.info, "info: {s}", .{message});
    ctx.log(.warn, "warn: {s}", .{message});
    ctx.log(.err, "error: {s}", .{message});
    return 4;
}

fn fetchJson(ctx: *Context, url: []const u8) !Value {
    const response = try ctx.fetch(.{
        .url = url,
        .headers = &.{.{ .name = "X-Conformance", .value = "yes" }},
        .json = true,
    });
    const served_by: Value = if (response.header("x-served-by")) |v| .{ .str = v } else .nil;
    return object(ctx, &.{
        entry("status", .{ .int = response.status }),
        entry("served_by", served_by),
        entry("json", response.json),
    });
}

fn postJson(ctx: *Context, url: []const u8, payload: Value) !Value {
    const response = try ctx.fetch(.{ .method = "POST", .url = url, .json_body = payload, .json = true });
    return response.json;
}

fn fetchBytes(ctx: *Context, url: []const u8) !Value {
    const response = try ctx.fetch(.{ .url = url, .binary = true });
    return .{ .bin = response.body };
}

fn fetchStatus(ctx: *Context, url: []const u8) !i64 {
    const response = try ctx.fetch(.{ .url = url });
    return response.status;
}

fn fetchOrFallback(ctx: *Context, url: []const u8) ![]const u8 {
    const response = ctx.fetch(.{ .url = url }) catch |err| {
        if (err == error.FetchFailed) return ctx.print("fallback: {s}", .{ctx.fetch_kind});
        return err;
    };
    return ctx.print("status {d}", .{response.status});
}

fn fetchOrFailUpstream(ctx: *Context, url: []const u8) !i64 {
    const response = try ctx.fetch(.{ .url = url });
    if (response.status >= 200 and response.status < 300) return response.status;
    return ctx.failResponse(response, "the upstream answered {d}", .{response.status});
}

fn failUpstream(ctx: *Context, status: i64, retry_after_s: f64) ![]const u8 {
    const seconds: ?f64 = if (retry_after_s < 0) null else retry_after_s;
    return ctx.failUpstream(std.math.cast(u16, status) orelse 0, seconds, "upstream status {d}", .{status});
}

fn needScopes(ctx: *Context, scopes: []const []const u8) ![]const u8 {
    return ctx.failMissingScopes(scopes, "the connection may not do this", .{});
}

fn pick(fruit: []const u8) []const u8 {
    return fruit;
}

fn crash() []const u8 {
    @panic("crash on purpose");
}

fn bump(n: i64) i64 {
    return n + 1;
}

const Row = struct { id: i64, name: []const u8 };

fn items(ctx: *Context, count: i64) !corral.SyncPage(Row) {
    var offset: i64 = 0;
    if (ctx.continuation()) |c| offset = c.at("offset").asInt() orelse 0;
    const end = @min(offset + 2, count);
    var rows: std.ArrayList(Row) = .empty;
    var i = offset;
    while (i < end) : (i += 1) {
        try rows.append(ctx.arena, .{ .id = i, .name = try ctx.print("item {d}", .{i}) });
    }
    const next: ?Value = if (end < count) try object(ctx, &.{entry("offset", .{ .int = end })}) else null;
    return .{ .rows = rows.items, .continuation = next };
}

fn updateItems(ctx: *Context, updates: []const Value) ![]const Value {
    const results = try ctx.arena.alloc(Value, updates.len);
    for (updates, results) |update, *result| {
        const row = update.at("new");
        const name = row.at("name").asStr() orelse "";
        if (name.len == 0) {
            result.* = try object(ctx, &.{entry("err", .{ .str = "name must not be empty" })});
        } else {
            const id = row.at("id");
            const new_name = try ctx.print("{s}!", .{name});
            const updated = try object(ctx, &.{ entry("id", id), entry("name", .{ .str = new_name }) });
            result.* = try object(ctx, &.{entry("ok", updated)});
        }
    }
    return results;
}

fn dyn(ctx: *Context) !corral.SyncPage(Value) {
    const rows = try ctx.arena.dupe(Value, &.{try object(ctx, &.{entry("id", .{ .str = "one" })})});
    return .{ .rows = rows };
}

const fruits = [_][]const u8{ "Apple", "Banana", "Blueberry", "Cherry" };

fn completeFruit(ctx: *Context, search: []const u8) ![]const Value {
    var out: std.ArrayList(Value) = .empty;
    for (fruits) |fruit| {
        if (fruit.len < search.len or !std.ascii.eqlIgnoreCase(fruit[0..search.len], search)) continue;
        const lower = try std.ascii.allocLowerString(ctx.arena, fruit);
        try out.append(ctx.arena, try object(ctx, &.{ entry("display", .{ .str = fruit }), entry("value", .{ .str = lower }) }));
    }
    return out.items;
}

fn dynUrls(ctx: *Context) ![]const Value {
    return ctx.arena.dupe(Value, &.{
        try object(ctx, &.{ entry("display", .{ .str = "Alpha" }), entry("url", .{ .str = "dyn://alpha" }) }),
        try object(ctx, &.{ entry("display", .{ .str = "Beta" }), entry("url", .{ .str = "dyn://beta" }) }),
    });
}

fn dynSchema(ctx: *Context, url: []const u8) !Value {
    const id_schema = try object(ctx, &.{entry("type", .{ .str = "string" })});
    return object(ctx, &.{
        entry("type", .{ .str = "object" }),
        entry("description", .{ .str = url }),
        entry("id_property", .{ .str = "id" }),
        entry("properties", try object(ctx, &.{entry("id", id_schema)})),
    });
}

fn connectionName(ctx: *Context) ![]const u8 {
    const connection = ctx.field("connection") orelse return "Conformance";
    const id = connection.at("id").asStr() orelse return "Conformance";
    return ctx.print("Conformance for {s}", .{id});
}

// -- the execution context: time zone, invocation location, temporary blobs --------------

fn ctxTimezone(ctx: *Context) []const u8 {
    return ctx.timezone();
}

fn ctxLocation(ctx: *Context) !Value {
    const location = ctx.invocationLocation();
    const doc: Value = if (location.doc_id) |id| .{ .str = id } else .nil;
    return object(ctx, &.{ entry("protocol_and_host", .{ .str = location.protocol_and_host }), entry("doc_id", doc) });
}

fn storedBlob(ctx: *Context, blob: corral.StoredBlob) !Value {
    return object(ctx, &.{ entry("url", .{ .str = blob.url }), entry("expires_at", .{ .str = blob.expires_at }) });
}

fn ctxStoreBlob(ctx: *Context, text: []const u8, content_type: []const u8) !Value {
    return storedBlob(ctx, try ctx.storeBlob(text, content_type));
}

fn ctxStoreUrl(ctx: *Context, url: []const u8) !Value {
    return storedBlob(ctx, try ctx.storeUrl(url));
}
