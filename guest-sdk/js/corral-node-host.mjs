// Run one call of a Corral JavaScript pack bundle in Node, with a stand-in `__corral` whose
// fetch serves canned responses: the dispatcher's behaviour without the wasm engine.
// `node corral-node-host.mjs BUNDLE JOB.json` prints the decoded ABI response and the
// requests made. JOB as for coda-oracle.mjs; the credentials are not injected here.
import fs from "node:fs";
import vm from "node:vm";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const { encode, decode } = require("@msgpack/msgpack");

export function installHost(responses, requests, logs) {
  (this || globalThis).__corral = {
    log(level, text) { logs.push([level, text]); },
    fetch(bytes) {
      const req = decode(bytes);
      requests.push({ method: req.method || "GET", url: req.url, body: req.body });
      const u = new URL(req.url);
      const bare = u.origin + u.pathname;
      const found = responses.find((r) => (r.method || "GET") === (req.method || "GET") && (r.url === req.url || r.url === bare));
      if (!found) return encode({ ok: { status: 404, headers: { "content-type": "text/plain" }, body: `no canned response for ${req.method} ${req.url}` } });
      const body = typeof found.body === "string" ? found.body : JSON.stringify(found.body);
      const headers = { "content-type": typeof found.body === "string" ? "text/plain" : "application/json", ...(found.headers || {}) };
      return encode({ ok: { status: found.status || 200, headers, body: req.binary ? new TextEncoder().encode(body) : body } });
    },
  };
}

/** `node corral-node-host.mjs JOBS.json`: JOBS is an array of jobs, each with a `bundle`;
 * every call runs in a fresh V8 context holding only the language's built-ins, as in the
 * engine (the bundle's own polyfills provide the rest). Prints an array of answers. */
async function main() {
  const jobs = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
  const scripts = new Map();
  const answers = [];
  for (const job of jobs) {
    if (!scripts.has(job.bundle)) scripts.set(job.bundle, new vm.Script(fs.readFileSync(job.bundle, "utf8"), { filename: job.bundle }));
    const requests = [], logs = [];
    const sandbox = {};
    installHost.call(sandbox, job.responses || [], requests, logs);
    const context = vm.createContext(sandbox);
    scripts.get(job.bundle).runInContext(context);
    const request = { op: job.op, name: job.name, args: job.args || [], ctx: { pack: "x", version: "1.0.0", abi: 1, invocation_id: job.invocation_id || "", domains: [] } };
    for (const key of ["search", "param", "url", "continuation", "updates"]) if (job[key] !== undefined) request[key] = job[key];
    const answer = decode(await sandbox.__corral_dispatch(encode(request)));
    answers.push({ ...answer, requests, logs });
  }
  process.stdout.write(JSON.stringify(answers));
}

if (process.argv[1] && fs.realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
