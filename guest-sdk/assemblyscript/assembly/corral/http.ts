// Reading an upstream's `Retry-After` (RFC 9110 §10.2.3) without a clock: delay-seconds
// as they are, an HTTP-date relative to the same response's `Date` header.

/** Longer waits are reported as this; the host clamps any wait to an hour anyway. */
const MAX_SECONDS: f64 = 1e9;
const MONTHS = "janfebmaraprmayjunjulaugsepoctnovdec";

/** The seconds a `Retry-After` value asks for, given the response's `Date` value (or null).
 *  Negative when the value is neither form, or is a date and `date` is missing or unreadable. */
export function retryAfterSeconds(value: string, date: string | null): f64 {
  const text = value.trim();
  const seconds = delaySeconds(text);
  if (seconds >= 0) return seconds;
  if (date === null) return -1;
  const until = parseHttpDate(text), now = parseHttpDate(date);
  if (until == i64.MIN_VALUE || now == i64.MIN_VALUE) return -1;
  return until > now ? <f64>(until - now) : 0;
}

function isDigit(c: i32): bool { return c >= 48 && c <= 57; }

function delaySeconds(text: string): f64 {
  if (text.length == 0) return -1;
  let seconds: f64 = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (!isDigit(c)) return -1;
    seconds = Math.min(seconds * 10 + <f64>(c - 48), MAX_SECONDS);
  }
  return seconds;
}

function isSeparator(c: i32): bool { return c == 32 || c == 44 || c == 45 || c == 9; }

/** A number of all-digit `text`, or -1. */
function digits(text: string): i64 {
  if (text.length == 0) return -1;
  let n: i64 = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (!isDigit(c)) return -1;
    n = n * 10 + <i64>(c - 48);
  }
  return n;
}

/** `hh:mm:ss` as seconds into the day, or -1. */
function clockSeconds(token: string): i64 {
  if (token.length != 8 || token.charCodeAt(2) != 58 || token.charCodeAt(5) != 58) return -1;
  const h = digits(token.substring(0, 2)), m = digits(token.substring(3, 5));
  const s = digits(token.substring(6, 8));
  if (h < 0 || h > 23 || m < 0 || m > 59 || s < 0 || s > 60) return -1;
  return h * 3600 + m * 60 + s;
}

function monthOf(token: string): i64 {
  if (token.length < 3) return 0;
  const index = MONTHS.indexOf(token.substring(0, 3).toLowerCase());
  return index >= 0 && index % 3 == 0 ? <i64>(index / 3 + 1) : 0;
}

/** Days from 1970-01-01 to a proleptic Gregorian date (month 1-12). */
function daysFromCivil(y0: i64, m: i64, d: i64): i64 {
  const y = m <= 2 ? y0 - 1 : y0;
  const era = (y >= 0 ? y : y - 399) / 400;
  const yoe = y - era * 400;
  const doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
  const doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

/** Seconds since 1970 of an HTTP-date in any of its three forms (IMF-fixdate, RFC 850,
 *  asctime), in each of which the day comes before the year; `i64.MIN_VALUE` if unreadable. */
export function parseHttpDate(text: string): i64 {
  const numbers: i64[] = [], widths: i32[] = [];
  let month: i64 = 0, clock: i64 = -1, i = 0;
  while (i < text.length) {
    while (i < text.length && isSeparator(text.charCodeAt(i))) i++;
    const start = i;
    while (i < text.length && !isSeparator(text.charCodeAt(i))) i++;
    if (i == start) break;
    const token = text.substring(start, i);
    if (token.includes(":")) {
      clock = clockSeconds(token);
      if (clock < 0) return i64.MIN_VALUE;
    } else if (isDigit(token.charCodeAt(0))) {
      const n = digits(token);
      if (numbers.length == 2 || token.length > 4 || n < 0) return i64.MIN_VALUE;
      numbers.push(n);
      widths.push(token.length);
    } else if (month == 0) {
      month = monthOf(token);
    }
  }
  if (numbers.length != 2 || month == 0 || clock < 0) return i64.MIN_VALUE;
  const width = unchecked(widths[1]);
  if (width != 2 && width != 4) return i64.MIN_VALUE;
  const day = unchecked(numbers[0]);
  let year = unchecked(numbers[1]);
  if (width == 2) year += year >= 70 ? 1900 : 2000;
  if (day < 1 || day > 31) return i64.MIN_VALUE;
  return daysFromCivil(year, month, day) * 86400 + clock;
}
