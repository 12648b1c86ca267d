import { describe, expect, it } from "vitest";
import { heatLevel, istMonth, monthRange, monthWeeks, shiftMonth, weekStart } from "./calendargrid";

describe("calendar grid", () => {
  it("lays a month out Monday first", () => {
    const weeks = monthWeeks("2026-11"); // 1 Nov 2026 is a Sunday
    expect(weeks[0]).toEqual([null, null, null, null, null, null, "2026-11-01"]);
    expect(weeks[1][0]).toBe("2026-11-02");
    expect(weeks.at(-1)?.filter(Boolean).at(-1)).toBe("2026-11-30");
    expect(weeks.every((week) => week.length === 7)).toBe(true);
  });

  it("knows month bounds, shifts and IST months", () => {
    expect(monthRange("2028-02")).toEqual({ start: "2028-02-01", end: "2028-02-29" });
    expect(monthRange("2026-13")).toBeNull();
    expect(shiftMonth("2026-01", -1)).toBe("2025-12");
    expect(shiftMonth("2026-12", 1)).toBe("2027-01");
    expect(istMonth(Date.UTC(2026, 10, 30, 19, 0))).toBe("2026-12"); // 00:30 IST on 1 Dec
    expect(weekStart("2026-11-08")).toBe("2026-11-02");
  });

  it("shades days by their share of the month's largest day", () => {
    expect(heatLevel(100n, 100n)).toBe(4);
    expect(heatLevel(-10n, 100n)).toBe(-1);
    expect(heatLevel(0n, 100n)).toBe(0);
  });
});
