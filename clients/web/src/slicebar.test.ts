import { analytics } from "@trademesh/sdk";
import { describe, expect, it } from "vitest";
import { NO_SLICE, isSliced, sliceMessage, splitValues } from "./slicebar";

describe("slice bar", () => {
  it("splits comma-separated values, trimmed and without case-insensitive repeats", () => {
    expect(splitValues(" fomo, late ,,FOMO, a+ ")).toEqual(["fomo", "late", "a+"]);
    expect(splitValues("  ")).toEqual([]);
  });

  it("sends no slice until a filter is chosen", () => {
    expect(isSliced(NO_SLICE)).toBe(false);
    expect(sliceMessage(NO_SLICE)).toBeUndefined();
  });

  it("turns a choice into the request's slice", () => {
    const message = sliceMessage({ ...NO_SLICE, tags: ["fomo", "late"], allTags: true, symbols: ["infy"], side: analytics.OpeningSide.SELL });
    expect(message).toEqual({
      strategies: [],
      tags: ["fomo", "late"],
      tagMatch: analytics.TagMatch.ALL,
      segments: [],
      symbols: ["INFY"],
      side: analytics.OpeningSide.SELL,
    });
  });
});
