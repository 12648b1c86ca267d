// MAE/MFE in the browser (docs/decisions/0270), against a running mesh (Envoy serving dist/ at `/`), in
// Debian's headless Chromium driven by playwright-core. Run by tests/web/test_browser_excursions.py, which
// registers the user and writes one round trip closed today (TM_DAY) on TM_SYMBOL:
//
//   TM_URL=http://127.0.0.1:8080/ TM_USER=name TM_PASSWORD=… TM_DAY=2026-12-06 TM_SYMBOL=INFY node e2e/excursions.mjs
//
// log in → the calendar's day lists the round trip with its MAE, MFE and how they were measured → the
// analytics screen shows the MAE/MFE summary. Waits are on conditions, never fixed sleeps. Prints one JSON
// line {"ok", "steps", "error"?}.
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromium } from "playwright-core";

const url = process.env.TM_URL ?? "http://127.0.0.1:8080/";
const artifacts = resolve(process.env.TM_ARTIFACTS ?? "../../test-artifacts/web-excursions");
const executablePath = process.env.TM_CHROMIUM ?? "/usr/bin/chromium";
const WAIT = Number(process.env.TM_WAIT_MS ?? 20_000);
const user = process.env.TM_USER ?? "";
const password = process.env.TM_PASSWORD ?? "";
const day = process.env.TM_DAY ?? "";
const symbol = process.env.TM_SYMBOL ?? "";
const QUALITIES = ["exact", "from bars", "partial", "unavailable"];

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
  viewport: { width: 1400, height: 900 },
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
const go = (route) => page.evaluate((hash) => (location.hash = hash), `#/${route}`);

let ok = false;
let failure = "";
try {
  if (!user || !password || !day || !symbol) throw new Error("TM_USER, TM_PASSWORD, TM_DAY and TM_SYMBOL are required");
  await page.goto(url);
  await page.getByTestId("login-form").waitFor();
  await page.getByLabel("Email or username").fill(user);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByTestId("current-user").filter({ hasText: user }).waitFor();
  step("logged in", { user });

  await go("calendar");
  await page.getByTestId("calendar-screen").waitFor();
  await page.getByTestId("calendar-month").fill(day.slice(0, 7));
  await page.locator(`[data-testid="calendar-grid"][data-month="${day.slice(0, 7)}"][data-loaded="1"]`).waitFor();
  await page.locator(`[data-testid="calendar-day"][data-date="${day}"]`).click();
  const row = page.locator(`[data-testid="day-trip"][data-symbol="${symbol}"]`);
  await row.waitFor();
  const quality = (await row.getByTestId("trip-excursion-quality").innerText()).trim();
  const mae = (await row.getByTestId("trip-mae").innerText()).trim();
  const mfe = (await row.getByTestId("trip-mfe").innerText()).trim();
  if (!QUALITIES.includes(quality)) throw new Error(`the round trip's excursion is measured "${quality}"`);
  const measured = quality !== "unavailable";
  if (measured !== mae.includes("₹") || measured !== mfe.includes("₹")) {
    throw new Error(`MAE "${mae}" / MFE "${mfe}" do not match the quality "${quality}"`);
  }
  if (mae.startsWith("+")) throw new Error(`an MAE is never positive: "${mae}"`);
  step("the day shows MAE and MFE", { quality, mae, mfe });
  await shot("excursions-01-day");

  await go("analytics");
  await page.getByTestId("analytics-report").waitFor();
  const card = page.getByTestId("excursions");
  await card.waitFor();
  const summary = { measured: await card.getAttribute("data-measured"), average: await page.getByTestId("metric-average-mae").innerText() };
  step("analytics shows the MAE/MFE summary", summary);
  await shot("excursions-02-analytics");

  if (consoleErrors.length) throw new Error(`page errors: ${consoleErrors.join(" | ")}`);
  ok = true;
} catch (error) {
  failure = String(error?.stack ?? error);
  await page.screenshot({ path: join(artifacts, "excursions-failure.png"), fullPage: true }).catch(() => {});
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
process.stdout.write(JSON.stringify({ ok, steps, ...(ok ? {} : { error: failure }) }) + "\n");
process.exit(ok ? 0 : 1);
