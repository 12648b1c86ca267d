import { describe, expect, it } from "vitest";
import { notifications } from "@trademesh/sdk";
import { buildAlert, draftOf, EMPTY_DRAFT } from "./alertform";

describe("the guardrail form", () => {
  it("builds a daily loss limit in micros without an instrument, re-arming daily without a cool-down", () => {
    const built = buildAlert({ ...EMPTY_DRAFT, condition: "dailyLoss", value: "5,000", rearm: true, coolDownMinutes: "" });
    expect(built.errors).toEqual({});
    expect(built.alert.condition).toBe(notifications.AlertCondition.DAILY_LOSS_BEYOND);
    expect(built.alert.levelMicros).toBe(5_000_000_000n);
    expect(built.alert.instrument).toBeUndefined();
    expect(built.alert.coolDown).toBeUndefined();
    expect(built.alert.rearm).toBe(true);
  });

  it("builds a drawdown as an amount or as a share of the peak", () => {
    const amount = buildAlert({ ...EMPTY_DRAFT, condition: "drawdown", value: "3000.50" });
    expect([amount.alert.levelMicros, amount.alert.changeBasisPoints]).toEqual([3_000_500_000n, 0]);
    const share = buildAlert({ ...EMPTY_DRAFT, condition: "drawdown", value: "40%" });
    expect([share.alert.levelMicros, share.alert.changeBasisPoints]).toEqual([0n, 4000]);
    expect(draftOf(share.alert)).toMatchObject({ condition: "drawdown", value: "40%", instrument: "" });
    expect(draftOf(amount.alert)).toMatchObject({ condition: "drawdown", value: "3000.50" });
  });

  it("refuses limits that are not positive amounts or sane percentages, by the server's paths", () => {
    expect(Object.keys(buildAlert({ ...EMPTY_DRAFT, condition: "dailyLoss", value: "0" }).errors)).toEqual(["alert.level_micros"]);
    expect(Object.keys(buildAlert({ ...EMPTY_DRAFT, condition: "dailyLoss", value: "-5" }).errors)).toEqual(["alert.level_micros"]);
    expect(Object.keys(buildAlert({ ...EMPTY_DRAFT, condition: "drawdown", value: "150%" }).errors)).toEqual(["alert.change_basis_points"]);
    expect(Object.keys(buildAlert({ ...EMPTY_DRAFT, condition: "drawdown", value: "0%" }).errors)).toEqual(["alert.change_basis_points"]);
  });
});
