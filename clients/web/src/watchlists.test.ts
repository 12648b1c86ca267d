import { common } from "@trademesh/sdk";
import { describe, expect, it } from "vitest";
import { keyOf, moveItem, parseInstrument } from "./watchlists";

describe("watchlist helpers", () => {
  it("moves an item forward and backward, ignoring out-of-range moves", () => {
    expect(moveItem(["a", "b", "c", "d"], 0, 2)).toEqual(["b", "c", "a", "d"]);
    expect(moveItem(["a", "b", "c", "d"], 3, 1)).toEqual(["a", "d", "b", "c"]);
    expect(moveItem(["a", "b"], 0, 5)).toEqual(["a", "b"]);
  });

  it("parses NSE symbols and EXCHANGE:SYMBOL, refusing unknown exchanges", () => {
    expect(parseInstrument(" itc ")).toEqual({ symbol: "ITC", exchange: common.Exchange.NSE });
    expect(parseInstrument("bse:sbin")).toEqual({ symbol: "SBIN", exchange: common.Exchange.BSE });
    expect(parseInstrument("XX:SBIN")).toBeNull();
    expect(parseInstrument("  ")).toBeNull();
    expect(keyOf({ symbol: "ITC", exchange: common.Exchange.NSE })).toBe(`${common.Exchange.NSE}:ITC`);
  });
});
