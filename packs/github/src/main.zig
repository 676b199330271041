//! The github pack: a GitHub-style REST API as formulas, an action, a two-way sync table,
//! a dynamic table and autocomplete. The host injects the bearer token; this code never
//! sees it.
const std = @import("std");
const corral = @import("corral");
const Value = corral.Value;
const Context = corral.Context;

comptime {
    corral.exportPack(@This());
}

const api = "https://api.github.test";

pub const formulas = .{ .GetIssue = getIssue };
pub const actions = .{ .CreateIssue = createIssue };
pub const sync_tables = .{ .Issues = syncIssues, .ProjectItems = syncProjectItems };
pub const sync_updates = .{ .Issues = updateIssues };
pub const autocomplete = .{ .GetIssue = repoChoices, .CreateIssue = repoChoices, .Issues = repoChoices };
pub const dynamic_urls = .{ .ProjectItems = projectUrls };
pub const dynamic_schemas = .{ .ProjectItems = projectSchema };

// -- rows -----------------------------------------------------------------------------------

const Person = struct { login: Value, url: Value };

/// One issue as the pack presents it. Fields are passed through from the API as Values,
/// so a field the API leaves out or nulls reaches the host's schema check unchanged.
const Issue = struct {
    number: Value,
    title: Value,
    state: Value,
    body: Value,
    url: Value,
    api_url: Value,
    author: Person,
    labels: []const Value,
    comments: Value,
    created_at: Value,
    updated_at: Value,
    closed_at: Value,
};

fn field(object: Value, name: []const u8) Value {
    return object.get(name) orelse .nil;
}

fn toIssue(ctx: *Context, raw: Value) !Issue {
    const user = field(raw, "user");
    const raw_labels = field(raw, "labels");
    const label_items: []const Value = if (raw_labels == .array) raw_labels.array else &.{};
    const labels = try ctx.arena.alloc(Value, label_items.len);
    for (label_items, labels) |label, *name| name.* = field(label, "name");
    return .{
        .number = field(raw, "number"),
        .title = field(raw, "title"),
        .state = field(raw, "state"),
        .body = field(raw, "body"),
        .url = field(raw, "html_url"),
        .api_url = field(raw, "url"),
        .author = .{ .login = field(user, "login"), .url = field(user, "html_url") },
        .labels = labels,
        .comments = field(raw, "comments"),
        .created_at = field(raw, "created_at"),
        .updated_at = field(raw, "updated_at"),
        .closed_at = field(raw, "closed_at"),
    };
}

// -- requests -------------------------------------------------------------------------------

/// `owner/name` with safe characters only, so it can go into a URL path as is.
fn checkRepo(ctx: *Context, repo: []const u8) ![]const u8 {
    const slash = std.mem.indexOfScalar(u8, repo, '/') orelse
        return ctx.fail("repo must look like owner/name, got '{s}'", .{repo});
    if (slash == 0 or slash == repo.len - 1 or std.mem.indexOfScalarPos(u8, repo, slash + 1, '/') != null)
        return ctx.fail("repo must look like owner/name, got '{s}'", .{repo});
    for (repo) |c| {
        if (!(std.ascii.isAlphanumeric(c) or c == '-' or c == '_' or c == '.' or c == '/'))
            return ctx.fail("repo '{s}' holds a character that is not allowed", .{repo});
    }
    return repo;
}

/// A JSON request; a status outside 2xx becomes the pack's error, with the API's message,
/// reporting the status and Retry-After to the host (which retries 429, 502, 503 and 504),
/// or the scopes the token lacks.
fn call(ctx: *Context, method: []const u8, url: []const u8, body: ?Value) !corral.Response {
    const response = try ctx.fetch(.{
        .method = method,
        .url = url,
        .json = true,
        .json_body = body,
        .headers = &.{.{ .name = "Accept", .value = "application/vnd.github+json" }},
    });
    if (response.status >= 200 and response.status < 300) return response;
    const message = (field(response.json, "message").asStr()) orelse "no message";
    if (response.status == 403) {
        if (try missingScopes(ctx, response)) |scopes|
            return ctx.failMissingScopes(scopes, "the token may not do this ({s})", .{message});
    }
    return switch (response.status) {
        401 => ctx.failResponse(response, "the API refused the connection's token ({s})", .{message}),
        404 => ctx.failResponse(response, "not found: {s}", .{url[api.len..]}),
        else => ctx.failResponse(response, "the API answered {d}: {s}", .{ response.status, message }),
    };
}

/// The scopes a 403 says the token lacks: GitHub lists the scopes the endpoint accepts in
/// `X-Accepted-OAuth-Scopes` and those the token holds in `X-OAuth-Scopes`; when the token
/// holds none of the accepted ones, they are missing. Null for any other 403.
fn missingScopes(ctx: *Context, response: corral.Response) !?[]const []const u8 {
    const accepted = response.header("x-accepted-oauth-scopes") orelse return null;
    const granted = response.header("x-oauth-scopes") orelse "";
    var wanted: std.ArrayList([]const u8) = .empty;
    var names = std.mem.tokenizeAny(u8, accepted, ", ");
    while (names.next()) |name| {
        if (hasScope(granted, name)) return null;
        try wanted.append(ctx.arena, name);
    }
    return if (wanted.items.len == 0) null else wanted.items;
}

fn hasScope(list: []const u8, scope: []const u8) bool {
    var names = std.mem.tokenizeAny(u8, list, ", ");
    while (names.next()) |name| {
        if (std.mem.eql(u8, name, scope)) return true;
    }
    return false;
}

/// The `rel="next"` target of a Link header, if there is one.
fn nextLink(link: ?[]const u8) ?[]const u8 {
    var parts = std.mem.splitScalar(u8, link orelse return null, ',');
    while (parts.next()) |part| {
        if (std.mem.indexOf(u8, part, "rel=\"next\"") == null) continue;
        const open = std.mem.indexOfScalar(u8, part, '<') orelse continue;
        const close = std.mem.indexOfScalarPos(u8, part, open, '>') orelse continue;
        return part[open + 1 .. close];
    }
    return null;
}

fn continuationOf(response: corral.Response) ?Value {
    const next = nextLink(response.header("link")) orelse return null;
    return Value{ .str = next };
}

fn entry(key: []const u8, value: Value) Value.Entry {
    return .{ .key = .{ .str = key }, .value = value };
}

fn mapOf(ctx: *Context, entries: []const Value.Entry) !Value {
    return .{ .map = try ctx.arena.dupe(Value.Entry, entries) };
}

// -- formulas and actions -------------------------------------------------------------------

fn getIssue(ctx: *Context, repo: []const u8, number: i64) !Issue {
    const url = try ctx.print(api ++ "/repos/{s}/issues/{d}", .{ try checkRepo(ctx, repo), number });
    const response = try call(ctx, "GET", url, null);
    return toIssue(ctx, response.json);
}

const NewIssue = struct { number: Value, title: Value, state: Value, body: Value, url: Value, api_url: Value };

fn createIssue(ctx: *Context, repo: []const u8, title: []const u8, body: ?[]const u8) !NewIssue {
    if (title.len == 0) return ctx.fail("an issue needs a title", .{});
    const url = try ctx.print(api ++ "/repos/{s}/issues", .{try checkRepo(ctx, repo)});
    const payload = try mapOf(ctx, &.{
        entry("title", .{ .str = title }),
        entry("body", if (body) |text| Value{ .str = text } else .nil),
    });
    const raw = (try call(ctx, "POST", url, payload)).json;
    return .{
        .number = field(raw, "number"),
        .title = field(raw, "title"),
        .state = field(raw, "state"),
        .body = field(raw, "body"),
        .url = field(raw, "html_url"),
        .api_url = field(raw, "url"),
    };
}

// -- the Issues sync table ------------------------------------------------------------------

fn syncIssues(ctx: *Context, repo: []const u8, page_size: ?i64) !corral.SyncPage(Issue) {
    const url = if (ctx.continuation()) |next|
        next.asStr() orelse return ctx.fail("the continuation is not a URL", .{})
    else
        try ctx.print(api ++ "/repos/{s}/issues?state=all&per_page={d}", .{
            try checkRepo(ctx, repo), std.math.clamp(page_size orelse 50, 1, 100),
        });
    const response = try call(ctx, "GET", url, null);
    const items: []const Value = if (response.json == .array) response.json.array else
        return ctx.fail("the issues listing is not an array", .{});
    const rows = try ctx.arena.alloc(Issue, items.len);
    for (items, rows) |raw, *row| row.* = try toIssue(ctx, raw);
    return .{ .rows = rows, .continuation = continuationOf(response) };
}

const UpdateResult = union(enum) { ok: Issue, err: []const u8 };

/// Sends each edited row's mutable fields (title, state) back with a PATCH to its API URL.
fn updateIssues(ctx: *Context, updates: []const Value) ![]UpdateResult {
    const results = try ctx.arena.alloc(UpdateResult, updates.len);
    for (updates, results) |update, *result| {
        result.* = updateOne(ctx, update) catch |err| switch (err) {
            error.UserError, error.FetchFailed => .{ .err = ctx.message },
            else => return err,
        };
    }
    return results;
}

fn updateOne(ctx: *Context, update: Value) !UpdateResult {
    const previous = field(update, "previous");
    const new = field(update, "new");
    const url = field(previous, "api_url").asStr() orelse return ctx.fail("the row has no api_url", .{});
    var changes: std.ArrayList(Value.Entry) = .empty;
    const fields = field(update, "updated_fields");
    for (if (fields == .array) fields.array else &.{}) |name_value| {
        const name = name_value.asStr() orelse continue;
        if (std.mem.eql(u8, name, "title") or std.mem.eql(u8, name, "state"))
            try changes.append(ctx.arena, entry(name, field(new, name)));
    }
    const response = try call(ctx, "PATCH", url, Value{ .map = changes.items });
    return .{ .ok = try toIssue(ctx, response.json) };
}

// -- autocomplete ---------------------------------------------------------------------------

const Choice = struct { display: []const u8, value: []const u8 };

/// Repositories the connection can see whose name contains the text typed so far.
fn repoChoices(ctx: *Context, search: []const u8) ![]Choice {
    const response = try call(ctx, "GET", api ++ "/user/repos?per_page=100", null);
    const repos: []const Value = if (response.json == .array) response.json.array else &.{};
    var choices: std.ArrayList(Choice) = .empty;
    for (repos) |repo| {
        const name = field(repo, "full_name").asStr() orelse continue;
        if (search.len > 0 and std.ascii.findIgnoreCase(name, search) == null) continue;
        try choices.append(ctx.arena, .{ .display = name, .value = name });
    }
    return choices.items;
}

// -- the ProjectItems dynamic table ---------------------------------------------------------

const DynamicUrl = struct { display: []const u8, url: []const u8 };

fn projectUrls(ctx: *Context) ![]DynamicUrl {
    const response = try call(ctx, "GET", api ++ "/projects", null);
    const projects: []const Value = if (response.json == .array) response.json.array else &.{};
    const urls = try ctx.arena.alloc(DynamicUrl, projects.len);
    for (projects, urls) |project, *out| {
        out.* = .{
            .display = field(project, "title").asStr() orelse "untitled",
            .url = try ctx.print(api ++ "/projects/{d}", .{field(project, "id").asInt() orelse 0}),
        };
    }
    return urls;
}

fn checkProjectUrl(ctx: *Context, url: []const u8) ![]const u8 {
    if (!std.mem.startsWith(u8, url, api ++ "/projects/"))
        return ctx.fail("'{s}' is not a project URL of this pack", .{url});
    return url;
}

/// The project's fields become the table's columns: text, number, date or single select.
fn projectSchema(ctx: *Context, url: []const u8) !Value {
    const fields_url = try ctx.print("{s}/fields", .{try checkProjectUrl(ctx, url)});
    const response = try call(ctx, "GET", fields_url, null);
    const fields: []const Value = if (response.json == .array) response.json.array else &.{};
    var properties: std.ArrayList(Value.Entry) = .empty;
    try properties.append(ctx.arena, entry("id", try mapOf(ctx, &.{entry("type", .{ .str = "integer" })})));
    var display: Value = .nil;
    for (fields) |spec| {
        const name = field(spec, "name").asStr() orelse continue;
        const kind = field(spec, "type").asStr() orelse "text";
        const property = if (std.mem.eql(u8, kind, "number"))
            try mapOf(ctx, &.{ entry("type", .{ .str = "number" }), entry("nullable", .{ .boolean = true }) })
        else if (std.mem.eql(u8, kind, "date"))
            try mapOf(ctx, &.{ entry("type", .{ .str = "string" }), entry("hint", .{ .str = "date" }), entry("nullable", .{ .boolean = true }) })
        else
            try mapOf(ctx, &.{ entry("type", .{ .str = "string" }), entry("nullable", .{ .boolean = true }) });
        if (display == .nil and std.mem.eql(u8, kind, "text")) display = .{ .str = name };
        try properties.append(ctx.arena, entry(name, property));
    }
    var schema: std.ArrayList(Value.Entry) = .empty;
    try schema.append(ctx.arena, entry("type", .{ .str = "object" }));
    try schema.append(ctx.arena, entry("id_property", .{ .str = "id" }));
    if (display != .nil) try schema.append(ctx.arena, entry("display_property", display));
    try schema.append(ctx.arena, entry("properties", .{ .map = properties.items }));
    return .{ .map = schema.items };
}

/// Rows are the items with their field values flattened next to the id.
fn syncProjectItems(ctx: *Context) !corral.SyncPage(Value) {
    const url = if (ctx.continuation()) |next|
        next.asStr() orelse return ctx.fail("the continuation is not a URL", .{})
    else
        try ctx.print("{s}/items?per_page=50", .{try checkProjectUrl(ctx, ctx.dynamicUrl() orelse
            return ctx.fail("ProjectItems is a dynamic table: the host must send its url", .{}))});
    const response = try call(ctx, "GET", url, null);
    const items: []const Value = if (response.json == .array) response.json.array else &.{};
    const rows = try ctx.arena.alloc(Value, items.len);
    for (items, rows) |item, *row| {
        var cells: std.ArrayList(Value.Entry) = .empty;
        try cells.append(ctx.arena, entry("id", field(item, "id")));
        const values = field(item, "fields");
        if (values == .map) try cells.appendSlice(ctx.arena, values.map);
        row.* = .{ .map = cells.items };
    }
    return .{ .rows = rows, .continuation = continuationOf(response) };
}
