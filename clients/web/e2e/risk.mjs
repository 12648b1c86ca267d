// Planned risk and R in the browser (docs/decisions/0230), against a running mesh (Envoy serving dist/ at
// `/`), in Debian's headless Chromium driven by playwright-core. Run by tests/web/test_browser_risk.py:
//
//   TM_URL=http://127.0.0.1:8080/ TM_ARTIFACTS=../../test-artifacts/web-risk node e2e/risk.mjs
//
// register → a buy with a stop on the wrong side is refused on the stop field → fixed, added → a sell closes
// the round trip → the analytics screen shows the expectancy in R. Waits are on conditions, never fixed
// sleeps. Prints one JSON line {"ok", "steps", "error"?}.
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromium } from "playwright-core";

const url = process.env.TM_URL ?? "http://127.0.0.1:8080/";
const artifacts = resolve(process.env.TM_ARTIFACTS ?? "../../test-artifacts/web-risk");
const executablePath = process.env.TM_CHROMIUM ?? "/usr/bin/chromium";
const WAIT = Number(process.env.TM_WAIT_MS ?? 20_000);

const steps = [];
const step = (name, detail = {}) => {
  steps.push({ name, ...detail, at: Date.now() });
  process.stderr.write(`e2e: ${name} ${JSON.stringify(detail)}\n`);
};

mkdirSync(artifacts, { recursive: true });
const profile = mkdtempSync(join(tmpdir(), "trademesh-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath,
  headless: true,
  viewport: { width: 1280, height: 900 },
  timezoneId: "Asia/Kolkata",
  locale: "en-IN",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-sync"],
});
context.setDefaultTimeout(WAIT);
const page = context.pages()[0] ?? (await context.newPage());
const consoleErrors = [];
page.on("pageerror", (error) => consoleErrors.push(String(error)));

const shot = async (name) => {
  const path = join(artifacts, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  step("screenshot", { path });
};
const go = (hash) => page.evaluate((value) => (location.hash = value), hash);

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
  await page.getByTestId("login-form").waitFor();
  await page.getByRole("tab", { name: "Register" }).click();
  await page.getByLabel("Email").fill(`${name}@example.com`);
  await page.getByLabel("Username").fill(name);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Create account" }).click();
  await page.getByTestId("current-user").filter({ hasText: name }).waitFor();
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
  failure = String(error?.stack ?? error);
  await page.screenshot({ path: join(artifacts, "risk-failure.png"), fullPage: true }).catch(() => {});
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
process.stdout.write(JSON.stringify({ ok, steps, ...(ok ? {} : { error: failure }) }) + "\n");
process.exit(ok ? 0 : 1);
