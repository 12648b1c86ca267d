// The live inbox state behind the bell: WatchNotifications messages folded into the unread count, the
// resume token (a reconnect continues right after the last message: nothing missed, nothing doubled) and
// the highest notification sequence seen (a repeated one is dropped all the same). No DOM, no network.
import type { notifications } from "@trademesh/sdk";

export type FeedListener = (feed: InboxFeed, added: notifications.Notification[]) => void;

export class InboxFeed {
  /** Sent when (re)opening the stream; empty before the first message (the server then sends a snapshot). */
  resumeToken = "";
  /** The caller's unread count; null before the first message or listing. */
  unread: number | null = null;
  /** The highest `sequence` delivered (snapshot included). */
  lastSequence = 0n;
  /** The newest notifications known to the feed (snapshot, then live ones), newest first. */
  recent: notifications.Notification[] = [];
  private listeners = new Set<FeedListener>();

  subscribe(listener: FeedListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Fold one stream message in; returns the notifications it adds (none for a repeat or a heartbeat). */
  accept(message: notifications.WatchNotificationsResponse): notifications.Notification[] {
    if (message.resumeToken) this.resumeToken = message.resumeToken;
    const before = this.unread;
    this.unread = Number(message.unreadCount);
    let added: notifications.Notification[] = [];
    if (message.event.case === "snapshot") {
      for (const item of message.event.value.notifications) {
        if (item.sequence > this.lastSequence) this.lastSequence = item.sequence;
      }
      this.recent = [...message.event.value.notifications];
    } else if (message.event.case === "notification") {
      const item = message.event.value;
      if (item.sequence > this.lastSequence) {
        this.lastSequence = item.sequence;
        this.recent = [item, ...this.recent].slice(0, 100);
        added = [item];
      }
    }
    if (added.length || before !== this.unread || message.event.case === "snapshot") this.emit(added);
    return added;
  }

  /** The count a mutation answered with (MarkRead, a listing): shown at once, not at the next message. */
  setUnread(count: number | bigint): void {
    const value = Number(count);
    if (value === this.unread) return;
    this.unread = value;
    this.emit([]);
  }

  /** Mark items read in `recent` (after MarkRead / MarkAllRead). */
  markRead(ids: string[] | "all"): void {
    this.recent = this.recent.map((item) => (ids === "all" || ids.includes(item.id) ? { ...item, read: true } : item));
  }

  /** Forget everything (log out). */
  reset(): void {
    this.resumeToken = "";
    this.unread = null;
    this.lastSequence = 0n;
    this.recent = [];
    this.emit([]);
  }

  private emit(added: notifications.Notification[]): void {
    for (const listener of this.listeners) listener(this, added);
  }
}

/** Label of a bell with `unread` notifications, for screen readers and the title. */
export function bellLabel(unread: number | null): string {
  if (unread === null) return "Notifications";
  if (unread === 0) return "Notifications, none unread";
  return `Notifications, ${unread} unread`;
}

/** The badge text: "", "1" … "99", "99+". */
export function badgeText(unread: number | null): string {
  if (!unread) return "";
  return unread > 99 ? "99+" : String(unread);
}
