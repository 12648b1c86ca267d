import { describe, expect, it } from "vitest";
import {
  epochMsToIstInput,
  formatInr,
  formatPrice,
  formatQuantity,
  istInputToEpochMs,
  microsToDecimal,
  parseDecimalMicros,
} from "./format";

describe("parseDecimalMicros", () => {
  it("parses exact decimals into micros", () => {
    expect(parseDecimalMicros("1234.05")).toBe(1_234_050_000n);
    expect(parseDecimalMicros("0.123456")).toBe(123_456n);
    expect(parseDecimalMicros("10")).toBe(10_000_000n);
    expect(parseDecimalMicros("-0.5")).toBe(-500_000n);
    expect(parseDecimalMicros(" 1,00,000.25 ")).toBe(100_000_250_000n);
  });
  it("rejects what the server would not take exactly", () => {
    expect(parseDecimalMicros("0.1234567")).toBeNull();
    expect(parseDecimalMicros("abc")).toBeNull();
    expect(parseDecimalMicros("")).toBeNull();
    expect(parseDecimalMicros("1e5")).toBeNull();
  });
  it("round-trips through microsToDecimal", () => {
    for (const text of ["0.000001", "999999999.999999", "1573.70", "-12.5"]) {
      expect(parseDecimalMicros(microsToDecimal(parseDecimalMicros(text)!))).toBe(parseDecimalMicros(text));
    }
  });
});

describe("formatting", () => {
  it("groups rupees the Indian way and rounds half away from zero to paise", () => {
    expect(formatInr(123_456_789_000_000n)).toBe("₹12,34,56,789.00");
    expect(formatInr(15_737_000_000n)).toBe("₹15,737.00");
    expect(formatInr(5_000n)).toBe("₹0.01");
    expect(formatInr(-1_205_000n, true)).toBe("−₹1.21");
    expect(formatInr(1_000_000n, true)).toBe("+₹1.00");
    expect(formatInr(0n, true)).toBe("₹0.00");
  });
  it("shows prices and quantities without losing digits", () => {
    expect(formatPrice(1_573_700_000n)).toBe("1,573.70");
    expect(formatPrice(82_502_500n)).toBe("82.5025");
    expect(formatPrice(-1_200_000n)).toBe("−1.20");
    expect(formatQuantity(10_000_000n)).toBe("10");
    expect(formatQuantity(123_456n)).toBe("0.123456");
  });
});

describe("IST wall time", () => {
  it("reads and writes datetime-local values as IST, whatever the browser's zone", () => {
    const ms = istInputToEpochMs("2024-06-03T10:15");
    expect(ms).toBe(Date.UTC(2024, 5, 3, 4, 45));
    expect(epochMsToIstInput(ms!)).toBe("2024-06-03T10:15");
    expect(istInputToEpochMs("not a time")).toBeNull();
  });
});
