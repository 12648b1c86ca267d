// MAE/MFE (decision 0270): how each round trip's excursions were measured, and their cells for people.
import { analytics } from "@trademesh/sdk";
import { formatInr } from "./format";
import { formatR } from "./rmultiples";

/** A short label per ExcursionQuality: "exact", "from bars", "partial", "unavailable". */
export function qualityLabel(quality: analytics.ExcursionQuality | undefined): string {
  switch (quality) {
    case analytics.ExcursionQuality.EXACT:
      return "exact";
    case analytics.ExcursionQuality.FROM_BARS:
      return "from bars";
    case analytics.ExcursionQuality.PARTIAL:
      return "partial";
    default:
      return "unavailable";
  }
}

/** Whether the excursion carries figures (measured exactly, from bars or partly). */
export function isMeasured(excursion: analytics.TripExcursion | undefined): boolean {
  const quality = excursion?.quality;
  return (
    quality === analytics.ExcursionQuality.EXACT ||
    quality === analytics.ExcursionQuality.FROM_BARS ||
    quality === analytics.ExcursionQuality.PARTIAL
  );
}

/** One excursion cell: the money for the round trip's size, with R when it had a plan ("−₹50.00 (−0.50R)"). */
export function excursionCell(micros: bigint, milliR: bigint | undefined): string {
  const money = formatInr(micros, true);
  return milliR === undefined ? money : `${money} (${formatR(milliR)})`;
}
