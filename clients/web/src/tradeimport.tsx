// CSV import (trademesh, Zerodha, Upstox, Fyers, ICICI Direct formats, or a saved column mapping) with a preview and
// per-row results.
import { trade } from "@trademesh/sdk";
import type { JSX } from "preact";
import { useEffect, useState } from "preact/hooks";
import { call, clients } from "./api";
import { MappingForm, PreviewTable } from "./csvmapping";
import { fieldError, otherFieldErrors, readableError, type ReadableError } from "./errors";
import { ErrorBanner, Field } from "./ui";

const FORMATS: [trade.ImportFormat, string][] = [
  [trade.ImportFormat.GENERIC_CSV, "trademesh CSV"],
  [trade.ImportFormat.ZERODHA_TRADEBOOK_CSV, "Zerodha tradebook"],
  [trade.ImportFormat.UPSTOX_TRADE_REPORT_CSV, "Upstox trade report"],
  [trade.ImportFormat.FYERS_TRADEBOOK_CSV, "Fyers tradebook"],
  [trade.ImportFormat.ICICI_DIRECT_TRADEBOOK_CSV, "ICICI Direct trade book"],
];

export function ImportPanel({ onImported }: { onImported: (message: string) => void }): JSX.Element {
  const [format, setFormat] = useState(trade.ImportFormat.GENERIC_CSV);
  const [mappings, setMappings] = useState<trade.SavedCsvMapping[]>([]);
  const [mappingId, setMappingId] = useState("");
  const [preview, setPreview] = useState<trade.PreviewImportResponse | null>(null);
  const [editing, setEditing] = useState(false);
  const refresh = (): Promise<void> =>
    call(() => clients.trade.listCsvMappings({}))
      .then((r) => setMappings(r.mappings))
      .catch(() => setMappings([]));
  useEffect(() => {
    void refresh();
  }, []);
  const [file, setFile] = useState<File | null>(null);
  const [dryRun, setDryRun] = useState(false);
  const [result, setResult] = useState<trade.ImportTradesResponse | null>(null);
  const [error, setError] = useState<ReadableError | null>(null);
  const [busy, setBusy] = useState(false);

  async function run(event: Event, previewOnly: boolean): Promise<void> {
    event.preventDefault();
    if (!file) return setError({ code: 3, message: "Choose a CSV file first.", reason: "", fields: {} });
    setBusy(true);
    setError(null);
    setResult(null);
    setPreview(null);
    try {
      const content = new Uint8Array(await file.arrayBuffer());
      if (previewOnly) {
        const source = mappingId ? { case: "mappingId" as const, value: mappingId } : { case: "format" as const, value: format };
        setPreview(await call(() => clients.trade.previewImport({ content, source }, { timeoutMs: 120_000 })));
        return;
      }
      const requestId = crypto.randomUUID();
      const response = await call(() =>
        clients.trade.importTrades(
          { requestId, format: mappingId ? trade.ImportFormat.UNSPECIFIED : format, mappingId, content, dryRun, fileName: file.name },
          { timeoutMs: 120_000 },
        ),
      );
      setResult(response);
      if (!response.dryRun && response.rowsCreated > 0n) onImported(`Imported ${response.rowsCreated} trade(s) from ${file.name}.`);
    } catch (caught) {
      setError(readableError(caught));
    } finally {
      setBusy(false);
    }
  }
  const submit = (event: Event): Promise<void> => run(event, false);
  const shown = result ?? preview;

  return (
    <details class="card import" data-testid="import-panel">
      <summary>
        <h3>Import a CSV</h3>
      </summary>
      <form onSubmit={submit} aria-label="Import trades" class="import-form">
        <Field label="Format" name="import-format" error={fieldError(error?.fields ?? {}, "format")}>
          {(p) => (
            <select
              {...p}
              value={mappingId ? `m:${mappingId}` : String(format)}
              onChange={(e) => {
                const value = e.currentTarget.value;
                if (value.startsWith("m:")) setMappingId(value.slice(2));
                else {
                  setMappingId("");
                  setFormat(Number(value));
                }
              }}
            >
              {FORMATS.map(([value, label]) => (
                <option key={value} value={String(value)}>
                  {label}
                </option>
              ))}
              {mappings.map((m) => (
                <option key={m.id} value={`m:${m.id}`}>
                  Mapping: {m.name}
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
        <button type="button" disabled={busy} onClick={(e) => void run(e, true)}>
          Preview
        </button>
      </form>
      <button type="button" class="mapping-toggle" aria-expanded={editing} onClick={() => setEditing(!editing)}>
        New column mapping (any broker's CSV)
      </button>
      {editing && (
        <MappingForm
          onSaved={(saved) => {
            setEditing(false);
            void refresh().then(() => setMappingId(saved.id));
          }}
        />
      )}
      <ErrorBanner error={error} extra={otherFieldErrors(error?.fields ?? {}, ["format", "content"])} />
      {preview && <PreviewTable rows={preview.rows} />}
      {shown && (
        <div data-testid="import-result">
          <p>
            {preview ? "Preview (nothing written): " : result?.dryRun ? "Dry run: " : ""}
            {String(shown.rowsTotal)} rows — <strong>{String(shown.rowsCreated)} {preview ? "would be created" : "created"}</strong>,{" "}
            {String(shown.rowsDuplicate)} duplicate, {String(shown.rowsFailed)} failed.
          </p>
          {shown.rowErrors.length > 0 && (
            <div class="table-wrap">
              <table>
                <caption>Row problems{shown.rowErrorsTruncated ? " (first 1,000)" : ""}</caption>
                <thead>
                  <tr>
                    <th scope="col" class="num">Row</th>
                    <th scope="col">Column</th>
                    <th scope="col">Value</th>
                    <th scope="col">Problem</th>
                  </tr>
                </thead>
                <tbody>
                  {shown.rowErrors.map((row, index) => (
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
