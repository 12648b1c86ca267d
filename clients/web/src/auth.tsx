// Register and log in. Tokens go to the in-memory session store only (never localStorage).
import { useState } from "preact/hooks";
import type { JSX } from "preact";
import { clients, sessions } from "./api";
import { fieldError, otherFieldErrors, readableError, type ReadableError } from "./errors";
import { ErrorBanner, Field } from "./ui";

type Mode = "login" | "register";

export function AuthScreen(): JSX.Element {
  const [mode, setMode] = useState<Mode>("login");
  const [email, setEmail] = useState("");
  const [username, setUsername] = useState("");
  const [login, setLogin] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<ReadableError | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: Event): Promise<void> {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      if (mode === "register") {
        const response = await clients.auth.register({ email, username, password });
        if (response.user && response.tokens) sessions.start(response.user, response.tokens);
      } else {
        const response = await clients.auth.login({ login, password });
        if (response.user && response.tokens) sessions.start(response.user, response.tokens);
      }
      if (!location.hash || location.hash === "#/login") location.hash = "#/trades";
    } catch (caught) {
      setError(readableError(caught));
    } finally {
      setBusy(false);
    }
  }

  const fields = error?.fields ?? {};
  const known = mode === "register" ? ["email", "username", "password"] : ["login", "password"];
  return (
    <main class="auth" aria-labelledby="auth-title">
      <div class="card auth-card">
        <h1 id="auth-title">trademesh</h1>
        <p class="muted">Your trade journal: trades, positions, live quotes and honest P&amp;L.</p>
        <div class="tabs" role="tablist" aria-label="Account">
          {(["login", "register"] as const).map((m) => (
            <button
              key={m}
              type="button"
              role="tab"
              aria-selected={mode === m}
              class={mode === m ? "tab tab--active" : "tab"}
              onClick={() => {
                setMode(m);
                setError(null);
              }}
            >
              {m === "login" ? "Log in" : "Register"}
            </button>
          ))}
        </div>
        <form onSubmit={submit} noValidate aria-label={mode === "login" ? "Log in" : "Register"} data-testid={`${mode}-form`}>
          {mode === "register" ? (
            <>
              <Field label="Email" name="email" error={fieldError(fields, "email")}>
                {(p) => <input {...p} type="email" autocomplete="email" value={email} onInput={(e) => setEmail(e.currentTarget.value)} required />}
              </Field>
              <Field label="Username" name="username" error={fieldError(fields, "username")} hint="3–30 characters: a–z, 0–9, _ and .">
                {(p) => <input {...p} autocomplete="username" value={username} onInput={(e) => setUsername(e.currentTarget.value)} required />}
              </Field>
            </>
          ) : (
            <Field label="Email or username" name="login" error={fieldError(fields, "login")}>
              {(p) => <input {...p} autocomplete="username" value={login} onInput={(e) => setLogin(e.currentTarget.value)} required />}
            </Field>
          )}
          <Field
            label="Password"
            name="password"
            error={fieldError(fields, "password")}
            hint={mode === "register" ? "10–128 characters, not common, not containing your username or email" : undefined}
          >
            {(p) => (
              <input
                {...p}
                type="password"
                autocomplete={mode === "register" ? "new-password" : "current-password"}
                value={password}
                onInput={(e) => setPassword(e.currentTarget.value)}
                required
              />
            )}
          </Field>
          <ErrorBanner error={error} extra={otherFieldErrors(fields, known)} />
          <button type="submit" class="primary" disabled={busy}>
            {busy ? "Please wait…" : mode === "login" ? "Log in" : "Create account"}
          </button>
        </form>
      </div>
    </main>
  );
}
