// End-to-end journey of the browser client against a running mesh (Envoy serving dist/ at `/`),
// in Debian's headless Chromium driven by playwright-core. Run by tests/web/test_browser.py:
//
//   TM_URL=http://127.0.0.1:8080/ TM_ARTIFACTS=../../test-artifacts/web \
//   TM_EXPECT_TRADE=1 TM_EXPECT_MARKETDATA=1 TM_EXPECT_ANALYTICS=0 node e2e/journey.mjs
//
// TM_EXPECT_<SERVICE>=1 means the service runs behind the gateway and its screen must work; 0 means it
// does not, and the screen must say so gracefully. Waits are on conditions, never fixed sleeps.
// Prints one JSON line {"ok": bool, "steps": [...], "error"?: string} and exits 0 only when ok.
import { launch } from "./harness.mjs";

const expect = (name) => process.env[`TM_EXPECT_${name}`] === "1";
const { url, wait, step, page, tokens, shot, go, end } = await launch("web", { height: 860, consoleErrors: true });

// TM_EXPECT_REFRESH=1: the stack issues short-lived access tokens, so the app must refresh during the run.
const expectRefresh = expect("REFRESH");

/** A grpc-web GetMe with `authorization`, made by the page itself; returns the grpc-status. */
async function getMeStatus(authorization) {
  return page.evaluate(
    async ({ base, authorization }) => {
      const response = await fetch(new URL("trademesh.auth.v1.AuthService/GetMe", base), {
        method: "POST",
        headers: { "content-type": "application/grpc-web+proto", "x-grpc-web": "1", authorization },
        body: new Uint8Array([0, 0, 0, 0, 0]),
      });
      const header = response.headers.get("grpc-status");
      if (header !== null) return Number(header);
      const bytes = new Uint8Array(await response.arrayBuffer());
      let offset = 0;
      while (offset + 5 <= bytes.length) {
        const length = new DataView(bytes.buffer, offset + 1, 4).getUint32(0);
        if (bytes[offset] & 0x80) {
          const text = new TextDecoder().decode(bytes.subarray(offset + 5, offset + 5 + length));
          const match = /grpc-status:\s*(\d+)/i.exec(text);
          return match ? Number(match[1]) : -1;
        }
        offset += 5 + length;
      }
      return response.ok ? -1 : -response.status;
    },
    { base: url, authorization },
  );
}

let ok = false;
let failure = "";
try {
  const name = `e2e_${Date.now().toString(36)}`;
  const password = "Journey-Horse-42";

  await page.goto(url);
  await page.getByTestId("login-form").waitFor();
  await shot("01-login");

  // Register: first with a weak password (the server's field violation shows under the field), then properly.
  await page.getByRole("tab", { name: "Register" }).click();
  await page.getByLabel("Email").fill(`${name}@example.com`);
  await page.getByLabel("Username").fill(name);
  await page.getByLabel("Password").fill("short");
  await page.getByRole("button", { name: "Create account" }).click();
  await page.locator('[data-field="password"] .field-error').waitFor();
  step("register rejected weak password", { violation: await page.locator('[data-field="password"] .field-error').innerText() });
  await shot("02-register-field-violation");
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Create account" }).click();
  await page.getByTestId("current-user").filter({ hasText: name }).waitFor();
  step("registered", { username: name });

  // Log out, then log in with the new account.
  await page.getByTestId("logout").click();
  await page.getByTestId("login-form").waitFor();
  await page.getByLabel("Email or username").fill(name);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByTestId("current-user").filter({ hasText: name }).waitFor();
  step("logged in");
  const refreshed = expectRefresh
    ? page.waitForResponse((r) => r.url().endsWith("/trademesh.auth.v1.AuthService/Refresh") && r.ok(), { timeout: 60_000 })
    : null;

  // Trades.
  await go("trades");
  if (expect("TRADE")) {
    await page.getByTestId("trades-table").waitFor();
    await page.getByTestId("add-trade").click();
    const form = page.getByTestId("trade-form");
    await form.getByLabel("Symbol").fill("INFY");
    await form.getByLabel("Quantity").fill("0");
    await form.getByLabel("Price (₹)").fill("1573.70");
    await form.getByRole("button", { name: "Add trade" }).click();
    await form.locator('[data-field="quantity"] .field-error').waitFor();
    step("trade rejected zero quantity", { violation: await form.locator('[data-field="quantity"] .field-error').innerText() });
    await form.getByLabel("Quantity").fill("10");
    await form.getByRole("button", { name: "Add trade" }).click();
    await page.getByTestId("flash").filter({ hasText: "INFY" }).waitFor();
    await page.locator('[data-testid="trade-row"][data-symbol="INFY"]').waitFor();
    step("trade listed", { rows: await page.getByTestId("trade-row").count() });

    // Edit (UpdateTrade with an update_mask and the etag): a journal field.
    await page.getByRole("button", { name: "Edit INFY trade" }).click();
    await page.getByTestId("trade-form").getByLabel("Strategy").fill("Breakout");
    await page.getByTestId("trade-form").getByRole("button", { name: "Save changes" }).click();
    await page.locator('[data-testid="trade-row"][data-symbol="INFY"]', { hasText: "Breakout" }).waitFor();
    step("trade edited");

    // CSV import with per-row results: one good row, one bad.
    await page.getByTestId("import-panel").locator("summary").click();
    const csv = [
      "symbol,exchange,side,quantity,price,trade_time",
      "TCS,NSE,BUY,2,4087.15,2024-06-03 10:15",
      "TCS,NSE,HOLD,2,abc,2024-06-03 10:16",
    ].join("\n");
    await page.getByLabel("File").setInputFiles({ name: "trades.csv", mimeType: "text/csv", buffer: Buffer.from(csv) });
    await page.getByRole("button", { name: "Import", exact: true }).click();
    const imported = page.getByTestId("import-result");
    await imported.filter({ hasText: "1 created" }).waitFor();
    step("csv imported", { result: (await imported.innerText()).split("\n")[0] });
    await page.locator('[data-testid="trade-row"][data-symbol="TCS"]').waitFor();
    await shot("03-trades");

    await go("positions");
    await page.locator('[data-testid="position-row"][data-symbol="INFY"]').waitFor();
    step("position shown");
    await shot("04-positions");
  } else {
    await page.getByTestId("unavailable").waitFor();
    step("trades unavailable shown");
    await shot("03-trades-unavailable");
  }

  // Watchlist: the snapshot, then at least one tick (a higher sequence on some row).
  await go("watchlist");
  if (expect("MARKETDATA")) {
    await page.locator('[data-testid="stream-state"]', { hasText: "Live" }).waitFor();
    const rows = page.locator('[data-testid="quote-row"]');
    await page.waitForFunction(() =>
      [...document.querySelectorAll('[data-testid="quote-row"]')].every((row) => row.getAttribute("data-sequence")),
    );
    const before = await rows.evaluateAll((els) => els.map((el) => [el.getAttribute("data-symbol"), el.getAttribute("data-sequence")]));
    await page.waitForFunction(
      (initial) =>
        [...document.querySelectorAll('[data-testid="quote-row"]')].some((row) => {
          const was = initial.find(([symbol]) => symbol === row.getAttribute("data-symbol"));
          return was && BigInt(row.getAttribute("data-sequence") || "0") > BigInt(was[1] || "0");
        }),
      before,
    );
    const after = await rows.evaluateAll((els) => els.map((el) => [el.getAttribute("data-symbol"), el.getAttribute("data-sequence")]));
    step("watchlist ticked", { before, after });
    await shot("05-watchlist");
  } else {
    await page.getByTestId("marketdata-unavailable").waitFor();
    step("market data unavailable shown");
    await shot("05-watchlist-unavailable");
  }

  // Analytics.
  await go("analytics");
  if (expect("ANALYTICS")) {
    // The report reflects the journal asynchronously: reload it until it counts the trade.
    const needFills = expect("TRADE") ? 1 : 0;
    const fills = async () => Number((await page.getByTestId("analytics-report").getAttribute("data-fills", { timeout: 1_000 }).catch(() => null)) ?? "-1");
    const deadline = Date.now() + wait;
    await page.getByTestId("analytics-report").waitFor();
    while ((await fills()) < needFills) {
      if (Date.now() > deadline) throw new Error("analytics never reflected the trade");
      await page.getByTestId("analytics-reload").click();
      await page.getByTestId("analytics-reload").and(page.locator(":enabled")).waitFor();
    }
    step("analytics reflects the trade", { fills: await page.getByTestId("analytics-report").getAttribute("data-fills") });
    await shot("06-analytics");
  } else {
    await page.getByTestId("analytics-unavailable").waitFor();
    await page.getByTestId("livepnl-unavailable").waitFor();
    step("analytics unavailable shown");
    await shot("06-analytics-unavailable");
  }
  await go("trades");
  await page.getByTestId("current-user").waitFor();
  await page.getByTestId("trades-table").or(page.getByTestId("unavailable")).waitFor();
  await shot("dashboard");
  // The same screen on a phone-sized viewport (responsive layout).
  await page.setViewportSize({ width: 390, height: 844 });
  await shot("dashboard-mobile");
  await page.setViewportSize({ width: 1280, height: 860 });

  if (refreshed) {
    await refreshed;
    // A protected call after the refresh carries the new token.
    await go("positions");
    await Promise.all([page.waitForRequest((r) => r.url().endsWith("/GetAnalytics")), go("analytics")]);
    if (tokens.seen.size < 2) throw new Error(`the app refreshed but kept sending the same access token`);
    step("token refreshed", { tokens: tokens.seen.size });
  }

  // Log out and be locked out: back at the login screen, protected screens stay closed, and the token
  // the app used no longer works at the server.
  const token = tokens.last;
  if (!token) throw new Error("no protected call carried an access token");
  const statusBefore = await getMeStatus(token);
  if (statusBefore !== 0) throw new Error(`GetMe with the live token ended with grpc-status ${statusBefore}, expected 0`);
  await page.getByTestId("logout").click();
  await page.getByTestId("login-form").waitFor();
  await go("positions");
  await page.getByTestId("login-form").waitFor();
  const statusAfter = await getMeStatus(token);
  if (statusAfter !== 16) throw new Error(`GetMe after logout ended with grpc-status ${statusAfter}, expected 16 (UNAUTHENTICATED)`);
  step("locked out", { statusBefore, statusAfter });
  await shot("07-logged-out");
  ok = true;
} catch (error) {
  failure = error;
}
await end(ok, failure);
