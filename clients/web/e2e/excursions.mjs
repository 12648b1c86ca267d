// MAE/MFE in the browser (docs/decisions/0270), against a running mesh (Envoy serving dist/ at `/`), in
// Debian's headless Chromium driven by playwright-core. Run by tests/web/test_browser_excursions.py, which
// registers the user and writes one round trip closed today (TM_DAY) on TM_SYMBOL:
//
//   TM_URL=http://127.0.0.1:8080/ TM_USER=name TM_PASSWORD=… TM_DAY=2026-12-06 TM_SYMBOL=INFY node e2e/excursions.mjs
//
// log in → the calendar's day lists the round trip with its MAE, MFE and how they were measured → the
// analytics screen shows the MAE/MFE summary. Waits are on conditions, never fixed sleeps. Prints one JSON
// line {"ok", "steps", "error"?}.
import { launch } from "./harness.mjs";

const user = process.env.TM_USER ?? "";
const password = process.env.TM_PASSWORD ?? "";
const day = process.env.TM_DAY ?? "";
const symbol = process.env.TM_SYMBOL ?? "";
const QUALITIES = ["exact", "from bars", "partial", "unavailable"];

const { url, artifacts, step, page, consoleErrors, shot, go, end } = await launch("web-excursions", { width: 1400, height: 900 });

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
  failure = error;
}
await end(ok, failure, "excursions");
