// Trades: filtered, paged list; add / edit / delete; CSV import with per-row results.
import { create } from "@bufbuild/protobuf";
import { FieldMaskSchema, timestampDate, timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { common, trade } from "@trademesh/sdk";
import type { JSX } from "preact";
import { useEffect, useState } from "preact/hooks";
import { call, clients } from "./api";
import { fieldError, isServiceMissing, otherFieldErrors, readableError, type ReadableError } from "./errors";
import { enumLabel, epochMsToIstInput, formatInr, formatIst, formatPrice, formatQuantity, istInputToEpochMs, microsToDecimal, parseDecimalMicros } from "./format";
import { ErrorBanner, Field, Notice, Unavailable } from "./ui";

const PAGE_SIZE = 20;
const EXCHANGES = [common.Exchange.NSE, common.Exchange.BSE, common.Exchange.NFO, common.Exchange.BFO, common.Exchange.MCX, common.Exchange.CDS, common.Exchange.BCD];
const CATEGORIES = [trade.TradeCategory.INTRADAY, trade.TradeCategory.SWING, trade.TradeCategory.LONG_TERM];

export const exchangeName = (value: common.Exchange): string => common.Exchange[value] ?? "?";
const categoryName = (value: trade.TradeCategory): string => enumLabel(trade.TradeCategory[value], "");

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

interface FormState {
  symbol: string;
  exchange: common.Exchange;
  side: trade.Side;
  quantity: string;
  price: string;
  tradeTime: string;
  fees: string;
  category: trade.TradeCategory;
  strategy: string;
  tags: string;
  notes: string;
}

function stateOf(item: trade.Trade | null): FormState {
  if (!item) {
    return {
      symbol: "",
      exchange: common.Exchange.NSE,
      side: trade.Side.BUY,
      quantity: "",
      price: "",
      tradeTime: epochMsToIstInput(Date.now()),
      fees: "0",
      category: trade.TradeCategory.UNSPECIFIED,
      strategy: "",
      tags: "",
      notes: "",
    };
  }
  return {
    symbol: item.instrument?.symbol ?? "",
    exchange: item.instrument?.exchange ?? common.Exchange.NSE,
    side: item.side,
    quantity: microsToDecimal(item.quantityMicros, 0),
    price: microsToDecimal(item.priceMicros),
    tradeTime: item.tradeTime ? epochMsToIstInput(timestampDate(item.tradeTime).getTime()) : "",
    fees: microsToDecimal(item.feesMicros),
    category: item.categoryInferred ? trade.TradeCategory.UNSPECIFIED : item.category,
    strategy: item.strategy,
    tags: item.tags.join(", "),
    notes: item.notes,
  };
}

/** Form fields → the proto field paths whose violations they show. */
const FORM_PATHS: Record<keyof FormState, string[]> = {
  symbol: ["trade.instrument.symbol", "trade.instrument"],
  exchange: ["trade.instrument.exchange", "trade.segment"],
  side: ["trade.side"],
  quantity: ["trade.quantity_micros"],
  price: ["trade.price_micros"],
  tradeTime: ["trade.trade_time"],
  fees: ["trade.fees_micros", "trade.fee_breakdown"],
  category: ["trade.category"],
  strategy: ["trade.strategy"],
  tags: ["trade.tags"],
  notes: ["trade.notes"],
};

/** Broker-owned fields (not editable on broker-sourced trades) and journal fields, by update_mask path. */
const MASK_PATHS: Record<keyof FormState, string> = {
  symbol: "instrument",
  exchange: "instrument",
  side: "side",
  quantity: "quantity_micros",
  price: "price_micros",
  tradeTime: "trade_time",
  fees: "fees_micros",
  category: "category",
  strategy: "strategy",
  tags: "tags",
  notes: "notes",
};

function TradeForm({ existing, onDone }: { existing: trade.Trade | null; onDone: (message?: string) => void }): JSX.Element {
  const [state, setState] = useState<FormState>(() => stateOf(existing));
  const [requestId] = useState(() => crypto.randomUUID());
  const [error, setError] = useState<ReadableError | null>(null);
  const [local, setLocal] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);
  const set = <K extends keyof FormState>(key: K, value: FormState[K]): void => setState({ ...state, [key]: value });

  function build(): { value: trade.Trade; problems: Record<string, string> } {
    const problems: Record<string, string> = {};
    const quantity = parseDecimalMicros(state.quantity);
    const price = parseDecimalMicros(state.price);
    const fees = parseDecimalMicros(state.fees || "0");
    const when = istInputToEpochMs(state.tradeTime);
    if (quantity === null) problems["trade.quantity_micros"] = "enter a number with at most 6 decimals";
    if (price === null) problems["trade.price_micros"] = "enter a price in rupees with at most 6 decimals";
    if (fees === null) problems["trade.fees_micros"] = "enter fees in rupees with at most 6 decimals";
    if (when === null) problems["trade.trade_time"] = "enter a date and time";
    const value = create(trade.TradeSchema, {
      id: existing?.id ?? "",
      instrument: { symbol: state.symbol.trim().toUpperCase(), exchange: state.exchange },
      side: state.side,
      quantityMicros: quantity ?? 0n,
      priceMicros: price ?? 0n,
      feesMicros: fees ?? 0n,
      tradeTime: when === null ? undefined : timestampFromMs(when),
      category: state.category,
      strategy: state.strategy.trim(),
      tags: state.tags
        .split(",")
        .map((tag) => tag.trim())
        .filter(Boolean),
      notes: state.notes,
      derivative: existing?.derivative,
      segment: existing ? existing.segment : trade.Segment.UNSPECIFIED,
    });
    return { value, problems };
  }

  async function submit(event: Event): Promise<void> {
    event.preventDefault();
    const { value, problems } = build();
    setLocal(problems);
    setError(null);
    if (Object.keys(problems).length) return;
    setBusy(true);
    try {
      if (existing) {
        const before = stateOf(existing);
        const paths = [...new Set((Object.keys(state) as (keyof FormState)[]).filter((key) => state[key] !== before[key]).map((key) => MASK_PATHS[key]))];
        if (paths.length === 0) return onDone();
        await call(() => clients.trade.updateTrade({ trade: value, updateMask: create(FieldMaskSchema, { paths }), etag: existing.etag }));
        onDone(`Updated ${value.instrument?.symbol}.`);
      } else {
        const response = await call(() => clients.trade.createTrade({ requestId, trade: value }));
        onDone(`Added ${response.trade?.side === trade.Side.SELL ? "sell" : "buy"} of ${response.trade?.instrument?.symbol}.`);
      }
    } catch (caught) {
      setError(readableError(caught));
    } finally {
      setBusy(false);
    }
  }

  const fields = { ...(error?.fields ?? {}), ...local };
  const err = (key: keyof FormState): string | undefined => fieldError(fields, ...FORM_PATHS[key]);
  const known = Object.values(FORM_PATHS).flat();
  return (
    <form class="card trade-form" onSubmit={submit} noValidate aria-label={existing ? "Edit trade" : "Add trade"} data-testid="trade-form">
      <h3>{existing ? `Edit ${existing.instrument?.symbol}` : "Add a trade"}</h3>
      <div class="grid">
        <Field label="Symbol" name="symbol" error={err("symbol")}>
          {(p) => <input {...p} value={state.symbol} placeholder="INFY" autocapitalize="characters" onInput={(e) => set("symbol", e.currentTarget.value)} />}
        </Field>
        <Field label="Exchange" name="exchange" error={err("exchange")}>
          {(p) => (
            <select {...p} value={state.exchange} onChange={(e) => set("exchange", Number(e.currentTarget.value))}>
              {EXCHANGES.map((x) => (
                <option key={x} value={x}>
                  {exchangeName(x)}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field label="Side" name="side" error={err("side")}>
          {(p) => (
            <select {...p} value={state.side} onChange={(e) => set("side", Number(e.currentTarget.value))}>
              <option value={trade.Side.BUY}>Buy</option>
              <option value={trade.Side.SELL}>Sell</option>
            </select>
          )}
        </Field>
        <Field label="Quantity" name="quantity" error={err("quantity")} hint="units (shares); up to 6 decimals">
          {(p) => <input {...p} inputMode="decimal" value={state.quantity} onInput={(e) => set("quantity", e.currentTarget.value)} />}
        </Field>
        <Field label="Price (₹)" name="price" error={err("price")}>
          {(p) => <input {...p} inputMode="decimal" value={state.price} onInput={(e) => set("price", e.currentTarget.value)} />}
        </Field>
        <Field label="Trade time (IST)" name="tradeTime" error={err("tradeTime")}>
          {(p) => <input {...p} type="datetime-local" value={state.tradeTime} onInput={(e) => set("tradeTime", e.currentTarget.value)} />}
        </Field>
        <Field label="Fees (₹)" name="fees" error={err("fees")}>
          {(p) => <input {...p} inputMode="decimal" value={state.fees} onInput={(e) => set("fees", e.currentTarget.value)} />}
        </Field>
        <Field label="Category" name="category" error={err("category")}>
          {(p) => (
            <select {...p} value={state.category} onChange={(e) => set("category", Number(e.currentTarget.value))}>
              <option value={trade.TradeCategory.UNSPECIFIED}>Automatic</option>
              {CATEGORIES.map((c) => (
                <option key={c} value={c}>
                  {categoryName(c)}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field label="Strategy" name="strategy" error={err("strategy")}>
          {(p) => <input {...p} value={state.strategy} onInput={(e) => set("strategy", e.currentTarget.value)} />}
        </Field>
        <Field label="Tags" name="tags" error={err("tags")} hint="comma-separated">
          {(p) => <input {...p} value={state.tags} onInput={(e) => set("tags", e.currentTarget.value)} />}
        </Field>
      </div>
      <Field label="Notes" name="notes" error={err("notes")}>
        {(p) => <textarea {...p} rows={2} value={state.notes} onInput={(e) => set("notes", e.currentTarget.value)} />}
      </Field>
      <ErrorBanner error={error} extra={otherFieldErrors(error?.fields ?? {}, known)} />
      <div class="form-actions">
        <button type="submit" class="primary" disabled={busy}>
          {busy ? "Saving…" : existing ? "Save changes" : "Add trade"}
        </button>
        <button type="button" class="link" onClick={() => onDone()}>
          Cancel
        </button>
      </div>
    </form>
  );
}

const FORMATS: [trade.ImportFormat, string][] = [
  [trade.ImportFormat.GENERIC_CSV, "trademesh CSV"],
  [trade.ImportFormat.ZERODHA_TRADEBOOK_CSV, "Zerodha tradebook"],
  [trade.ImportFormat.UPSTOX_TRADE_REPORT_CSV, "Upstox trade report"],
];

function ImportPanel({ onImported }: { onImported: (message: string) => void }): JSX.Element {
  const [format, setFormat] = useState(trade.ImportFormat.GENERIC_CSV);
  const [file, setFile] = useState<File | null>(null);
  const [dryRun, setDryRun] = useState(false);
  const [result, setResult] = useState<trade.ImportTradesResponse | null>(null);
  const [error, setError] = useState<ReadableError | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: Event): Promise<void> {
    event.preventDefault();
    if (!file) return setError({ code: 3, message: "Choose a CSV file first.", reason: "", fields: {} });
    setBusy(true);
    setError(null);
    setResult(null);
    try {
      const content = new Uint8Array(await file.arrayBuffer());
      const requestId = crypto.randomUUID();
      const response = await call(() =>
        clients.trade.importTrades({ requestId, format, content, dryRun, fileName: file.name }, { timeoutMs: 120_000 }),
      );
      setResult(response);
      if (!response.dryRun && response.rowsCreated > 0n) onImported(`Imported ${response.rowsCreated} trade(s) from ${file.name}.`);
    } catch (caught) {
      setError(readableError(caught));
    } finally {
      setBusy(false);
    }
  }

  return (
    <details class="card import" data-testid="import-panel">
      <summary>
        <h3>Import a CSV</h3>
      </summary>
      <form onSubmit={submit} aria-label="Import trades" class="import-form">
        <Field label="Format" name="import-format" error={fieldError(error?.fields ?? {}, "format")}>
          {(p) => (
            <select {...p} value={format} onChange={(e) => setFormat(Number(e.currentTarget.value))}>
              {FORMATS.map(([value, label]) => (
                <option key={value} value={value}>
                  {label}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field label="File" name="import-file" error={fieldError(error?.fields ?? {}, "content")}>
          {(p) => <input {...p} type="file" accept=".csv,text/csv" onChange={(e) => setFile(e.currentTarget.files?.[0] ?? null)} />}
        </Field>
        <label class="check">
          <input type="checkbox" checked={dryRun} onChange={(e) => setDryRun(e.currentTarget.checked)} /> Dry run (check only, create nothing)
        </label>
        <button type="submit" class="primary" disabled={busy}>
          {busy ? "Importing…" : "Import"}
        </button>
      </form>
      <ErrorBanner error={error} extra={otherFieldErrors(error?.fields ?? {}, ["format", "content"])} />
      {result && (
        <div data-testid="import-result">
          <p>
            {result.dryRun ? "Dry run: " : ""}
            {String(result.rowsTotal)} rows — <strong>{String(result.rowsCreated)} created</strong>, {String(result.rowsDuplicate)} duplicate,{" "}
            {String(result.rowsFailed)} failed.
          </p>
          {result.rowErrors.length > 0 && (
            <div class="table-wrap">
              <table>
                <caption>Row problems{result.rowErrorsTruncated ? " (first 1,000)" : ""}</caption>
                <thead>
                  <tr>
                    <th scope="col" class="num">Row</th>
                    <th scope="col">Column</th>
                    <th scope="col">Value</th>
                    <th scope="col">Problem</th>
                  </tr>
                </thead>
                <tbody>
                  {result.rowErrors.map((row, index) => (
                    <tr key={index}>
                      <td class="num">{String(row.rowNumber)}</td>
                      <td>{row.column || "—"}</td>
                      <td>
                        <code>{row.value}</code>
                      </td>
                      <td>
                        {row.message} <span class="muted">({row.reason})</span>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </div>
      )}
    </details>
  );
}
