// Live P&L net of charges in the browser (decision 0150), against a running mesh (Envoy serving dist/ at `/`),
// in Debian's headless Chromium driven by playwright-core. Run by tests/web/test_live_pnl.py:
//
//   TM_URL=http://127.0.0.1:8080/ TM_ARTIFACTS=../../test-artifacts/web node e2e/live_pnl.mjs
//
// Registers, buys 10 INFY and sells 4 at a profit (charges computed by the server), then checks that the
// Positions page and the Live P&L screen show the same realized P&L (net, partial exit included), that Live
// P&L shows a break-even price and the definitions panel. Waits are on conditions, never fixed sleeps.
// Prints one JSON line {"ok": bool, "steps": [...], "error"?: string} and exits 0 only when ok.
import { launch, register } from "./harness.mjs";

const { url, step, page, shot, go, end } = await launch("web", { width: 1400, wait: 30_000 });



async function addTrade(side, quantity, price) {
  await page.getByTestId("add-trade").click();
  const form = page.getByTestId("trade-form");
  await form.getByLabel("Symbol").fill("INFY");
  await form.getByLabel("Side").selectOption({ label: side });
  await form.getByLabel("Quantity").fill(quantity);
  await form.getByLabel("Price (₹)").fill(price);
  const rows = await page.locator('[data-testid="trade-row"][data-symbol="INFY"]').count();
  await form.getByRole("button", { name: "Add trade" }).click();
  await page.waitForFunction(
    (before) => document.querySelectorAll('[data-testid="trade-row"][data-symbol="INFY"]').length > before,
    rows,
  );
}

let ok = false;
let failure = "";
try {
  const name = `pnl_${Date.now().toString(36)}`;
  await page.goto(url);
  await register(page, name, "Journey-Horse-42");
  step("registered", { username: name });

  await go("trades");
  await page.getByTestId("trades-table").waitFor();
  await addTrade("Buy", "10", "1500");
  await addTrade("Sell", "4", "1600");
  step("bought 10, sold 4");

  await go("positions");
  const realizedCell = page.locator('[data-testid="position-row"][data-symbol="INFY"] [data-testid="position-realized"]');
  await realizedCell.waitFor();
  const positionsRealized = (await realizedCell.innerText()).trim();
  step("positions realized", { text: positionsRealized });
  await shot("live-pnl-01-positions");

  await go("analytics");
  const live = page.getByTestId("live-pnl");
  await live.waitFor();
  const liveRealized = live.getByTestId("livepnl-position-realized");
  await liveRealized.waitFor();
  // The snapshot follows the journal: wait until the sell is reflected (realized no longer zero).
  await page.waitForFunction(
    (expected) => document.querySelector('[data-testid="livepnl-position-realized"]')?.textContent?.trim() === expected,
    positionsRealized,
  );
  const allTime = (await live.getByTestId("livepnl-realized-all-time").locator(".metric-value").innerText()).trim();
  if (allTime !== positionsRealized) throw new Error(`realized all time ${allTime} != positions ${positionsRealized}`);
  step("realized agrees", { live: (await liveRealized.innerText()).trim(), allTime, positions: positionsRealized });
  const breakEven = (await live.getByTestId("livepnl-break-even").innerText()).trim();
  if (!/^1,5\d\d\.\d+/.test(breakEven)) throw new Error(`break-even ${breakEven} is not a price a little above 1,500`);
  step("break-even shown", { breakEven });
  await live.getByTestId("livepnl-net-unrealized").waitFor();
  await live.getByTestId("livepnl-exit-charges").waitFor();
  await live.getByTestId("livepnl-definitions").locator("summary").click();
  await live.getByTestId("livepnl-definitions").getByText("Break-even", { exact: true }).waitFor();
  step("definitions shown");
  await shot("live-pnl-02-live");
  ok = true;
} catch (error) {
  failure = error;
}
await end(ok, failure, "live-pnl");
