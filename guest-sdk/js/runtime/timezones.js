// UTC offsets of IANA time zones from tzdata.js (for the Intl polyfill): the zone's recorded
// transitions, then its POSIX TZ rule for instants after the last one. Zones are decoded on
// first use, so the data stays one string each in the snapshot until a pack asks for it.
import { ZONES, LINKS } from "./tzdata.js";

const decoded = new Map();
let lowerNames = null;

// The names ICU treats as UTC itself (it reports each of them as "UTC").
const UTC_NAMES = /^(etc\/)?(utc|uct|gmt|universal|zulu|greenwich)([+-]?0)?$/i;

/** The zone's name as ICU reports it, or undefined if there is no such zone: UTC's aliases are
 * "UTC"; a link to a zone of another area resolves to it (US/Pacific is America/Los_Angeles);
 * a renamed city keeps the name given (ICU keeps the old names, such as Asia/Calcutta). */
export function canonicalZone(name) {
  const text = String(name);
  if (UTC_NAMES.test(text)) return "UTC";
  if (ZONES[text] !== undefined) return text;
  const target = LINKS[text];
  if (target !== undefined) return area(target) === area(text) ? text : target;
  if (!lowerNames) {
    lowerNames = new Map();
    for (const n of Object.keys(ZONES).concat(Object.keys(LINKS))) lowerNames.set(n.toLowerCase(), n);
  }
  const found = lowerNames.get(text.toLowerCase());
  return found === undefined ? undefined : canonicalZone(found);
}

function area(name) { return name.split("/")[0]; }

/** {offset (seconds east of UTC), abbr, dst} in force in `zone` at `ms` since the epoch. */
export function zoneAt(zone, ms) {
  const z = load(zone);
  const t = Math.floor(ms / 1000);
  const times = z.times;
  if (times.length === 0) return z.rule ? ruleAt(z.rule, t) : z.types[0];
  if (t < times[0]) return z.types[0];
  if (t >= times[times.length - 1] && z.rule) return ruleAt(z.rule, t);
  let lo = 0, hi = times.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (times[mid] <= t) lo = mid; else hi = mid - 1;
  }
  return z.types[z.index[lo]];
}

function load(zone) {
  let z = decoded.get(zone);
  if (z) return z;
  const name = ZONES[zone] !== undefined ? zone : LINKS[zone];
  const [footer, typeText, transText] = ZONES[name].split("|");
  const types = typeText.split(",").map((s) => {
    const [off, dst, abbr] = s.split("/");
    return { offset: parseInt(off, 36), dst: dst === "1", abbr };
  });
  const times = [], index = [];
  let at = 0;
  for (const pair of transText ? transText.split(",") : []) {
    const [delta, i] = pair.split(":");
    at += parseInt(delta, 36);
    times.push(at);
    index.push(parseInt(i, 36));
  }
  z = { types, times, index, rule: footer ? parseRule(footer) : null };
  decoded.set(zone, z);
  return z;
}

// POSIX TZ rules (the TZif footer): std offset [dst [offset] ,start[/time],end[/time]].
const NAME = /^(<[^>]+>|[A-Za-z]+)/;
const OFFSET = /^([+-]?)(\d{1,3})(?::(\d{1,2}))?(?::(\d{1,2}))?/;

function parseRule(text) {
  let rest = text;
  const take = (re) => {
    const m = re.exec(rest);
    if (m) rest = rest.slice(m[0].length);
    return m;
  };
  const std = take(NAME);
  const stdOff = -seconds(take(OFFSET));
  const rule = { std: { offset: stdOff, dst: false, abbr: unbracket(std[1]) } };
  const dst = take(NAME);
  if (!dst) return rule;
  const off = take(OFFSET);
  rule.dst = { offset: off ? -seconds(off) : stdOff + 3600, dst: true, abbr: unbracket(dst[1]) };
  const [start, end] = rest.replace(/^,/, "").split(",");
  rule.start = parseWhen(start);
  rule.end = parseWhen(end);
  return rule;
}

function unbracket(name) { return name[0] === "<" ? name.slice(1, -1) : name; }

function seconds(m) {
  if (!m) return 0;
  const s = Number(m[2]) * 3600 + Number(m[3] || 0) * 60 + Number(m[4] || 0);
  return m[1] === "-" ? -s : s;
}

function parseWhen(text) {
  const [date, time] = text.split("/");
  const at = time === undefined ? 7200 : seconds(OFFSET.exec(time));
  if (date[0] === "M") {
    const [month, week, day] = date.slice(1).split(".").map(Number);
    return { kind: "M", month, week, day, at };
  }
  if (date[0] === "J") return { kind: "J", n: Number(date.slice(1)), at };
  return { kind: "n", n: Number(date), at };
}

const DAY = 86400;

/** Seconds since the epoch of the rule's day in `year` at its time, on the local clock. */
function whenIn(year, w) {
  let days;
  if (w.kind === "M") {
    const first = Date.UTC(year, w.month - 1, 1) / 1000 / DAY;
    const weekday = (first + 4) % 7;  // 1970-01-01 was a Thursday
    days = first + ((w.day - weekday + 7) % 7) + (w.week - 1) * 7;
    const monthDays = new Date(Date.UTC(year, w.month, 0)).getUTCDate();
    while (days - first >= monthDays) days -= 7;  // week 5 means the last one
  } else {
    const jan1 = Date.UTC(year, 0, 1) / 1000 / DAY;
    const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
    days = jan1 + (w.kind === "J" ? w.n - 1 + (leap && w.n >= 60 ? 1 : 0) : w.n);
  }
  return days * DAY + w.at;
}

function ruleAt(rule, t) {
  if (!rule.dst) return rule.std;
  const year = new Date((t + rule.std.offset) * 1000).getUTCFullYear();
  const start = whenIn(year, rule.start) - rule.std.offset;
  const end = whenIn(year, rule.end) - rule.dst.offset;
  const inDst = start < end ? t >= start && t < end : !(t >= end && t < start);
  return inDst ? rule.dst : rule.std;
}
