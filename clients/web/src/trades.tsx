// Trades: filtered, paged list; add / edit / delete (tradeform.tsx); CSV import with per-row results (tradeimport.tsx).
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { trade } from "@trademesh/sdk";
import type { JSX } from "preact";
import { useEffect, useState } from "preact/hooks";
import { call, clients } from "./api";
import { isServiceMissing, readableError, type ReadableError } from "./errors";
import { formatInr, formatIst, formatPrice, formatQuantity } from "./format";
import { ErrorBanner, Notice, Unavailable } from "./ui";
import { CATEGORIES, categoryName, exchangeName } from "./tradenames";
import { TradeForm } from "./tradeform";
import { ImportPanel } from "./tradeimport";

export { exchangeName } from "./tradenames";

const PAGE_SIZE = 20;

interface Filters {
  symbol: string;
  side: trade.Side;
  category: trade.TradeCategory;
  showDeleted: boolean;
}

const NO_FILTERS: Filters = { symbol: "", side: trade.Side.UNSPECIFIED, category: trade.TradeCategory.UNSPECIFIED, showDeleted: false };

export function TradesScreen(): JSX.Element {
  const [filters, setFilters] = useState<Filters>(NO_FILTERS);
  const [draftFilters, setDraftFilters] = useState<Filters>(NO_FILTERS);
  const [pageTokens, setPageTokens] = useState<string[]>([""]);
  const [trades, setTrades] = useState<trade.Trade[]>([]);
  const [nextToken, setNextToken] = useState("");
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<ReadableError | null>(null);
  const [missing, setMissing] = useState(false);
  const [editing, setEditing] = useState<trade.Trade | "new" | null>(null);
  const [confirmDelete, setConfirmDelete] = useState<string | null>(null);
  const [flash, setFlash] = useState<string | null>(null);
  const [reloadKey, setReloadKey] = useState(0);

  const pageToken = pageTokens[pageTokens.length - 1];

  useEffect(() => {
    let cancelled = false;
    setLoading(true);
    call(() =>
      clients.trade.listTrades({
        pageSize: PAGE_SIZE,
        pageToken,
        symbol: filters.symbol.trim(),
        side: filters.side,
        category: filters.category,
        showDeleted: filters.showDeleted,
      }),
    )
      .then((response) => {
        if (cancelled) return;
        setTrades(response.trades);
        setNextToken(response.nextPageToken);
        setError(null);
        setMissing(false);
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
  }, [filters, pageToken, reloadKey]);

  function reload(message?: string): void {
    setPageTokens([""]);
    setReloadKey((k) => k + 1);
    if (message) setFlash(message);
  }

  async function remove(item: trade.Trade): Promise<void> {
    setConfirmDelete(null);
    try {
      await call(() => clients.trade.deleteTrade({ id: item.id, etag: item.etag }));
      reload(`Deleted ${item.instrument?.symbol ?? "trade"}.`);
    } catch (caught) {
      setError(readableError(caught));
    }
  }

  async function restore(item: trade.Trade): Promise<void> {
    try {
      await call(() => clients.trade.undeleteTrade({ id: item.id, etag: item.etag }));
      reload(`Restored ${item.instrument?.symbol ?? "trade"}.`);
    } catch (caught) {
      setError(readableError(caught));
    }
  }

  if (missing) return <section aria-labelledby="trades-title"><h2 id="trades-title">Trades</h2><Unavailable what="The trade journal" /></section>;

  return (
    <section aria-labelledby="trades-title" data-testid="trades-screen">
      <div class="section-head">
        <h2 id="trades-title">Trades</h2>
        <button type="button" class="primary" onClick={() => setEditing("new")} data-testid="add-trade">
          Add trade
        </button>
      </div>
      {flash && <Notice kind="ok" testid="flash">{flash}</Notice>}
      {editing && (
        <TradeForm
          existing={editing === "new" ? null : editing}
          onDone={(message) => {
            setEditing(null);
            if (message) reload(message);
          }}
        />
      )}
      <form
        class="filters"
        aria-label="Filter trades"
        onSubmit={(event) => {
          event.preventDefault();
          setPageTokens([""]);
          setFilters(draftFilters);
        }}
      >
        <label>
          Symbol
          <input value={draftFilters.symbol} placeholder="e.g. INFY" onInput={(e) => setDraftFilters({ ...draftFilters, symbol: e.currentTarget.value })} />
        </label>
        <label>
          Side
          <select value={draftFilters.side} onChange={(e) => setDraftFilters({ ...draftFilters, side: Number(e.currentTarget.value) })}>
            <option value={trade.Side.UNSPECIFIED}>Any</option>
            <option value={trade.Side.BUY}>Buy</option>
            <option value={trade.Side.SELL}>Sell</option>
          </select>
        </label>
        <label>
          Category
          <select value={draftFilters.category} onChange={(e) => setDraftFilters({ ...draftFilters, category: Number(e.currentTarget.value) })}>
            <option value={trade.TradeCategory.UNSPECIFIED}>Any</option>
            {CATEGORIES.map((c) => (
              <option key={c} value={c}>
                {categoryName(c)}
              </option>
            ))}
          </select>
        </label>
        <label class="check">
          <input type="checkbox" checked={draftFilters.showDeleted} onChange={(e) => setDraftFilters({ ...draftFilters, showDeleted: e.currentTarget.checked })} />
          Show deleted
        </label>
        <button type="submit">Apply</button>
        <button
          type="button"
          class="link"
          onClick={() => {
            setDraftFilters(NO_FILTERS);
            setFilters(NO_FILTERS);
            setPageTokens([""]);
          }}
        >
          Clear
        </button>
      </form>
      <ErrorBanner error={error} />
      <div class="table-wrap">
        <table data-testid="trades-table" aria-busy={loading}>
          <caption class="sr-only">Your trades, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Time (IST)</th>
              <th scope="col">Instrument</th>
              <th scope="col">Side</th>
              <th scope="col" class="num">Quantity</th>
              <th scope="col" class="num">Price</th>
              <th scope="col" class="num">Value</th>
              <th scope="col" class="num">Fees</th>
              <th scope="col">Category</th>
              <th scope="col">Strategy / tags</th>
              <th scope="col"><span class="sr-only">Actions</span></th>
            </tr>
          </thead>
          <tbody>
            {trades.map((item) => (
              <tr key={item.id} data-testid="trade-row" data-symbol={item.instrument?.symbol} class={item.status === trade.TradeStatus.DELETED ? "deleted" : ""}>
                <td>{formatIst(item.tradeTime ? timestampMs(item.tradeTime) : undefined, false)}</td>
                <td>
                  <strong>{item.instrument?.symbol}</strong> <span class="muted">{exchangeName(item.instrument?.exchange ?? 0)}</span>
                  {item.status === trade.TradeStatus.DELETED && <span class="badge">deleted</span>}
                </td>
                <td class={item.side === trade.Side.BUY ? "buy" : "sell"}>{item.side === trade.Side.BUY ? "BUY" : "SELL"}</td>
                <td class="num">{formatQuantity(item.quantityMicros)}</td>
                <td class="num">{formatPrice(item.priceMicros)}</td>
                <td class="num">{formatInr(item.valueMicros)}</td>
                <td class="num">{formatInr(item.feesMicros)}</td>
                <td>
                  {categoryName(item.category)}
                  {item.categoryInferred && <span class="muted" title="inferred by the server"> (auto)</span>}
                </td>
                <td>
                  {item.strategy}
                  {item.tags.map((tag) => (
                    <span key={tag} class="tag">
                      {tag}
                    </span>
                  ))}
                </td>
                <td class="actions">
                  {item.status === trade.TradeStatus.DELETED ? (
                    <button type="button" class="link" onClick={() => void restore(item)}>
                      Restore
                    </button>
                  ) : confirmDelete === item.id ? (
                    <>
                      <button type="button" class="danger" onClick={() => void remove(item)} aria-label={`Confirm deleting ${item.instrument?.symbol}`}>
                        Confirm
                      </button>
                      <button type="button" class="link" onClick={() => setConfirmDelete(null)}>
                        Cancel
                      </button>
                    </>
                  ) : (
                    <>
                      <a href={`#/trades/${encodeURIComponent(item.id)}`} data-testid="trade-chart-link" aria-label={`Chart of the ${item.instrument?.symbol} round trip`}>
                        Chart
                      </a>{" "}
                      <button type="button" class="link" onClick={() => setEditing(item)} aria-label={`Edit ${item.instrument?.symbol} trade`}>
                        Edit
                      </button>
                      <button type="button" class="link danger-text" onClick={() => setConfirmDelete(item.id)} aria-label={`Delete ${item.instrument?.symbol} trade`}>
                        Delete
                      </button>
                    </>
                  )}
                </td>
              </tr>
            ))}
            {!loading && trades.length === 0 && !error && (
              <tr>
                <td colSpan={10} class="empty">
                  No trades yet. Add one, or import a CSV from your broker.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      <nav class="pager" aria-label="Pages">
        <button type="button" disabled={pageTokens.length <= 1} onClick={() => setPageTokens(pageTokens.slice(0, -1))}>
          ← Newer
        </button>
        <span>Page {pageTokens.length}</span>
        <button type="button" disabled={!nextToken} onClick={() => setPageTokens([...pageTokens, nextToken])}>
          Older →
        </button>
      </nav>
      <ImportPanel onImported={(message) => reload(message)} />
    </section>
  );
}
