// P&L guardrails in the browser client end to end (decision 0300), against a running mesh (Envoy serving dist/
// at `/`), in Debian's headless Chromium driven by playwright-core. Run by tests/web/test_guardrails_browser.py:
//
//   TM_URL=http://127.0.0.1:8080/ TM_ARTIFACTS=../../test-artifacts/web-guardrails node e2e/guardrails.mjs
//
// Registers, buys 10 INFY far above the simulated price (a live loss of ~₹9,000), opens the alert editor, sees a
// drawdown of 150 % refused under its field, sets a daily loss limit of ₹5,000 (every day), and waits for the
// guardrail to fire from analytics' live P&L: the bell rises, the row turns COOLING_DOWN, the inbox shows the notice.
// Prints one JSON line {"ok": bool, "steps": [...], "error"?: string} and exits 0 only when ok.
import { createClient } from "@connectrpc/connect";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { common, trade } from "@trademesh/sdk";
import { launch, register } from "./harness.mjs";

const { url, step, page, outside, shot, end } = await launch("web-guardrails", { height: 860, wait: 30_000, consoleErrors: true });
const trades = createClient(trade.TradeService, outside());

let ok = false;
let failure = "";
try {
  const name = `e2g_${Date.now().toString(36)}`;
  await page.goto(url);
  await register(page, name, "Guard-Rail-42");
  await page.locator('[data-testid="bell"][data-stream="live"][data-count="0"]').waitFor();
  step("registered, bell live at 0", { username: name });

  // 10 INFY at ₹2,500 while the simulated feed quotes about ₹1,574: today's P&L is a loss of ~₹9,260 + charges.
  await trades.createTrade({
    requestId: crypto.randomUUID(),
    trade: {
      instrument: { symbol: "INFY", exchange: common.Exchange.NSE },
      side: trade.Side.BUY,
      quantityMicros: 10_000_000n,
      priceMicros: 2_500_000_000n,
      tradeTime: timestampFromMs(Date.now() - 600_000),
    },
  });
  step("losing position opened");

  await page.evaluate(() => (location.hash = "#/alerts"));
  await page.getByTestId("new-alert").click();
  const form = page.getByTestId("alert-form");
  await form.waitFor();
  await form.getByLabel("When").selectOption("drawdown");
  if (await form.getByLabel("Instrument").count()) throw new Error("a guardrail's editor asks for an instrument");
  await form.getByLabel("Fall from the peak (₹ or %)").fill("150%");
  await form.getByTestId("save-alert").click();
  const violation = form.locator('[data-field="alert-value"] .field-error');
  await violation.waitFor();
  step("drawdown share refused", { violation: await violation.innerText() });

  await form.getByLabel("When").selectOption("dailyLoss");
  await form.getByLabel("Loss limit (₹)").fill("5,000");
  await form.getByLabel("Repeat").selectOption("rearm");
  if (await form.getByLabel("Cool-down (minutes)").count()) throw new Error("a daily guardrail asks for a cool-down");
  await form.getByLabel("Note").fill("stop trading for the day");
  await shot("g1-guardrail-editor");
  await form.getByTestId("save-alert").click();
  await page.getByTestId("alert-flash").filter({ hasText: "your book" }).waitFor();
  const row = page.locator('[data-testid="alert-row"]').filter({ hasText: "Your book" });
  await row.waitFor();
  const alertId = await row.getAttribute("data-id");
  step("guardrail created", { alertId, text: await row.innerText() });

  // Analytics' live P&L (marked by the feed's ticks) is beyond the limit: the guardrail fires once.
  await page.locator('[data-testid="bell"][data-count="1"]').waitFor();
  await page.locator(`[data-testid="alert-row"][data-id="${alertId}"][data-state="COOLING_DOWN"]`).waitFor();
  step("guardrail fired, re-arms tomorrow", { text: await page.locator(`[data-testid="alert-row"][data-id="${alertId}"]`).innerText() });
  await shot("g2-guardrail-fired");
  await page.evaluate(() => (location.hash = "#/inbox"));
  const notice = page.getByText(/Daily loss limit reached: -\d+/).first();
  await notice.waitFor();
  step("inbox shows it", { title: await notice.innerText() });
  await shot("g3-inbox");
  step("done");
  ok = true;
} catch (error) {
  failure = error;
}
await end(ok, failure);
