// End-to-end notifications in the browser client against a running mesh (Envoy serving dist/ at `/`), in
// Debian's headless Chromium driven by playwright-core. Run by tests/web/test_notifications_browser.py:
//
//   TM_URL=http://127.0.0.1:8080/ TM_ARTIFACTS=../../test-artifacts/web-notifications node e2e/notifications.mjs
//
// Registers, opens the alert editor from the INFY watchlist row, sets a one-shot "above" alert below the
// live price (the simulated feed's next INFY tick crosses it), sees the bell's unread count rise over the
// live WatchNotifications stream, finds the notice in the notification centre, marks it read and then all (the count
// falls), deletes it, edits and deletes the alert. The page loads through a TCP relay that the script cuts
// midway (two more alerts fire meanwhile): the bell's stream must reopen with its resume token and count
// all three. Waits are on conditions (the one poll is of the server's list, every 100 ms).
// Prints one JSON line {"ok": bool, "steps": [...], "error"?: string} and exits 0 only when ok.
import { connect, createServer } from "node:net";
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { common, notifications, trade } from "@trademesh/sdk";
import { launch, register } from "./harness.mjs";

const { url, step, page, outside: outsideTo, shot, end } = await launch("web-notifications", { height: 860, wait: 30_000, consoleErrors: true });
const gateway = new URL(url);

/** A TCP relay in front of the gateway that the page loads from; `cut()` resets every connection and refuses new ones. */
function startRelay() {
  const sockets = new Set();
  let server = null;
  let port = 0;
  const listen = () =>
    new Promise((resolve) => {
      server = createServer((socket) => {
        const upstream = connect(Number(gateway.port), gateway.hostname);
        for (const [a, b] of [[socket, upstream], [upstream, socket]]) {
          sockets.add(a);
          a.pipe(b);
          a.on("error", () => b.destroy());
          a.on("close", () => {
            sockets.delete(a);
            b.destroy();
          });
        }
      });
      server.listen(port, "127.0.0.1", () => {
        port = server.address().port;
        resolve();
      });
    });
  return {
    listen,
    url: () => `http://127.0.0.1:${port}/`,
    cut: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}
const relay = startRelay();
await relay.listen();

const bell = page.getByTestId("bell");
const bellCount = (count) => page.locator(`[data-testid="bell"][data-count="${count}"]`).waitFor();
// Every WatchNotifications the page opens (its grpc-web request body: field 1 is the resume token), and the
// access token of the page's protected calls (so this script can act as the same user from outside the page).
const watchBodies = [];
page.on("request", (request) => {
  if (request.url().endsWith("/trademesh.notifications.v1.NotificationsService/WatchNotifications")) {
    watchBodies.push(request.postDataBuffer() ?? Buffer.alloc(0));
  }
});
/** The resume token a WatchNotifications request carried ("" for none): the payload after the 5-byte frame header. */
function resumeTokenOf(body) {
  const payload = body.subarray(5);
  if (payload[0] !== 0x0a) return "";
  let length = 0;
  let at = 1;
  for (let shift = 0; ; shift += 7, at += 1) {
    length |= (payload[at] & 0x7f) << shift;
    if (!(payload[at] & 0x80)) break;
  }
  return payload.subarray(at + 1, at + 1 + length).toString();
}
// The same user's client outside the page, straight to the gateway (not through the relay).
const outsideTransport = outsideTo();
const outside = createClient(notifications.NotificationsService, outsideTransport);
const outsideTrades = createClient(trade.TradeService, outsideTransport);
const aboveOnePaisa = () =>
  outside.createAlert({
    requestId: crypto.randomUUID(),
    alert: create(notifications.AlertSchema, {
      instrument: { symbol: "INFY", exchange: common.Exchange.NSE },
      condition: notifications.AlertCondition.PRICE_ABOVE,
      levelMicros: 10_000n,
    }),
  });

let ok = false;
let failure = "";
try {
  const name = `e2n_${Date.now().toString(36)}`;
  await page.goto(relay.url());
  await register(page, name, "Bell-Ringer-42");
  // The bell's stream is open with an empty inbox: a snapshot said 0 unread.
  await page.locator('[data-testid="bell"][data-stream="live"][data-count="0"]').waitFor();
  step("registered, bell live at 0", { username: name, label: await bell.getAttribute("aria-label") });

  // The watchlist row's alert link opens the editor for that instrument, the live price filled in.
  await page.evaluate(() => (location.hash = "#/watchlist"));
  const row = page.locator('[data-testid="quote-row"][data-symbol="INFY"]');
  await row.locator('[data-testid="ltp"]').filter({ hasText: /\d/ }).waitFor();
  await row.getByTestId("alert-link").click();
  const form = page.getByTestId("alert-form");
  await form.waitFor();
  const instrument = await form.getByLabel("Instrument").inputValue();
  const prefilled = await form.getByLabel("Level (₹)").inputValue();
  if (instrument !== "NSE:INFY" || !(Number(prefilled) > 0)) throw new Error(`editor opened with ${instrument} / ${prefilled}`);
  step("editor opened from the watchlist row", { instrument, prefilled, hash: await page.evaluate(() => location.hash) });

  // A level the server rejects shows its field violation under the field.
  await form.getByLabel("Level (₹)").fill("0");
  await form.getByTestId("save-alert").click();
  await form.locator('[data-field="alert-value"] .field-error').waitFor();
  step("level rejected", { violation: await form.locator('[data-field="alert-value"] .field-error').innerText() });

  // Above half the live price: the next INFY tick crosses it.
  const level = Math.max(1, Math.floor(Number(prefilled) / 2)).toString();
  await form.getByLabel("When").selectOption("above");
  await form.getByLabel("Level (₹)").fill(level);
  await form.getByLabel("Note").fill("from the watchlist");
  await shot("n1-alert-editor");
  await form.getByTestId("save-alert").click();
  await page.getByTestId("alert-flash").filter({ hasText: "INFY" }).waitFor();
  const alertRow = page.locator('[data-testid="alert-row"][data-symbol="INFY"]');
  await alertRow.waitFor();
  const alertId = await alertRow.getAttribute("data-id");
  step("alert created", { alertId, level });

  // The tick fires it: the bell rises over the live stream (no reload, no polling).
  await bellCount(1);
  await page.locator(`[data-testid="alert-row"][data-id="${alertId}"][data-state="TRIGGERED"]`).waitFor();
  step("bell count rose", { label: await bell.getAttribute("aria-label"), watchOpens: watchBodies.length });
  await shot("n2-bell");

  // The relay cuts the page off: the bell's stream breaks. Two alerts fire meanwhile (created from outside
  // the page); back online, the stream reopens with its resume token and the bell shows all three.
  await relay.cut();
  await page.locator('[data-testid="bell"][data-stream="retrying"]').waitFor();
  await aboveOnePaisa();
  await aboveOnePaisa();
  for (let tries = 0; (await outside.listNotifications({ pageSize: 10 })).notifications.length < 3; tries += 1) {
    if (tries > 300) throw new Error("the alerts fired outside the page did not make notices");
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await relay.listen();
  await bellCount(3);
  const reopened = watchBodies.slice(1).map(resumeTokenOf);
  if (resumeTokenOf(watchBodies[0]) !== "") throw new Error("the first WatchNotifications carried a resume token");
  if (!reopened.length || reopened.some((token) => !token)) throw new Error(`a reconnect did not resume with the token: ${reopened.length} reopen(s)`);
  step("stream resumed with its token after a cut", { reopens: reopened.length });

  // The notification centre shows it, unread, linked to the alert.
  await bell.click();
  await page.getByTestId("inbox-screen").waitFor();
  const notice = page.locator(`[data-testid="notification-row"][data-alert-id="${alertId}"]`);
  await notice.waitFor();
  if ((await notice.getAttribute("data-read")) !== "false") throw new Error("the new notification is not unread");
  step("inbox shows it", { text: (await notice.innerText()).replace(/\s+/g, " ").slice(0, 160) });
  await page.getByTestId("unread-only").check();
  await notice.waitFor();
  await shot("n3-inbox");

  // Mark read: the bell falls at once (the count MarkRead answered); then "Mark all read" clears the other two.
  await notice.getByTestId("mark-read").click();
  await bellCount(2);
  await page.locator(`[data-testid="notification-row"][data-alert-id="${alertId}"]`).waitFor({ state: "detached" });
  if ((await page.getByTestId("notification-row").count()) !== 2) throw new Error("the unread filter does not show the other two");
  await page.getByTestId("mark-all-read").click();
  await bellCount(0);
  await page.getByText("Nothing unread.").waitFor();
  await page.getByTestId("unread-only").uncheck();
  await page.locator(`[data-testid="notification-row"][data-alert-id="${alertId}"][data-read="true"]`).waitFor();
  step("marked read, bell back to 0", { rows: await page.getByTestId("notification-row").count() });

  // Delete the notice.
  await page.locator(`[data-testid="notification-row"][data-alert-id="${alertId}"]`).getByTestId("delete-notification").click();
  await page.locator(`[data-testid="notification-row"][data-alert-id="${alertId}"]`).waitFor({ state: "detached" });
  step("notification deleted");

  // The alert fired once: edit it (re-arms it with a new level far above), then delete it.
  await page.evaluate(() => (location.hash = "#/alerts"));
  const fired = page.locator(`[data-testid="alert-row"][data-id="${alertId}"][data-state="TRIGGERED"]`);
  await fired.waitFor();
  await fired.getByTestId("edit-alert").click();
  await page.getByTestId("alert-form").getByLabel("Level (₹)").fill("999999");
  await page.getByTestId("alert-form").getByTestId("save-alert").click();
  await page.locator(`[data-testid="alert-row"][data-id="${alertId}"][data-state="ARMED"]`).waitFor();
  step("alert edited and armed again");
  await shot("n4-alerts");
  await page.locator(`[data-testid="alert-row"][data-id="${alertId}"]`).getByTestId("delete-alert").click();
  await page.locator(`[data-testid="alert-row"][data-id="${alertId}"]`).waitFor({ state: "detached" });
  step("alert deleted");


  // A positions row opens the editor too, prefilled with the position's instrument and average price.
  await outsideTrades.createTrade({
    requestId: crypto.randomUUID(),
    trade: {
      instrument: { symbol: "TCS", exchange: common.Exchange.NSE },
      side: trade.Side.BUY,
      quantityMicros: 5_000_000n,
      priceMicros: 4_087_150_000n,
      tradeTime: timestampFromMs(Date.now() - 3_600_000),
    },
  });
  await page.evaluate(() => (location.hash = "#/positions"));
  await page.locator('[data-testid="position-row"][data-symbol="TCS"]').getByTestId("alert-link").click();
  const fromPositions = page.getByTestId("alert-form");
  await fromPositions.waitFor();
  const positionDraft = [await fromPositions.getByLabel("Instrument").inputValue(), await fromPositions.getByLabel("Level (₹)").inputValue()];
  if (positionDraft.join(" ") !== "NSE:TCS 4087.15") throw new Error(`editor opened from positions with ${positionDraft}`);
  step("editor opened from a positions row", { draft: positionDraft });
  await fromPositions.getByRole("button", { name: "Cancel" }).click();
  await fromPositions.waitFor({ state: "detached" });

  step("done", { watchOpens: watchBodies.length });
  ok = true;
} catch (error) {
  failure = error;
}
await end(ok, failure);
