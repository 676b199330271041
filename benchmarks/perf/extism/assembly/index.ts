// The Extism plugin the performance suite calls beside Corral's `perfbench.Add`.
// Input: two little-endian f64 (16 bytes). Output: their sum as one little-endian f64.
import { Host } from "@extism/as-pdk";

export function add(): i32 {
  const input = Host.input();
  if (input.length != 16) {
    Host.outputString("add expects 16 bytes: two little-endian f64");
    return 1;
  }
  const view = new DataView(input.buffer, input.byteOffset, 16);
  const sum = view.getFloat64(0, true) + view.getFloat64(8, true);
  const out = new Uint8Array(8);
  new DataView(out.buffer).setFloat64(0, sum, true);
  Host.output(out);
  return 0;
}

// AssemblyScript's default abort imports env.abort, which no Extism host provides.
function quietAbort(
  message: string | null,
  fileName: string | null,
  lineNumber: u32,
  columnNumber: u32,
): void {
  unreachable();
}
