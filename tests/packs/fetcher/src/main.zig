//! A pack that fetches whatever it is told to: the fetch-policy tests drive every bypass
//! attempt through it, so each refusal is proven on the real path (guest -> import -> policy).
const std = @import("std");
const corral = @import("corral");

comptime {
    corral.exportPack(@This());
}

pub const formulas = .{
    .Fetch = fetch,
    .FetchWithHeader = fetchWithHeader,
    .Cached = cached,
    .Summary = summary,
    .Post = post,
    .Many = many,
    .Status = status,
};

const Result = struct { status: i64, body: []const u8 };

fn fetch(ctx: *corral.Context, url: []const u8) !Result {
    const response = try ctx.fetch(.{ .url = url });
    return .{ .status = response.status, .body = response.body };
}

fn fetchWithHeader(ctx: *corral.Context, url: []const u8, name: []const u8, value: []const u8) !Result {
    const headers = [_]corral.Header{.{ .name = name, .value = value }};
    const response = try ctx.fetch(.{ .url = url, .headers = &headers });
    return .{ .status = response.status, .body = response.body };
}

fn cached(ctx: *corral.Context, url: []const u8, ttl: i64) !Result {
    const response = try ctx.fetch(.{ .url = url, .cache_ttl_s = @intCast(ttl) });
    return .{ .status = response.status, .body = response.body };
}

/// Fetches JSON and transforms it: the host parses, the pack reshapes.
fn summary(ctx: *corral.Context, url: []const u8) ![]const u8 {
    const response = try ctx.fetch(.{ .url = url, .json = true });
    if (response.status != 200) return ctx.fail("the API answered {d}", .{response.status});
    const path = response.json.at("path").asStr() orelse return ctx.fail("no path in the JSON", .{});
    const ok = response.json.at("ok").asBool() orelse false;
    return ctx.print("{s} is {s}", .{ path, if (ok) "ok" else "not ok" });
}

fn post(ctx: *corral.Context, url: []const u8, body: []const u8) !Result {
    const response = try ctx.fetch(.{ .method = "POST", .url = url, .body = body });
    return .{ .status = response.status, .body = response.body };
}

/// Fetches `url` `times` times; the fetch limit must stop it.
fn many(ctx: *corral.Context, url: []const u8, times: i64) !i64 {
    var done: i64 = 0;
    while (done < times) : (done += 1) _ = try ctx.fetch(.{ .url = url });
    return done;
}

/// Returns the fetch error kind instead of failing, to show the guest sees it.
fn status(ctx: *corral.Context, url: []const u8) ![]const u8 {
    const response = ctx.fetch(.{ .url = url }) catch return ctx.print("error:{s}", .{ctx.fetch_kind});
    return ctx.print("status:{d}", .{response.status});
}
