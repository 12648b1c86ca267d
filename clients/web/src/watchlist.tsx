// Watchlists kept on the server (market-data service): several named, ordered lists shown as tabs,
// created, renamed, deleted and reordered by drag (tabs and rows), surviving reloads. The selected list
// streams through SubscribeQuotes(watchlist_id) over grpc-web (a snapshot, then conflated batches); prices
// flash on change; the stream reconnects with backoff and is reopened when the list changes. Every change
// sends the etag read with the list: a change made meanwhile elsewhere (the CLI) is refused and reloaded.
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { marketdata } from "@trademesh/sdk";
import type { JSX } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { call, clients } from "./api";
import { isServiceMissing, readableError, type ReadableError } from "./errors";
import { formatIst, formatPercent, formatPrice } from "./format";
import { keepStreaming, type StreamState } from "./stream";
import { exchangeName } from "./trades";
import { ErrorBanner, Unavailable } from "./ui";
import { DEFAULT_INSTRUMENTS, DEFAULT_LIST_NAME, keyOf, moveItem, parseInstrument, type InstrumentRef } from "./watchlists";

const FLASH_MS = 800;

// The tab shown, kept across screen changes.
let selectedId = "";

interface Row {
  quote: marketdata.Quote;
  direction: "up" | "down" | null;
  changedAt: number;
}

type Watchlist = marketdata.Watchlist;

export function WatchlistScreen(): JSX.Element {
  const [lists, setLists] = useState<Watchlist[] | null>(null);
  const [selected, setSelected] = useState(selectedId);
  const [error, setError] = useState<ReadableError | null>(null);
  const [missing, setMissing] = useState(false);

  async function load(): Promise<void> {
    try {
      let found = (await call(() => clients.marketdata.listWatchlists({}))).watchlists;
      if (found.length === 0) {
        // A first visit: start the user with one list, stored like any other.
        const created = await call(() => clients.marketdata.createWatchlist({ watchlist: { name: DEFAULT_LIST_NAME, instruments: DEFAULT_INSTRUMENTS } }));
        found = created.watchlist ? [created.watchlist] : [];
      }
      setLists(found);
      setMissing(false);
      setSelected((current) => (found.some((w) => w.id === current) ? current : (found[0]?.id ?? "")));
    } catch (caught) {
      setMissing(isServiceMissing(caught));
      setError(readableError(caught));
    }
  }

  useEffect(() => void load(), []);
  useEffect(() => {
    selectedId = selected;
  }, [selected]);

  /** Run a change; on a stale etag reload the lists and say so. */
  async function change(run: () => Promise<void>): Promise<boolean> {
    try {
      await run();
      setError(null);
      return true;
    } catch (caught) {
      const readable = readableError(caught);
      if (ConnectError.from(caught).code === Code.Aborted) {
        setError({ ...readable, message: "This watchlist was changed elsewhere; it has been reloaded. Please try again." });
        await load();
      } else setError(readable);
      return false;
    }
  }

  const replaceList = (updated: Watchlist | undefined): void => {
    if (updated) setLists((current) => (current ?? []).map((w) => (w.id === updated.id ? updated : w)));
  };

  async function update(list: Watchlist, fields: { name?: string; instruments?: InstrumentRef[] }): Promise<boolean> {
    return change(async () => {
      const response = await call(() =>
        clients.marketdata.updateWatchlist({
          watchlist: { id: list.id, etag: list.etag, name: fields.name ?? "", instruments: fields.instruments ?? [] },
          updateMask: { paths: Object.keys(fields) },
        }),
      );
      replaceList(response.watchlist);
    });
  }

  async function reorder(from: number, to: number): Promise<void> {
    if (!lists) return;
    const ordered = moveItem(lists, from, to);
    setLists(ordered);
    await change(async () => {
      const response = await call(() => clients.marketdata.reorderWatchlists({ ids: ordered.map((w) => w.id) }));
      setLists(response.watchlists);
    });
  }

  async function create(name: string): Promise<boolean> {
    return change(async () => {
      const response = await call(() => clients.marketdata.createWatchlist({ watchlist: { name } }));
      const created = response.watchlist;
      if (!created) return;
      setLists((current) => [...(current ?? []), created]);
      setSelected(created.id);
    });
  }

  async function remove(list: Watchlist): Promise<void> {
    await change(async () => {
      await call(() => clients.marketdata.deleteWatchlist({ id: list.id, etag: list.etag }));
      const rest = (lists ?? []).filter((w) => w.id !== list.id);
      setLists(rest);
      setSelected(rest[0]?.id ?? "");
    });
  }

  const current = lists?.find((w) => w.id === selected);
  return (
    <section aria-labelledby="watch-title" data-testid="watchlist-screen">
      <div class="section-head">
        <h2 id="watch-title">Watchlists</h2>
      </div>
      {missing && !lists && <Unavailable what="Market data" testid="marketdata-unavailable" />}
      <ErrorBanner error={error} extra={error ? Object.entries(error.fields) : undefined} />
      {lists && (
        <ListTabs lists={lists} selected={selected} onSelect={setSelected} onMove={(from, to) => void reorder(from, to)} onCreate={create} />
      )}
      {current && (
        <ListPanel
          key={current.id}
          list={current}
          onMove={(delta) => {
            const from = (lists ?? []).findIndex((w) => w.id === current.id);
            void reorder(from, from + delta);
          }}
          position={(lists ?? []).findIndex((w) => w.id === current.id)}
          count={lists?.length ?? 0}
          onUpdate={(fields) => update(current, fields)}
          onDelete={() => void remove(current)}
          canDelete={(lists?.length ?? 0) > 1}
        />
      )}
    </section>
  );
}

interface ListTabsProps {
  lists: Watchlist[];
  selected: string;
  onSelect: (id: string) => void;
  onMove: (from: number, to: number) => void;
  onCreate: (name: string) => Promise<boolean>;
}

function ListTabs({ lists, selected, onSelect, onMove, onCreate }: ListTabsProps): JSX.Element {
  const dragged = useRef<number | null>(null);
  const [naming, setNaming] = useState("");
  return (
    <div class="watchlist-tabs">
      <div class="tabs" role="tablist" aria-label="Watchlists" data-testid="watchlist-tabs">
        {lists.map((list, index) => (
          <button
            key={list.id}
            type="button"
            role="tab"
            draggable
            aria-selected={list.id === selected}
            class={list.id === selected ? "tab tab--active" : "tab"}
            data-testid="watchlist-tab"
            data-name={list.name}
            title="Drag to reorder"
            onClick={() => onSelect(list.id)}
            onDragStart={(event) => {
              dragged.current = index;
              event.dataTransfer?.setData("text/plain", list.id);
            }}
            onDragOver={(event) => event.preventDefault()}
            onDrop={(event) => {
              event.preventDefault();
              if (dragged.current !== null) onMove(dragged.current, index);
              dragged.current = null;
            }}
          >
            {list.name} <span class="muted">{list.instruments.length}</span>
          </button>
        ))}
      </div>
      <form
        class="filters"
        aria-label="New watchlist"
        onSubmit={(event) => {
          event.preventDefault();
          if (naming.trim()) void onCreate(naming).then((ok) => ok && setNaming(""));
        }}
      >
        <label>
          New list
          <input value={naming} placeholder="Name" maxLength={64} onInput={(e) => setNaming(e.currentTarget.value)} />
        </label>
        <button type="submit">Create</button>
      </form>
    </div>
  );
}

interface ListPanelProps {
  list: Watchlist;
  /** Move this list by `delta` places among the user's lists (the keyboard's way to reorder). */
  onMove: (delta: number) => void;
  position: number;
  count: number;
  onUpdate: (fields: { name?: string; instruments?: InstrumentRef[] }) => Promise<boolean>;
  onDelete: () => void;
  canDelete: boolean;
}

function ListPanel({ list, onUpdate, onDelete, canDelete, onMove, position, count }: ListPanelProps): JSX.Element {
  const [rows, setRows] = useState<Map<string, Row>>(new Map());
  const [state, setState] = useState<StreamState>({ kind: "connecting" });
  const [adding, setAdding] = useState("");
  const [addError, setAddError] = useState("");
  const [renaming, setRenaming] = useState<string | null>(null);
  const [updates, setUpdates] = useState(0);
  const [, setNow] = useState(0);
  const rowsRef = useRef(rows);
  const dragged = useRef<number | null>(null);
  const instruments: InstrumentRef[] = list.instruments.map((i) => ({ symbol: i.symbol, exchange: i.exchange }));

  // The stored list streams by id; a changed list (new etag) reopens the stream.
  useEffect(() => {
    rowsRef.current = new Map();
    setRows(new Map());
    if (instruments.length === 0) {
      setState({ kind: "connecting" });
      return undefined;
    }
    return keepStreaming(
      (signal) => clients.marketdata.subscribeQuotes({ watchlistId: list.id, mode: marketdata.QuoteMode.QUOTE, maxUpdatesPerSecond: 2 }, { signal }),
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
      setState,
    );
  }, [list.id, list.etag]);

  // Clear flashes after FLASH_MS.
  useEffect(() => {
    const timer = window.setInterval(() => setNow(Date.now()), 250);
    return () => window.clearInterval(timer);
  }, []);

  function add(event: Event): void {
    event.preventDefault();
    const instrument = parseInstrument(adding);
    if (!instrument) {
      setAddError("Use SYMBOL (NSE) or EXCHANGE:SYMBOL");
      return;
    }
    setAddError("");
    if (instruments.some((i) => keyOf(i) === keyOf(instrument))) {
      setAdding("");
      return;
    }
    void onUpdate({ instruments: [...instruments, instrument] }).then((ok) => ok && setAdding(""));
  }

  const stoppedError = state.kind === "stopped" ? readableError(state.error) : null;
  return (
    <div data-testid="watchlist-panel" data-list={list.name}>
      <div class="section-head">
        {renaming === null ? (
          <h3 data-testid="watchlist-name">{list.name}</h3>
        ) : (
          <form
            class="filters"
            aria-label="Rename watchlist"
            onSubmit={(event) => {
              event.preventDefault();
              void onUpdate({ name: renaming }).then((ok) => ok && setRenaming(null));
            }}
          >
            <label>
              Name
              <input value={renaming} maxLength={64} onInput={(e) => setRenaming(e.currentTarget.value)} />
            </label>
            <button type="submit">Save name</button>
            <button type="button" class="link" onClick={() => setRenaming(null)}>
              Cancel
            </button>
          </form>
        )}
        {renaming === null && (
          <span>
            <button type="button" class="link" aria-label="Move list left" onClick={() => onMove(-1)} disabled={position <= 0}>
              ◀
            </button>{" "}
            <button type="button" class="link" aria-label="Move list right" onClick={() => onMove(1)} disabled={position >= count - 1}>
              ▶
            </button>{" "}
            <button type="button" class="link" onClick={() => setRenaming(list.name)}>
              Rename
            </button>{" "}
            <button type="button" class="link" onClick={onDelete} disabled={!canDelete}>
              Delete list
            </button>
          </span>
        )}
        {instruments.length > 0 && <StreamBadge state={state} updates={updates} />}
      </div>
      {stoppedError && <ErrorBanner error={stoppedError} extra={Object.entries(stoppedError.fields)} />}
      <form class="filters" onSubmit={add} aria-label="Add to watchlist">
        <label>
          Add symbol
          <input value={adding} placeholder="ITC or NSE:ITC" onInput={(e) => setAdding(e.currentTarget.value)} />
        </label>
        <button type="submit">Add</button>
        {addError && <span class="field-error">{addError}</span>}
      </form>
      {instruments.length === 0 ? (
        <p class="muted" data-testid="watchlist-empty">
          This list is empty: add a symbol above.
        </p>
      ) : (
        <div class="table-wrap">
          <table data-testid="watchlist-table">
            <caption class="sr-only">Live quotes of {list.name}; drag rows to reorder</caption>
            <thead>
              <tr>
                <th scope="col">Instrument</th>
                <th scope="col" class="num">LTP</th>
                <th scope="col" class="num">Change</th>
                <th scope="col" class="num">Bid / Ask</th>
                <th scope="col" class="num">Day high / low</th>
                <th scope="col" class="num">Volume</th>
                <th scope="col">Updated</th>
                <th scope="col"><span class="sr-only">Move or remove</span></th>
              </tr>
            </thead>
            <tbody>
              {instruments.map((instrument, index) => {
                const row = rows.get(keyOf(instrument));
                const q = row?.quote;
                const flashing = row?.direction && Date.now() - row.changedAt < FLASH_MS;
                return (
                  <tr
                    key={keyOf(instrument)}
                    draggable
                    data-testid="quote-row"
                    data-symbol={instrument.symbol}
                    data-sequence={q ? String(q.sequence) : ""}
                    onDragStart={() => (dragged.current = index)}
                    onDragOver={(event) => event.preventDefault()}
                    onDrop={(event) => {
                      event.preventDefault();
                      if (dragged.current !== null && dragged.current !== index) void onUpdate({ instruments: moveItem(instruments, dragged.current, index) });
                      dragged.current = null;
                    }}
                  >
                    <td>
                      <span class="drag-handle" aria-hidden="true">⠿</span> <strong>{instrument.symbol}</strong>{" "}
                      <span class="muted">{exchangeName(instrument.exchange)}</span>
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
                    <td class="row-actions">
                      <button
                        type="button"
                        class="link"
                        aria-label={`Move ${instrument.symbol} up`}
                        disabled={index === 0}
                        onClick={() => void onUpdate({ instruments: moveItem(instruments, index, index - 1) })}
                      >
                        ↑
                      </button>
                      <button
                        type="button"
                        class="link"
                        aria-label={`Move ${instrument.symbol} down`}
                        disabled={index === instruments.length - 1}
                        onClick={() => void onUpdate({ instruments: moveItem(instruments, index, index + 1) })}
                      >
                        ↓
                      </button>
                      <button
                        type="button"
                        class="link"
                        aria-label={`Remove ${instrument.symbol}`}
                        onClick={() => void onUpdate({ instruments: instruments.filter((i) => keyOf(i) !== keyOf(instrument)) })}
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
      )}
    </div>
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
