// Bundle a Coda pack (pack.ts / pack.js) with the packs-sdk and Corral's runtime into one
// script for the engine: `node bundle.mjs ENTRY OUT [VOCAB_JSON]`. Errors are printed as
// esbuild reports them (file:line:col of the pack's source) and the exit status is 1.
import * as esbuild from "esbuild";
import path from "node:path";
import fs from "node:fs";
import { fileURLToPath } from "node:url";
import { packLines } from "./runtime/line_map.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));

export async function bundle(entry, out, vocab) {
  const source = path.resolve(entry);
  const stub = `import { install } from ${JSON.stringify(path.join(here, "runtime", "index.js"))};\n`
    + `import * as packModule from ${JSON.stringify(source)};\ninstall(packModule);\n`;
  const define = {
    global: "globalThis",
    "process.env.IN_ISOLATED_VM_OR_BROWSER": "true",
    "process.env.NODE_ENV": '"production"',
  };
  if (vocab) define.__CORRAL_VOCAB__ = JSON.stringify(vocab);
  const result = await esbuild.build({
    stdin: { contents: stub, resolveDir: path.dirname(source), sourcefile: "corral-entry.js", loader: "js" },
    bundle: true, format: "iife", platform: "neutral", target: "es2020",
    mainFields: ["module", "main"], conditions: ["import", "require", "default"],
    nodePaths: [path.join(here, "node_modules")],
    define, outfile: path.resolve(out), sourcemap: "external", sourcesContent: false,
    legalComments: "none", logLevel: "silent", charset: "utf8", keepNames: true,
    absWorkingDir: path.dirname(source),
  });
  appendLineMap(path.resolve(out));
  return result;
}

/** The pack's source lines, appended after the code so no bundle line moves. */
function appendLineMap(out) {
  const map = JSON.parse(fs.readFileSync(out + ".map", "utf8"));
  const runtime = path.join(here, "runtime");
  const lines = packLines(map, (s) => !s.includes("node_modules") && !path.resolve(path.dirname(out), s).startsWith(runtime) && !s.endsWith("corral-entry.js"));
  fs.appendFileSync(out, `\nglobalThis.__corral_lines = ${JSON.stringify(lines)};\n`);
}

async function main() {
  const [entry, out, vocabJson] = process.argv.slice(2);
  if (!entry || !out) {
    console.error("usage: node bundle.mjs ENTRY OUT [VOCAB_JSON]");
    process.exit(2);
  }
  try {
    const result = await bundle(entry, out, vocabJson ? JSON.parse(vocabJson) : undefined);
    for (const line of await esbuild.formatMessages(result.warnings, { kind: "warning" })) process.stderr.write(line);
  } catch (err) {
    if (err.errors) {
      for (const line of await esbuild.formatMessages(err.errors, { kind: "error" })) process.stderr.write(line);
    } else console.error(err.stack || String(err));
    process.exit(1);
  }
}

if (process.argv[1] && fs.realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
