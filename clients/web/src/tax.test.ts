import { describe, expect, it } from "vitest";
import { csvCell, financialYears } from "./taxcsv";

describe("tax screen helpers", () => {
  it("offers the current IST financial year first", () => {
    // 31 March 2026 19:00 UTC is 1 April 2026 00:30 IST: FY 2026-27 has begun.
    expect(financialYears(Date.UTC(2026, 2, 31, 19, 0))[0]).toBe("2026-27");
    expect(financialYears(Date.UTC(2026, 2, 31, 18, 0))[0]).toBe("2025-26");
    expect(financialYears(Date.UTC(2026, 2, 31, 18, 0))).toHaveLength(7);
  });

  it("neutralises cells that would start a formula", () => {
    expect(csvCell("=HYPERLINK(1)")).toBe(`"'=HYPERLINK(1)"`);
    expect(csvCell("-102")).toBe(`"'-102"`);
    expect(csvCell('say "hi"')).toBe(`"say ""hi"""`);
  });
});
