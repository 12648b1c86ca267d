// Delivery settings under the notification centre: which channels each kind goes to (in app, email, webhooks,
// push, SMS — push and SMS only where the server sends them, GetPushConfig), the SMS number, and "Enable push on
// this device" (permission, the service worker /sw.js, PushManager.subscribe with the server's VAPID key, then
// RegisterPushSubscription), with this user's registered devices.
import { notifications } from "@trademesh/sdk";
import type { JSX } from "preact";
import { useEffect, useState } from "preact/hooks";
import { call, clients } from "./api";
import { fieldError, readableError, type ReadableError } from "./errors";
import { applicationServerKey, CHANNELS, channelGrid, KINDS, kindChannels, pushUnsupported, subscriptionFields, toggled } from "./pushsetup";
import { ErrorBanner, Field, Notice } from "./ui";

type Grid = ReturnType<typeof channelGrid>;

async function subscribeThisDevice(vapidPublicKey: string): Promise<PushSubscriptionJSON> {
  const why = pushUnsupported(window as unknown as Parameters<typeof pushUnsupported>[0]);
  if (why) throw new Error(why);
  const permission = await Notification.requestPermission();
  if (permission !== "granted") throw new Error("Notifications are blocked for this site in the browser's settings.");
  await navigator.serviceWorker.register("/sw.js");
  const registration = await navigator.serviceWorker.ready;
  const subscription =
    (await registration.pushManager.getSubscription()) ??
    (await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: applicationServerKey(vapidPublicKey) }));
  return subscription.toJSON();
}

export function DeliverySettings(): JSX.Element {
  const [config, setConfig] = useState<notifications.GetPushConfigResponse | null>(null);
  const [grid, setGrid] = useState<Grid>(channelGrid(undefined));
  const [phone, setPhone] = useState("");
  const [devices, setDevices] = useState<notifications.PushSubscription[]>([]);
  const [error, setError] = useState<ReadableError | null>(null);
  const [flash, setFlash] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [reloadKey, setReloadKey] = useState(0);

  useEffect(() => {
    let cancelled = false;
    (async () => {
      const pushConfig = await call(() => clients.notifications.getPushConfig({}));
      const preferences = await call(() => clients.notifications.getPreferences({}));
      const listed = pushConfig.pushEnabled ? (await call(() => clients.notifications.listPushSubscriptions({}))).subscriptions : [];
      if (cancelled) return;
      setConfig(pushConfig);
      setGrid(channelGrid(preferences.preferences));
      setPhone(preferences.preferences?.phoneNumber ?? "");
      setDevices(listed);
    })().catch((caught: unknown) => !cancelled && setError(readableError(caught)));
    return () => {
      cancelled = true;
    };
  }, [reloadKey]);

  async function act(run: () => Promise<string>): Promise<void> {
    setBusy(true);
    try {
      setFlash(await run());
      setError(null);
    } catch (caught) {
      setFlash(null);
      setError(caught instanceof Error && !("code" in caught) ? { code: 2, message: caught.message, reason: "", fields: {} } : readableError(caught));
    } finally {
      setBusy(false);
    }
  }

  const save = (): Promise<void> =>
    act(async () => {
      const response = await call(() =>
        clients.notifications.updatePreferences({
          preferences: { kindChannels: kindChannels(grid), phoneNumber: phone },
          updateMask: { paths: ["kind_channels", "phone_number"] },
        }),
      );
      setPhone(response.preferences?.phoneNumber ?? "");
      setGrid(channelGrid(response.preferences));
      return "Delivery settings saved.";
    });

  const enablePush = (): Promise<void> =>
    act(async () => {
      const fields = subscriptionFields(await subscribeThisDevice(config?.vapidPublicKey ?? ""));
      if (!fields) throw new Error("The browser returned an incomplete push subscription.");
      await call(() => clients.notifications.registerPushSubscription({ subscription: { ...fields, userAgent: navigator.userAgent.slice(0, 200) } }));
      setReloadKey((key) => key + 1);
      return "Push is on for this device. Choose the kinds it gets below.";
    });

  const removeDevice = (id: string): Promise<void> =>
    act(async () => {
      await call(() => clients.notifications.deletePushSubscription({ subscriptionId: id }));
      setReloadKey((key) => key + 1);
      return "Device removed.";
    });

  const available = (channel: notifications.Channel): boolean =>
    channel === notifications.Channel.PUSH ? Boolean(config?.pushEnabled) : channel === notifications.Channel.SMS ? Boolean(config?.smsEnabled) : true;

  return (
    <section aria-labelledby="delivery-title" data-testid="delivery-settings" class="delivery-settings">
      <h3 id="delivery-title">Delivery</h3>
      {flash && !error && <Notice kind="ok" testid="delivery-flash">{flash}</Notice>}
      <ErrorBanner error={error} />
      <div class="table-wrap">
        <table data-testid="channel-grid">
          <caption class="sr-only">Channels per kind of notification</caption>
          <thead>
            <tr>
              <th scope="col">Kind</th>
              {CHANNELS.map(([channel, label]) => (
                <th scope="col" key={channel} title={available(channel) ? undefined : "Not offered by this server"}>
                  {label}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {KINDS.map(([kind, kindLabel]) => (
              <tr key={kind}>
                <th scope="row">{kindLabel}</th>
                {CHANNELS.map(([channel, label]) => (
                  <td key={channel}>
                    <input
                      type="checkbox"
                      aria-label={`${kindLabel}: ${label}`}
                      data-testid={`channel-${notifications.NotificationKind[kind]}-${notifications.Channel[channel]}`}
                      checked={grid.get(kind)?.has(channel) ?? false}
                      disabled={!available(channel) || !config}
                      onChange={(e) => setGrid(toggled(grid, kind, channel, e.currentTarget.checked))}
                    />
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <Field
        label="SMS number"
        name="phone-number"
        error={error ? fieldError(error.fields, "preferences.phone_number") : undefined}
        hint="E.164, e.g. +919876543210; a number without + is read as Indian (+91). Empty: no SMS."
      >
        {(props) => <input {...props} type="tel" autoComplete="tel" data-testid="phone-number" value={phone} onInput={(e) => setPhone(e.currentTarget.value)} />}
      </Field>
      <div class="form-actions">
        <button type="button" data-testid="save-delivery" disabled={busy || !config} onClick={() => void save()}>
          Save delivery settings
        </button>
        <button type="button" data-testid="enable-push" disabled={busy || !config?.pushEnabled} onClick={() => void enablePush()}>
          Enable push on this device
        </button>
      </div>
      {config && !config.pushEnabled && <p class="muted small">Push is not configured on this server.</p>}
      {devices.length > 0 && (
        <ul class="push-devices" data-testid="push-devices">
          {devices.map((device) => (
            <li key={device.id} data-testid="push-device" data-id={device.id}>
              <span class="wrap">{device.userAgent || new URL(device.endpoint).host}</span>{" "}
              <button type="button" class="link danger-text" onClick={() => void removeDevice(device.id)}>
                Remove
              </button>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
