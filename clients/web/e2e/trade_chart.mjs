// The chart of a trade end to end, in Debian's headless Chromium (playwright-core), against a running mesh
// (Envoy serving dist/ at `/`). Run by tests/web/test_trade_chart.py, which registers the user and writes its
// trades through the SDK first (a round trip minutes ago on a symbol the simulated feed ticks, and one long ago):
//
//   TM_URL=http://127.0.0.1:8080/ TM_USER=name TM_PASSWORD=… TM_DAY=2026-12-06 TM_SYMBOL=INFY \
//   TM_OLD_SYMBOL=HDFC TM_ARTIFACTS=../../test-artifacts/web node e2e/trade_chart.mjs
//
// Calendar → the day → the round trip's chart: candles drawn on a canvas, a marker per fill; the resolution
// switcher redraws 5-minute and day bars; from the trade list, the old round trip says plainly that no bars
// were recorded. Waits are on conditions, never fixed sleeps. Prints one JSON line
// {"ok": bool, "steps": [...], "error"?: string} and exits 0 only when ok.
import { launch } from "./harness.mjs";

const { url, step, page, consoleErrors, shot, go, end } = await launch("web", { consoleErrors: true });

const user = process.env.TM_USER ?? "";
const password = process.env.TM_PASSWORD ?? "";
const day = process.env.TM_DAY ?? "";
const symbol = process.env.TM_SYMBOL ?? "INFY";
const oldSymbol = process.env.TM_OLD_SYMBOL ?? "HDFC";


/** Wait for the chart at `resolution` with candles; return what it exposes and what it drew. */
async function chartAt(resolution) {
  const selector = `[data-testid="trade-chart"][data-resolution="${resolution}"]`;
  await page.waitForFunction(
    (sel) => {
      const chart = document.querySelector(sel);
      return chart && Number(chart.getAttribute("data-candles")) > 0 && chart.querySelectorAll("canvas").length > 0;
    },
    selector,
  );
  return page.locator(selector).evaluate((chart) => {
    const canvases = [...chart.querySelectorAll("canvas")];
    return {
      candles: Number(chart.getAttribute("data-candles")),
      markers: Number(chart.getAttribute("data-markers")),
      canvases: canvases.length,
      drawn: canvases.some((canvas) => canvas.width > 100 && canvas.height > 100),
    };
  });
}

let ok = false;
let failure = "";
try {
  await page.goto(url);
  await page.getByTestId("login-form").waitFor();
  await page.getByLabel("Email or username").fill(user);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByTestId("current-user").filter({ hasText: user }).waitFor();
  step("logged in");

  // Calendar → day → the round trip's chart.
  await go("calendar");
  await page.getByTestId("calendar-screen").waitFor();
  await page.getByTestId("calendar-month").fill(day.slice(0, 7));
  await page.locator(`[data-testid="calendar-grid"][data-month="${day.slice(0, 7)}"][data-loaded="1"]`).waitFor();
  await page.locator(`[data-testid="calendar-day"][data-date="${day}"]`).click();
  await page.locator(`[data-testid="day-trips"][data-date="${day}"]`).waitFor();
  step("calendar opens the day", { day });
  await page.locator(`[data-testid="day-trip"][data-symbol="${symbol}"] [data-testid="day-trip-chart"]`).click();
  await page.getByTestId("trade-detail").waitFor();
  const first = await chartAt("1m");
  if (first.markers !== 2) throw new Error(`expected a marker per fill (2), the chart has ${first.markers}`);
  if (!first.drawn) throw new Error("the chart's canvases are not drawn");
  const fills = await page.getByTestId("trade-fill").evaluateAll((els) => els.map((el) => el.getAttribute("data-side")));
  step("round trip chart shows candles and markers", { ...first, fills, hash: await page.evaluate(() => location.hash) });
  await shot("trade-chart-01-minutes");

  // The switcher redraws the same round trip at 5-minute and day resolution.
  await page.locator('[data-testid="chart-resolution"][data-resolution="5m"]').click();
  const five = await chartAt("5m");
  await page.locator('[data-testid="chart-resolution"][data-resolution="1d"]').click();
  const days = await chartAt("1d");
  if (five.markers !== 2 || days.markers !== 2) throw new Error(`markers lost on switching: ${five.markers}, ${days.markers}`);
  step("switcher redraws 5-minute and day bars", { five, days });

  // From the trade list: an old round trip has no bars, and says so.
  await go("trades");
  await page.locator(`[data-testid="trade-row"][data-symbol="${oldSymbol}"] [data-testid="trade-chart-link"]`).first().click();
  const empty = page.getByTestId("trade-chart-empty");
  await empty.waitFor();
  const said = await empty.innerText();
  if (!said.includes("No bars recorded for this period")) throw new Error(`the empty chart says ${JSON.stringify(said)}`);
  step("old round trip says no bars", { said, resolution: await empty.getAttribute("data-resolution") });
  await shot("trade-chart-02-no-bars");
  if (consoleErrors.length) throw new Error(`console errors: ${consoleErrors.join(" | ")}`);
  ok = true;
} catch (error) {
  failure = error;
}
await end(ok, failure, "trade-chart");
