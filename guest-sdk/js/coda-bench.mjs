// Coda's own runner timed on one formula call, for the perf suite's side-by-side rows:
// `node coda-bench.mjs PACK.ts FORMULA ARGS_JSON N` prints {thunk_s: [...], ivm_s: [...]}:
//  - thunk: the packs-sdk thunk called in-process on the loaded pack (no sandbox at all);
//  - ivm:   what `coda execute --vm` does per call: a fresh isolated-vm isolate, the
//           thunk and the pack's Coda bundle loaded into it, then the call.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createRequire } from "node:module";
import { loadSourcePack } from "./coda-oracle.mjs";

const require = createRequire(import.meta.url);
const thunk = require("@codahq/packs-sdk/dist/runtime/thunk/thunk");
const execution = require("@codahq/packs-sdk/dist/testing/execution");
const { compilePackBundle } = require("@codahq/packs-sdk/dist/testing/compile");
const { newMockExecutionContext } = require("@codahq/packs-sdk/dist/testing/mocks");

const [source, formula, argsJson, countText] = process.argv.slice(2);
const args = JSON.parse(argsJson);
const count = Number(countText);
const spec = { type: "Standard", formulaName: formula };

const pack = await loadSourcePack(source);
const thunkSamples = [];
for (let i = 0; i < count * 10 + 50; i++) {
  const t = process.hrtime.bigint();
  await thunk.findAndExecutePackFunction({ params: args, formulaSpec: spec, manifest: pack,
    executionContext: newMockExecutionContext(), shouldWrapError: false });
  if (i >= 50) thunkSamples.push(Number(process.hrtime.bigint() - t) / 1e9);
}

const out = fs.mkdtempSync(path.join(os.tmpdir(), "coda-bench-"));
const { bundlePath } = await compilePackBundle({ manifestPath: path.resolve(source), outputDirectory: out, minify: false });
const ivmSamples = [];
for (let i = 0; i < count + 2; i++) {
  const t = process.hrtime.bigint();
  const result = await execution.executeFormulaOrSyncWithVM({ formulaName: formula, params: args,
    bundlePath, executionContext: newMockExecutionContext() });
  if (i >= 2) ivmSamples.push(Number(process.hrtime.bigint() - t) / 1e9);
  if (i === 0) process.stderr.write(`coda ivm result: ${JSON.stringify(result)}\n`);
}
fs.rmSync(out, { recursive: true, force: true });
process.stdout.write(JSON.stringify({ thunk_s: thunkSamples, ivm_s: ivmSamples }));
