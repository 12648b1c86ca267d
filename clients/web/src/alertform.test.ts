import { create } from "@bufbuild/protobuf";
import { common, notifications } from "@trademesh/sdk";
import { describe, expect, it } from "vitest";
import { alertHref, buildAlert, changedPaths, draftOf, EMPTY_DRAFT, parseInstrument, parsePercentBasisPoints } from "./alertform";

describe("the alert form", () => {
  it("parses instruments and percentages exactly", () => {
    expect(parseInstrument("infy")).toMatchObject({ symbol: "INFY", exchange: common.Exchange.NSE });
    expect(parseInstrument("BSE:TCS")).toMatchObject({ symbol: "TCS", exchange: common.Exchange.BSE });
    expect(parseInstrument("XYZ:TCS")).toBeNull();
    expect(parseInstrument(" ")).toBeNull();
    expect([parsePercentBasisPoints("2.5"), parsePercentBasisPoints("2.5 %"), parsePercentBasisPoints("0.01"), parsePercentBasisPoints("3")]).toEqual([250, 250, 1, 300]);
    expect([parsePercentBasisPoints("2.555"), parsePercentBasisPoints("-1"), parsePercentBasisPoints("x")]).toEqual([null, null, null]);
  });

  it("builds a price alert in micros and a re-arming day-change alert in basis points", () => {
    const price = buildAlert({ ...EMPTY_DRAFT, instrument: "INFY", condition: "above", value: "1,600.05" });
    expect(price.errors).toEqual({});
    expect(price.alert.levelMicros).toBe(1_600_050_000n);
    expect(price.alert.condition).toBe(notifications.AlertCondition.PRICE_ABOVE);
    expect(price.alert.coolDown).toBeUndefined();
    const change = buildAlert({ ...EMPTY_DRAFT, instrument: "TCS", condition: "change", value: "2.5", rearm: true, coolDownMinutes: "30" });
    expect(change.errors).toEqual({});
    expect(change.alert.changeBasisPoints).toBe(250);
    expect(change.alert.levelMicros).toBe(0n);
    expect(change.alert.coolDown?.seconds).toBe(1800n);
  });

  it("names the bad fields by the server's paths", () => {
    const built = buildAlert({ ...EMPTY_DRAFT, instrument: "", value: "abc", rearm: true, coolDownMinutes: "0", expires: "soon" });
    expect(Object.keys(built.errors).sort()).toEqual(["alert.cool_down", "alert.expire_time", "alert.instrument", "alert.level_micros"]);
  });

  it("round-trips an alert through the draft and masks only what changed", () => {
    const alert = create(notifications.AlertSchema, {
      id: "a1",
      instrument: { symbol: "INFY", exchange: common.Exchange.NSE },
      condition: notifications.AlertCondition.PRICE_CROSSING,
      levelMicros: 1_500_000_000n,
      note: "n",
    });
    const draft = draftOf(alert);
    expect(draft).toMatchObject({ instrument: "NSE:INFY", condition: "crossing", value: "1500.00", rearm: false, note: "n" });
    expect(changedPaths(alert, buildAlert(draft, "a1").alert)).toEqual([]);
    const edited = buildAlert({ ...draft, value: "1510", rearm: true, coolDownMinutes: "5", note: "m" }, "a1").alert;
    expect(changedPaths(alert, edited)).toEqual(["level_micros", "rearm", "cool_down", "note"]);
  });

  it("links a row to a new alert on its instrument", () => {
    expect(alertHref({ symbol: "INFY", exchange: common.Exchange.NSE }, 1_523_500_000n)).toBe("#/alerts?new=NSE%3AINFY&price=1523.50");
    expect(alertHref(undefined)).toBe("#/alerts");
  });
});
