import { create } from "@bufbuild/protobuf";
import { notifications } from "@trademesh/sdk";
import { describe, expect, it } from "vitest";
import { badgeText, bellLabel, InboxFeed } from "./inboxfeed";

const item = (sequence: number, read = false): notifications.Notification =>
  create(notifications.NotificationSchema, { id: `n${sequence}`, sequence: BigInt(sequence), title: `#${sequence}`, read });

const snapshot = (unread: number, token: string, ...items: notifications.Notification[]): notifications.WatchNotificationsResponse =>
  create(notifications.WatchNotificationsResponseSchema, {
    unreadCount: BigInt(unread),
    resumeToken: token,
    event: { case: "snapshot", value: { notifications: items } },
  });

const live = (unread: number, token: string, value: notifications.Notification): notifications.WatchNotificationsResponse =>
  create(notifications.WatchNotificationsResponseSchema, { unreadCount: BigInt(unread), resumeToken: token, event: { case: "notification", value } });

describe("InboxFeed", () => {
  it("keeps the newest resume token and unread count, and adds live notifications once", () => {
    const feed = new InboxFeed();
    const seen: number[] = [];
    feed.subscribe((current, added) => seen.push(current.unread ?? -1, added.length));
    expect(feed.accept(snapshot(1, "t0", item(2), item(1, true)))).toEqual([]);
    expect(feed.lastSequence).toBe(2n);
    expect(feed.accept(live(2, "t3", item(3))).map((n) => n.id)).toEqual(["n3"]);
    // A repeat (never expected after a resume, but harmless) is dropped; its token still counts.
    expect(feed.accept(live(2, "t3b", item(3)))).toEqual([]);
    expect(feed.resumeToken).toBe("t3b");
    expect(feed.unread).toBe(2);
    expect(feed.recent.map((n) => n.id)).toEqual(["n3", "n2", "n1"]);
    expect(seen).toEqual([1, 0, 2, 1]);
  });

  it("emits heartbeats only when the count changed, and takes a mutation's count at once", () => {
    const feed = new InboxFeed();
    let emitted = 0;
    feed.subscribe(() => (emitted += 1));
    feed.accept(snapshot(3, "t0"));
    const beat = (unread: number): notifications.WatchNotificationsResponse =>
      create(notifications.WatchNotificationsResponseSchema, { unreadCount: BigInt(unread), resumeToken: "hb", event: { case: "heartbeatTime", value: {} } });
    feed.accept(beat(3));
    expect(emitted).toBe(1);
    feed.setUnread(2n);
    expect(feed.unread).toBe(2);
    feed.accept(beat(2));
    expect(emitted).toBe(2);
    expect(feed.resumeToken).toBe("hb");
    feed.reset();
    expect([feed.resumeToken, feed.unread, feed.lastSequence]).toEqual(["", null, 0n]);
  });

  it("marks items read in the recent list", () => {
    const feed = new InboxFeed();
    feed.accept(snapshot(2, "t", item(2), item(1)));
    feed.markRead(["n1"]);
    expect(feed.recent.map((n) => n.read)).toEqual([false, true]);
    feed.markRead("all");
    expect(feed.recent.every((n) => n.read)).toBe(true);
  });
});

describe("the bell's text", () => {
  it("labels and badges the count", () => {
    expect([bellLabel(null), bellLabel(0), bellLabel(4)]).toEqual(["Notifications", "Notifications, none unread", "Notifications, 4 unread"]);
    expect([badgeText(null), badgeText(0), badgeText(7), badgeText(120)]).toEqual(["", "", "7", "99+"]);
  });
});
