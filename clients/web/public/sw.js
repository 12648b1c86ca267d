// The browser client's service worker: shows Web Push notifications from the notifications service. A payload is
// {"id", "kind", "title", "body", "alert_id", "create_time", "tag"}; `tag` is the notification id, so a resent push
// replaces the one shown instead of adding a second. A click opens (or focuses) the inbox.
self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("push", (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch {
    data = { title: "trademesh", body: event.data ? event.data.text() : "" };
  }
  event.waitUntil(
    self.registration.showNotification(data.title || "trademesh", {
      body: data.body || "",
      tag: data.tag || data.id,
      data: { id: data.id, url: "/#/inbox" },
    }),
  );
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const target = (event.notification.data && event.notification.data.url) || "/#/inbox";
  event.waitUntil(
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then((windows) => {
      for (const client of windows) {
        if ("focus" in client) {
          client.navigate(target);
          return client.focus();
        }
      }
      return self.clients.openWindow(target);
    }),
  );
});
