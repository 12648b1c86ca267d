// What every browser scenario shares (run by tests/web/e2e.py): Debian's headless Chromium driven by
// playwright-core in a throw-away profile at IST, a step log, screenshots, the page's errors, the access token
// of the page's own calls, and the one JSON line a run ends with ({"ok", "steps", "consoleErrors", "error"?}).
// A scenario: `const b = await launch("web-x")`, then its steps, then `await b.end(ok, failure, "x")`.
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { chromium } from "playwright-core";

const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/**
 * Start the browser. Options: the viewport (`width`, `height`), `wait` (default wait in ms; TM_WAIT_MS wins),
 * `permissions` granted to the page's origin, and `consoleErrors: true` to count the console's error messages
 * (not only uncaught page errors) into `consoleErrors` — the report carries them either way.
 */
export async function launch(name, { width = 1280, height = 900, wait = 20_000, permissions = [], consoleErrors: withConsole = false } = {}) {
  const url = process.env.TM_URL ?? "http://127.0.0.1:8080/";
  const artifacts = resolve(process.env.TM_ARTIFACTS ?? `../../test-artifacts/${name}`);
  const executablePath = process.env.TM_CHROMIUM ?? "/usr/bin/chromium";
  const timeout = Number(process.env.TM_WAIT_MS ?? wait);
  const steps = [];
  const step = (label, detail = {}) => {
    steps.push({ name: label, ...detail, at: Date.now() });
    process.stderr.write(`e2e: ${label} ${JSON.stringify(detail)}\n`);
  };
  mkdirSync(artifacts, { recursive: true });
  const profile = mkdtempSync(join(tmpdir(), "trademesh-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    viewport: { width, height },
    timezoneId: "Asia/Kolkata",
    locale: "en-IN",
    args: ARGS,
  });
  context.setDefaultTimeout(timeout);
  if (permissions.length) await context.grantPermissions(permissions, { origin: new URL(url).origin });
  const page = context.pages()[0] ?? (await context.newPage());
  const consoleErrors = [];
  if (withConsole) {
    page.on("console", (message) => {
      if (message.type() === "error") consoleErrors.push(message.text());
    });
  }
  page.on("pageerror", (error) => consoleErrors.push(String(error)));
  // The access token of the page's latest protected call, so a scenario can act as the same user from outside.
  const tokens = { last: "", seen: new Set() };
  page.on("request", (request) => {
    const header = request.headers()["authorization"];
    if (header && request.url().includes("/trademesh.")) {
      tokens.last = header;
      tokens.seen.add(header);
    }
  });
  // A grpc-web transport to `base` (default: the gateway) carrying the page's current access token.
  const outside = (base = url) =>
    createGrpcWebTransport({
      baseUrl: base.replace(/\/$/, ""),
      interceptors: [(next) => (request) => (request.header.set("authorization", tokens.last), next(request))],
    });
  const shot = async (label) => {
    const path = join(artifacts, `${label}.png`);
    await page.screenshot({ path, fullPage: true });
    step("screenshot", { path });
  };
  // go("#/analytics") or go("analytics"): switch the single-page app's route.
  const go = (target) => page.evaluate((hash) => (location.hash = hash), target.startsWith("#") ? target : `#/${target}`);
  // Close the browser, drop the profile, print the report line and exit 0 (ok) or 1. The failure's screenshot is
  // `<prefix>-failure.png` (`failure.png` without a prefix).
  const end = async (ok, error, prefix = "") => {
    const failure = ok ? "" : String(error?.stack ?? error);
    if (!ok) {
      step("failed", { error: String(error?.message ?? error), url: page.url() });
      await page.screenshot({ path: join(artifacts, prefix ? `${prefix}-failure.png` : "failure.png"), fullPage: true }).catch(() => {});
    }
    await context.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
    process.stdout.write(JSON.stringify({ ok, steps, consoleErrors, ...(ok ? {} : { error: failure }) }) + "\n");
    process.exit(ok ? 0 : 1);
  };
  return { url, artifacts, wait: timeout, steps, step, context, page, consoleErrors, tokens, outside, shot, go, end };
}

// Register through the login form's Register tab (email `<name>@example.com`) and wait until the header names the user.
export async function register(page, name, password) {
  await page.getByTestId("login-form").waitFor();
  await page.getByRole("tab", { name: "Register" }).click();
  await page.getByLabel("Email").fill(`${name}@example.com`);
  await page.getByLabel("Username").fill(name);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Create account" }).click();
  await page.getByTestId("current-user").filter({ hasText: name }).waitFor();
}

// Log in through the login form and wait until the header names the user.
export async function logIn(page, name, password) {
  await page.getByTestId("login-form").waitFor();
  await page.getByLabel("Email or username").fill(name);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByTestId("current-user").filter({ hasText: name }).waitFor();
}

// Wait until `check()` returns something truthy (polled every 100 ms, `tries` times); return it.
export async function until(what, check, tries = 300) {
  for (let attempt = 0; attempt < tries; attempt += 1) {
    const value = await check();
    if (value) return value;
    await new Promise((done) => setTimeout(done, 100));
  }
  throw new Error(`timed out: ${what}`);
}
