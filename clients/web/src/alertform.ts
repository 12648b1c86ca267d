// The alert editor's form ⇄ the Alert message: exact money (micros) and percent (basis points), the
// cool-down in minutes, the expiry as an IST wall-clock input. No DOM, no network.
import { create } from "@bufbuild/protobuf";
import { durationFromMs, timestampDate, timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { common, notifications } from "@trademesh/sdk";
import { epochMsToIstInput, istInputToEpochMs, microsToDecimal, parseDecimalMicros } from "./format";

const C = notifications.AlertCondition;

export type ConditionChoice = "above" | "below" | "crossing" | "change" | "dailyLoss" | "drawdown";

/** P&L guardrails watch the whole book (no instrument) and fire at most once per IST day (decision 0300). */
export function isGuardrail(condition: ConditionChoice): boolean {
  return condition === "dailyLoss" || condition === "drawdown";
}

export interface AlertDraft {
  instrument: string;
  condition: ConditionChoice;
  /** ₹ level for the price conditions, % for "change", ₹ for "dailyLoss", ₹ or "X%" (of the peak) for "drawdown". */
  value: string;
  rearm: boolean;
  coolDownMinutes: string;
  /** "" (never) or an IST datetime-local value. */
  expires: string;
  note: string;
}

export const EMPTY_DRAFT: AlertDraft = { instrument: "", condition: "above", value: "", rearm: false, coolDownMinutes: "15", expires: "", note: "" };

const CONDITIONS: Record<ConditionChoice, notifications.AlertCondition> = {
  above: C.PRICE_ABOVE,
  below: C.PRICE_BELOW,
  crossing: C.PRICE_CROSSING,
  change: C.DAY_CHANGE_BEYOND,
  dailyLoss: C.DAILY_LOSS_BEYOND,
  drawdown: C.DRAWDOWN_FROM_PEAK,
};

/** "INFY" (NSE) or "BSE:INFY" → Instrument; null when the exchange is unknown or the symbol empty. */
export function parseInstrument(text: string): common.Instrument | null {
  const upper = text.trim().toUpperCase();
  const [exchange, symbol] = upper.includes(":") ? upper.split(":", 2) : ["NSE", upper];
  const value = common.Exchange[exchange as keyof typeof common.Exchange];
  if (!symbol?.trim() || typeof value !== "number" || value === common.Exchange.UNSPECIFIED) return null;
  return create(common.InstrumentSchema, { symbol: symbol.trim(), exchange: value });
}

/** "2.5" or "2.5%" → 250 basis points; null when malformed or finer than 0.01 %. */
export function parsePercentBasisPoints(text: string): number | null {
  const match = /^\s*\+?(\d{1,5})(?:\.(\d{1,2}))?\s*%?\s*$/.exec(text);
  if (!match) return null;
  return Number(match[1]) * 100 + Number((match[2] ?? "").padEnd(2, "0"));
}

export interface Built {
  alert: notifications.Alert;
  /** Problems found before asking the server, by the server's field path. */
  errors: Record<string, string>;
}

/** Build the Alert the draft describes (the server validates again and has the last word). */
export function buildAlert(draft: AlertDraft, id = ""): Built {
  const errors: Record<string, string> = {};
  const alert = create(notifications.AlertSchema, { id, condition: CONDITIONS[draft.condition], rearm: draft.rearm, note: draft.note });
  const guardrail = isGuardrail(draft.condition);
  const instrument = guardrail ? null : parseInstrument(draft.instrument);
  if (instrument) alert.instrument = instrument;
  else if (!guardrail) errors["alert.instrument"] = "Use SYMBOL or EXCHANGE:SYMBOL, e.g. INFY or BSE:INFY.";
  if (guardrail) {
    if (draft.condition === "drawdown" && draft.value.trim().endsWith("%")) {
      const points = parsePercentBasisPoints(draft.value);
      if (points === null || points < 1 || points > 10_000) errors["alert.change_basis_points"] = "Enter a share of the peak from 0.01 % to 100 %, e.g. 40%.";
      else alert.changeBasisPoints = points;
    } else {
      const micros = parseDecimalMicros(draft.value);
      if (micros === null || micros <= 0n) errors["alert.level_micros"] = draft.condition === "drawdown" ? "Enter an amount in ₹ (e.g. 3000) or a share of the peak (e.g. 40%)." : "Enter the loss limit in ₹, e.g. 5000.";
      else alert.levelMicros = micros;
    }
  } else if (draft.condition === "change") {
    const points = parsePercentBasisPoints(draft.value);
    if (points === null) errors["alert.change_basis_points"] = "Enter a percentage with at most 2 decimals, e.g. 2.5.";
    else alert.changeBasisPoints = points;
  } else {
    const micros = parseDecimalMicros(draft.value);
    if (micros === null) errors["alert.level_micros"] = "Enter a price in ₹ with at most 6 decimals, e.g. 1600.";
    else alert.levelMicros = micros;
  }
  if (draft.rearm && guardrail) {
    // A re-arming guardrail arms again the next IST day: no cool-down needed.
  } else if (draft.rearm) {
    const minutes = Number(draft.coolDownMinutes);
    if (!Number.isInteger(minutes) || minutes <= 0) errors["alert.cool_down"] = "Enter whole minutes, e.g. 15.";
    else alert.coolDown = durationFromMs(minutes * 60_000);
  }
  if (draft.expires) {
    const ms = istInputToEpochMs(draft.expires);
    if (ms === null) errors["alert.expire_time"] = "Enter a date and time (IST).";
    else alert.expireTime = timestampFromMs(ms);
  }
  return { alert, errors };
}

/** The draft that edits an existing alert. */
export function draftOf(alert: notifications.Alert): AlertDraft {
  const condition = (Object.keys(CONDITIONS) as ConditionChoice[]).find((key) => CONDITIONS[key] === alert.condition) ?? "above";
  const instrument = alert.instrument ? `${common.Exchange[alert.instrument.exchange]}:${alert.instrument.symbol}` : "";
  return {
    instrument,
    condition,
    value:
      condition === "change" ? (alert.changeBasisPoints / 100).toString()
      : condition === "drawdown" && alert.changeBasisPoints ? `${alert.changeBasisPoints / 100}%`
      : microsToDecimal(alert.levelMicros),
    rearm: alert.rearm,
    coolDownMinutes: alert.coolDown ? String(Math.round(Number(alert.coolDown.seconds) / 60)) : "15",
    expires: alert.expireTime ? epochMsToIstInput(timestampMs(alert.expireTime)) : "",
    note: alert.note,
  };
}

/** The update_mask paths that differ between the alert and its edited form (the instrument and condition are fixed). */
export function changedPaths(before: notifications.Alert, after: notifications.Alert): string[] {
  const paths: string[] = [];
  if (before.levelMicros !== after.levelMicros) paths.push("level_micros");
  if (before.changeBasisPoints !== after.changeBasisPoints) paths.push("change_basis_points");
  if (before.rearm !== after.rearm || (before.coolDown?.seconds ?? 0n) !== (after.coolDown?.seconds ?? 0n)) paths.push("rearm", "cool_down");
  const expiry = (a: notifications.Alert): number => (a.expireTime ? timestampDate(a.expireTime).getTime() : 0);
  if (Math.floor(expiry(before) / 60_000) !== Math.floor(expiry(after) / 60_000)) paths.push("expire_time");
  if (before.note !== after.note) paths.push("note");
  return paths;
}

/** "Above ₹1,600.00"-style text without the currency formatting (used where the caller formats money). */
export function conditionWord(condition: notifications.AlertCondition): string {
  switch (condition) {
    case C.PRICE_ABOVE:
      return "above";
    case C.PRICE_BELOW:
      return "below";
    case C.PRICE_CROSSING:
      return "crossing";
    case C.DAY_CHANGE_BEYOND:
      return "day change beyond";
    case C.DAILY_LOSS_BEYOND:
      return "day's loss at least";
    case C.DRAWDOWN_FROM_PEAK:
      return "drawdown from the day's peak at least";
    default:
      return "?";
  }
}

/** The link that opens the editor for a new alert on `instrument` (from a watchlist or positions row). */
export function alertHref(instrument: { symbol: string; exchange: common.Exchange } | undefined, priceMicros?: bigint): string {
  if (!instrument) return "#/alerts";
  const name = `${common.Exchange[instrument.exchange]}:${instrument.symbol}`;
  return `#/alerts?new=${encodeURIComponent(name)}${priceMicros ? `&price=${microsToDecimal(priceMicros)}` : ""}`;
}
