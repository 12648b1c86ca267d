import { describe, expect, it } from "vitest";
import { barTime, chartTime, chartWindow, pickResolution, roundTripOf, snapMarkers, toCandles, toMarkers, type Fill } from "./tradechart";

const MIN = 60_000;
const DAY = 86_400_000;
const T0 = Date.UTC(2026, 10, 24, 4, 30); // 10:00 IST
const fill = (id: string, minutes: number, buy: boolean, units: number, rupees = 100): Fill => ({
  id,
  timeMs: T0 + minutes * MIN,
  buy,
  quantityMicros: BigInt(units) * 1_000_000n,
  priceMicros: BigInt(rupees) * 1_000_000n,
});

describe("roundTripOf", () => {
  const fills = [
    fill("a", 0, true, 10),
    fill("b", 5, true, 5),
    fill("c", 20, false, 15), // flat: the first trip is a, b, c
    fill("d", 30, false, 4),
    fill("e", 40, true, 10), // flips short 4 to long 6: closes d's trip, opens the next
    fill("f", 50, false, 6),
    fill("g", 60, true, 1), // still open
  ];

  it("finds the trip a fill opens, or the one it belongs to", () => {
    expect(roundTripOf(fills, "b")?.fills.map((item) => item.id)).toEqual(["a", "b", "c"]);
    expect(roundTripOf(fills, "a")).toEqual({ fills: fills.slice(0, 3), openMs: T0, closeMs: T0 + 20 * MIN });
    expect(roundTripOf(fills, "d")?.fills.map((item) => item.id)).toEqual(["d", "e"]);
    expect(roundTripOf(fills, "e")?.fills.map((item) => item.id)).toEqual(["e", "f"]);
    expect(roundTripOf(fills, "f")?.fills.map((item) => item.id)).toEqual(["e", "f"]);
  });

  it("keeps an open trip open and knows no stranger", () => {
    expect(roundTripOf([...fills].reverse(), "g")).toEqual({ fills: [fills[6]], openMs: T0 + 60 * MIN, closeMs: null });
    expect(roundTripOf(fills, "zzz")).toBeNull();
  });
});

describe("resolution and window", () => {
  const now = T0 + 2 * DAY;
  it("uses minutes intraday, 5 minutes for days, day bars beyond or when older bars are gone", () => {
    expect(pickResolution(T0, T0 + 3 * 60 * MIN, now)).toBe("1m");
    expect(pickResolution(T0, T0 + 3 * DAY, now)).toBe("5m");
    expect(pickResolution(T0, T0 + 40 * DAY, now + 40 * DAY)).toBe("1d");
    expect(pickResolution(T0, T0 + 60 * MIN, T0 + 45 * DAY)).toBe("5m"); // 1-minute bars are kept 30 days
    expect(pickResolution(T0, T0 + 60 * MIN, T0 + 400 * DAY)).toBe("1d");
  });

  it("adds a fifth of the span, and at least 20 bars, each side", () => {
    expect(chartWindow(T0, T0 + 10 * MIN, "1m")).toEqual({ startMs: T0 - 20 * MIN, endMs: T0 + 30 * MIN });
    expect(chartWindow(T0, T0 + 1000 * MIN, "1m")).toEqual({ startMs: T0 - 200 * MIN, endMs: T0 + 1200 * MIN });
  });
});

describe("candles and markers", () => {
  it("draws in IST wall-clock and puts each fill on its bar", () => {
    expect(chartTime(T0)).toBe(Date.UTC(2026, 10, 24, 10, 0) / 1000);
    expect(barTime(T0 + 7 * MIN + 30_000, "5m")).toBe(Date.UTC(2026, 10, 24, 10, 5) / 1000);
    expect(barTime(T0, "1d")).toBe(Date.UTC(2026, 10, 24) / 1000);
    const [candle] = toCandles([{ startMs: T0, openMicros: 1_520_500_000n, highMicros: 1_530_000_000n, lowMicros: 1_500_000_000n, closeMicros: 1_525_250_000n }]);
    expect(candle).toEqual({ time: chartTime(T0), open: 1520.5, high: 1530, low: 1500, close: 1525.25 });
    const markers = toMarkers([fill("s", 3, false, 2, 110), fill("b", 1, true, 2, 100)], "1m", (q) => String(q / 1_000_000n), (p) => String(p / 1_000_000n));
    expect(markers.map((m) => [m.id, m.shape, m.position, m.price, m.text])).toEqual([
      ["b", "arrowUp", "atPriceBottom", 100, "B 2 @ 100"],
      ["s", "arrowDown", "atPriceTop", 110, "S 2 @ 110"],
    ]);
  });
});

describe("snapMarkers", () => {
  it("puts a marker on the latest bar at or before it", () => {
    const candles = [10, 20, 40].map((time) => ({ time, open: 1, high: 1, low: 1, close: 1 }));
    const marker = { position: "atPriceTop", price: 1, shape: "arrowDown", color: "", text: "", id: "x" } as const;
    const snapped = snapMarkers([5, 20, 39, 99].map((time) => ({ ...marker, time })), candles);
    expect(snapped.map((m) => m.time)).toEqual([10, 20, 20, 40]);
    expect(snapMarkers([{ ...marker, time: 5 }], [])).toEqual([]);
  });
});
