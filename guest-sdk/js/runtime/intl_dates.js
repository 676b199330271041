// Intl.DateTimeFormat for an engine without Intl (QuickJS-NG), in English as V8 with ICU
// formats en-US: the components and styles of ECMA-402, any IANA time zone (timezones.js).
// Other locales resolve to en-US, as ICU falls back to its default locale for one it lacks.
import { canonicalZone, zoneAt } from "./timezones.js";

const WEEKDAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
  "September", "October", "November", "December"];
const DATE_KEYS = ["weekday", "year", "month", "day"];
const TIME_KEYS = ["dayPeriod", "hour", "minute", "second", "fractionalSecondDigits"];
const COMPONENTS = ["weekday", "era", "year", "month", "day", "dayPeriod", "hour", "minute", "second",
  "fractionalSecondDigits", "timeZoneName"];
const DATE_STYLES = {
  full: { weekday: "long", year: "numeric", month: "long", day: "numeric" },
  long: { year: "numeric", month: "long", day: "numeric" },
  medium: { year: "numeric", month: "short", day: "numeric" },
  short: { year: "2-digit", month: "numeric", day: "numeric" },
};
const TIME_STYLES = {
  full: { hour: "numeric", minute: "2-digit", second: "2-digit", timeZoneName: "long" },
  long: { hour: "numeric", minute: "2-digit", second: "2-digit", timeZoneName: "short" },
  medium: { hour: "numeric", minute: "2-digit", second: "2-digit" },
  short: { hour: "numeric", minute: "2-digit" },
};
// ICU's English names exist for the US zones only; other zones are named by their offset.
const US_NAMES = { E: "Eastern", C: "Central", M: "Mountain", P: "Pacific", AK: "Alaska", H: "Hawaii-Aleutian" };
const US_ABBR = /^(E|C|M|P|AK|H)([SD])T$/;

export function resolveLocale(locales) {
  const first = Array.isArray(locales) ? locales[0] : locales;
  if (first === undefined) return "en-US";
  const tag = String(first);
  if (!/^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$/.test(tag)) throw new RangeError(`Incorrect locale information provided`);
  return /^en(-US)?$/i.test(tag) ? (tag.length === 2 ? "en" : "en-US") : "en-US";
}

/** ECMA-402 ToDateTimeOptions: which components a call shows when it names none. */
function withDefaults(options, required, defaults) {
  const o = options === undefined ? {} : Object(options);
  const out = {};
  for (const key of COMPONENTS.concat(["dateStyle", "timeStyle", "hour12", "hourCycle", "timeZone"])) {
    if (o[key] !== undefined) out[key] = key === "hour12" ? Boolean(o[key]) : key === "fractionalSecondDigits" ? Number(o[key]) : String(o[key]);
  }
  let need = true;
  if ((required === "date" || required === "any") && DATE_KEYS.some((k) => out[k] !== undefined)) need = false;
  if ((required === "time" || required === "any") && TIME_KEYS.some((k) => out[k] !== undefined)) need = false;
  if (out.dateStyle !== undefined || out.timeStyle !== undefined) need = false;
  if (required === "date" && out.timeStyle !== undefined) throw new TypeError("Invalid option : timeStyle");
  if (required === "time" && out.dateStyle !== undefined) throw new TypeError("Invalid option : dateStyle");
  if (need && (defaults === "date" || defaults === "all")) Object.assign(out, { year: "numeric", month: "numeric", day: "numeric" });
  if (need && (defaults === "time" || defaults === "all")) Object.assign(out, { hour: "numeric", minute: "numeric", second: "numeric" });
  return out;
}

export class DateTimeFormat {
  constructor(locales, options, required = "any", defaults = "date") {
    const o = withDefaults(options, required, defaults);
    const zone = o.timeZone === undefined ? "UTC" : canonicalZone(o.timeZone);
    if (zone === undefined) throw new RangeError(`Invalid time zone specified: ${o.timeZone}`);
    if ((o.dateStyle || o.timeStyle) && COMPONENTS.some((k) => o[k] !== undefined)) {
      throw new TypeError("Can't set option " + COMPONENTS.find((k) => o[k] !== undefined) + " when " + (o.dateStyle ? "dateStyle" : "timeStyle") + " is used");
    }
    const fields = { ...(DATE_STYLES[o.dateStyle] || {}), ...(TIME_STYLES[o.timeStyle] || {}) };
    for (const k of COMPONENTS) if (o[k] !== undefined) fields[k] = o[k];
    let cycle = o.hourCycle;
    // ECMA-402 as V8 implements it: hour12 false in a 12-hour locale means h24 (24:00).
    if (o.hour12 !== undefined) cycle = o.hour12 ? "h12" : "h24";
    this._locale = resolveLocale(locales);
    this._zone = zone;
    this._fields = fields;
    this._cycle = fields.hour === undefined ? undefined : cycle || "h12";
    this._glue = o.dateStyle ? (o.dateStyle === "full" || o.dateStyle === "long" ? " at " : ", ")
      : fields.month === "long" ? " at " : ", ";
    this.format = this.format.bind(this);
  }

  // V8 writes ICU's narrow no-break space before AM/PM as a plain space in format() only.
  format(date) { return this.formatToParts(date).map((p) => p.value).join("").replace(/\u202f/g, " "); }

  formatToParts(date) {
    const ms = date === undefined ? Date.now() : Number(date instanceof Date ? date.getTime() : date);
    if (!Number.isFinite(ms)) throw new RangeError("Invalid time value");
    const here = zoneAt(this._zone, ms);
    const wall = new Date(ms + here.offset * 1000);
    const f = this._fields;
    const date_ = dateParts(f, wall);
    const time = timeParts(f, wall, this._cycle, ms);
    const parts = date_.concat(date_.length && time.length ? [lit(this._glue)] : [], time);
    if (f.timeZoneName !== undefined) {
      parts.push(lit(parts.length ? (time.length ? " " : ", ") : ""), { type: "timeZoneName", value: zoneName(this._zone, here, f.timeZoneName) });
    }
    return parts;
  }

  resolvedOptions() {
    const out = { locale: this._locale, calendar: "gregory", numberingSystem: "latn", timeZone: this._zone };
    if (this._cycle) Object.assign(out, { hourCycle: this._cycle, hour12: this._cycle === "h12" || this._cycle === "h11" });
    for (const k of COMPONENTS) if (this._fields[k] !== undefined) out[k] = this._fields[k];
    return out;
  }

  static supportedLocalesOf(locales) {
    const list = locales === undefined ? [] : Array.isArray(locales) ? locales : [locales];
    return list.map(String).filter((l) => /^en(-US)?$/i.test(l));
  }
}

function lit(value) { return { type: "literal", value }; }
function pad2(n) { return String(n).padStart(2, "0"); }

function dateParts(f, wall) {
  const out = [];
  const weekday = f.weekday && { type: "weekday", value: named(WEEKDAYS[wall.getUTCDay()], f.weekday) };
  const y = wall.getUTCFullYear();
  const year = f.year && { type: "year", value: f.year === "2-digit" ? pad2(((y % 100) + 100) % 100) : String(y > 0 ? y : 1 - y) };
  const day = f.day && { type: "day", value: f.day === "2-digit" ? pad2(wall.getUTCDate()) : String(wall.getUTCDate()) };
  const m = wall.getUTCMonth();
  const textMonth = f.month === "long" || f.month === "short" || f.month === "narrow";
  const month = f.month && { type: "month", value: textMonth ? named(MONTHS[m], f.month) : f.month === "2-digit" ? pad2(m + 1) : String(m + 1) };
  if (textMonth) {
    if (weekday) out.push(weekday, lit(", "));
    out.push(month);
    if (day) out.push(lit(" "), day);
    if (year) out.push(lit(day ? ", " : " "), year);
  } else {
    const numeric = [month, day, year].filter(Boolean);
    if (weekday) out.push(weekday);
    if (weekday && numeric.length) out.push(lit(", "));
    numeric.forEach((p, i) => { if (i) out.push(lit("/")); out.push(p); });
  }
  if (f.era && out.length) out.push(lit(" "), { type: "era", value: era(y, f.era) });
  return out;
}

function named(name, width) {
  return width === "long" ? name : width === "narrow" ? name[0] : name.slice(0, 3);
}

function era(year, width) {
  if (width === "long") return year > 0 ? "Anno Domini" : "Before Christ";
  if (width === "narrow") return year > 0 ? "A" : "B";
  return year > 0 ? "AD" : "BC";
}

function timeParts(f, wall, cycle, ms) {
  const out = [];
  const h = wall.getUTCHours();
  const minute = pad2(wall.getUTCMinutes());
  const second = pad2(wall.getUTCSeconds());
  const frac = f.fractionalSecondDigits ? String(((ms % 1000) + 1000) % 1000).padStart(3, "0").slice(0, f.fractionalSecondDigits) : "";
  if (f.hour === undefined) {
    if (f.minute !== undefined && f.second !== undefined) out.push({ type: "minute", value: minute }, lit(":"), { type: "second", value: second });
    else if (f.minute !== undefined) out.push({ type: "minute", value: String(wall.getUTCMinutes()) });
    else if (f.second !== undefined) out.push({ type: "second", value: String(wall.getUTCSeconds()) });
    if (frac) out.push(lit("."), { type: "fractionalSecond", value: frac });
    return out;
  }
  const twelve = cycle === "h12" || cycle === "h11";
  let hour = h;
  if (cycle === "h12") hour = h % 12 === 0 ? 12 : h % 12;
  else if (cycle === "h11") hour = h % 12;
  else if (cycle === "h24") hour = h === 0 ? 24 : h;
  const hourText = f.hour === "2-digit" || !twelve ? pad2(hour) : String(hour);
  out.push({ type: "hour", value: hourText });
  if (f.minute !== undefined || f.second !== undefined) {
    out.push(lit(":"), { type: "minute", value: minute });
    if (f.second !== undefined) out.push(lit(":"), { type: "second", value: second });
  }
  if (frac) out.push(lit("."), { type: "fractionalSecond", value: frac });
  if (twelve) out.push(lit("\u202f"), { type: "dayPeriod", value: h < 12 ? "AM" : "PM" });
  return out;
}

function zoneName(zone, here, width) {
  if (zone === "UTC") return width === "long" ? "Coordinated Universal Time" : "UTC";
  const us = US_ABBR.exec(here.abbr);
  if (us && (width === "short" || width === "long") && /^(America|US|Pacific\/Honolulu)/.test(zone)) {
    return width === "short" ? here.abbr : `${US_NAMES[us[1]]} ${us[2] === "S" ? "Standard" : "Daylight"} Time`;
  }
  const off = here.offset;
  if (off === 0) return here.abbr === "GMT" ? "GMT" : "GMT+0";
  const sign = off < 0 ? "-" : "+";
  const a = Math.abs(off);
  const hh = Math.floor(a / 3600), mm = Math.floor((a % 3600) / 60);
  if (width === "long" || width === "longOffset") return `GMT${sign}${pad2(hh)}:${pad2(mm)}`;
  return `GMT${sign}${hh}${mm ? ":" + pad2(mm) : ""}`;
}
