import { analytics } from "@trademesh/sdk";
import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { excursionCell, isMeasured, qualityLabel } from "./excursions";

describe("MAE/MFE", () => {
  it("labels every quality", () => {
    expect(qualityLabel(analytics.ExcursionQuality.EXACT)).toBe("exact");
    expect(qualityLabel(analytics.ExcursionQuality.FROM_BARS)).toBe("from bars");
    expect(qualityLabel(analytics.ExcursionQuality.PARTIAL)).toBe("partial");
    expect(qualityLabel(analytics.ExcursionQuality.UNAVAILABLE)).toBe("unavailable");
    expect(qualityLabel(undefined)).toBe("unavailable");
  });

  it("shows figures only when measured", () => {
    const exact = create(analytics.TripExcursionSchema, { quality: analytics.ExcursionQuality.EXACT });
    const none = create(analytics.TripExcursionSchema, { quality: analytics.ExcursionQuality.UNAVAILABLE });
    expect(isMeasured(exact)).toBe(true);
    expect(isMeasured(none)).toBe(false);
    expect(isMeasured(undefined)).toBe(false);
  });

  it("formats money with R when planned", () => {
    expect(excursionCell(-50_000_000n, -500n)).toBe("−₹50.00 (−0.50R)");
    expect(excursionCell(200_000_000n, undefined)).toBe("+₹200.00");
  });
});
