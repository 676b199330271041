//! Reading an upstream's `Retry-After` (RFC 9110 §10.2.3) without a clock: delay-seconds
//! as they are, an HTTP-date relative to the same response's `Date` header.

const std = @import("std");

/// Longer waits are reported as this; the host clamps any wait to an hour anyway.
const max_seconds: f64 = 1e9;

/// The seconds a `Retry-After` value asks for, given the response's `Date` value (if any).
/// Null when the value is neither form, or is a date and `date` is missing or unreadable.
pub fn retryAfterSeconds(value: []const u8, date: ?[]const u8) ?f64 {
    const text = std.mem.trim(u8, value, " \t");
    if (delaySeconds(text)) |seconds| return seconds;
    const until = parseHttpDate(text) orelse return null;
    const now = parseHttpDate(date orelse return null) orelse return null;
    return @floatFromInt(@max(until - now, 0));
}

fn delaySeconds(text: []const u8) ?f64 {
    if (text.len == 0) return null;
    var seconds: f64 = 0;
    for (text) |c| {
        if (!std.ascii.isDigit(c)) return null;
        seconds = @min(seconds * 10 + @as(f64, @floatFromInt(c - '0')), max_seconds);
    }
    return seconds;
}

const months = [_][]const u8{ "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec" };

/// Seconds since 1970 of an HTTP-date in any of its three forms (IMF-fixdate
/// `Sun, 06 Nov 1994 08:49:37 GMT`, RFC 850 `Sunday, 06-Nov-94 08:49:37 GMT`, asctime
/// `Sun Nov  6 08:49:37 1994`): in each the day comes before the year.
pub fn parseHttpDate(text: []const u8) ?i64 {
    var numbers: [2]i64 = undefined;
    var widths: [2]usize = undefined;
    var count: usize = 0;
    var month: ?i64 = null;
    var clock: ?[3]i64 = null;
    var tokens = std.mem.tokenizeAny(u8, text, " ,-\t");
    while (tokens.next()) |token| {
        if (std.mem.indexOfScalar(u8, token, ':') != null) {
            clock = parseClock(token) orelse return null;
        } else if (std.ascii.isDigit(token[0])) {
            if (count == 2 or token.len > 4) return null;
            numbers[count] = std.fmt.parseInt(i64, token, 10) catch return null;
            widths[count] = token.len;
            count += 1;
        } else if (month == null) {
            month = monthOf(token);
        }
    }
    if (count != 2 or (widths[1] != 2 and widths[1] != 4)) return null;
    const m = month orelse return null;
    const hms = clock orelse return null;
    const day = numbers[0];
    var year = numbers[1];
    if (widths[1] == 2) year += if (year >= 70) 1900 else 2000;
    if (day < 1 or day > 31) return null;
    return daysFromCivil(year, m, day) * 86400 + hms[0] * 3600 + hms[1] * 60 + hms[2];
}

fn monthOf(token: []const u8) ?i64 {
    if (token.len < 3) return null;
    for (months, 1..) |name, i| {
        if (std.ascii.eqlIgnoreCase(token[0..3], name)) return @intCast(i);
    }
    return null;
}

fn parseClock(token: []const u8) ?[3]i64 {
    var parts = std.mem.splitScalar(u8, token, ':');
    var out: [3]i64 = undefined;
    const limits = [3]i64{ 23, 59, 60 };
    for (&out, limits) |*part, limit| {
        const text = parts.next() orelse return null;
        if (text.len != 2) return null;
        part.* = std.fmt.parseInt(i64, text, 10) catch return null;
        if (part.* < 0 or part.* > limit) return null;
    }
    if (parts.next() != null) return null;
    return out;
}

/// Days from 1970-01-01 to a proleptic Gregorian date (month 1-12).
fn daysFromCivil(y0: i64, m: i64, d: i64) i64 {
    const y = if (m <= 2) y0 - 1 else y0;
    const era = @divFloor(y, 400);
    const yoe = y - era * 400;
    const doy = @divFloor(153 * @mod(m + 9, 12) + 2, 5) + d - 1;
    const doe = yoe * 365 + @divFloor(yoe, 4) - @divFloor(yoe, 100) + doy;
    return era * 146097 + doe - 719468;
}
