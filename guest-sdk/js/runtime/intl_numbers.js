// Intl.NumberFormat for an engine without Intl, in English as ICU formats en-US: decimal,
// percent and currency styles, fraction and integer digits, grouping. Rounding is half away
// from zero on the number's shortest decimal form, as ICU rounds (so 1.005 gives 1.01).
import { resolveLocale } from "./intl_dates.js";

const SYMBOLS = { USD: "$", EUR: "€", GBP: "£", JPY: "¥", CAD: "CA$", AUD: "A$", INR: "₹", CNY: "CN¥", KRW: "₩", MXN: "MX$", BRL: "R$", ILS: "₪", NZD: "NZ$", HKD: "HK$", TWD: "NT$", VND: "₫", PHP: "₱", XAF: "FCFA", XOF: "F\u202fCFA" };
const NO_CENTS = ["JPY", "KRW", "VND", "CLP", "ISK", "UGX", "XAF", "XOF", "PYG"];

export class NumberFormat {
  constructor(locales, options) {
    const o = options === undefined ? {} : Object(options);
    this._locale = resolveLocale(locales);
    this._style = o.style === undefined ? "decimal" : String(o.style);
    if (!["decimal", "percent", "currency", "unit"].includes(this._style)) throw new RangeError(`Value ${this._style} out of range for Intl.NumberFormat options property style`);
    if (this._style === "currency") {
      if (o.currency === undefined) throw new TypeError("Currency code is required with currency style.");
      this._currency = String(o.currency).toUpperCase();
      this._display = o.currencyDisplay === undefined ? "symbol" : String(o.currencyDisplay);
    }
    const cents = this._style === "currency" ? (NO_CENTS.includes(this._currency) ? 0 : 2) : 0;
    const minFrac = o.minimumFractionDigits === undefined ? cents : Number(o.minimumFractionDigits);
    const defaultMax = this._style === "currency" ? cents : this._style === "percent" ? 0 : 3;
    this._minFrac = minFrac;
    this._maxFrac = o.maximumFractionDigits === undefined ? Math.max(minFrac, defaultMax) : Number(o.maximumFractionDigits);
    if (this._maxFrac < this._minFrac) throw new RangeError("maximumFractionDigits value is out of range.");
    this._minInt = o.minimumIntegerDigits === undefined ? 1 : Number(o.minimumIntegerDigits);
    this._maxSig = o.maximumSignificantDigits === undefined ? undefined : Number(o.maximumSignificantDigits);
    this._minSig = o.minimumSignificantDigits === undefined ? (this._maxSig === undefined ? undefined : 1) : Number(o.minimumSignificantDigits);
    this._grouping = o.useGrouping === undefined ? true : o.useGrouping !== false && o.useGrouping !== "false";
    this._sign = o.signDisplay === undefined ? "auto" : String(o.signDisplay);
    this._unit = o.unit;
    this.format = this.format.bind(this);
  }

  format(value) { return this.formatToParts(value).map((p) => p.value).join(""); }

  formatToParts(value) {
    const x = Number(value);
    const parts = [];
    const negative = x < 0 || Object.is(x, -0);
    const body = Number.isNaN(x) ? [{ type: "nan", value: "NaN" }] : !Number.isFinite(x) ? [{ type: "infinity", value: "∞" }] : this._digits(Math.abs(x), this._style === "percent" ? 2 : 0);
    const zero = body.every((p) => p.type !== "integer" && p.type !== "fraction" || /^0*$/.test(p.value));
    const sign = this._signFor(negative && !Number.isNaN(x), zero);
    if (sign) parts.push({ type: sign === "-" ? "minusSign" : "plusSign", value: sign });
    if (this._style === "currency") parts.push(...this._currencyPrefix());
    parts.push(...body);
    if (this._style === "percent") parts.push({ type: "percentSign", value: "%" });
    if (this._style === "unit" && this._unit) parts.push({ type: "literal", value: " " }, { type: "unit", value: String(this._unit) });
    return parts;
  }

  _signFor(negative, zero) {
    if (this._sign === "never") return "";
    if (this._sign === "always") return negative ? "-" : "+";
    if (this._sign === "exceptZero") return zero ? "" : negative ? "-" : "+";
    if (this._sign === "negative") return negative && !zero ? "-" : "";
    return negative ? "-" : "";
  }

  _currencyPrefix() {
    const code = this._currency;
    if (this._display === "code") return [{ type: "currency", value: code }, { type: "literal", value: "\u00a0" }];
    const symbol = this._display === "narrowSymbol" ? (SYMBOLS[code] || code).replace(/^[A-Z]+(?=\W)/, "") : SYMBOLS[code];
    if (symbol === undefined) return [{ type: "currency", value: code }, { type: "literal", value: "\u00a0" }];
    return [{ type: "currency", value: symbol }];
  }

  _digits(x, scale) {
    const [intText, fracText] = this._maxSig !== undefined ? roundSignificant(x, scale, this._minSig, this._maxSig)
      : roundFraction(x, scale, this._minFrac, this._maxFrac);
    const parts = [];
    const int = intText.padStart(this._minInt, "0");
    if (this._grouping && int.length > 3) {
      const groups = [];
      for (let end = int.length; end > 0; end -= 3) groups.unshift(int.slice(Math.max(0, end - 3), end));
      groups.forEach((g, i) => { if (i) parts.push({ type: "group", value: "," }); parts.push({ type: "integer", value: g }); });
    } else parts.push({ type: "integer", value: int });
    if (fracText) parts.push({ type: "decimal", value: "." }, { type: "fraction", value: fracText });
    return parts;
  }

  resolvedOptions() {
    const out = { locale: this._locale, numberingSystem: "latn", style: this._style };
    if (this._currency) Object.assign(out, { currency: this._currency, currencyDisplay: this._display });
    Object.assign(out, { minimumIntegerDigits: this._minInt, minimumFractionDigits: this._minFrac,
      maximumFractionDigits: this._maxFrac, useGrouping: this._grouping ? "auto" : false, signDisplay: this._sign });
    return out;
  }

  static supportedLocalesOf(locales) {
    const list = locales === undefined ? [] : Array.isArray(locales) ? locales : [locales];
    return list.map(String).filter((l) => /^en(-US)?$/i.test(l));
  }
}

/** The shortest decimal form of x >= 0 times 10^scale as [digits, exponent]:
 * x * 10^scale = 0.digits * 10^exponent (scaled in decimal, as ICU scales percents). */
function decimal(x, scale) {
  if (x === 0) return ["", 0];
  const [mant, exp] = x.toExponential().split("e");
  const digits = mant.replace(".", "").replace(/0+$/, "");
  return [digits, Number(exp) + 1 + scale];
}

/** Round digits (0.digits * 10^exp) to `keep` digits, half away from zero. */
function roundAt(digits, exp, keep) {
  if (keep >= digits.length) return [digits, exp];
  if (keep < 0) return ["", exp];
  let head = digits.slice(0, keep);
  if (digits[keep] >= "5") {
    let i = head.length - 1;
    const arr = head.split("");
    while (i >= 0 && arr[i] === "9") { arr[i] = "0"; i--; }
    if (i < 0) { arr.unshift("1"); exp += 1; } else arr[i] = String(Number(arr[i]) + 1);
    head = arr.join("");
  }
  return [head.replace(/0+$/, ""), exp];
}

function split(digits, exp, minFrac) {
  const intText = exp <= 0 ? "0" : (digits.slice(0, exp).padEnd(exp, "0") || "0");
  let frac = exp >= 0 ? digits.slice(exp) : "0".repeat(-exp) + digits;
  frac = frac.replace(/0+$/, "");
  if (frac.length < minFrac) frac = frac.padEnd(minFrac, "0");
  return [intText.replace(/^0+(?=\d)/, ""), frac];
}

function roundFraction(x, scale, minFrac, maxFrac) {
  const [digits, exp] = decimal(x, scale);
  const [d, e] = roundAt(digits, exp, exp + maxFrac);
  return split(d, e, minFrac);
}

function roundSignificant(x, scale, minSig, maxSig) {
  const [digits, exp] = decimal(x, scale);
  const [d, e] = roundAt(digits, exp, maxSig);
  if (d === "") return split(d, e, Math.max(0, minSig - 1));
  return split(d, e, e > 0 ? Math.max(0, minSig - e) : minSig - e);
}
