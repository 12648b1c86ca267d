// Saved CSV mappings (docs/decisions/0240): a form that names a broker file's columns, time format, side words,
// timezone and header row, saved per user; and the preview table of a file's first rows as they would import.
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { trade } from "@trademesh/sdk";
import type { JSX } from "preact";
import { useState } from "preact/hooks";
import { call, clients } from "./api";
import { fieldError, otherFieldErrors, readableError, type ReadableError } from "./errors";
import { enumLabel, formatIst, formatPrice, formatQuantity } from "./format";
import { ErrorBanner, Field } from "./ui";

const COLUMNS: [keyof Omit<trade.CsvColumns, "$typeName" | "$unknown">, string][] = [
  ["symbol", "Column for symbol"],
  ["exchange", "Column for exchange"],
  ["side", "Column for side"],
  ["quantity", "Column for quantity"],
  ["price", "Column for price"],
  ["tradeTime", "Column for date and time"],
  ["tradeDate", "Column for date (when time is apart)"],
  ["timeOfDay", "Column for time of day"],
  ["fees", "Column for fees"],
  ["tradeId", "Column for trade id"],
  ["orderId", "Column for order id"],
];
const SNAKE: Record<string, string> = { tradeTime: "trade_time", tradeDate: "trade_date", timeOfDay: "time_of_day", tradeId: "trade_id", orderId: "order_id" };

const words = (text: string): string[] =>
  text
    .split(",")
    .map((w) => w.trim())
    .filter(Boolean);

export function MappingForm({ onSaved }: { onSaved: (saved: trade.SavedCsvMapping) => void }): JSX.Element {
  const [name, setName] = useState("");
  const [columns, setColumns] = useState<Record<string, string>>({});
  const [timeFormat, setTimeFormat] = useState("");
  const [buy, setBuy] = useState("");
  const [sell, setSell] = useState("");
  const [timezone, setTimezone] = useState("Asia/Kolkata");
  const [headerRow, setHeaderRow] = useState("1");
  const [error, setError] = useState<ReadableError | null>(null);

  async function save(event: Event): Promise<void> {
    event.preventDefault();
    setError(null);
    try {
      const response = await call(() =>
        clients.trade.saveCsvMapping({
          name,
          mapping: {
            columns,
            timeFormat,
            buyValues: words(buy),
            sellValues: words(sell),
            timezone,
            headerRow: Number(headerRow) || 0,
          },
        }),
      );
      if (response.mapping) onSaved(response.mapping);
    } catch (caught) {
      setError(readableError(caught));
    }
  }

  const fields = error?.fields ?? {};
  const known = ["name", "mapping.time_format", "mapping.timezone", "mapping.buy_values", "mapping.sell_values", "mapping.header_row"];
  const columnError = (key: string): string | undefined => fieldError(fields, `mapping.columns.${SNAKE[key] ?? key}`);
  return (
    <form onSubmit={save} aria-label="New CSV mapping" class="import-form" data-testid="mapping-form">
      <Field label="Mapping name" name="mapping-name" error={fieldError(fields, "name")}>
        {(p) => <input {...p} value={name} onInput={(e) => setName(e.currentTarget.value)} />}
      </Field>
      {COLUMNS.map(([key, label]) => (
        <Field key={key} label={label} name={`mapping-${key}`} error={columnError(key)}>
          {(p) => <input {...p} value={columns[key] ?? ""} onInput={(e) => setColumns({ ...columns, [key]: e.currentTarget.value })} />}
        </Field>
      ))}
      <Field label="Time format" name="mapping-time-format" hint="strptime, e.g. %d/%m/%Y %H:%M:%S" error={fieldError(fields, "mapping.time_format")}>
        {(p) => <input {...p} value={timeFormat} onInput={(e) => setTimeFormat(e.currentTarget.value)} />}
      </Field>
      <Field label="Buy words" name="mapping-buy" hint="comma-separated; default BUY, B" error={fieldError(fields, "mapping.buy_values")}>
        {(p) => <input {...p} value={buy} onInput={(e) => setBuy(e.currentTarget.value)} />}
      </Field>
      <Field label="Sell words" name="mapping-sell" hint="comma-separated; default SELL, S" error={fieldError(fields, "mapping.sell_values")}>
        {(p) => <input {...p} value={sell} onInput={(e) => setSell(e.currentTarget.value)} />}
      </Field>
      <Field label="Timezone" name="mapping-timezone" error={fieldError(fields, "mapping.timezone")}>
        {(p) => <input {...p} value={timezone} onInput={(e) => setTimezone(e.currentTarget.value)} />}
      </Field>
      <Field label="Header row" name="mapping-header-row" error={fieldError(fields, "mapping.header_row")}>
        {(p) => <input {...p} type="number" min="1" value={headerRow} onInput={(e) => setHeaderRow(e.currentTarget.value)} />}
      </Field>
      <button type="submit">Save mapping</button>
      <ErrorBanner error={error} extra={otherFieldErrors(fields, [...known, ...COLUMNS.map(([k]) => `mapping.columns.${SNAKE[k] ?? k}`)])} />
    </form>
  );
}

export function PreviewTable({ rows }: { rows: trade.PreviewRow[] }): JSX.Element {
  return (
    <div class="table-wrap" data-testid="import-preview">
      <table>
        <caption>First rows as they would be imported</caption>
        <thead>
          <tr>
            <th scope="col" class="num">Row</th>
            <th scope="col">Time (IST)</th>
            <th scope="col">Side</th>
            <th scope="col">Symbol</th>
            <th scope="col" class="num">Qty</th>
            <th scope="col" class="num">Price</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => {
            const t = row.trade;
            return (
              <tr key={String(row.rowNumber)} data-testid="preview-row">
                <td class="num">{String(row.rowNumber)}</td>
                {t ? (
                  <>
                    <td>{formatIst(t.tradeTime ? timestampMs(t.tradeTime) : undefined)}</td>
                    <td>{enumLabel(trade.Side[t.side], "")}</td>
                    <td>{t.instrument?.symbol}</td>
                    <td class="num">{formatQuantity(t.quantityMicros)}</td>
                    <td class="num">{formatPrice(t.priceMicros)}</td>
                  </>
                ) : (
                  <td colSpan={5} class="muted">
                    has problems (below)
                  </td>
                )}
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
