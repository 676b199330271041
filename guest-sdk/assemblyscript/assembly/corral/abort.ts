// AssemblyScript routes `abort` (failed assertions, out-of-bounds array access, a
// `throw`) here instead of importing `env.abort`: the build passes
// `--use abort=~lib/corral/abort/corralAbort`. We log what happened and trap.
import { rawLog } from "./abi";

let aborting = false;

export function corralAbort(message: string | null, file: string | null, line: u32, column: u32): void {
  if (!aborting) {
    // A second abort while building this text (say, out of memory) must not recurse.
    aborting = true;
    const text = "abort: " + (message !== null ? message : "(no message)") + " at " +
      (file !== null ? file : "?") + ":" + line.toString() + ":" + column.toString();
    const bytes = String.UTF8.encode(text);
    rawLog(3, changetype<usize>(bytes), <u32>bytes.byteLength);
  }
  unreachable();
}
