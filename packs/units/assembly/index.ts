// The units pack: unit conversion (offline) and currency conversion (rates fetched from
// api.frankfurter.app through the host, cached for an hour).
import * as corral from "corral";
import { Context, FetchRequest, Value } from "corral";
export { corral_alloc, corral_call, corral_abi_v1 } from "corral";

// -- units ----------------------------------------------------------------------------------

/** A unit: `base = value * factor + offset`, in its dimension's base unit. */
class Unit {
  constructor(public symbol: string, public name: string, public dimension: string,
              public factor: f64, public offset: f64 = 0) {}
}

const BASE_UNITS = new Map<string, string>();
BASE_UNITS.set("length", "m");
BASE_UNITS.set("mass", "kg");
BASE_UNITS.set("volume", "l");
BASE_UNITS.set("time", "s");
BASE_UNITS.set("temperature", "K");

const UNITS: Unit[] = [
  new Unit("m", "metre", "length", 1),
  new Unit("km", "kilometre", "length", 1000),
  new Unit("cm", "centimetre", "length", 0.01),
  new Unit("mm", "millimetre", "length", 0.001),
  new Unit("mi", "mile", "length", 1609.344),
  new Unit("yd", "yard", "length", 0.9144),
  new Unit("ft", "foot", "length", 0.3048),
  new Unit("in", "inch", "length", 0.0254),
  new Unit("kg", "kilogram", "mass", 1),
  new Unit("g", "gram", "mass", 0.001),
  new Unit("mg", "milligram", "mass", 0.000001),
  new Unit("lb", "pound", "mass", 0.45359237),
  new Unit("oz", "ounce", "mass", 0.028349523125),
  new Unit("l", "litre", "volume", 1),
  new Unit("ml", "millilitre", "volume", 0.001),
  new Unit("gal", "US gallon", "volume", 3.785411784),
  new Unit("s", "second", "time", 1),
  new Unit("min", "minute", "time", 60),
  new Unit("h", "hour", "time", 3600),
  new Unit("day", "day", "time", 86400),
  new Unit("K", "kelvin", "temperature", 1),
  new Unit("C", "degree Celsius", "temperature", 1, 273.15),
  new Unit("F", "degree Fahrenheit", "temperature", 5.0 / 9.0, 273.15 - 32.0 * 5.0 / 9.0),
];

/** The unit with this symbol, ignoring case; null when unknown. */
function findUnit(symbol: string): Unit | null {
  const wanted = symbol.trim().toLowerCase();
  for (let i = 0; i < UNITS.length; i++) {
    if (UNITS[i].symbol.toLowerCase() == wanted) return UNITS[i];
  }
  return null;
}

function unitArg(ctx: Context, i: i32): Unit | null {
  const symbol = ctx.argString(i);
  if (ctx.failed) return null;
  const unit = findUnit(symbol);
  if (unit === null) ctx.fail("unknown unit '" + symbol + "'; try one of: " + symbols());
  return unit;
}

function symbols(): string {
  const out = new Array<string>();
  for (let i = 0; i < UNITS.length; i++) out.push(UNITS[i].symbol);
  return out.join(", ");
}

function convert(ctx: Context): Value {
  const value = ctx.argFloat(0);
  const from = unitArg(ctx, 1);
  const to = unitArg(ctx, 2);
  if (from === null || to === null) return Value.nil();
  if (from.dimension != to.dimension) {
    return ctx.fail("cannot convert " + from.symbol + " (" + from.dimension + ") to " +
                    to.symbol + " (" + to.dimension + ")");
  }
  const base = value * from.factor + from.offset;
  return Value.ofFloat(significant((base - to.offset) / to.factor, 12));
}

/** `x` rounded to `digits` significant digits, so 100 C is 212 F and not 211.99999999999997. */
function significant(x: f64, digits: i32): f64 {
  if (x == 0 || !isFinite(x)) return x;
  const magnitude = <i32>Math.floor(Math.log10(Math.abs(x)));
  const scale = Math.pow(10, <f64>(digits - 1 - magnitude));
  return Math.round(x * scale) / scale;
}

function unitInfo(ctx: Context): Value {
  const unit = unitArg(ctx, 0);
  if (unit === null) return Value.nil();
  return Value.map()
    .set("unit", Value.ofString(unit.symbol))
    .set("name", Value.ofString(unit.name))
    .set("dimension", Value.ofString(unit.dimension))
    .set("base", Value.ofString(BASE_UNITS.get(unit.dimension)))
    .set("factor", Value.ofFloat(unit.factor));
}

/** Units whose symbol starts with what was typed; completing `to` of Convert offers only
 *  units of the dimension `from` already names. */
function completeUnit(ctx: Context): Value {
  const typed = ctx.search().trim().toLowerCase();
  let dimension = "";
  if (ctx.param() == "to") {
    const from = findUnit(ctx.arg(1).asString());
    if (from !== null) dimension = from.dimension;
  }
  const out = Value.array();
  for (let i = 0; i < UNITS.length; i++) {
    const unit = UNITS[i];
    if (!unit.symbol.toLowerCase().startsWith(typed)) continue;
    if (dimension.length > 0 && unit.dimension != dimension) continue;
    out.push(Value.map()
      .set("display", Value.ofString(unit.symbol + " (" + unit.name + ")"))
      .set("value", Value.ofString(unit.symbol)));
  }
  return out;
}

// -- currencies -----------------------------------------------------------------------------

const RATES_URL = "https://api.frankfurter.app/latest";
const RATES_TTL_S: u32 = 3600;

/** An ISO 4217 code in upper case, or "" (with the call failed) when it is not one. */
function currencyArg(ctx: Context, i: i32): string {
  const code = ctx.argString(i).trim().toUpperCase();
  if (ctx.failed) return "";
  let letters = code.length == 3;
  for (let k = 0; k < code.length && letters; k++) {
    const c = code.charCodeAt(k);
    letters = c >= 65 && c <= 90;
  }
  if (!letters) {
    ctx.fail("'" + ctx.argString(i) + "' is not a 3-letter currency code such as EUR or USD");
    return "";
  }
  return code;
}

/** The rates service's answer for `base` (and `to`, when given), or null (call failed). */
function fetchRates(ctx: Context, base: string, to: string): Value | null {
  let url = RATES_URL + "?from=" + base;
  if (to.length > 0) url += "&to=" + to;
  const response = ctx.fetch(new FetchRequest(url).header("Accept", "application/json")
    .cacheFor(RATES_TTL_S).expectJson());
  if (response === null) {
    ctx.failWithFetchError();
    return null;
  }
  if (response.status != 200) {
    const message = response.json.get("message");
    ctx.fail("the rates service answered " + response.status.toString() +
             (message !== null ? ": " + message.asString() : ""));
    return null;
  }
  return response.json;
}

/** The rate from `from` to `to` (1 for the same currency, without a fetch); NaN on failure. */
function rate(ctx: Context, from: string, to: string): f64 {
  if (from == to) return 1;
  const answer = fetchRates(ctx, from, to);
  if (answer === null) return NaN;
  const rates = answer.get("rates");
  const value = rates !== null ? rates.get(to) : null;
  if (value === null || !value.isNumber) {
    ctx.fail("the rates service has no rate from " + from + " to " + to);
    return NaN;
  }
  return value.asFloat();
}

function exchangeRate(ctx: Context): Value {
  const from = currencyArg(ctx, 0);
  const to = currencyArg(ctx, 1);
  if (ctx.failed) return Value.nil();
  const found = rate(ctx, from, to);
  return ctx.failed ? Value.nil() : Value.ofFloat(found);
}

function convertCurrency(ctx: Context): Value {
  const amount = ctx.argFloat(0);
  const from = currencyArg(ctx, 1);
  const to = currencyArg(ctx, 2);
  if (ctx.failed) return Value.nil();
  const found = rate(ctx, from, to);
  if (ctx.failed) return Value.nil();
  return Value.ofFloat(Math.round(amount * found * 100) / 100);
}

function rates(ctx: Context): Value {
  const base = ctx.arg(0).isNil ? "EUR" : currencyArg(ctx, 0);
  if (ctx.failed) return Value.nil();
  const answer = fetchRates(ctx, base, "");
  if (answer === null) return Value.nil();
  const date = answer.get("date");
  const found = answer.get("rates");
  const entries = found !== null ? found.asEntries() : [];
  const rows = new Array<Value>();
  for (let i = 0; i < entries.length; i++) {
    rows.push(Value.map()
      .set("currency", entries[i].key)
      .set("rate", Value.ofFloat(entries[i].value.asFloat()))
      .set("base", Value.ofString(base))
      .set("date", date !== null ? date : Value.nil()));
  }
  return ctx.page(rows);
}

corral.formula("Convert", convert);
corral.formula("UnitInfo", unitInfo);
corral.formula("ExchangeRate", exchangeRate);
corral.formula("ConvertCurrency", convertCurrency);
corral.syncTable("Rates", rates);
corral.autocomplete("Convert", completeUnit);
corral.autocomplete("UnitInfo", completeUnit);
