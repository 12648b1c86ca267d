// Positions: FIFO per instrument, computed by the trade service from the caller's active trades.
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { trade } from "@trademesh/sdk";
import type { JSX } from "preact";
import { useEffect, useState } from "preact/hooks";
import { AlertLink } from "./alerts";
import { call, clients } from "./api";
import { isServiceMissing, readableError, type ReadableError } from "./errors";
import { formatIst, formatPrice, formatQuantity } from "./format";
import { lotsText } from "./lots";
import { exchangeName } from "./trades";
import { ErrorBanner, Money, Unavailable } from "./ui";

export function PositionsScreen(): JSX.Element {
  const [status, setStatus] = useState(trade.PositionStatus.OPEN);
  const [tokens, setTokens] = useState<string[]>([""]);
  const [positions, setPositions] = useState<trade.Position[]>([]);
  const [next, setNext] = useState("");
  const [error, setError] = useState<ReadableError | null>(null);
  const [missing, setMissing] = useState(false);
  const [loading, setLoading] = useState(true);

  useEffect(() => {
    let cancelled = false;
    setLoading(true);
    call(() => clients.trade.listPositions({ status, pageSize: 50, pageToken: tokens[tokens.length - 1] }))
      .then((response) => {
        if (cancelled) return;
        setPositions(response.positions);
        setNext(response.nextPageToken);
        setError(null);
      })
      .catch((caught: unknown) => {
        if (cancelled) return;
        setMissing(isServiceMissing(caught));
        setError(readableError(caught));
      })
      .finally(() => !cancelled && setLoading(false));
    return () => {
      cancelled = true;
    };
  }, [status, tokens]);

  if (missing) return <section aria-labelledby="positions-title"><h2 id="positions-title">Positions</h2><Unavailable what="Positions" /></section>;

  return (
    <section aria-labelledby="positions-title" data-testid="positions-screen">
      <div class="section-head">
        <h2 id="positions-title">Positions</h2>
        <label>
          Show{" "}
          <select
            value={status}
            onChange={(e) => {
              setStatus(Number(e.currentTarget.value));
              setTokens([""]);
            }}
          >
            <option value={trade.PositionStatus.OPEN}>Open</option>
            <option value={trade.PositionStatus.CLOSED}>Closed</option>
            <option value={trade.PositionStatus.UNSPECIFIED}>All</option>
          </select>
        </label>
      </div>
      <ErrorBanner error={error} />
      <div class="table-wrap">
        <table data-testid="positions-table" aria-busy={loading}>
          <caption class="sr-only">Positions, most recently traded first</caption>
          <thead>
            <tr>
              <th scope="col">Instrument</th>
              <th scope="col" class="num">Net qty</th>
              <th scope="col" class="num">Lot size</th>
              <th scope="col" class="num">Avg open price</th>
              <th scope="col" class="num">Open value</th>
              <th scope="col" class="num">Realized P&amp;L</th>
              <th scope="col" class="num">Fees</th>
              <th scope="col" class="num">Trades</th>
              <th scope="col">Last trade</th>
            </tr>
          </thead>
          <tbody>
            {positions.map((p) => (
              <tr key={`${p.instrument?.exchange}:${p.instrument?.symbol}`} data-testid="position-row" data-symbol={p.instrument?.symbol}>
                <td>
                  <strong>{p.instrument?.symbol}</strong> <span class="muted">{exchangeName(p.instrument?.exchange ?? 0)}</span>
                  <AlertLink instrument={p.instrument} priceMicros={p.averageOpenPriceMicros} />
                </td>
                <td class={`num ${p.netQuantityMicros < 0n ? "sell" : ""}`}>{formatQuantity(p.netQuantityMicros)}</td>
                <td class="num" data-testid="position-lot-size">{lotsText(p.netQuantityMicros, p.lotSize)}</td>
                <td class="num">{p.averageOpenPriceMicros ? formatPrice(p.averageOpenPriceMicros) : "—"}</td>
                <td class="num"><Money micros={p.openValueMicros} /></td>
                <td class="num" data-testid="position-realized"><Money micros={p.realizedPnlMicros} signed /></td>
                <td class="num"><Money micros={p.totalFeesMicros} /></td>
                <td class="num">{String(p.tradeCount)}</td>
                <td>{formatIst(p.lastTradeTime ? timestampMs(p.lastTradeTime) : undefined, false)}</td>
              </tr>
            ))}
            {!loading && positions.length === 0 && !error && (
              <tr>
                <td colSpan={9} class="empty">No {status === trade.PositionStatus.CLOSED ? "closed" : status === trade.PositionStatus.OPEN ? "open" : ""} positions.</td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      <nav class="pager" aria-label="Pages">
        <button type="button" disabled={tokens.length <= 1} onClick={() => setTokens(tokens.slice(0, -1))}>← Previous</button>
        <span>Page {tokens.length}</span>
        <button type="button" disabled={!next} onClick={() => setTokens([...tokens, next])}>Next →</button>
      </nav>
    </section>
  );
}
