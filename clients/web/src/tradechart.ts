// The pure part of the trade chart: which fills make a trade's round trip, which bar resolution and time window
// to draw, and the candles and markers in the charting library's terms (times shifted to IST wall-clock, since
// lightweight-charts draws its time axis in UTC).
import { marketdata } from "@trademesh/sdk";

/** One fill as the chart needs it (micros and epoch milliseconds). */
export interface Fill {
  id: string;
  timeMs: number;
  buy: boolean;
  quantityMicros: bigint;
  priceMicros: bigint;
}

/** A round trip: the fills from flat to flat (closeMs null while the position is still open). */
export interface RoundTrip {
  fills: Fill[];
  openMs: number;
  closeMs: number | null;
}

export type Resolution = "1m" | "5m" | "1d";

export const RESOLUTIONS: { name: Resolution; label: string; interval: marketdata.BarInterval; seconds: number }[] = [
  { name: "1m", label: "1 minute", interval: marketdata.BarInterval.ONE_MINUTE, seconds: 60 },
  { name: "5m", label: "5 minutes", interval: marketdata.BarInterval.FIVE_MINUTES, seconds: 300 },
  { name: "1d", label: "1 day", interval: marketdata.BarInterval.ONE_DAY, seconds: 86_400 },
];

/** IST is UTC+05:30 all year. */
export const IST_OFFSET_SECONDS = 19_800;
const DAY_MS = 86_400_000;
/** How long the market-data service keeps each resolution (decision 0260); day bars are kept indefinitely. */
export const RETENTION_MS: Record<Resolution, number> = { "1m": 30 * DAY_MS, "5m": 365 * DAY_MS, "1d": Infinity };

/**
 * The round trip of `id` among one instrument's fills: the one the fill opens (it may also close the previous
 * one, when it flips the position), else the one it belongs to. Fills are walked oldest first (ties by id).
 */
export function roundTripOf(fills: Fill[], id: string): RoundTrip | null {
  const ordered = [...fills].sort((a, b) => a.timeMs - b.timeMs || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  let position = 0n;
  let current: Fill[] = [];
  const trips: Fill[][] = [];
  for (const fill of ordered) {
    const signed = fill.buy ? fill.quantityMicros : -fill.quantityMicros;
    const next = position + signed;
    if (position === 0n) current = [];
    current.push(fill);
    if (next === 0n || (position !== 0n && next !== 0n && next > 0n !== position > 0n)) {
      trips.push(current);
      current = next === 0n ? [] : [fill];
    }
    position = next;
  }
  const open = position !== 0n && current.length > 0 ? current : null;
  const all: { fills: Fill[]; closed: boolean }[] = [...trips.map((trip) => ({ fills: trip, closed: true }))];
  if (open) all.push({ fills: open, closed: false });
  const found = all.find((trip) => trip.fills[0]?.id === id) ?? all.find((trip) => trip.fills.some((fill) => fill.id === id));
  if (!found) return null;
  const times = found.fills.map((fill) => fill.timeMs);
  return { fills: found.fills, openMs: Math.min(...times), closeMs: found.closed ? Math.max(...times) : null };
}

/** 1-minute bars for a trip within a day, 5-minute bars up to ten days, day bars beyond, or when older bars are gone. */
export function pickResolution(openMs: number, closeMs: number, nowMs: number): Resolution {
  const span = closeMs - openMs;
  const preferred: Resolution = span <= DAY_MS ? "1m" : span <= 10 * DAY_MS ? "5m" : "1d";
  const order: Resolution[] = ["1m", "5m", "1d"];
  return order.slice(order.indexOf(preferred)).find((name) => nowMs - openMs < RETENTION_MS[name]) ?? "1d";
}

/** The time window to draw: the holding period with a margin of a fifth of it, and at least 20 bars, each side. */
export function chartWindow(openMs: number, closeMs: number, resolution: Resolution): { startMs: number; endMs: number } {
  const barMs = (RESOLUTIONS.find((item) => item.name === resolution)?.seconds ?? 60) * 1000;
  const margin = Math.max((closeMs - openMs) / 5, 20 * barMs);
  return { startMs: Math.floor(openMs - margin), endMs: Math.ceil(closeMs + margin) };
}

/** A bar's start or a fill's time, in the chart's seconds (IST wall-clock read as UTC). */
export function chartTime(ms: number): number {
  return Math.floor(ms / 1000) + IST_OFFSET_SECONDS;
}

/** The start of the bar of `resolution` containing `ms`, in chart seconds: markers sit on their fill's bar. */
export function barTime(ms: number, resolution: Resolution): number {
  const seconds = RESOLUTIONS.find((item) => item.name === resolution)?.seconds ?? 60;
  const local = chartTime(ms);
  return local - (((local % seconds) + seconds) % seconds);
}

export interface Candle {
  time: number;
  open: number;
  high: number;
  low: number;
  close: number;
}

const rupees = (micros: bigint): number => Number(micros) / 1_000_000;

/** Bars as candles (rupees as numbers are for drawing only; every figure shown as text stays in micros). */
export function toCandles(bars: { startMs: number; openMicros: bigint; highMicros: bigint; lowMicros: bigint; closeMicros: bigint }[]): Candle[] {
  return bars.map((bar) => ({
    time: chartTime(bar.startMs),
    open: rupees(bar.openMicros),
    high: rupees(bar.highMicros),
    low: rupees(bar.lowMicros),
    close: rupees(bar.closeMicros),
  }));
}

export interface Marker {
  time: number;
  position: "atPriceBottom" | "atPriceTop";
  price: number;
  shape: "arrowUp" | "arrowDown";
  color: string;
  text: string;
  id: string;
}

/** One marker per fill: buys below the price with an up arrow, sells above with a down arrow, "B 10 @ 1520.5". */
export function toMarkers(fills: Fill[], resolution: Resolution, quantity: (micros: bigint) => string, price: (micros: bigint) => string): Marker[] {
  return [...fills]
    .sort((a, b) => a.timeMs - b.timeMs)
    .map((fill) => ({
      time: barTime(fill.timeMs, resolution),
      position: fill.buy ? "atPriceBottom" : "atPriceTop",
      price: rupees(fill.priceMicros),
      shape: fill.buy ? "arrowUp" : "arrowDown",
      color: fill.buy ? "#15803d" : "#b91c1c",
      text: `${fill.buy ? "B" : "S"} ${quantity(fill.quantityMicros)} @ ${price(fill.priceMicros)}`,
      id: fill.id,
    }));
}

/** Move each marker onto the latest candle at or before it (the first candle if none): the library draws a
 * marker only on a bar it has, and a minute without ticks has no bar. */
export function snapMarkers(markers: Marker[], candles: Candle[]): Marker[] {
  if (candles.length === 0) return [];
  return markers.map((marker) => {
    let time = candles[0].time;
    for (const candle of candles) {
      if (candle.time > marker.time) break;
      time = candle.time;
    }
    return { ...marker, time };
  });
}
