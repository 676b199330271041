// Date parameters (guest-sdk/ABI.md §3.1): the host hands every `date` argument over as
// `YYYY-MM-DDTHH:MM:SS.sssZ` (UTC, 24 characters), the form `Date.toISOString()` writes.

const SHAPE = "dddd-dd-ddTdd:dd:dd.dddZ";

/** Whether `text` is the canonical form, with a real day of a real month. */
export function isCanonicalDate(text: string): bool {
  if (text.length != 24) return false;
  for (let i = 0; i < 24; i++) {
    const c = text.charCodeAt(i), want = SHAPE.charCodeAt(i);
    if (want == 100 /* d */ ? c < 48 || c > 57 : c != want) return false;
  }
  const year = I32.parseInt(text.substring(0, 4)), month = I32.parseInt(text.substring(5, 7));
  const day = I32.parseInt(text.substring(8, 10));
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return false;
  return I32.parseInt(text.substring(11, 13)) <= 23 && I32.parseInt(text.substring(14, 16)) <= 59
    && I32.parseInt(text.substring(17, 19)) <= 59;
}

/** The canonical form as a `Date`, or null for anything else. */
export function parseDate(text: string): Date | null {
  return isCanonicalDate(text) ? Date.fromString(text) : null;
}

function daysInMonth(year: i32, month: i32): i32 {
  if (month == 2) return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28;
  return month == 4 || month == 6 || month == 9 || month == 11 ? 30 : 31;
}
