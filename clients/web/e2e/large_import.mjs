// A 50,000-row Zerodha tradebook imported from the browser (issue 15 item 7), against a running mesh, in Debian's
// headless Chromium driven by playwright-core. Run by tests/web/test_browser_large_import.py, which writes the file
// (TM_TRADEBOOK) and checks the journal afterwards. register → open the import panel → choose "Zerodha tradebook"
// → attach the file → Import (one grpc-web ImportTrades call through Envoy, the client's 120 s deadline) → the
// result says every row was created and the trade list shows trades. (That a second import adds nothing is
// tests/cli/test_cli_large_import.py's: a second 50,000-row call would double this scenario's time.) Prints one
// JSON line {"ok", "steps", "error"?}; the steps carry the username and the import's duration.
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { launch, register } from "./harness.mjs";

const { url, step, page, consoleErrors, shot, go, end } = await launch("web-large-import");

const tradebook = process.env.TM_TRADEBOOK;
const rows = Number(process.env.TM_ROWS ?? 50_000);
// An import is one call under the client's 120 s deadline; the page shows its result as soon as it returns.
const importWait = Number(process.env.TM_IMPORT_WAIT_MS ?? 150_000);

let ok = false;
let failure = "";
try {
  if (!tradebook) throw new Error("TM_TRADEBOOK names no file");
  const name = `bulk_${Date.now().toString(36)}`;
  const password = "Journey-Horse-42";

  await page.goto(url);
  await register(page, name, password);
  step("registered", { username: name, password });

  await go("#/trades");
  const panel = page.getByTestId("import-panel");
  await panel.locator("summary").click();
  await panel.getByLabel("Format", { exact: true }).selectOption({ label: "Zerodha tradebook" });
  const content = readFileSync(tradebook);
  await page.getByLabel("File").setInputFiles({ name: basename(tradebook), mimeType: "text/csv", buffer: content });
  step("file attached", { bytes: content.length });

  const summary = page.getByTestId("import-result");
  const importButton = panel.getByRole("button", { name: "Import", exact: true });
  const started = Date.now();
  await importButton.click();
  await summary.filter({ hasText: `${rows} rows — ${rows} created, 0 duplicate, 0 failed.` }).waitFor({ timeout: importWait });
  step("imported", { ms: Date.now() - started });
  await page.locator('[data-testid="trade-row"]').first().waitFor();
  await shot("large-import-01-imported");

  if (consoleErrors.length) throw new Error(`page errors: ${consoleErrors.join(" | ")}`);
  ok = true;
} catch (error) {
  failure = error;
}
await end(ok, failure, "large-import");
