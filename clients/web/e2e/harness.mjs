// What every browser scenario shares (run by tests/web/e2e.py): Debian's headless Chromium driven by
// playwright-core in a throw-away profile at IST, a step log, screenshots, and the one JSON line a run ends with
// ({"ok", "steps", "error"?}). A scenario: `const b = await launch("web-x")`, then its steps, then
// `await b.end(ok, failure, "x")`.
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromium } from "playwright-core";

export async function launch(name, { width = 1280, height = 900 } = {}) {
  const url = process.env.TM_URL ?? "http://127.0.0.1:8080/";
  const artifacts = resolve(process.env.TM_ARTIFACTS ?? `../../test-artifacts/${name}`);
  const executablePath = process.env.TM_CHROMIUM ?? "/usr/bin/chromium";
  const wait = Number(process.env.TM_WAIT_MS ?? 20_000);
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
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-sync"],
  });
  context.setDefaultTimeout(wait);
  const page = context.pages()[0] ?? (await context.newPage());
  const consoleErrors = [];
  page.on("pageerror", (error) => consoleErrors.push(String(error)));
  const shot = async (label) => {
    const path = join(artifacts, `${label}.png`);
    await page.screenshot({ path, fullPage: true });
    step("screenshot", { path });
  };
  // go("#/analytics") or go("analytics"): switch the single-page app's route.
  const go = (target) => page.evaluate((hash) => (location.hash = hash), target.startsWith("#") ? target : `#/${target}`);
  // Close the browser, drop the profile, print the report line and exit 0 (ok) or 1.
  const end = async (ok, error, prefix) => {
    const failure = ok ? "" : String(error?.stack ?? error);
    if (!ok) await page.screenshot({ path: join(artifacts, `${prefix}-failure.png`), fullPage: true }).catch(() => {});
    await context.close();
    rmSync(profile, { recursive: true, force: true });
    process.stdout.write(JSON.stringify({ ok, steps, ...(ok ? {} : { error: failure }) }) + "\n");
    process.exit(ok ? 0 : 1);
  };
  return { url, artifacts, wait, steps, step, context, page, consoleErrors, shot, go, end };
}

// Log in through the login form and wait until the header names the user.
export async function logIn(page, name, password) {
  await page.getByTestId("login-form").waitFor();
  await page.getByLabel("Email or username").fill(name);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByTestId("current-user").filter({ hasText: name }).waitFor();
}
