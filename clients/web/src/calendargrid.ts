// Pure helpers of the P&L calendar screen: a month's weeks (Monday first) and the heat-map shade of a day.

/** "YYYY-MM" of a month and its first and last day "YYYY-MM-DD". */
export function monthRange(month: string): { start: string; end: string } | null {
  const match = /^(\d{4})-(\d{2})$/.exec(month);
  if (!match) return null;
  const year = Number(match[1]);
  const index = Number(match[2]);
  if (index < 1 || index > 12) return null;
  const last = new Date(Date.UTC(year, index, 0)).getUTCDate();
  return { start: `${month}-01`, end: `${month}-${String(last).padStart(2, "0")}` };
}

/** The month "YYYY-MM" that is `delta` months from `month`. */
export function shiftMonth(month: string, delta: number): string {
  const [year, index] = month.split("-").map(Number);
  const shifted = new Date(Date.UTC(year, index - 1 + delta, 1));
  return `${shifted.getUTCFullYear()}-${String(shifted.getUTCMonth() + 1).padStart(2, "0")}`;
}

/** The IST month "YYYY-MM" of an instant. */
export function istMonth(epochMs: number): string {
  const ist = new Date(epochMs + 330 * 60_000);
  return `${ist.getUTCFullYear()}-${String(ist.getUTCMonth() + 1).padStart(2, "0")}`;
}

/** The weeks of a month, Monday to Sunday: each cell is "YYYY-MM-DD" or null outside the month. */
export function monthWeeks(month: string): (string | null)[][] {
  const range = monthRange(month);
  if (!range) return [];
  const [year, index] = month.split("-").map(Number);
  const days = Number(range.end.slice(8));
  const offset = (new Date(Date.UTC(year, index - 1, 1)).getUTCDay() + 6) % 7; // Monday = 0
  const cells: (string | null)[] = Array.from({ length: offset }, () => null);
  for (let day = 1; day <= days; day++) cells.push(`${month}-${String(day).padStart(2, "0")}`);
  while (cells.length % 7) cells.push(null);
  const weeks: (string | null)[][] = [];
  for (let i = 0; i < cells.length; i += 7) weeks.push(cells.slice(i, i + 7));
  return weeks;
}

/** The Monday "YYYY-MM-DD" of the week of a date "YYYY-MM-DD". */
export function weekStart(date: string): string {
  const [year, month, day] = date.split("-").map(Number);
  const at = new Date(Date.UTC(year, month - 1, day));
  at.setUTCDate(at.getUTCDate() - ((at.getUTCDay() + 6) % 7));
  return at.toISOString().slice(0, 10);
}

/** A heat-map level from -4 (the month's worst day) to 4 (its best); 0 for a flat day. */
export function heatLevel(net: bigint, largest: bigint): number {
  if (net === 0n || largest === 0n) return 0;
  const magnitude = net < 0n ? -net : net;
  const level = Math.max(1, Math.ceil((Number(magnitude) / Number(largest)) * 4));
  return net > 0n ? level : -level;
}
