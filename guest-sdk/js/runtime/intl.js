// Intl for an engine that has none (QuickJS-NG): DateTimeFormat and NumberFormat in English
// (intl_dates.js, intl_numbers.js), and the Date and Number toLocale*String methods over
// them, as ECMA-402 defines those. Installed only when the engine has no Intl of its own.
import { DateTimeFormat as Dtf } from "./intl_dates.js";
import { NumberFormat as Nf } from "./intl_numbers.js";

/** A constructor that also works when called without `new`, as Intl's do. */
function callable(Impl) {
  function Wrapped(locales, options) { return new Impl(locales, options); }
  Wrapped.prototype = Impl.prototype;
  Wrapped.supportedLocalesOf = Impl.supportedLocalesOf;
  Object.defineProperty(Impl.prototype, Symbol.toStringTag, { value: `Intl.${Impl.name}`, configurable: true });
  return Wrapped;
}

export function installIntl(g) {
  if (typeof g.Intl !== "undefined") return;
  const DateTimeFormat = callable(Dtf);
  const NumberFormat = callable(Nf);
  g.Intl = {
    DateTimeFormat, NumberFormat,
    getCanonicalLocales: (l) => (l === undefined ? [] : [].concat(l).map(String)),
  };
  const dateMethod = (required, defaults) => function (locales, options) {
    if (Number.isNaN(this.getTime())) return "Invalid Date";
    return new Dtf(locales, options, required, defaults).format(this);
  };
  define(Date.prototype, "toLocaleString", dateMethod("any", "all"));
  define(Date.prototype, "toLocaleDateString", dateMethod("date", "date"));
  define(Date.prototype, "toLocaleTimeString", dateMethod("time", "time"));
  define(Number.prototype, "toLocaleString", function (locales, options) {
    return new Nf(locales, options).format(Number(this));
  });
}

function define(proto, name, fn) {
  Object.defineProperty(proto, name, { value: fn, writable: true, configurable: true, enumerable: false });
}
