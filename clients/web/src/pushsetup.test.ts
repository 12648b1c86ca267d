import { create } from "@bufbuild/protobuf";
import { notifications } from "@trademesh/sdk";
import { describe, expect, it } from "vitest";
import { applicationServerKey, channelGrid, kindChannels, pushUnsupported, subscriptionFields, toggled } from "./pushsetup";

const { Channel, NotificationKind } = notifications;

describe("push setup", () => {
  it("decodes a base64url VAPID key without padding", () => {
    expect([...applicationServerKey("BAEC_-8")]).toEqual([4, 1, 2, 255, 239]);
    expect(applicationServerKey("A".repeat(87)).length).toBe(65);
  });

  it("takes endpoint and keys from PushSubscription.toJSON()", () => {
    expect(subscriptionFields({ endpoint: "https://push.example/1", keys: { p256dh: "BP", auth: "AU" } })).toEqual({
      endpoint: "https://push.example/1",
      p256dh: "BP",
      auth: "AU",
    });
    expect(subscriptionFields({ endpoint: "https://push.example/1", keys: { p256dh: "BP" } })).toBeNull();
    expect(subscriptionFields({})).toBeNull();
  });

  it("turns preferences into a grid and back, one box at a time", () => {
    const preferences = create(notifications.PreferencesSchema, {
      kindChannels: [
        { kind: NotificationKind.PRICE_ALERT, channels: [Channel.IN_APP, Channel.EMAIL] },
        { kind: NotificationKind.SYSTEM, channels: [Channel.IN_APP] },
      ],
    });
    const grid = channelGrid(preferences);
    const next = toggled(toggled(grid, NotificationKind.PRICE_ALERT, Channel.PUSH, true), NotificationKind.PRICE_ALERT, Channel.EMAIL, false);
    expect(grid.get(NotificationKind.PRICE_ALERT)?.has(Channel.PUSH)).toBe(false); // unchanged
    const entries = kindChannels(toggled(next, NotificationKind.SYSTEM, Channel.SMS, true));
    expect(entries[0]).toEqual({ kind: NotificationKind.PRICE_ALERT, channels: [Channel.IN_APP, Channel.PUSH] });
    expect(entries.find((entry) => entry.kind === NotificationKind.SYSTEM)?.channels).toEqual([Channel.IN_APP, Channel.SMS]);
    expect(entries.find((entry) => entry.kind === NotificationKind.TRADE_ALERT)?.channels).toEqual([]);
  });

  it("says why push is unavailable", () => {
    expect(pushUnsupported({ isSecureContext: false })).toMatch(/secure/);
    expect(pushUnsupported({ isSecureContext: true, navigator: {} })).toMatch(/Push API/);
    expect(pushUnsupported({ isSecureContext: true, navigator: { serviceWorker: {} }, PushManager: {}, Notification: {} })).toBe("");
  });
});
