// Lot sizes of derivative positions (trademesh.trade.v1.Position.lot_size, from the instrument master).

const UNITS = 1_000_000n;

/** A position's lot size in units, and the open quantity in lots when it is a whole number of them ("75 · 2 lots"). */
export function lotsText(netQuantityMicros: bigint, lotSize: bigint | undefined): string {
  if (lotSize === undefined || lotSize <= 0n) return "—";
  const lot = lotSize * UNITS;
  const open = netQuantityMicros < 0n ? -netQuantityMicros : netQuantityMicros;
  if (open === 0n || open % lot !== 0n) return String(lotSize);
  const lots = open / lot;
  return `${lotSize} · ${lots} lot${lots === 1n ? "" : "s"}`;
}
