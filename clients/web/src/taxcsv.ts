// The Tax screen's pure helpers: the financial years offered and the CSV of every lot (spreadsheet-safe).
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { analytics } from "@trademesh/sdk";
import { microsToDecimal } from "./format";

const FORMULA_TRIGGERS = ["=", "+", "-", "@", "\t", "\r"];

/** The financial years offered: the current one (IST) and the six before it. */
export function financialYears(nowMs: number): string[] {
  const ist = new Date(nowMs + 330 * 60_000);
  const current = ist.getUTCMonth() >= 3 ? ist.getUTCFullYear() : ist.getUTCFullYear() - 1;
  return Array.from({ length: 7 }, (_, i) => `${current - i}-${String((current - i + 1) % 100).padStart(2, "0")}`);
}

/** A CSV cell, quoted, with a leading formula trigger neutralised (as the CLI's export does). */
export function csvCell(text: string): string {
  const safe = FORMULA_TRIGGERS.some((t) => text.startsWith(t)) ? `'${text}` : text;
  return `"${safe.replaceAll('"', '""')}"`;
}

const CSV_COLUMNS = ["financial_year", "head", "kind", "symbol", "quantity", "open_trade_id", "close_trade_id", "open_time", "close_time", "holding_days", "buy_value_inr", "sell_value_inr", "gross_inr", "charges_inr", "stt_inr", "deducted_charges_inr", "cost_of_acquisition_inr", "cost_basis", "net_inr", "turnover_inr"];

export function taxCsv(report: analytics.TaxReport): string {
  const rows = [CSV_COLUMNS];
  const inr = (micros: bigint) => microsToDecimal(micros, 0);
  for (const head of report.heads) {
    for (const lot of head.lots) {
      rows.push([
        report.financialYear,
        analytics.TaxHead[head.head] ?? "",
        analytics.TaxLotKind[lot.kind] ?? "",
        lot.instrument?.symbol ?? "",
        microsToDecimal(lot.quantityMicros, 0),
        lot.openTradeId,
        lot.closeTradeId,
        lot.openTime ? new Date(timestampMs(lot.openTime)).toISOString() : "",
        lot.closeTime ? new Date(timestampMs(lot.closeTime)).toISOString() : "",
        String(lot.holdingDays),
        inr(lot.buyValueMicros),
        inr(lot.sellValueMicros),
        inr(lot.grossMicros),
        inr(lot.chargesMicros),
        inr(lot.sttMicros),
        inr(lot.deductedChargesMicros),
        inr(lot.costOfAcquisitionMicros),
        analytics.TaxCostBasis[lot.costBasis] ?? "",
        inr(lot.netMicros),
        inr(lot.turnoverMicros),
      ]);
    }
  }
  return rows.map((row) => row.map(csvCell).join(",")).join("\n") + "\n";
}

