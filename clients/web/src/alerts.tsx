// Price alerts (#/alerts): the list, and the editor that creates, changes and deletes them. Watchlist and
// positions rows link here with `#/alerts?new=NSE:INFY` (a new alert on that instrument, the level
// prefilled from `&price=`); `#/alerts?edit=ID` opens one alert.
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { common, notifications } from "@trademesh/sdk";
import type { JSX } from "preact";
import { useEffect, useState } from "preact/hooks";
import { call, clients } from "./api";
import { alertHref, buildAlert, changedPaths, conditionWord, draftOf, EMPTY_DRAFT, isGuardrail, type AlertDraft, type ConditionChoice } from "./alertform";
import { fieldError, isServiceMissing, otherFieldErrors, readableError, type ReadableError } from "./errors";
import { enumLabel, formatIst, formatPrice } from "./format";
import { BellIcon, inboxFeed } from "./notifications";
import { ErrorBanner, Field, Notice, Unavailable } from "./ui";

const FIELDS = ["alert.instrument", "alert.condition", "alert.level_micros", "alert.change_basis_points", "alert.cool_down", "alert.expire_time", "alert.note"];

/** A small "set an alert" link for a table row. */
export function AlertLink({ instrument, priceMicros }: { instrument?: { symbol: string; exchange: common.Exchange }; priceMicros?: bigint }): JSX.Element {
  return (
    <a href={alertHref(instrument, priceMicros)} class="alert-link" data-testid="alert-link" aria-label={`Set an alert on ${instrument?.symbol ?? ""}`} title="Set a price alert">
      <BellIcon size={15} />
    </a>
  );
}

function hashParams(): URLSearchParams {
  const query = location.hash.split("?")[1] ?? "";
  return new URLSearchParams(query);
}

type Editing = { kind: "new"; draft: AlertDraft } | { kind: "edit"; alert: notifications.Alert } | null;

function editingFromHash(): Editing {
  const params = hashParams();
  const instrument = params.get("new");
  if (instrument !== null) return { kind: "new", draft: { ...EMPTY_DRAFT, instrument, value: params.get("price") ?? "" } };
  return null;
}

export function describeAlert(alert: notifications.Alert): string {
  if (alert.condition === notifications.AlertCondition.DAY_CHANGE_BEYOND) return `day change beyond ±${alert.changeBasisPoints / 100} %`;
  if (alert.condition === notifications.AlertCondition.DRAWDOWN_FROM_PEAK && alert.changeBasisPoints) return `${conditionWord(alert.condition)} ${alert.changeBasisPoints / 100} %`;
  return `${conditionWord(alert.condition)} ${formatPrice(alert.levelMicros)}`;
}

export function AlertsScreen(): JSX.Element {
  const [alerts, setAlerts] = useState<notifications.Alert[]>([]);
  const [error, setError] = useState<ReadableError | null>(null);
  const [missing, setMissing] = useState(false);
  const [loading, setLoading] = useState(true);
  const [reloadKey, setReloadKey] = useState(0);
  const [editing, setEditing] = useState<Editing>(editingFromHash());
  const [flash, setFlash] = useState<string | null>(null);

  useEffect(() => {
    const onHash = (): void => {
      const next = editingFromHash();
      if (next) setEditing(next);
      const id = hashParams().get("edit");
      if (id) openById(id);
    };
    window.addEventListener("hashchange", onHash);
    const id = hashParams().get("edit");
    if (id) openById(id);
    return () => window.removeEventListener("hashchange", onHash);
  }, []);

  // An alert that fires changes state (triggered, cooling down): reload when its notice arrives.
  useEffect(() => inboxFeed.subscribe((_, added) => added.some((item) => item.alertId) && setReloadKey((key) => key + 1)), []);

  function openById(id: string): void {
    call(() => clients.notifications.getAlert({ alertId: id }))
      .then((response) => response.alert && setEditing({ kind: "edit", alert: response.alert }))
      .catch((caught: unknown) => setError(readableError(caught)));
  }

  useEffect(() => {
    let cancelled = false;
    setLoading(true);
    call(() => clients.notifications.listAlerts({ pageSize: 200 }))
      .then((response) => {
        if (cancelled) return;
        setAlerts(response.alerts);
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
  }, [reloadKey]);

  function closeEditor(message: string | null): void {
    setEditing(null);
    if (message) setFlash(message);
    if (location.hash !== "#/alerts") history.replaceState(null, "", "#/alerts");
    setReloadKey((key) => key + 1);
  }

  async function remove(alert: notifications.Alert): Promise<void> {
    try {
      await call(() => clients.notifications.deleteAlert({ alertId: alert.id }));
      setFlash(`Alert on ${alert.instrument?.symbol ?? "your book"} deleted.`);
      if (editing?.kind === "edit" && editing.alert.id === alert.id) setEditing(null);
    } catch (caught) {
      setError(readableError(caught));
    }
    setReloadKey((key) => key + 1);
  }

  if (missing) {
    return (
      <section aria-labelledby="alerts-title">
        <h2 id="alerts-title">Alerts</h2>
        <Unavailable what="Alerts" />
      </section>
    );
  }
  return (
    <section aria-labelledby="alerts-title" data-testid="alerts-screen">
      <div class="section-head">
        <h2 id="alerts-title">Price alerts</h2>
        <button type="button" class="primary" data-testid="new-alert" onClick={() => setEditing({ kind: "new", draft: EMPTY_DRAFT })}>
          New alert
        </button>
      </div>
      {flash && <Notice kind="ok" testid="alert-flash">{flash}</Notice>}
      {!editing && <ErrorBanner error={error} />}
      {editing && (
        <AlertEditor
          key={editing.kind === "edit" ? editing.alert.id : `new:${editing.draft.instrument}`}
          editing={editing}
          onDone={closeEditor}
          onDelete={editing.kind === "edit" ? () => void remove(editing.alert) : undefined}
        />
      )}
      <div class="table-wrap">
        <table data-testid="alerts-table" aria-busy={loading}>
          <caption class="sr-only">Your alerts, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Instrument</th>
              <th scope="col">Condition</th>
              <th scope="col">Repeat</th>
              <th scope="col">State</th>
              <th scope="col" class="num">Fired</th>
              <th scope="col">Last fired</th>
              <th scope="col">Note</th>
              <th scope="col" class="actions"><span class="sr-only">Actions</span></th>
            </tr>
          </thead>
          <tbody>
            {alerts.map((alert) => (
              <tr key={alert.id} data-testid="alert-row" data-id={alert.id} data-symbol={alert.instrument?.symbol} data-state={notifications.AlertState[alert.state]}>
                <td><strong>{alert.instrument?.symbol ?? "Your book"}</strong></td>
                <td>{describeAlert(alert)}</td>
                <td>{!alert.rearm ? "once" : alert.coolDown ? `every ${Math.round(Number(alert.coolDown.seconds) / 60)} min` : "once a day"}</td>
                <td>{enumLabel(notifications.AlertState[alert.state], "")}</td>
                <td class="num">{String(alert.triggerCount)}</td>
                <td>{alert.lastTriggerTime ? formatIst(timestampMs(alert.lastTriggerTime)) : "—"}</td>
                <td class="wrap">{alert.note}</td>
                <td class="actions">
                  <button type="button" class="link" data-testid="edit-alert" onClick={() => setEditing({ kind: "edit", alert })}>Edit</button>
                  <button type="button" class="link danger-text" data-testid="delete-alert" aria-label={`Delete the alert on ${alert.instrument?.symbol ?? "your book"}`} onClick={() => void remove(alert)}>
                    Delete
                  </button>
                </td>
              </tr>
            ))}
            {!loading && alerts.length === 0 && !error && (
              <tr>
                <td colSpan={8} class="empty">No alerts yet. Use the bell on a watchlist or positions row, or “New alert”.</td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
    </section>
  );
}

function AlertEditor({ editing, onDone, onDelete }: { editing: NonNullable<Editing>; onDone: (message: string | null) => void; onDelete?: () => void }): JSX.Element {
  const existing = editing.kind === "edit" ? editing.alert : null;
  const [draft, setDraft] = useState<AlertDraft>(existing ? draftOf(existing) : editing.kind === "new" ? editing.draft : EMPTY_DRAFT);
  const [fields, setFields] = useState<Record<string, string>>({});
  const [error, setError] = useState<ReadableError | null>(null);
  const [busy, setBusy] = useState(false);
  const set = (patch: Partial<AlertDraft>): void => setDraft({ ...draft, ...patch });

  async function submit(event: Event): Promise<void> {
    event.preventDefault();
    const built = buildAlert(draft, existing?.id ?? "");
    if (Object.keys(built.errors).length) {
      setFields(built.errors);
      return;
    }
    setBusy(true);
    try {
      if (existing) {
        const paths = changedPaths(existing, built.alert);
        if (paths.length) await call(() => clients.notifications.updateAlert({ alert: built.alert, updateMask: { paths } }));
        onDone(paths.length ? `Alert on ${existing.instrument?.symbol ?? "your book"} updated and armed.` : null);
      } else {
        const response = await call(() => clients.notifications.createAlert({ requestId: crypto.randomUUID(), alert: built.alert }));
        onDone(`Alert on ${response.alert?.instrument?.symbol ?? "your book"} set: ${response.alert ? describeAlert(response.alert) : ""}.`);
      }
    } catch (caught) {
      const readable = readableError(caught);
      setError(readable);
      setFields(readable.fields);
    } finally {
      setBusy(false);
    }
  }

  const change = draft.condition === "change";
  const guardrail = isGuardrail(draft.condition);
  const valueLabel = change ? "Change (%)" : draft.condition === "dailyLoss" ? "Loss limit (₹)" : draft.condition === "drawdown" ? "Fall from the peak (₹ or %)" : "Level (₹)";
  const valueField = change ? "alert.change_basis_points" : draft.condition === "drawdown" && draft.value.trim().endsWith("%") ? "alert.change_basis_points" : "alert.level_micros";
  const valueHint = change ? "e.g. 2.5 — fires at +2.5 % or −2.5 %" : draft.condition === "dailyLoss" ? "e.g. 5000 — today's P&L net of charges, open positions marked live" : draft.condition === "drawdown" ? "e.g. 3000 or 40%" : "e.g. 1600";
  return (
    <form class="card trade-form" onSubmit={(e) => void submit(e)} data-testid="alert-form" aria-labelledby="alert-form-title" noValidate>
      <h3 id="alert-form-title">{existing ? `Edit the alert on ${existing.instrument?.symbol ?? "your book"}` : "New alert"}</h3>
      <ErrorBanner error={error} extra={otherFieldErrors(fields, FIELDS)} />
      <div class="grid">
        {!guardrail && (
          <Field label="Instrument" name="alert-instrument" error={fieldError(fields, "alert.instrument")} hint="INFY or BSE:INFY">
            {(props) => <input {...props} value={draft.instrument} disabled={Boolean(existing)} required onInput={(e) => set({ instrument: e.currentTarget.value })} />}
          </Field>
        )}
        <Field label="When" name="alert-condition" error={fieldError(fields, "alert.condition")}>
          {(props) => (
            <select {...props} value={draft.condition} disabled={Boolean(existing)} onChange={(e) => set({ condition: e.currentTarget.value as ConditionChoice })}>
              <option value="above">Price at or above</option>
              <option value="below">Price at or below</option>
              <option value="crossing">Price crosses</option>
              <option value="change">Day change beyond ±%</option>
              <option value="dailyLoss">Daily loss limit (P&amp;L)</option>
              <option value="drawdown">Drawdown from the day's peak</option>
            </select>
          )}
        </Field>
        <Field
          label={valueLabel}
          name="alert-value"
          error={fieldError(fields, valueField)}
          hint={valueHint}
        >
          {(props) => <input {...props} inputMode="decimal" value={draft.value} required onInput={(e) => set({ value: e.currentTarget.value })} />}
        </Field>
        <Field label="Repeat" name="alert-repeat">
          {(props) => (
            <select {...props} value={draft.rearm ? "rearm" : "once"} onChange={(e) => set({ rearm: e.currentTarget.value === "rearm" })}>
              <option value="once">Once</option>
              <option value="rearm">{guardrail ? "Every day" : "Re-arm after a cool-down"}</option>
            </select>
          )}
        </Field>
        {draft.rearm && !guardrail && (
          <Field label="Cool-down (minutes)" name="alert-cool-down" error={fieldError(fields, "alert.cool_down")} hint="1 minute to 7 days">
            {(props) => <input {...props} inputMode="numeric" value={draft.coolDownMinutes} onInput={(e) => set({ coolDownMinutes: e.currentTarget.value })} />}
          </Field>
        )}
        <Field label="Expires (IST, optional)" name="alert-expires" error={fieldError(fields, "alert.expire_time")}>
          {(props) => <input {...props} type="datetime-local" value={draft.expires} onInput={(e) => set({ expires: e.currentTarget.value })} />}
        </Field>
        <Field label="Note" name="alert-note" error={fieldError(fields, "alert.note")}>
          {(props) => <input {...props} maxLength={200} value={draft.note} onInput={(e) => set({ note: e.currentTarget.value })} />}
        </Field>
      </div>
      <div class="form-actions">
        <button type="submit" class="primary" disabled={busy} data-testid="save-alert">
          {existing ? "Save and arm" : "Set alert"}
        </button>
        <button type="button" onClick={() => onDone(null)}>
          Cancel
        </button>
        {onDelete && (
          <button type="button" class="danger" onClick={onDelete}>
            Delete
          </button>
        )}
      </div>
    </form>
  );
}
