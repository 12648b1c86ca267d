// Money, quantities and times as the contracts define them: int64 micros (1 INR = 1,000,000 micros),
// quantities in micro-units, times as UTC instants shown in IST. Parsing and formatting are exact
// (bigint, no floating point), so what the user typed is what the server gets.

const MICROS = 1_000_000n;
const IST_OFFSET_MS = 330 * 60 * 1000;

/** Parse a decimal like "1234.05" or "-0.5" into micros; null when malformed or over 6 decimals. */
export function parseDecimalMicros(text: string): bigint | null {
  const match = /^\s*([+-])?(\d{1,15})(?:\.(\d{0,6}))?\s*$/.exec(text.replace(/,/g, ""));
  if (!match) return null;
  const [, sign, whole, fraction = ""] = match;
  const value = BigInt(whole) * MICROS + BigInt(fraction.padEnd(6, "0"));
  return sign === "-" ? -value : value;
}

/** Format micros as a plain decimal with 2–6 fraction digits ("1234.05", "0.123456"). */
export function microsToDecimal(micros: bigint, minFraction = 2): string {
  const negative = micros < 0n;
  const abs = negative ? -micros : micros;
  let fraction = (abs % MICROS).toString().padStart(6, "0").replace(/0+$/, "");
  if (fraction.length < minFraction) fraction = fraction.padEnd(minFraction, "0");
  const whole = (abs / MICROS).toString();
  return `${negative ? "-" : ""}${whole}${fraction ? "." + fraction : ""}`;
}

/** Indian digit grouping: 12,34,567. */
function groupIndian(whole: string): string {
  if (whole.length <= 3) return whole;
  const last3 = whole.slice(-3);
  const rest = whole.slice(0, -3).replace(/\B(?=(\d{2})+(?!\d))/g, ",");
  return `${rest},${last3}`;
}

/** "₹12,34,567.80" (rounded half away from zero to paise); signed when `signed`. */
export function formatInr(micros: bigint, signed = false): string {
  const negative = micros < 0n;
  const abs = negative ? -micros : micros;
  const paise = (abs + 5_000n) / 10_000n;
  const whole = groupIndian((paise / 100n).toString());
  const text = `₹${whole}.${(paise % 100n).toString().padStart(2, "0")}`;
  if (negative && paise !== 0n) return `−${text}`;
  return signed && paise !== 0n ? `+${text}` : text;
}

/** A price with up to 4 decimals (currency derivatives tick at ₹0.0025). */
export function formatPrice(micros: bigint): string {
  const [whole, fraction = ""] = microsToDecimal(micros, 2).split(".");
  const sign = whole.startsWith("-") ? "−" : "";
  return `${sign}${groupIndian(whole.replace("-", ""))}.${fraction.slice(0, 4)}`;
}

/** A quantity in micro-units, shown without trailing zeros ("10", "0.123456"). */
export function formatQuantity(micros: bigint): string {
  return microsToDecimal(micros, 0);
}

/** "+1.25 %" */
export function formatPercent(value: number | undefined, digits = 2): string {
  if (value === undefined || Number.isNaN(value)) return "—";
  return `${value > 0 ? "+" : ""}${value.toFixed(digits)} %`;
}

/** "YYYY-MM-DDTHH:MM" typed as IST wall time → epoch milliseconds. */
export function istInputToEpochMs(value: string): number | null {
  const match = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(value);
  if (!match) return null;
  const [, y, mo, d, h, mi, s = "0"] = match;
  return Date.UTC(+y, +mo - 1, +d, +h, +mi, +s) - IST_OFFSET_MS;
}

/** Epoch milliseconds → "YYYY-MM-DDTHH:MM" as IST wall time (for a datetime-local input). */
export function epochMsToIstInput(ms: number): string {
  return new Date(ms + IST_OFFSET_MS).toISOString().slice(0, 16);
}

/** Epoch milliseconds → "25 Nov 2026, 14:05:09 IST". */
export function formatIst(ms: number | undefined, withSeconds = true): string {
  if (ms === undefined) return "—";
  return (
    new Intl.DateTimeFormat("en-IN", {
      timeZone: "Asia/Kolkata",
      day: "2-digit",
      month: "short",
      year: "numeric",
      hour: "2-digit",
      minute: "2-digit",
      second: withSeconds ? "2-digit" : undefined,
      hour12: false,
    }).format(new Date(ms)) + " IST"
  );
}

/** UPPER_SNAKE enum value name without its prefix, in words: "TRADE_CATEGORY_LONG_TERM" → "Long term". */
export function enumLabel(name: string | undefined, prefix: string): string {
  if (!name) return "—";
  const words = name.replace(prefix, "").toLowerCase().replace(/_/g, " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}
