//! A pack for the connection tests: it fetches with whatever credentials the host injects,
//! and reports everything it can see (its ctx, response headers and bodies), so the tests
//! can prove no secret ever reaches the guest.
const std = @import("std");
const corral = @import("corral");

comptime {
    corral.exportPack(@This());
}

pub const formulas = .{
    .Get = get,
    .Seen = seen,
};

pub const connection_name = connectionName;

const Result = struct { status: i64, body: []const u8, headers: corral.Value };

fn get(ctx: *corral.Context, url: []const u8) !Result {
    const response = try ctx.fetch(.{ .url = url });
    ctx.log(.info, "GET {s} -> {d}: {s}", .{ url, response.status, response.body });
    return .{ .status = response.status, .body = response.body, .headers = response.headers };
}

/// Everything the host sent the guest for this call.
fn seen(ctx: *corral.Context) corral.Value {
    return ctx.request;
}

/// Names a new connection after the account the API says it belongs to.
fn connectionName(ctx: *corral.Context) ![]const u8 {
    const domains = ctx.field("domains") orelse return ctx.fail("no domains in ctx", .{});
    const domain = if (domains == .array and domains.array.len > 0) domains.array[0].asStr() orelse "" else "";
    const url = try ctx.print("http://{s}/api/whoami", .{domain});
    const response = try ctx.fetch(.{ .url = url, .json = true });
    if (response.status != 200) return ctx.fail("whoami answered {d}", .{response.status});
    const login = response.json.at("login").asStr() orelse return ctx.fail("no login", .{});
    return ctx.print("{s} (authed)", .{login});
}
