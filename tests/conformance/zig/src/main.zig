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
    // parameter types (issue 16), defined at the end of this file
    .EchoString = echoText,
    .EchoNumber = echoNumber,
    .EchoInteger = echoInteger,
    .EchoBoolean = echoBoolean,
    .EchoDate = echoDate,
    .EchoHtml = echoText,
    .EchoMarkdown = echoText,
    .EchoImage = echoText,
    .EchoFile = echoText,
    .EchoEmail = echoText,
    .EchoArrays = echoArrays,
    .EchoSparse = echoSparse,
    .Hints = hints,
    .HintEcho = hintEcho,
    // formula metadata (the block at the end of this file)
    .Double = double,
    .Span = span,
    .Endless = endless,
    .Countdown = countdown,
    // the execution context (the block at the end of this file)
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

// -- parameter types (issue 16): each formula returns what the SDK read -----------------

fn echoText(value: []const u8) []const u8 {
    return value;
}

fn echoNumber(value: f64) f64 {
    return value;
}

fn echoInteger(value: i64) i64 {
    return value;
}

fn echoBoolean(value: bool) bool {
    return value;
}

fn echoDate(ctx: *Context, value: corral.DateTime) !Value {
    return object(ctx, &.{
        entry("iso", .{ .str = try value.iso(ctx.arena) }),
        entry("epoch_ms", .{ .int = value.epochMs() }),
        entry("parts", .{ .array = try ctx.arena.dupe(Value, &.{
            .{ .int = value.year },   .{ .int = value.month },  .{ .int = value.day },
            .{ .int = value.hour },   .{ .int = value.minute }, .{ .int = value.second },
            .{ .int = value.millisecond },
        }) }),
    });
}

fn isoDates(ctx: *Context, dates: []const ?corral.DateTime) ![]const ?[]const u8 {
    const out = try ctx.arena.alloc(?[]const u8, dates.len);
    for (dates, out) |date, *iso| iso.* = if (date) |d| try d.iso(ctx.arena) else null;
    return out;
}

fn Lists(comptime Text: type, comptime Number: type, comptime Integer: type, comptime Boolean: type) type {
    return struct {
        strings: []const Text,
        numbers: []const Number,
        integers: []const Integer,
        booleans: []const Boolean,
        dates: []const ?[]const u8,
        htmls: []const Text,
        markdowns: []const Text,
        images: []const Text,
        files: []const Text,
        emails: []const Text,
    };
}

fn echoArrays(ctx: *Context, strings: []const []const u8, numbers: []const f64, integers: []const i64, booleans: []const bool, dates: []const corral.DateTime, htmls: []const []const u8, markdowns: []const []const u8, images: []const []const u8, files: []const []const u8, emails: []const []const u8) !Lists([]const u8, f64, i64, bool) {
    const some = try ctx.arena.alloc(?corral.DateTime, dates.len);
    for (dates, some) |d, *s| s.* = d;
    return .{ .strings = strings, .numbers = numbers, .integers = integers, .booleans = booleans, .dates = try isoDates(ctx, some), .htmls = htmls, .markdowns = markdowns, .images = images, .files = files, .emails = emails };
}

fn echoSparse(ctx: *Context, strings: []const ?[]const u8, numbers: []const ?f64, integers: []const ?i64, booleans: []const ?bool, dates: []const ?corral.DateTime, htmls: []const ?[]const u8, markdowns: []const ?[]const u8, images: []const ?[]const u8, files: []const ?[]const u8, emails: []const ?[]const u8) !Lists(?[]const u8, ?f64, ?i64, ?bool) {
    return .{ .strings = strings, .numbers = numbers, .integers = integers, .booleans = booleans, .dates = try isoDates(ctx, dates), .htmls = htmls, .markdowns = markdowns, .images = images, .files = files, .emails = emails };
}

// -- value hints (issue 16 item 2): a value for every hint, most written loosely ------------

fn hints(ctx: *Context) !Value {
    return object(ctx, &.{
        entry("date", .{ .str = "March 3, 2024" }),
        entry("time", .{ .str = "5:24 pm" }),
        entry("datetime", .{ .str = "2024-03-03T09:24:00-08:00" }),
        entry("epoch", .{ .int = 1709486640 }),
        entry("duration", .{ .str = "1 hour 30 minutes" }),
        entry("days", .{ .float = 1.5 }),
        entry("email", .{ .str = "Ann@Example.COM" }),
        entry("person", try object(ctx, &.{ entry("email", .{ .str = "Bo@Example.COM" }), entry("name", .{ .str = "Bo" }) })),
        entry("percent", .{ .float = 0.25 }),
        entry("currency", .{ .float = 9.5 }),
        entry("image", .{ .str = "https://conformance.test/cat.png" }),
        entry("image_attachment", .{ .str = "data:image/png;base64,iVBORw0KGgo=" }),
        entry("url", .{ .str = "https://conformance.test/a?b=c" }),
        entry("markdown", .{ .str = "**bold**" }),
        entry("html", .{ .str = "<b>bold</b>" }),
        entry("embed", .{ .str = "https://conformance.test/video" }),
        entry("reference", try object(ctx, &.{ entry("id", .{ .int = 1 }), entry("name", .{ .str = "item 1" }) })),
        entry("attachment", .{ .str = "https://conformance.test/report.pdf" }),
        entry("slider", .{ .float = 7.5 }),
        entry("scale", .{ .float = 4.0 }),
        entry("progress_bar", .{ .float = 0.4 }),
        entry("toggle", .{ .boolean = true }),
        entry("rich_text", .{ .str = "plain" }),
        entry("select_list", .{ .str = "green" }),
        entry("code", .{ .str = "print(1)" }),
        entry("phone", .{ .str = "+1 (555) 010-9999" }),
    });
}

fn hintEcho(value: Value) Value {
    return value;
}

// -- formula metadata: examples, validate_parameters, a formula's own timeout_ms ----------

pub const validate_parameters = .{ .Span = validateSpan };

fn double(n: f64) f64 {
    return n * 2;
}

fn span(low: i64, high: i64) i64 {
    return high - low;
}

fn validateSpan(ctx: *Context, low: i64, high: i64) !corral.Validation {
    if (low == 13) return ctx.fail("the validation of 13 fails on purpose", .{});
    var errors: std.ArrayList(corral.FieldError) = .empty;
    if (low < 0) try errors.append(ctx.arena, .{ .parameter = "low", .message = "must not be negative" });
    if (high < low) try errors.append(ctx.arena, .{ .parameter = "high", .message = "must be at least low" });
    if (errors.items.len > 0) return corral.Validation.reject("the range is not valid", errors.items);
    return corral.Validation.accept();
}

/// One turn of Endless and Countdown: a host call with a static message (no allocation,
/// so memory never runs out however long the loop runs).
fn turn() void {
    corral.abi.log(0, ".", 1);
}

fn endless() i64 {
    while (true) turn();
}

fn countdown(n: i64) i64 {
    var i: i64 = 0;
    while (i < n) : (i += 1) turn();
    return n;
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
