// Live watchlist: SubscribeQuotes over grpc-web (a snapshot, then conflated batches); prices flash on
// change; the stream reconnects with backoff and is reopened when the instrument set changes.
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { common, marketdata } from "@trademesh/sdk";
import type { JSX } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { AlertLink } from "./alerts";
import { clients } from "./api";
import { isServiceMissing, readableError } from "./errors";
import { formatIst, formatPercent, formatPrice } from "./format";
import { keepStreaming, type StreamState } from "./stream";
import { exchangeName } from "./trades";
import { ErrorBanner, Unavailable } from "./ui";

const DEFAULT_WATCHLIST = ["RELIANCE", "TCS", "INFY", "HDFCBANK", "ICICIBANK", "SBIN"].map((symbol) => ({ symbol, exchange: common.Exchange.NSE }));
const FLASH_MS = 800;

// Kept across screen changes (not a secret, so not tied to the session).
let watched: { symbol: string; exchange: common.Exchange }[] = DEFAULT_WATCHLIST;

interface Row {
  quote: marketdata.Quote;
  direction: "up" | "down" | null;
  changedAt: number;
}

const keyOf = (instrument?: { symbol: string; exchange: common.Exchange }): string => `${instrument?.exchange}:${instrument?.symbol}`;

export function WatchlistScreen(): JSX.Element {
  const [instruments, setInstruments] = useState(watched);
  const [rows, setRows] = useState<Map<string, Row>>(new Map());
  const [state, setState] = useState<StreamState>({ kind: "connecting" });
  const [missing, setMissing] = useState(false);
  const [adding, setAdding] = useState("");
  const [updates, setUpdates] = useState(0);
  const [, setNow] = useState(0);
  const rowsRef = useRef(rows);

  useEffect(() => {
    watched = instruments;
    rowsRef.current = new Map();
    setRows(new Map());
    const stop = keepStreaming(
      (signal) => clients.marketdata.subscribeQuotes({ instruments, mode: marketdata.QuoteMode.QUOTE, maxUpdatesPerSecond: 2 }, { signal }),
      (message) => {
        if (message.event.case !== "batch") return;
        const batch = message.event.value;
        const next = batch.snapshot ? new Map<string, Row>() : new Map(rowsRef.current);
        const now = Date.now();
        for (const quote of batch.quotes) {
          const key = keyOf(quote.instrument);
          const held = rowsRef.current.get(key);
          if (held && quote.sequence < held.quote.sequence) continue; // older than what we show
          const direction = held && quote.lastPriceMicros !== held.quote.lastPriceMicros ? (quote.lastPriceMicros > held.quote.lastPriceMicros ? "up" : "down") : null;
          next.set(key, { quote, direction: direction ?? held?.direction ?? null, changedAt: direction ? now : (held?.changedAt ?? 0) });
        }
        rowsRef.current = next;
        setRows(next);
        setUpdates((n) => n + 1);
      },
      (next) => {
        setState(next);
        if (next.kind === "live") setMissing(false);
        else if (next.kind !== "connecting") setMissing(isServiceMissing(next.error));
      },
    );
    return stop;
  }, [instruments]);

  // Clear flashes after FLASH_MS.
  useEffect(() => {
    const timer = window.setInterval(() => setNow(Date.now()), 250);
    return () => window.clearInterval(timer);
  }, []);

  function add(event: Event): void {
    event.preventDefault();
    const [exchange, symbol] = adding.includes(":") ? adding.toUpperCase().split(":", 2) : ["NSE", adding.toUpperCase()];
    const value = common.Exchange[exchange as keyof typeof common.Exchange];
    if (!symbol.trim() || typeof value !== "number") return;
    const instrument = { symbol: symbol.trim(), exchange: value };
    if (!instruments.some((i) => keyOf(i) === keyOf(instrument))) setInstruments([...instruments, instrument]);
    setAdding("");
  }

  const stoppedError = state.kind === "stopped" ? readableError(state.error) : null;
  return (
    <section aria-labelledby="watch-title" data-testid="watchlist-screen">
      <div class="section-head">
        <h2 id="watch-title">Watchlist</h2>
        <StreamBadge state={state} updates={updates} />
      </div>
      {missing && rows.size === 0 && <Unavailable what="Market data" testid="marketdata-unavailable" />}
      {stoppedError && (
        <ErrorBanner
          error={stoppedError}
          extra={Object.entries(stoppedError.fields).map(([field, description]) => [field, description])}
        />
      )}
      <form class="filters" onSubmit={add} aria-label="Add to watchlist">
        <label>
          Add symbol
          <input value={adding} placeholder="ITC or NSE:ITC" onInput={(e) => setAdding(e.currentTarget.value)} />
        </label>
        <button type="submit">Add</button>
      </form>
      <div class="table-wrap">
        <table data-testid="watchlist-table">
          <caption class="sr-only">Live quotes</caption>
          <thead>
            <tr>
              <th scope="col">Instrument</th>
              <th scope="col" class="num">LTP</th>
              <th scope="col" class="num">Change</th>
              <th scope="col" class="num">Bid / Ask</th>
              <th scope="col" class="num">Day high / low</th>
              <th scope="col" class="num">Volume</th>
              <th scope="col">Updated</th>
              <th scope="col"><span class="sr-only">Remove</span></th>
            </tr>
          </thead>
          <tbody>
            {instruments.map((instrument) => {
              const row = rows.get(keyOf(instrument));
              const q = row?.quote;
              const flashing = row?.direction && Date.now() - row.changedAt < FLASH_MS;
              return (
                <tr key={keyOf(instrument)} data-testid="quote-row" data-symbol={instrument.symbol} data-sequence={q ? String(q.sequence) : ""}>
                  <td>
                    <strong>{instrument.symbol}</strong> <span class="muted">{exchangeName(instrument.exchange)}</span>
                    <AlertLink instrument={instrument} priceMicros={q?.lastPriceMicros} />
                    {q?.stale && <span class="badge" title="no tick for a while during the session">stale</span>}
                  </td>
                  <td class={`num ltp ${flashing ? `flash-${row.direction}` : ""}`} data-testid="ltp" aria-live="off">
                    {q ? formatPrice(q.lastPriceMicros) : "…"}
                  </td>
                  <td class={`num ${q && q.changeMicros > 0n ? "pos" : q && q.changeMicros < 0n ? "neg" : ""}`}>
                    {q ? `${formatPrice(q.changeMicros)} (${formatPercent(q.changePercent)})` : ""}
                  </td>
                  <td class="num">{q ? `${formatPrice(q.bidPriceMicros)} / ${formatPrice(q.askPriceMicros)}` : ""}</td>
                  <td class="num">{q ? `${formatPrice(q.highMicros)} / ${formatPrice(q.lowMicros)}` : ""}</td>
                  <td class="num">{q ? q.volume.toLocaleString("en-IN") : ""}</td>
                  <td>{q?.exchangeTime ? formatIst(timestampMs(q.exchangeTime)) : q?.receiveTime ? formatIst(timestampMs(q.receiveTime)) : ""}</td>
                  <td>
                    <button
                      type="button"
                      class="link"
                      aria-label={`Remove ${instrument.symbol}`}
                      onClick={() => setInstruments(instruments.filter((i) => keyOf(i) !== keyOf(instrument)))}
                      disabled={instruments.length === 1}
                    >
                      ✕
                    </button>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </section>
  );
}

export function StreamBadge({ state, updates }: { state: StreamState; updates?: number }): JSX.Element {
  const text =
    state.kind === "live"
      ? "Live"
      : state.kind === "connecting"
        ? "Connecting…"
        : state.kind === "retrying"
          ? `Reconnecting in ${state.inSeconds} s`
          : "Stopped";
  return (
    <span class={`stream-badge stream-badge--${state.kind}`} role="status" data-testid="stream-state" data-updates={updates}>
      <span class="dot" aria-hidden="true" /> {text}
    </span>
  );
}
