// The answer of a `validate_parameters` handler (guest-sdk/ABI.md §3.1): a formula
// declared with `validate_parameters = true` is asked before each call whether its
// arguments (`ctx.args`) are acceptable.
//
//     corral.validateParameters("Range", (ctx: Context): Value => {
//       if (ctx.argInt(0) > ctx.argInt(1)) {
//         return Validation.invalid("low must not exceed high", [new FieldError("high", "below low")]);
//       }
//       return Validation.valid();
//     });
import { Value } from "./msgpack";

/** One parameter a validation faults, and why. */
export class FieldError {
  constructor(public parameter: string, public message: string) {}
}

export class Validation {
  /** The arguments are fine: the formula runs. */
  static valid(): Value {
    return Value.map().set("valid", Value.ofBool(true));
  }

  /** The arguments are not acceptable: the call fails with `invalid_parameters` before
   *  the formula runs, carrying `message` and each field error. */
  static invalid(message: string, fieldErrors: FieldError[] = []): Value {
    const errors = Value.array();
    for (let i = 0; i < fieldErrors.length; i++) {
      const error = unchecked(fieldErrors[i]);
      errors.push(Value.map().set("parameter", Value.ofString(error.parameter))
        .set("message", Value.ofString(error.message)));
    }
    return Value.map().set("valid", Value.ofBool(false))
      .set("message", message.length > 0 ? Value.ofString(message) : Value.nil())
      .set("field_errors", errors);
  }
}
