// The trade detail screen (#/trades/<id>): the instrument's candles over the trade's round trip (first entry to
// last exit, with a margin) with every fill marked, drawn by lightweight-charts from market data's GetBars
// (1-minute, 5-minute or IST-day bars, decision 0260). Reached from the trade list and the calendar's round trips.
import { timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { marketdata, trade } from "@trademesh/sdk";
import { CandlestickSeries, createChart, createSeriesMarkers, type CandlestickData, type SeriesMarker, type UTCTimestamp } from "lightweight-charts";
import type { JSX } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { call, clients } from "./api";
import { readableError, type ReadableError } from "./errors";
import { formatIst, formatPrice, formatQuantity } from "./format";
import {
  RESOLUTIONS,
  chartWindow,
  pickResolution,
  roundTripOf,
  snapMarkers,
  toCandles,
  toMarkers,
  type Candle,
  type Fill,
  type Marker,
  type Resolution,
  type RoundTrip,
} from "./tradechart";
import { exchangeName } from "./tradenames";
import { ErrorBanner } from "./ui";

/** At most this many of the instrument's fills are read to find the round trip (pages of 500). */
const MAX_FILL_PAGES = 20;
/** At most this many bars are drawn (pages of 5,000). */
const MAX_BAR_PAGES = 4;

/** The trade id of a `#/trades/<id>` hash, or null. */
export function tradeIdFromHash(hash: string): string | null {
  const match = /^#\/?trades\/([^/?]+)/.exec(hash);
  return match ? decodeURIComponent(match[1]) : null;
}

interface Loaded {
  item: trade.Trade;
  trip: RoundTrip;
}

interface Bars {
  resolution: Resolution;
  candles: Candle[];
  earliestMs: number | null;
}

function toFill(item: trade.Trade): Fill {
  return {
    id: item.id,
    timeMs: item.tradeTime ? timestampMs(item.tradeTime) : 0,
    buy: item.side === trade.Side.BUY,
    quantityMicros: item.quantityMicros,
    priceMicros: item.priceMicros,
  };
}

async function loadTrip(id: string): Promise<Loaded> {
  const item = (await call(() => clients.trade.getTrade({ id }))).trade;
  if (!item) throw new Error("the trade service returned no trade");
  const fills: Fill[] = [];
  let pageToken = "";
  for (let page = 0; page < MAX_FILL_PAGES; page++) {
    const response = await call(() =>
      clients.trade.listTrades({ symbol: item.instrument?.symbol ?? "", exchange: item.instrument?.exchange ?? 0, pageSize: 500, pageToken }),
    );
    fills.push(...response.trades.map(toFill));
    pageToken = response.nextPageToken;
    if (!pageToken) break;
  }
  const trip = roundTripOf(fills, id) ?? { fills: [toFill(item)], openMs: toFill(item).timeMs, closeMs: toFill(item).timeMs };
  return { item, trip };
}

async function loadBars(item: trade.Trade, trip: RoundTrip, resolution: Resolution): Promise<Bars> {
  const interval = RESOLUTIONS.find((entry) => entry.name === resolution)?.interval ?? marketdata.BarInterval.ONE_MINUTE;
  const { startMs, endMs } = chartWindow(trip.openMs, trip.closeMs ?? Date.now(), resolution);
  const bars: { startMs: number; openMicros: bigint; highMicros: bigint; lowMicros: bigint; closeMicros: bigint }[] = [];
  let earliestMs: number | null = null;
  let pageToken = "";
  for (let page = 0; page < MAX_BAR_PAGES; page++) {
    const response = await call(() =>
      clients.marketdata.getBars({
        instrument: item.instrument,
        interval,
        startTime: timestampFromMs(startMs),
        endTime: timestampFromMs(endMs),
        pageSize: 5000,
        pageToken,
      }),
    );
    for (const bar of response.bars) bars.push({ ...bar, startMs: bar.startTime ? timestampMs(bar.startTime) : 0 });
    earliestMs = response.earliestAvailableTime ? timestampMs(response.earliestAvailableTime) : null;
    pageToken = response.nextPageToken;
    if (!pageToken) break;
  }
  return { resolution, candles: toCandles(bars), earliestMs };
}

export function TradeDetailScreen({ id }: { id: string }): JSX.Element {
  const [loaded, setLoaded] = useState<Loaded | null>(null);
  const [resolution, setResolution] = useState<Resolution | null>(null);
  const [bars, setBars] = useState<Bars | null>(null);
  const [error, setError] = useState<ReadableError | null>(null);

  useEffect(() => {
    let cancelled = false;
    loadTrip(id)
      .then((found) => {
        if (cancelled) return;
        setLoaded(found);
        setResolution(pickResolution(found.trip.openMs, found.trip.closeMs ?? Date.now(), Date.now()));
      })
      .catch((caught: unknown) => !cancelled && setError(readableError(caught)));
    return () => {
      cancelled = true;
    };
  }, [id]);

  useEffect(() => {
    if (!loaded || !resolution) return undefined;
    let cancelled = false;
    setBars(null);
    loadBars(loaded.item, loaded.trip, resolution)
      .then((found) => !cancelled && (setBars(found), setError(null)))
      .catch((caught: unknown) => !cancelled && setError(readableError(caught)));
    return () => {
      cancelled = true;
    };
  }, [loaded, resolution]);

  const item = loaded?.item;
  const trip = loaded?.trip;
  return (
    <section aria-labelledby="trade-detail-title" data-testid="trade-detail" data-trade-id={id}>
      <div class="section-head">
        <h2 id="trade-detail-title">
          {item ? (
            <>
              {item.instrument?.symbol} <span class="muted">{exchangeName(item.instrument?.exchange ?? 0)}</span> round trip
            </>
          ) : (
            "Trade"
          )}
        </h2>
        <a href="#/trades">← Trades</a>
      </div>
      <ErrorBanner error={error} />
      {trip && (
        <p class="muted" data-testid="trade-holding">
          Held from {formatIst(trip.openMs, false)} to {trip.closeMs === null ? "now (still open)" : formatIst(trip.closeMs, false)}, {trip.fills.length} fill(s).
        </p>
      )}
      {resolution && (
        <div class="chart-resolutions" role="group" aria-label="Bar resolution">
          {RESOLUTIONS.map((entry) => (
            <button
              key={entry.name}
              type="button"
              class={entry.name === resolution ? "active" : "link"}
              aria-pressed={entry.name === resolution}
              data-testid="chart-resolution"
              data-resolution={entry.name}
              onClick={() => setResolution(entry.name)}
            >
              {entry.label}
            </button>
          ))}
        </div>
      )}
      {trip && bars && bars.resolution === resolution && <TradeChart trip={trip} bars={bars} />}
      {trip && (!bars || bars.resolution !== resolution) && !error && <p class="muted">Loading bars…</p>}
      {trip && <FillTable fills={trip.fills} />}
    </section>
  );
}

function TradeChart({ trip, bars }: { trip: RoundTrip; bars: Bars }): JSX.Element {
  const container = useRef<HTMLDivElement>(null);
  const markers: Marker[] = snapMarkers(toMarkers(trip.fills, bars.resolution, formatQuantity, formatPrice), bars.candles);

  useEffect(() => {
    if (!container.current || bars.candles.length === 0) return undefined;
    const chart = createChart(container.current, {
      height: 420,
      autoSize: true,
      layout: { background: { color: "#ffffff" }, textColor: "#1f2937" },
      timeScale: { timeVisible: true, secondsVisible: false },
      rightPriceScale: { borderVisible: false },
    });
    const series = chart.addSeries(CandlestickSeries, {
      upColor: "#16a34a",
      downColor: "#dc2626",
      borderVisible: false,
      wickUpColor: "#16a34a",
      wickDownColor: "#dc2626",
    });
    series.setData(bars.candles.map((candle) => ({ ...candle, time: candle.time as UTCTimestamp })) satisfies CandlestickData<UTCTimestamp>[]);
    createSeriesMarkers(series, markers.map((marker) => ({ ...marker, time: marker.time as UTCTimestamp })) satisfies SeriesMarker<UTCTimestamp>[]);
    chart.timeScale().fitContent();
    return () => chart.remove();
  }, [bars, trip]);

  if (bars.candles.length === 0) {
    return (
      <p class="banner banner--info" data-testid="trade-chart-empty" data-resolution={bars.resolution}>
        No bars recorded for this period — bars come from the live feed
        {bars.earliestMs === null ? ", and none have been recorded for this instrument at this resolution yet." : ` since ${formatIst(bars.earliestMs, false)}.`}
      </p>
    );
  }
  return (
    <figure class="trade-chart" data-testid="trade-chart" data-resolution={bars.resolution} data-candles={bars.candles.length} data-markers={markers.length}>
      <div ref={container} class="trade-chart-canvas" data-testid="trade-chart-canvas" role="img" aria-label={`Candles with ${markers.length} fill markers`} />
      <figcaption class="muted">
        {bars.candles.length} {RESOLUTIONS.find((entry) => entry.name === bars.resolution)?.label} bar(s), IST; ▲ buys, ▼ sells.
      </figcaption>
    </figure>
  );
}

function FillTable({ fills }: { fills: Fill[] }): JSX.Element {
  return (
    <div class="table-wrap">
      <table data-testid="trade-fills">
        <caption class="sr-only">The round trip's fills, oldest first</caption>
        <thead>
          <tr>
            <th scope="col">Time (IST)</th>
            <th scope="col">Side</th>
            <th scope="col" class="num">Quantity</th>
            <th scope="col" class="num">Price</th>
          </tr>
        </thead>
        <tbody>
          {[...fills]
            .sort((a, b) => a.timeMs - b.timeMs)
            .map((fill) => (
              <tr key={fill.id} data-testid="trade-fill" data-side={fill.buy ? "buy" : "sell"}>
                <td>{formatIst(fill.timeMs)}</td>
                <td class={fill.buy ? "buy" : "sell"}>{fill.buy ? "BUY" : "SELL"}</td>
                <td class="num">{formatQuantity(fill.quantityMicros)}</td>
                <td class="num">{formatPrice(fill.priceMicros)}</td>
              </tr>
            ))}
        </tbody>
      </table>
    </div>
  );
}
