import { describe, expect, it } from "vitest";
import { lotsText } from "./lots";

const M = 1_000_000n;

describe("lotsText", () => {
  it("shows the lot size and the open quantity in whole lots", () => {
    expect(lotsText(150n * M, 75n)).toBe("75 · 2 lots");
    expect(lotsText(-75n * M, 75n)).toBe("75 · 1 lot");
  });
  it("shows the lot size alone when the quantity is not whole lots or the position is flat", () => {
    expect(lotsText(100n * M, 75n)).toBe("75");
    expect(lotsText(0n, 75n)).toBe("75");
  });
  it("shows a dash when the lot size is unknown", () => {
    expect(lotsText(10n * M, undefined)).toBe("—");
    expect(lotsText(10n * M, 0n)).toBe("—");
  });
});
