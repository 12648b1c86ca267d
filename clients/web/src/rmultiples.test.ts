import { describe, expect, it } from "vitest";
import { R_BUCKET_LABELS, formatR } from "./rmultiples";

describe("R-multiples", () => {
  it("formats milli-R with a sign and two truncated decimals", () => {
    expect(formatR(2000n)).toBe("+2.00R");
    expect(formatR(-1250n)).toBe("−1.25R");
    expect(formatR(333n)).toBe("+0.33R");
    expect(formatR(-5n)).toBe("−0.00R");
    expect(formatR(0n)).toBe("+0.00R");
    expect(formatR(undefined)).toBe("—");
  });

  it("has one label per bucket", () => {
    expect(R_BUCKET_LABELS).toHaveLength(5);
  });
});
