// Pure helpers of the watchlist screen: instrument keys and parsing, moving an item for drag-to-reorder.
import { common } from "@trademesh/sdk";

export interface InstrumentRef {
  symbol: string;
  exchange: common.Exchange;
}

export const DEFAULT_INSTRUMENTS: InstrumentRef[] = ["RELIANCE", "TCS", "INFY", "HDFCBANK", "ICICIBANK", "SBIN"].map((symbol) => ({
  symbol,
  exchange: common.Exchange.NSE,
}));
export const DEFAULT_LIST_NAME = "My watchlist";

export const keyOf = (instrument?: InstrumentRef): string => `${instrument?.exchange}:${instrument?.symbol}`;

/** Parse "ITC" (NSE) or "BSE:ITC"; null when the exchange is unknown or the symbol empty. */
export function parseInstrument(text: string): InstrumentRef | null {
  const upper = text.trim().toUpperCase();
  const [exchange, symbol] = upper.includes(":") ? upper.split(":", 2) : ["NSE", upper];
  const value = common.Exchange[exchange as keyof typeof common.Exchange];
  if (!symbol?.trim() || typeof value !== "number" || value === common.Exchange.UNSPECIFIED) return null;
  return { symbol: symbol.trim(), exchange: value };
}

/** Return `items` with the element at `from` moved to index `to` (a drag that drops on another item). */
export function moveItem<T>(items: readonly T[], from: number, to: number): T[] {
  const next = [...items];
  if (from < 0 || from >= next.length || to < 0 || to >= next.length || from === to) return next;
  const [moved] = next.splice(from, 1);
  next.splice(to, 0, moved);
  return next;
}
