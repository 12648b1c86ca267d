// Web Push and SMS settings in the browser client against a running mesh (`make up`'s launcher, with its local push
// service), in Debian's headless Chromium driven by playwright-core. Run by tests/web/test_push_browser.py:
//
//   TM_URL=http://127.0.0.1:8080/ TM_PUSH_URL=http://127.0.0.1:50063 node e2e/push.mjs
//
// Headless Chromium has no browser vendor's push service, so PushManager.subscribe() cannot succeed there: the
// script replaces only that call, with one that subscribes at the stack's local push service (RFC 8030, the
// stand-in of the vendor's service) using the applicationServerKey the page passed. Everything else is real:
// the notification permission, the service worker /sw.js, the page's RegisterPushSubscription, the preference
// toggles and the SMS number; then an alert fires on the simulated feed and the local push service decrypts the
// push it received (the ids must match the inbox's). Prints one JSON line {"ok", "steps", "error"?}; exit 0 iff ok.
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { common, notifications } from "@trademesh/sdk";
import { launch, until, register } from "./harness.mjs";

const pushUrl = (process.env.TM_PUSH_URL ?? "http://127.0.0.1:50063").replace(/\/$/, "");
const { Channel, NotificationKind } = notifications;

const { url, step, page, outside: outsideTo, shot, end } = await launch("web-push", { wait: 30_000, permissions: ["notifications"], consoleErrors: true });

const subscriptions = [];
await page.exposeFunction("tmSubscribeAtLocalPushService", async (applicationServerKey) => {
  const answer = await fetch(`${pushUrl}/subscriptions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ applicationServerKey }),
  });
  const subscription = await answer.json();
  subscriptions.push(subscription);
  return subscription;
});
await page.addInitScript(() => {
  const toBase64Url = (buffer) =>
    btoa(String.fromCharCode(...new Uint8Array(buffer))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  PushManager.prototype.getSubscription = async () => null;
  PushManager.prototype.subscribe = async (options) => {
    if (!options || options.userVisibleOnly !== true) throw new DOMException("userVisibleOnly is required", "NotAllowedError");
    const json = await window.tmSubscribeAtLocalPushService(toBase64Url(options.applicationServerKey));
    return { endpoint: json.endpoint, expirationTime: null, toJSON: () => ({ endpoint: json.endpoint, expirationTime: null, keys: json.keys }) };
  };
});

const outside = createClient(notifications.NotificationsService, outsideTo());

let ok = false;
let failure = "";
try {
  const name = `e2p_${Date.now().toString(36)}`;
  await page.goto(url);
  await register(page, name, "Push-Pull-4242");
  step("registered", { username: name });

  // The delivery settings offer push and SMS (the server has a VAPID key and an SMS provider).
  await page.evaluate(() => (location.hash = "#/inbox"));
  const settings = page.getByTestId("delivery-settings");
  await settings.waitFor();
  const pricePush = settings.getByTestId("channel-PRICE_ALERT-PUSH");
  await page.locator('[data-testid="channel-PRICE_ALERT-PUSH"]:not([disabled])').waitFor();
  const config = await outside.getPushConfig({});
  step("push and SMS offered", { pushEnabled: config.pushEnabled, smsEnabled: config.smsEnabled });

  // "Enable push on this device": permission, the service worker, subscribe with the VAPID key, register.
  await settings.getByTestId("enable-push").click();
  await settings.getByTestId("push-device").waitFor();
  const worker = await page.evaluate(async () => (await navigator.serviceWorker.getRegistration())?.active?.scriptURL ?? "");
  const [subscription] = subscriptions;
  const registered = (await outside.listPushSubscriptions({})).subscriptions;
  if (registered.length !== 1 || registered[0].endpoint !== subscription.endpoint || registered[0].p256dh !== subscription.keys.p256dh) {
    throw new Error(`registered ${JSON.stringify(registered)} for ${JSON.stringify(subscription)}`);
  }
  step("push registered for this device", { worker, endpoint: subscription.endpoint, permission: await page.evaluate(() => Notification.permission) });

  // A bad number is refused under its field; a good one is saved in E.164 with the toggles.
  await pricePush.check();
  await settings.getByTestId("channel-SYSTEM-SMS").check();
  await settings.getByTestId("phone-number").fill("12345");
  await settings.getByTestId("save-delivery").click();
  await settings.locator('[data-field="phone-number"] .field-error').waitFor();
  step("bad number refused", { violation: await settings.locator('[data-field="phone-number"] .field-error').innerText() });
  await settings.getByTestId("phone-number").fill("98765 43210");
  await settings.getByTestId("save-delivery").click();
  await settings.getByTestId("delivery-flash").waitFor();
  await until("the number is shown in E.164", async () => (await settings.getByTestId("phone-number").inputValue()) === "+919876543210");
  const saved = (await outside.getPreferences({})).preferences;
  const channelsOf = (kind) => saved.kindChannels.find((entry) => entry.kind === kind)?.channels ?? [];
  if (!channelsOf(NotificationKind.PRICE_ALERT).includes(Channel.PUSH) || !channelsOf(NotificationKind.SYSTEM).includes(Channel.SMS) || saved.phoneNumber !== "+919876543210") {
    throw new Error(`saved ${JSON.stringify({ price: channelsOf(NotificationKind.PRICE_ALERT), system: channelsOf(NotificationKind.SYSTEM), phone: saved.phoneNumber })}`);
  }
  step("toggles and number saved", { phone: saved.phoneNumber });
  await shot("p1-delivery-settings");

  // An alert fires on the simulated feed's next tick: the push service decrypts the notification.
  await outside.createAlert({
    requestId: crypto.randomUUID(),
    alert: create(notifications.AlertSchema, {
      instrument: { symbol: "INFY", exchange: common.Exchange.NSE },
      condition: notifications.AlertCondition.PRICE_ABOVE,
      levelMicros: 10_000n,
    }),
  });
  const messages = await until("the push service receives the alert", async () => {
    const answer = await fetch(`${pushUrl}/subscriptions/${subscription.id}/messages`);
    const body = await answer.json();
    return body.messages.length ? body.messages : null;
  });
  const inbox = (await outside.listNotifications({ pageSize: 10 })).notifications;
  if (messages.length !== 1 || messages[0].payload.id !== inbox[0]?.id) {
    throw new Error(`pushed ${JSON.stringify(messages)} for inbox ${JSON.stringify(inbox.map((n) => n.id))}`);
  }
  step("alert pushed and decrypted", { id: messages[0].payload.id, title: messages[0].payload.title });

  // Removing the device deletes its registration.
  await settings.getByRole("button", { name: "Remove" }).click();
  await until("the device is removed", async () => (await outside.listPushSubscriptions({})).subscriptions.length === 0);
  step("device removed");
  ok = true;
} catch (error) {
  failure = error;
}
await end(ok, failure);
