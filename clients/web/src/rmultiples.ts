// R-multiples (decision 0230): milli-R integers from GetAnalytics formatted for people, and the bucket labels.

/** The five R buckets of RMultipleStats.buckets, in order. */
export const R_BUCKET_LABELS = ["≤ −1R", "−1R … 0R", "0R … 1R", "1R … 2R", "≥ 2R"];

/** Format milli-R (1R = 1000) as R with two decimals (truncated) and a sign: -1250n → "−1.25R". */
export function formatR(milli: bigint | undefined): string {
  if (milli === undefined) return "—";
  const negative = milli < 0n;
  const magnitude = negative ? -milli : milli;
  const whole = magnitude / 1000n;
  const hundredths = (magnitude % 1000n) / 10n;
  return `${negative ? "−" : "+"}${whole}.${hundredths.toString().padStart(2, "0")}R`;
}
