// Web Push on this device, and the per-kind channel choices (pure helpers, unit-tested; the screen is delivery.tsx).
// The browser subscribes at its vendor's push service with the server's VAPID public key (GetPushConfig) and
// registers what PushSubscription.toJSON() returned (RegisterPushSubscription); the service worker (public/sw.js)
// shows what arrives.
import { notifications } from "@trademesh/sdk";

/** The kinds a user chooses channels for, in display order, with their labels. */
export const KINDS: [notifications.NotificationKind, string][] = [
  [notifications.NotificationKind.PRICE_ALERT, "Price alerts"],
  [notifications.NotificationKind.TRADE_ALERT, "Imports and syncs"],
  [notifications.NotificationKind.SYNC_COMPLETE, "Sync problems"],
  [notifications.NotificationKind.SYSTEM, "Daily digest and notices"],
];

/** The channels, in display order, with their labels. */
export const CHANNELS: [notifications.Channel, string][] = [
  [notifications.Channel.IN_APP, "In app"],
  [notifications.Channel.EMAIL, "Email"],
  [notifications.Channel.WEBHOOK, "Webhooks"],
  [notifications.Channel.PUSH, "Push"],
  [notifications.Channel.SMS, "SMS"],
];

/** Decode a base64url VAPID key into the bytes `applicationServerKey` wants. */
export function applicationServerKey(base64url: string): Uint8Array<ArrayBuffer> {
  const base64 = base64url.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (base64url.length % 4)) % 4);
  const text = atob(base64);
  const bytes = new Uint8Array(new ArrayBuffer(text.length));
  for (let i = 0; i < text.length; i += 1) bytes[i] = text.charCodeAt(i);
  return bytes;
}

export interface SubscriptionFields {
  endpoint: string;
  p256dh: string;
  auth: string;
}

/** The fields RegisterPushSubscription needs, from PushSubscription.toJSON(); null when something is missing. */
export function subscriptionFields(json: { endpoint?: string; keys?: Record<string, string> }): SubscriptionFields | null {
  const endpoint = json.endpoint ?? "";
  const p256dh = json.keys?.p256dh ?? "";
  const auth = json.keys?.auth ?? "";
  return endpoint && p256dh && auth ? { endpoint, p256dh, auth } : null;
}

/** The channel grid as a map kind → channels, from the preferences (every kind is listed by the server). */
export function channelGrid(preferences: notifications.Preferences | undefined): Map<notifications.NotificationKind, Set<notifications.Channel>> {
  const grid = new Map<notifications.NotificationKind, Set<notifications.Channel>>();
  for (const [kind] of KINDS) grid.set(kind, new Set());
  for (const entry of preferences?.kindChannels ?? []) grid.set(entry.kind, new Set(entry.channels));
  return grid;
}

/** The grid with one box changed (a new map: state stays immutable). */
export function toggled(
  grid: Map<notifications.NotificationKind, Set<notifications.Channel>>,
  kind: notifications.NotificationKind,
  channel: notifications.Channel,
  on: boolean,
): Map<notifications.NotificationKind, Set<notifications.Channel>> {
  const next = new Map([...grid].map(([k, channels]) => [k, new Set(channels)]));
  const channels = next.get(kind) ?? new Set();
  if (on) channels.add(channel);
  else channels.delete(channel);
  next.set(kind, channels);
  return next;
}

/** The grid as UpdatePreferences' kind_channels (sorted channels, kinds in display order). */
export function kindChannels(grid: Map<notifications.NotificationKind, Set<notifications.Channel>>): { kind: notifications.NotificationKind; channels: notifications.Channel[] }[] {
  return KINDS.map(([kind]) => ({ kind, channels: [...(grid.get(kind) ?? [])].sort((a, b) => a - b) }));
}

/** Why push cannot be enabled in this browser ("" when it can). */
export function pushUnsupported(scope: { isSecureContext?: boolean; navigator?: { serviceWorker?: unknown }; PushManager?: unknown; Notification?: unknown }): string {
  if (!scope.isSecureContext) return "Push needs a secure page (https or localhost).";
  if (!scope.navigator?.serviceWorker || !scope.PushManager) return "This browser has no Push API.";
  if (!scope.Notification) return "This browser cannot show notifications.";
  return "";
}
