// Watchlists and the P&L calendar end to end, in Debian's headless Chromium (playwright-core), against a
// running mesh (Envoy serving dist/ at `/`). Run by tests/web/test_watchlists_calendar.py, which registers
// the user and writes its trades through the SDK first:
//
//   TM_URL=http://127.0.0.1:8080/ TM_USER=name TM_PASSWORD=… TM_DAY=2026-11-09 TM_DAY_NET=98000000 \
//   TM_DAY_SYMBOL=HDFC TM_ARTIFACTS=../../test-artifacts/web node e2e/lists_calendar.mjs
//
// Watchlists: create a list, add symbols, rename it, drag it before the first list, reload the page (tokens
// live in memory only, so log in again) and find it all as it was. Calendar: open the month, click the day,
// see its round trips. Waits are on conditions, never fixed sleeps. Prints one JSON line
// {"ok": bool, "steps": [...], "error"?: string} and exits 0 only when ok.
import { launch } from "./harness.mjs";

const { url, step, page, consoleErrors, shot, go, end } = await launch("web", { consoleErrors: true });

const user = process.env.TM_USER ?? "";
const password = process.env.TM_PASSWORD ?? "";
const day = process.env.TM_DAY ?? "";
const dayNet = process.env.TM_DAY_NET ?? "";
const daySymbol = process.env.TM_DAY_SYMBOL ?? "";

const tabNames = () => page.getByTestId("watchlist-tab").evaluateAll((els) => els.map((el) => el.getAttribute("data-name")));
const rowSymbols = () => page.getByTestId("quote-row").evaluateAll((els) => els.map((el) => el.getAttribute("data-symbol")));
const waitForTabs = (names) =>
  page.waitForFunction(
    (wanted) => JSON.stringify([...document.querySelectorAll('[data-testid="watchlist-tab"]')].map((el) => el.getAttribute("data-name"))) === JSON.stringify(wanted),
    names,
  );
const waitForRows = (symbols) =>
  page.waitForFunction(
    (wanted) => JSON.stringify([...document.querySelectorAll('[data-testid="quote-row"]')].map((el) => el.getAttribute("data-symbol"))) === JSON.stringify(wanted),
    symbols,
  );

async function logIn() {
  await page.getByTestId("login-form").waitFor();
  await page.getByLabel("Email or username").fill(user);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByTestId("current-user").filter({ hasText: user }).waitFor();
}

let ok = false;
let failure = "";
try {
  if (!user || !password || !day) throw new Error("TM_USER, TM_PASSWORD and TM_DAY are required");
  await page.goto(url);
  await logIn();
  step("logged in", { user });

  // A first visit starts the user with one stored list, streamed by its id.
  await go("watchlist");
  await waitForTabs(["My watchlist"]);
  await page.locator('[data-testid="stream-state"]', { hasText: "Live" }).waitFor();
  step("default list streams", { rows: await rowSymbols() });

  // A second list: create, add two symbols, remove one, add it back, rename.
  await page.getByLabel("New list").fill("Banks");
  await page.getByRole("button", { name: "Create" }).click();
  await waitForTabs(["My watchlist", "Banks"]);
  await page.getByTestId("watchlist-empty").waitFor();
  for (const symbol of ["SBIN", "HDFCBANK", "ICICIBANK"]) {
    await page.getByLabel("Add symbol").fill(symbol);
    await page.getByRole("button", { name: "Add", exact: true }).click();
    await page.locator(`[data-testid="quote-row"][data-symbol="${symbol}"]`).waitFor();
  }
  await page.getByRole("button", { name: "Remove HDFCBANK" }).click();
  await waitForRows(["SBIN", "ICICIBANK"]);
  await page.getByRole("button", { name: "Rename" }).click();
  await page.getByLabel("Name", { exact: true }).fill("Bank stocks");
  await page.getByRole("button", { name: "Save name" }).click();
  await waitForTabs(["My watchlist", "Bank stocks"]);
  step("list built", { rows: await rowSymbols() });

  // Drag to reorder: the new list's tab onto the first one; its rows too (ICICIBANK before SBIN).
  await page.locator('[data-testid="watchlist-tab"][data-name="Bank stocks"]').dragTo(page.locator('[data-testid="watchlist-tab"][data-name="My watchlist"]'));
  await waitForTabs(["Bank stocks", "My watchlist"]);
  await page.locator('[data-testid="quote-row"][data-symbol="ICICIBANK"]').dragTo(page.locator('[data-testid="quote-row"][data-symbol="SBIN"]'));
  await waitForRows(["ICICIBANK", "SBIN"]);
  await page.locator('[data-testid="stream-state"]', { hasText: "Live" }).waitFor();
  step("reordered by drag", { tabs: await tabNames(), rows: await rowSymbols() });
  await shot("lists-01-before-reload");

  // Reload: the session is gone (tokens live in memory), the lists are not.
  await page.reload();
  await logIn();
  await go("watchlist");
  await waitForTabs(["Bank stocks", "My watchlist"]);
  await page.locator('[data-testid="watchlist-tab"][data-name="Bank stocks"]').click();
  await waitForRows(["ICICIBANK", "SBIN"]);
  await page.locator('[data-testid="stream-state"]', { hasText: "Live" }).waitFor();
  step("lists survive reload", { tabs: await tabNames(), rows: await rowSymbols() });
  await shot("lists-02-after-reload");

  // The keyboard's way to reorder: move buttons on rows and on the list.
  await page.getByRole("button", { name: "Move SBIN up" }).click();
  await waitForRows(["SBIN", "ICICIBANK"]);
  await page.getByRole("button", { name: "Move list right" }).click();
  await waitForTabs(["My watchlist", "Bank stocks"]);
  step("reordered by buttons", { tabs: await tabNames(), rows: await rowSymbols() });

  // Calendar → day.
  await go("calendar");
  await page.getByTestId("calendar-screen").waitFor();
  await page.getByTestId("calendar-month").fill(day.slice(0, 7));
  await page.locator(`[data-testid="calendar-grid"][data-month="${day.slice(0, 7)}"][data-loaded="1"]`).waitFor();
  const cell = page.locator(`[data-testid="calendar-day"][data-date="${day}"]`);
  await page.waitForFunction((date) => document.querySelector(`[data-testid="calendar-day"][data-date="${date}"]`)?.getAttribute("data-net"), day);
  const net = await cell.getAttribute("data-net");
  if (dayNet && net !== dayNet) throw new Error(`the calendar shows ${net} on ${day}, expected ${dayNet}`);
  step("calendar shows the day", { day, net, total: await page.getByTestId("calendar-month-total").innerText() });
  await cell.click();
  await page.locator(`[data-testid="day-trips"][data-date="${day}"]`).waitFor();
  const trips = await page.getByTestId("day-trip").evaluateAll((els) => els.map((el) => el.getAttribute("data-symbol")));
  if (daySymbol && !trips.includes(daySymbol)) throw new Error(`the day's round trips ${JSON.stringify(trips)} miss ${daySymbol}`);
  step("day lists its round trips", { trips });
  await shot("calendar-01-day");
  if (consoleErrors.length) throw new Error(`console errors: ${consoleErrors.join(" | ")}`);
  ok = true;
} catch (error) {
  failure = error;
}
await end(ok, failure, "lists-calendar");
