// Built-in broker formats in the browser (docs/decisions/0280), against a running mesh, in Debian's headless
// Chromium driven by playwright-core. Run by tests/web/test_browser_broker_formats.py. register → open the import
// panel → choose "Fyers tradebook" → preview the sample (7 rows, nothing written) → import it → choose "ICICI
// Direct trade book" → import its sample. Prints one JSON line {"ok", "steps", "error"?}.
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { launch, logIn, register } from "./harness.mjs";

const { url, step, page, consoleErrors, shot, go, end } = await launch("web-broker-formats");

const samples = resolve(process.env.TM_SAMPLES ?? "../../tests/trade/data");

let ok = false;
let failure = "";
try {
  const name = `brokers_${Date.now().toString(36)}`;
  const password = "Journey-Horse-42";

  await page.goto(url);
  await register(page, name, password);
  step("registered", { username: name });

  await go("#/trades");
  const panel = page.getByTestId("import-panel");
  await panel.locator("summary").click();
  const format = panel.getByLabel("Format", { exact: true });
  const summary = page.getByTestId("import-result");
  const attach = (file) =>
    page.getByLabel("File").setInputFiles({ name: file, mimeType: "text/csv", buffer: readFileSync(join(samples, file)) });

  await format.selectOption({ label: "Fyers tradebook" });
  await attach("fyers_tradebook.csv");
  await panel.getByRole("button", { name: "Preview" }).click();
  await page.getByTestId("preview-row").first().waitFor();
  const rows = await page.getByTestId("preview-row").count();
  if (rows !== 7) throw new Error(`preview shows ${rows} rows, expected 7`);
  await summary.filter({ hasText: "7 would be created" }).waitFor();
  step("fyers preview shown", { summary: (await summary.innerText()).split("\n")[0] });
  await shot("broker-formats-01-fyers-preview");
  if ((await page.locator('[data-testid="trade-row"][data-symbol="INFY"]').count()) !== 0) throw new Error("the preview wrote trades");

  await page.getByRole("button", { name: "Import", exact: true }).click();
  await summary.filter({ hasText: "7 created" }).waitFor();
  await page.locator('[data-testid="trade-row"][data-symbol="INFY"]').first().waitFor();
  step("fyers import done");

  await format.selectOption({ label: "ICICI Direct trade book" });
  await attach("icicidirect_tradebook.csv");
  await page.getByRole("button", { name: "Import", exact: true }).click();
  await summary.filter({ hasText: "4 created" }).waitFor();
  await page.locator('[data-testid="trade-row"][data-symbol="RELIND"]').first().waitFor();
  step("icici import done");
  await shot("broker-formats-02-imported");

  if (consoleErrors.length) throw new Error(`page errors: ${consoleErrors.join(" | ")}`);
  ok = true;
} catch (error) {
  failure = error;
}
await end(ok, failure, "broker-formats");
