// console.* -> the pack log (`__corral.log`), with Node-like formatting of the arguments.
const LEVELS = { debug: 0, trace: 0, log: 1, info: 1, warn: 2, error: 3 };

export function installConsole(g) {
  if (typeof g.__corral === "undefined") return;  // Node keeps its own console
  const con = {};
  for (const [name, level] of Object.entries(LEVELS)) {
    con[name] = (...args) => g.__corral.log(level, args.map(format).join(" "));
  }
  con.dir = con.log;
  g.console = con;
}

export function format(value) {
  if (typeof value === "string") return value;
  if (value instanceof Error) return value.stack || `${value.name}: ${value.message}`;
  if (value === undefined || typeof value === "function" || typeof value === "symbol") return String(value);
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}
