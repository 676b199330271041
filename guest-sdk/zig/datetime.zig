//! Date parameters (guest-sdk/ABI.md §3.1): the host hands every `date` argument over as
//! `YYYY-MM-DDTHH:MM:SS.sssZ` (UTC, 24 characters). Declare a parameter as
//! `corral.DateTime` (or `?corral.DateTime`, `[]const ?corral.DateTime` for a sparse
//! array) and the SDK reads it into its parts; `iso` writes the same form back.
const std = @import("std");

pub const DateTime = struct {
    year: u16,
    month: u8,
    day: u8,
    hour: u8 = 0,
    minute: u8 = 0,
    second: u8 = 0,
    millisecond: u16 = 0,

    /// Read the canonical form; null for anything else (the host never sends anything else).
    pub fn parse(text: []const u8) ?DateTime {
        if (text.len != 24) return null;
        for (text, 0..) |c, i| {
            const want: u8 = switch (i) {
                4, 7 => '-',
                10 => 'T',
                13, 16 => ':',
                19 => '.',
                23 => 'Z',
                else => 0,
            };
            if (want != 0 and c != want) return null;
            if (want == 0 and !std.ascii.isDigit(c)) return null;
        }
        const self = DateTime{
            .year = @intCast(digits(text[0..4])),
            .month = @intCast(digits(text[5..7])),
            .day = @intCast(digits(text[8..10])),
            .hour = @intCast(digits(text[11..13])),
            .minute = @intCast(digits(text[14..16])),
            .second = @intCast(digits(text[17..19])),
            .millisecond = @intCast(digits(text[20..23])),
        };
        const days_in_month = daysInMonth(self.year, self.month);
        if (self.month < 1 or self.month > 12 or self.day < 1 or self.day > days_in_month) return null;
        if (self.hour > 23 or self.minute > 59 or self.second > 59) return null;
        return self;
    }

    /// Milliseconds since 1970-01-01T00:00:00Z (negative before it).
    pub fn epochMs(self: DateTime) i64 {
        const days = daysFromCivil(self.year, self.month, self.day);
        const seconds = days * 86400 + @as(i64, self.hour) * 3600 + @as(i64, self.minute) * 60 + self.second;
        return seconds * 1000 + self.millisecond;
    }

    /// The canonical form, allocated in `arena`.
    pub fn iso(self: DateTime, arena: std.mem.Allocator) ![]const u8 {
        return std.fmt.allocPrint(arena, "{d:0>4}-{d:0>2}-{d:0>2}T{d:0>2}:{d:0>2}:{d:0>2}.{d:0>3}Z", .{
            self.year, self.month, self.day, self.hour, self.minute, self.second, self.millisecond,
        });
    }
};

fn digits(text: []const u8) u32 {
    var n: u32 = 0;
    for (text) |c| n = n * 10 + (c - '0');
    return n;
}

fn daysInMonth(year: u16, month: u8) u8 {
    const leap = (year % 4 == 0 and year % 100 != 0) or year % 400 == 0;
    return switch (month) {
        2 => if (leap) 29 else 28,
        4, 6, 9, 11 => 30,
        else => 31,
    };
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
fn daysFromCivil(year: u16, month: u8, day: u8) i64 {
    const y: i64 = @as(i64, year) - @intFromBool(month <= 2);
    const era = @divFloor(y, 400);
    const yoe = y - era * 400;
    const m: i64 = month;
    const doy = @divFloor(153 * (if (m > 2) m - 3 else m + 9) + 2, 5) + day - 1;
    const doe = yoe * 365 + @divFloor(yoe, 4) - @divFloor(yoe, 100) + doy;
    return era * 146097 + doe - 719468;
}
