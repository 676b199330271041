// Build time: from esbuild's source map, the pack's own source line of each bundle line (its
// node_modules and Corral's runtime left out), so a stack at call time can name pack.ts lines.
const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

function decodeVlq(segment) {
  const out = [];
  let value = 0, shift = 0;
  for (const ch of segment) {
    const digit = B64.indexOf(ch);
    value += (digit & 31) << shift;
    if (digit & 32) { shift += 5; continue; }
    out.push(value & 1 ? -(value >>> 1) : value >>> 1);
    value = 0; shift = 0;
  }
  return out;
}

/** {sources: [name], lines: {bundleLine: [sourceIndex, sourceLine]}} (1-based lines). */
export function packLines(map, isPackSource) {
  const keep = map.sources.map((s) => isPackSource(s));
  const sources = [];
  const index = new Map();
  const lines = {};
  let src = 0, line = 0;
  map.mappings.split(";").forEach((group, generated) => {
    let found = null;
    for (const segment of group.split(",")) {
      if (!segment) continue;
      const f = decodeVlq(segment);
      if (f.length < 4) continue;
      src += f[1]; line += f[2];
      if (found === null && keep[src]) found = [src, line];
    }
    if (found) {
      const name = map.sources[found[0]].split("/").pop();
      if (!index.has(name)) { index.set(name, sources.length); sources.push(name); }
      lines[generated + 1] = [index.get(name), found[1] + 1];
    }
  });
  return { sources, lines };
}
