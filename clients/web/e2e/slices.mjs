// Analytics by slice in the browser (docs/decisions/0250), against a running mesh (Envoy serving dist/ at
// `/`), in Debian's headless Chromium driven by playwright-core. Run by tests/web/test_browser_slices.py:
//
//   TM_URL=http://127.0.0.1:8080/ TM_ARTIFACTS=../../test-artifacts/web-slices node e2e/slices.mjs
//
// register → two round trips (INFY "Breakout" tagged fomo, TCS "Reversal") → the analytics screen shows both →
// the slice bar narrows it to the Breakout strategy (a chip) → "compare with the rest" shows 1 vs 1 → a tag
// that no trade carries gives an empty report, not an error. Waits are on conditions, never fixed sleeps.
// Prints one JSON line {"ok", "steps", "error"?}.
import { launch, register } from "./harness.mjs";

const { url, step, page, consoleErrors, shot, go, end } = await launch("web-slices");

async function addTrade(symbol, side, price, strategy, tags) {
  await page.getByTestId("add-trade").click();
  const form = page.getByTestId("trade-form");
  await form.getByLabel("Symbol").fill(symbol);
  await form.getByLabel("Side").selectOption({ label: side });
  await form.getByLabel("Quantity").fill("10");
  await form.getByLabel("Price (₹)").fill(price);
  if (strategy) await form.getByLabel("Strategy").fill(strategy);
  if (tags) await form.getByLabel("Tags").fill(tags);
  await form.getByRole("button", { name: "Add trade" }).click();
}

// The report once it shows `count` round trips (analytics applies trade events asynchronously: reload the view).
async function reportWith(count) {
  const report = page.locator(`[data-testid="analytics-report"][data-round-trips="${count}"]`);
  for (let attempt = 0; ; attempt++) {
    await page.getByTestId("analytics-report").waitFor();
    try {
      await report.waitFor({ timeout: 1_000 });
      return report;
    } catch (error) {
      if (attempt >= 20) throw error;
      await page.getByTestId("analytics-reload").click();
    }
  }
}

let ok = false;
let failure = "";
try {
  const name = `slices_${Date.now().toString(36)}`;
  const password = "Journey-Horse-42";

  await page.goto(url);
  await register(page, name, password);
  step("registered", { username: name });

  await go("#/trades");
  await addTrade("INFY", "Buy", "1500", "Breakout", "fomo, late");
  await page.locator('[data-testid="trade-row"][data-symbol="INFY"]').waitFor();
  await addTrade("INFY", "Sell", "1540");
  await page.locator('[data-testid="trade-row"][data-symbol="INFY"]').nth(1).waitFor();
  await addTrade("TCS", "Buy", "3500", "Reversal");
  await page.locator('[data-testid="trade-row"][data-symbol="TCS"]').waitFor();
  await addTrade("TCS", "Sell", "3400");
  await page.locator('[data-testid="trade-row"][data-symbol="TCS"]').nth(1).waitFor();
  step("two round trips added");

  await go("#/analytics");
  await reportWith(2);
  step("analytics shows both round trips");

  const bar = page.getByTestId("slice-bar");
  await bar.getByLabel("Strategy").fill("breakout");
  await bar.getByRole("button", { name: "Add filter" }).click();
  await page.getByTestId("slice-chip").filter({ hasText: "strategy: breakout" }).waitFor();
  await reportWith(1);
  step("the strategy slice keeps one round trip");

  await page.getByTestId("slice-compare").check();
  const view = page.locator('[data-testid="slice-compare-view"][data-first-round-trips="1"][data-second-round-trips="1"]');
  await view.waitFor();
  step("the slice is compared with the rest");
  await shot("slices-01-compare");

  await page.getByRole("button", { name: "Remove strategy: breakout" }).click();
  await bar.getByLabel("Tags", { exact: true }).fill("never-used");
  await bar.getByRole("button", { name: "Add filter" }).click();
  await reportWith(0);
  step("a tag no trade carries gives an empty report");
  await shot("slices-02-empty");

  if (consoleErrors.length) throw new Error(`page errors: ${consoleErrors.join(" | ")}`);
  ok = true;
} catch (error) {
  failure = error;
}
await end(ok, failure, "slices");
