// Planned risk and R in the browser (docs/decisions/0230), against a running mesh (Envoy serving dist/ at
// `/`), in Debian's headless Chromium driven by playwright-core. Run by tests/web/test_browser_risk.py:
//
//   TM_URL=http://127.0.0.1:8080/ TM_ARTIFACTS=../../test-artifacts/web-risk node e2e/risk.mjs
//
// register → a buy with a stop on the wrong side is refused on the stop field → fixed, added → a sell closes
// the round trip → the analytics screen shows the expectancy in R. Waits are on conditions, never fixed
// sleeps. Prints one JSON line {"ok", "steps", "error"?}.
import { launch, register } from "./harness.mjs";

const { url, step, page, consoleErrors, shot, go, end } = await launch("web-risk");

async function addTrade(side, price, stop) {
  await page.getByTestId("add-trade").click();
  const form = page.getByTestId("trade-form");
  await form.getByLabel("Symbol").fill("INFY");
  await form.getByLabel("Side").selectOption({ label: side });
  await form.getByLabel("Quantity").fill("10");
  await form.getByLabel("Price (₹)").fill(price);
  if (stop) await form.getByLabel("Stop-loss (₹)").fill(stop);
  await form.getByRole("button", { name: "Add trade" }).click();
  return form;
}

let ok = false;
let failure = "";
try {
  const name = `risk_${Date.now().toString(36)}`;
  const password = "Journey-Horse-42";

  await page.goto(url);
  await register(page, name, password);
  step("registered", { username: name });

  // A buy's stop above its entry: the server names the stop field.
  await go("#/trades");
  const form = await addTrade("Buy", "1500", "1510");
  await form.locator(".field-error", { hasText: "stop" }).waitFor();
  step("a stop on the wrong side is refused on its field");
  await shot("risk-01-wrong-stop");
  await form.getByLabel("Stop-loss (₹)").fill("1480");
  await form.getByRole("button", { name: "Add trade" }).click();
  await page.locator('[data-testid="trade-row"][data-symbol="INFY"]').waitFor();
  step("buy with a stop added");
  await addTrade("Sell", "1540");
  await page.locator('[data-testid="trade-row"][data-symbol="INFY"]').nth(1).waitFor();
  step("sell added");

  // Analytics applies trade events asynchronously: recompute the view until the planned round trip is in.
  await go("#/analytics");
  const figures = page.locator('[data-testid="r-multiples"]:not([data-expectancy-r-milli=""])');
  for (let attempt = 0; ; attempt++) {
    await page.getByTestId("analytics-report").waitFor();
    try {
      await figures.waitFor({ timeout: 1_000 });
      break;
    } catch (error) {
      if (attempt >= 20) throw error;
      await page.getByTestId("analytics-reload").click();
    }
  }
  const milli = Number(await figures.getAttribute("data-expectancy-r-milli"));
  // 1R = (1500 - 1480) x 10 = ₹200; +₹400 before charges → just under +2R.
  if (!(milli > 1800 && milli < 2000)) throw new Error(`expectancy ${milli} milli-R, expected just under 2R`);
  const shown = await page.getByTestId("metric-expectancy-r").innerText();
  if (!shown.includes("+1.")) throw new Error(`the expectancy reads ${shown}`);
  step("analytics shows the expectancy in R", { milli, shown });
  await shot("risk-02-analytics");

  if (consoleErrors.length) throw new Error(`page errors: ${consoleErrors.join(" | ")}`);
  ok = true;
} catch (error) {
  failure = error;
}
await end(ok, failure, "risk");
