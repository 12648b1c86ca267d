// Small shared UI pieces: labelled fields with their server-side violation, error banners, notices.
import type { ComponentChildren, JSX } from "preact";
import type { ReadableError } from "./errors";
import { formatInr as formatInrLocal } from "./format";

interface FieldProps {
  label: string;
  name: string;
  error?: string;
  hint?: string;
  children: (props: { id: string; "aria-invalid": boolean; "aria-describedby"?: string }) => JSX.Element;
}

/** A label, the control, an optional hint, and the server's violation for this field right under it. */
export function Field({ label, name, error, hint, children }: FieldProps): JSX.Element {
  const id = `field-${name}`;
  const described = [hint ? `${id}-hint` : "", error ? `${id}-error` : ""].filter(Boolean).join(" ") || undefined;
  return (
    <div class={`field${error ? " field--invalid" : ""}`} data-field={name}>
      <label for={id}>{label}</label>
      {children({ id, "aria-invalid": Boolean(error), "aria-describedby": described })}
      {hint && (
        <small id={`${id}-hint`} class="hint">
          {hint}
        </small>
      )}
      {error && (
        <small id={`${id}-error`} class="field-error" role="alert">
          {error}
        </small>
      )}
    </div>
  );
}

export function ErrorBanner({ error, extra }: { error: ReadableError | null; extra?: [string, string][] }): JSX.Element | null {
  if (!error) return null;
  return (
    <div class="banner banner--error" role="alert" data-testid="error">
      <strong>{error.message}</strong>
      {error.reason && <span class="reason"> ({error.reason})</span>}
      {error.retryAfterSeconds !== undefined && <span> Try again in {Math.ceil(error.retryAfterSeconds)} s.</span>}
      {extra && extra.length > 0 && (
        <ul>
          {extra.map(([field, description]) => (
            <li key={field}>
              <code>{field}</code>: {description}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

export function Notice({ kind = "info", children, testid }: { kind?: "info" | "warn" | "ok"; children: ComponentChildren; testid?: string }): JSX.Element {
  return (
    <div class={`banner banner--${kind}`} role="status" data-testid={testid}>
      {children}
    </div>
  );
}

export function Unavailable({ what, testid }: { what: string; testid?: string }): JSX.Element {
  return (
    <Notice kind="warn" testid={testid ?? "unavailable"}>
      <strong>{what} is not available yet.</strong> The service is not running behind the gateway; this screen
      will work as soon as it is.
    </Notice>
  );
}

export function Money({ micros, signed = false }: { micros: bigint | undefined; signed?: boolean }): JSX.Element {
  if (micros === undefined) return <span class="muted">—</span>;
  const cls = micros > 0n ? "pos" : micros < 0n ? "neg" : "";
  return <span class={`money ${signed ? cls : ""}`}>{formatInrLocal(micros, signed)}</span>;
}
