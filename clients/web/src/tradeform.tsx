// The add / edit form of one trade: its fields, the update mask of an edit, per-field errors.
import { create } from "@bufbuild/protobuf";
import { FieldMaskSchema, timestampDate, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { common, trade } from "@trademesh/sdk";
import type { JSX } from "preact";
import { useState } from "preact/hooks";
import { call, clients } from "./api";
import { fieldError, otherFieldErrors, readableError, type ReadableError } from "./errors";
import { epochMsToIstInput, istInputToEpochMs, microsToDecimal, parseDecimalMicros } from "./format";
import { ErrorBanner, Field } from "./ui";
import { CATEGORIES, EXCHANGES, categoryName, exchangeName } from "./tradenames";

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
  stop: string;
  target: string;
  risk: string;
}

/** A plan price or amount in rupees for the form: empty when unset (0). */
function planText(micros: bigint): string {
  return micros > 0n ? microsToDecimal(micros) : "";
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
      stop: "",
      target: "",
      risk: "",
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
    stop: planText(item.stopLossPriceMicros),
    target: planText(item.targetPriceMicros),
    risk: planText(item.plannedRiskMicros),
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
  stop: ["trade.stop_loss_price_micros"],
  target: ["trade.target_price_micros"],
  risk: ["trade.planned_risk_micros"],
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
  stop: "stop_loss_price_micros",
  target: "target_price_micros",
  risk: "planned_risk_micros",
};

export function TradeForm({ existing, onDone }: { existing: trade.Trade | null; onDone: (message?: string) => void }): JSX.Element {
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
    // The plan (decision 0230): optional, empty means none.
    const stop = parseDecimalMicros(state.stop || "0");
    const target = parseDecimalMicros(state.target || "0");
    const risk = parseDecimalMicros(state.risk || "0");
    if (stop === null) problems["trade.stop_loss_price_micros"] = "enter a stop-loss price in rupees, or leave it empty";
    if (target === null) problems["trade.target_price_micros"] = "enter a target price in rupees, or leave it empty";
    if (risk === null) problems["trade.planned_risk_micros"] = "enter the rupees you plan to risk, or leave it empty";
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
      stopLossPriceMicros: stop ?? 0n,
      targetPriceMicros: target ?? 0n,
      plannedRiskMicros: risk ?? 0n,
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
        <Field label="Stop-loss (₹)" name="stop" error={err("stop")} hint="optional; below a buy, above a sell">
          {(p) => <input {...p} inputMode="decimal" value={state.stop} onInput={(e) => set("stop", e.currentTarget.value)} />}
        </Field>
        <Field label="Target (₹)" name="target" error={err("target")} hint="optional">
          {(p) => <input {...p} inputMode="decimal" value={state.target} onInput={(e) => set("target", e.currentTarget.value)} />}
        </Field>
        <Field label="Planned risk (₹)" name="risk" error={err("risk")} hint="optional 1R; default |price − stop| × quantity">
          {(p) => <input {...p} inputMode="decimal" value={state.risk} onInput={(e) => set("risk", e.currentTarget.value)} />}
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
