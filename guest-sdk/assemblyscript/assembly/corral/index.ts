// The Corral AssemblyScript SDK (ABI v1, see guest-sdk/ABI.md).
//
//     import * as corral from "corral";
//     import { Context, Value } from "corral";
//     export { corral_alloc, corral_call, corral_abi_v1 } from "corral";
//
//     function greet(ctx: Context): Value {
//       const name = ctx.argString(0);
//       if (name.length == 0) return ctx.fail("Greet needs a name");
//       return Value.ofString("Hello, " + name + "!");
//     }
//     corral.formula("Greet", greet);
//
// Build with `corral build` (it passes `--path guest-sdk/assemblyscript/assembly` so
// `import ... from "corral"` finds this package, and routes `abort` to corralAbort).
export { Kind, Entry, Value, Writer, decode, encode } from "./msgpack";
export { Context, FetchRequest, Response, LogLevel, StoredBlob, log } from "./context";
export {
  Handler, formula, action, syncTable, syncUpdate, autocomplete, dynamicUrls, dynamicSchema,
  connectionName, validateParameters, corral_alloc, corral_call, corral_abi_v1,
} from "./pack";
export { FieldError, Validation } from "./validation";
export { corralAbort } from "./abort";
export { retryAfterSeconds, parseHttpDate } from "./http";
export { isCanonicalDate, parseDate } from "./dates";
export { rawLog } from "./abi";
