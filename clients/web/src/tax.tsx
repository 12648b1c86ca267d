// Tax (GetTaxReport): income by head for an Indian financial year, net of recorded charges, with ICAI
// turnover, and a CSV of every lot. A statement of figures with its rules cited, not tax advice.
import { analytics } from "@trademesh/sdk";
import type { JSX } from "preact";
import { useEffect, useState } from "preact/hooks";
import { call, clients } from "./api";
import { readableError, type ReadableError } from "./errors";
import { financialYears, taxCsv } from "./taxcsv";
import { ErrorBanner, Money } from "./ui";

const HEAD_LABELS: Record<number, string> = {
  [analytics.TaxHead.SPECULATIVE_BUSINESS]: "Speculative business (intraday equity)",
  [analytics.TaxHead.NON_SPECULATIVE_BUSINESS]: "Non-speculative business (F&O)",
  [analytics.TaxHead.SHORT_TERM_CAPITAL_GAINS]: "Short-term capital gains (≤ 12 months)",
  [analytics.TaxHead.LONG_TERM_CAPITAL_GAINS]: "Long-term capital gains (> 12 months)",
  [analytics.TaxHead.UNCLASSIFIED]: "Unclassified (review)",
};
export function TaxScreen(): JSX.Element {
  const years = financialYears(Date.now());
  const [year, setYear] = useState(years[0]);
  const [report, setReport] = useState<analytics.TaxReport | null>(null);
  const [error, setError] = useState<ReadableError | null>(null);

  useEffect(() => {
    let cancelled = false;
    call(() => clients.analytics.getTaxReport({ financialYear: year, rowLimit: 10_000 }))
      .then((response) => !cancelled && (setReport(response.report ?? null), setError(null)))
      .catch((caught: unknown) => !cancelled && setError(readableError(caught)));
    return () => {
      cancelled = true;
    };
  }, [year]);

  const download = () => {
    if (!report) return;
    const url = URL.createObjectURL(new Blob([taxCsv(report)], { type: "text/csv" }));
    const link = document.createElement("a");
    link.href = url;
    link.download = `tax-${report.financialYear}.csv`;
    link.click();
    URL.revokeObjectURL(url);
  };

  return (
    <section aria-labelledby="tax-title" data-testid="tax-screen">
      <div class="section-head">
        <h2 id="tax-title">Tax statement</h2>
        <label>
          Financial year{" "}
          <select value={year} onChange={(e) => setYear(e.currentTarget.value)} data-testid="tax-year">
            {years.map((y) => (
              <option key={y} value={y}>
                {y}
              </option>
            ))}
          </select>
        </label>
        <button type="button" onClick={download} disabled={!report} data-testid="tax-csv">
          Download CSV
        </button>
      </div>
      <ErrorBanner error={error} />
      {report && (
        <>
          <table data-testid="tax-heads">
            <thead>
              <tr>
                <th scope="col">Head</th>
                <th scope="col">Lots</th>
                <th scope="col">Gross</th>
                <th scope="col">Charges</th>
                <th scope="col">of which STT</th>
                <th scope="col">Deducted</th>
                <th scope="col">Net</th>
                <th scope="col">Turnover (ICAI)</th>
              </tr>
            </thead>
            <tbody>
              {report.heads.map((head) => (
                <tr key={head.head} data-head={analytics.TaxHead[head.head]}>
                  <th scope="row">{HEAD_LABELS[head.head] ?? String(head.head)}</th>
                  <td>{head.lotCount}</td>
                  <td><Money micros={head.grossMicros} signed /></td>
                  <td><Money micros={head.chargesMicros} /></td>
                  <td><Money micros={head.sttMicros} /></td>
                  <td><Money micros={head.deductedChargesMicros} /></td>
                  <td><Money micros={head.netMicros} signed /></td>
                  <td><Money micros={head.turnoverMicros} /></td>
                </tr>
              ))}
            </tbody>
          </table>
          {report.fairMarketValueMissing.length > 0 && (
            <p>No fair market value (31 Jan 2018) supplied for: {report.fairMarketValueMissing.join(", ")}; actual cost used.</p>
          )}
          <p>{report.dividendsNote}</p>
          <p>{report.chargesNote}</p>
          <p data-testid="tax-disclaimer"><strong>{report.disclaimer}</strong></p>
        </>
      )}
    </section>
  );
}
