// The bell (live unread count from WatchNotifications over grpc-web, resumed with the stream's token on
// every reconnect) and the notification centre (#/inbox: list, unread filter, mark read, mark all read,
// delete). One stream per logged-in page, opened while the bell is shown.
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { notifications } from "@trademesh/sdk";
import type { JSX } from "preact";
import { useEffect, useState } from "preact/hooks";
import { call, clients } from "./api";
import { DeliverySettings } from "./delivery";
import { isServiceMissing, readableError, type ReadableError } from "./errors";
import { enumLabel, formatIst } from "./format";
import { badgeText, bellLabel, InboxFeed } from "./inboxfeed";
import { keepStreaming, type StreamState } from "./stream";
import { ErrorBanner, Notice, Unavailable } from "./ui";

/** The page's one inbox feed (the bell and the notification centre both read it). */
export const inboxFeed = new InboxFeed();
const PAGE_SIZE = 50;

/** Open WatchNotifications (resuming from the feed's token on every reconnect); returns the stop function. */
function watchInbox(onState: (state: StreamState) => void): () => void {
  return keepStreaming(
    (signal) => clients.notifications.watchNotifications({ resumeToken: inboxFeed.resumeToken, snapshotSize: 20 }, { signal }),
    (message) => void inboxFeed.accept(message),
    onState,
  );
}

/** A bell drawn inline (no emoji font needed); `currentColor`. */
export function BellIcon({ size = 20 }: { size?: number }): JSX.Element {
  return (
    <svg class="bell-icon" width={size} height={size} viewBox="0 0 24 24" aria-hidden="true" focusable="false">
      <path
        fill="currentColor"
        d="M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22Zm7-6V11a7 7 0 0 0-5.5-6.84V3.5a1.5 1.5 0 0 0-3 0v.66A7 7 0 0 0 5 11v5l-2 2v1h18v-1l-2-2Z"
      />
    </svg>
  );
}

export function Bell(): JSX.Element {
  const [unread, setUnread] = useState<number | null>(inboxFeed.unread);
  const [state, setState] = useState<StreamState>({ kind: "connecting" });

  useEffect(() => {
    const unsubscribe = inboxFeed.subscribe((feed) => setUnread(feed.unread));
    const stop = watchInbox(setState);
    return () => {
      stop();
      unsubscribe();
      inboxFeed.reset(); // the next session starts with its own snapshot
    };
  }, []);

  const label = bellLabel(unread);
  return (
    <a
      href="#/inbox"
      class={`bell${unread ? " bell--unread" : ""}`}
      data-testid="bell"
      data-count={unread ?? ""}
      data-stream={state.kind}
      aria-label={label}
      title={label}
    >
      <BellIcon />
      <span class="bell-count" data-testid="unread-count" aria-hidden="true">
        {badgeText(unread)}
      </span>
    </a>
  );
}

export function InboxScreen(): JSX.Element {
  const [unreadOnly, setUnreadOnly] = useState(false);
  const [tokens, setTokens] = useState<string[]>([""]);
  const [items, setItems] = useState<notifications.Notification[]>([]);
  const [next, setNext] = useState("");
  const [error, setError] = useState<ReadableError | null>(null);
  const [missing, setMissing] = useState(false);
  const [loading, setLoading] = useState(true);
  const [reloadKey, setReloadKey] = useState(0);
  const [flash, setFlash] = useState<string | null>(null);
  const firstPage = tokens.length === 1;

  useEffect(() => {
    let cancelled = false;
    setLoading(true);
    call(() => clients.notifications.listNotifications({ pageSize: PAGE_SIZE, pageToken: tokens[tokens.length - 1], unreadOnly }))
      .then((response) => {
        if (cancelled) return;
        setItems(response.notifications);
        setNext(response.nextPageToken);
        inboxFeed.setUnread(response.unreadCount);
        setError(null);
      })
      .catch((caught: unknown) => {
        if (cancelled) return;
        setMissing(isServiceMissing(caught));
        setError(readableError(caught));
      })
      .finally(() => !cancelled && setLoading(false));
    return () => {
      cancelled = true;
    };
  }, [unreadOnly, tokens, reloadKey]);

  const [unread, setUnread] = useState(inboxFeed.unread);
  // A live notification shows up at the top of the first page; the count follows the feed.
  useEffect(
    () =>
      inboxFeed.subscribe((feed, added) => {
        setUnread(feed.unread);
        if (added.length && firstPage) setReloadKey((key) => key + 1);
      }),
    [firstPage],
  );

  async function act(run: () => Promise<string>): Promise<void> {
    try {
      setFlash(await run());
      setError(null);
    } catch (caught) {
      setError(readableError(caught));
    }
    setReloadKey((key) => key + 1);
  }

  const markRead = (id: string): Promise<void> =>
    act(async () => {
      const response = await call(() => clients.notifications.markRead({ notificationIds: [id] }));
      inboxFeed.markRead([id]);
      inboxFeed.setUnread(response.unreadCount);
      return "Marked read.";
    });
  const markAllRead = (): Promise<void> =>
    act(async () => {
      const response = await call(() => clients.notifications.markAllRead({}));
      inboxFeed.markRead("all");
      inboxFeed.setUnread(0);
      return `${response.markedCount} marked read.`;
    });
  const remove = (id: string): Promise<void> =>
    act(async () => {
      await call(() => clients.notifications.deleteNotification({ notificationId: id }));
      return "Deleted.";
    });

  if (missing) {
    return (
      <section aria-labelledby="inbox-title">
        <h2 id="inbox-title">Notifications</h2>
        <Unavailable what="Notifications" />
      </section>
    );
  }
  return (
    <section aria-labelledby="inbox-title" data-testid="inbox-screen">
      <div class="section-head">
        <h2 id="inbox-title">Notifications</h2>
        <div class="form-actions">
          <label class="check">
            <input
              type="checkbox"
              checked={unreadOnly}
              data-testid="unread-only"
              onChange={(e) => {
                setUnreadOnly(e.currentTarget.checked);
                setTokens([""]);
              }}
            />
            Unread only
          </label>
          <button type="button" data-testid="mark-all-read" onClick={() => void markAllRead()} disabled={!unread}>
            Mark all read
          </button>
          <a href="#/alerts">Alerts</a>
        </div>
      </div>
      {flash && !error && <Notice kind="ok">{flash}</Notice>}
      <ErrorBanner error={error} />
      <div class="table-wrap">
        <table data-testid="inbox-table" aria-busy={loading}>
          <caption class="sr-only">Notifications, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Time</th>
              <th scope="col">Kind</th>
              <th scope="col">Notification</th>
              <th scope="col" class="actions"><span class="sr-only">Actions</span></th>
            </tr>
          </thead>
          <tbody>
            {items.map((item) => (
              <tr key={item.id} class={item.read ? "" : "unread"} data-testid="notification-row" data-id={item.id} data-read={String(item.read)} data-alert-id={item.alertId}>
                <td>{formatIst(item.createTime ? timestampMs(item.createTime) : undefined)}</td>
                <td>{enumLabel(notifications.NotificationKind[item.kind], "")}</td>
                <td class="wrap">
                  <strong>{item.title}</strong>
                  {item.body && <div class="muted small">{item.body}</div>}
                </td>
                <td class="actions">
                  {!item.read && (
                    <button type="button" class="link" data-testid="mark-read" onClick={() => void markRead(item.id)}>
                      Mark read
                    </button>
                  )}
                  <button type="button" class="link danger-text" data-testid="delete-notification" aria-label={`Delete “${item.title}”`} onClick={() => void remove(item.id)}>
                    Delete
                  </button>
                </td>
              </tr>
            ))}
            {!loading && items.length === 0 && !error && (
              <tr>
                <td colSpan={4} class="empty">
                  {unreadOnly ? "Nothing unread." : "No notifications yet. Set a price alert from the watchlist or your positions."}
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      <nav class="pager" aria-label="Pages">
        <button type="button" disabled={tokens.length <= 1} onClick={() => setTokens(tokens.slice(0, -1))}>
          ← Previous
        </button>
        <span>Page {tokens.length}</span>
        <button type="button" disabled={!next} onClick={() => setTokens([...tokens, next])}>
          Next →
        </button>
      </nav>
      <DeliverySettings />
    </section>
  );
}
