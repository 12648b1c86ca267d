// CSV import (trademesh, Zerodha, Upstox formats) with per-row results.
import { trade } from "@trademesh/sdk";
import type { JSX } from "preact";
import { useState } from "preact/hooks";
import { call, clients } from "./api";
import { fieldError, otherFieldErrors, readableError, type ReadableError } from "./errors";
import { ErrorBanner, Field } from "./ui";

const FORMATS: [trade.ImportFormat, string][] = [
  [trade.ImportFormat.GENERIC_CSV, "trademesh CSV"],
  [trade.ImportFormat.ZERODHA_TRADEBOOK_CSV, "Zerodha tradebook"],
  [trade.ImportFormat.UPSTOX_TRADE_REPORT_CSV, "Upstox trade report"],
];

export function ImportPanel({ onImported }: { onImported: (message: string) => void }): JSX.Element {
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
