// Timers on virtual time. A pack call has no event loop and no clock to wait on, so a timer
// never waits: the dispatcher runs due callbacks in order of their (virtual) due time, after
// the microtask queue drains, the way Coda's "fake" timer shim resolves them at once. A pack
// that waits with setTimeout(resolve, ms) sees its await complete; setInterval repeats until
// cleared, bounded so a forgotten interval cannot spin a call forever.
const MAX_TIMER_RUNS = 10000;
let now = 0;
let nextId = 1;
const queue = new Map();

export function installTimers(g) {
  if (typeof g.__corral === "undefined" && typeof g.setTimeout === "function") return;
  g.setTimeout = (fn, ms = 0, ...args) => add(fn, ms, args, false);
  g.setInterval = (fn, ms = 0, ...args) => add(fn, ms, args, true);
  g.setImmediate = (fn, ...args) => add(fn, 0, args, false);
  g.clearTimeout = g.clearInterval = g.clearImmediate = (id) => { queue.delete(id); };
}

function add(fn, ms, args, repeat) {
  if (typeof fn !== "function") throw new TypeError("a timer callback must be a function");
  const delay = Math.max(0, Number(ms) || 0);
  const id = nextId++;
  queue.set(id, { fn, args, due: now + delay, delay, repeat, seq: id });
  return id;
}

/** Run every timer that is due, earliest first; returns whether one ran. */
export function runNextTimer() {
  let best = null;
  for (const [id, t] of queue) {
    if (best === null || t.due < best[1].due || (t.due === best[1].due && t.seq < best[1].seq)) best = [id, t];
  }
  if (best === null) return false;
  const [id, t] = best;
  now = Math.max(now, t.due);
  if (t.repeat) { t.due = now + Math.max(1, t.delay); t.seq = nextId++; } else queue.delete(id);
  t.fn(...t.args);
  return true;
}

export function pendingTimers() { return queue.size; }

/** Await `promise`, running virtual timers whenever the microtask queue has gone quiet. A
 * timer runs only after a run of turns in which the call did not finish, so reactions queued
 * before it run first, as on an event loop. */
export async function settle(promise) {
  let done = false;
  const result = promise.then((v) => { done = true; return v; }, (e) => { done = true; throw e; });
  let runs = 0;
  for (let idle = 0; !done && idle < MAX_IDLE_TURNS; idle += QUIET_TURNS) {
    for (let i = 0; i < QUIET_TURNS && !done; i++) await undefined;
    if (done || !runNextTimer()) continue;
    idle = 0;
    if (++runs > MAX_TIMER_RUNS) throw new Error(`more than ${MAX_TIMER_RUNS} timer callbacks ran in one call`);
  }
  return result;
}

const QUIET_TURNS = 32;
const MAX_IDLE_TURNS = 100000;
