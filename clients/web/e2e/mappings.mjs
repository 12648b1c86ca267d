// Saved CSV mappings in the browser (docs/decisions/0240), against a running mesh, in Debian's headless Chromium
// driven by playwright-core. Run by tests/web/test_browser_mappings.py. register → open the import panel →
// a mapping with a bad time format is refused naming the field → saved → a broker file previewed (3 rows, one
// bad side word, nothing written) → imported through the mapping. Prints one JSON line {"ok", "steps", "error"?}.
import { launch, logIn, register } from "./harness.mjs";

const { url, step, page, consoleErrors, shot, go, end } = await launch("web-mappings");

let ok = false;
let failure = "";
try {
  const name = `maps_${Date.now().toString(36)}`;
  const password = "Journey-Horse-42";
  const stamp = Date.now().toString(36);

  await page.goto(url);
  await register(page, name, password);
  step("registered", { username: name });

  await go("#/trades");
  const panel = page.getByTestId("import-panel");
  await panel.locator("summary").click();
  await panel.getByRole("button", { name: "New column mapping" }).click();
  const form = page.getByTestId("mapping-form");
  // A bad time format is refused, naming the field.
  await form.getByLabel("Mapping name").fill("Broker X");
  const columns = {
    "Column for symbol": "Scrip",
    "Column for exchange": "Exch",
    "Column for side": "Buy/Sell",
    "Column for quantity": "Qty",
    "Column for price": "Rate",
    "Column for date (when time is apart)": "Trade Date",
    "Column for time of day": "Trade Time",
    "Column for trade id": "Trade No",
  };
  for (const [label, value] of Object.entries(columns)) await form.getByLabel(label, { exact: true }).fill(value);
  await form.getByLabel("Time format").fill("%H:%M");
  await form.getByLabel("Buy words").fill("Bought");
  await form.getByLabel("Sell words").fill("Sold");
  await form.getByLabel("Header row").fill("2");
  await form.getByRole("button", { name: "Save mapping" }).click();
  await form.locator('[data-field="mapping-time-format"] .field-error').waitFor();
  step("bad time format refused");
  await form.getByLabel("Time format").fill("%d/%m/%Y %I:%M:%S %p");
  await form.getByRole("button", { name: "Save mapping" }).click();
  await panel.locator("option", { hasText: "Mapping: Broker X" }).waitFor({ state: "attached" });
  step("mapping saved");

  const csv = [
    "Tradebook of client X",
    "Scrip,Exch,Buy/Sell,Qty,Rate,Trade Date,Trade Time,Trade No",
    `INFY,NSE,Bought,3,1500.5,03/06/2024,09:30:00 AM,W${stamp}1`,
    `INFY,NSE,Sold,3,1510,03/06/2024,10:30:00 AM,W${stamp}2`,
    `TCS,NSE,Held,1,4000,03/06/2024,11:00:00 AM,W${stamp}3`,
  ].join("\n");
  await page.getByLabel("File").setInputFiles({ name: "broker.csv", mimeType: "text/csv", buffer: Buffer.from(csv) });
  await panel.getByRole("button", { name: "Preview" }).click();
  await page.getByTestId("preview-row").first().waitFor();
  const rows = await page.getByTestId("preview-row").count();
  if (rows !== 3) throw new Error(`preview shows ${rows} rows, expected 3`);
  const summary = page.getByTestId("import-result");
  await summary.filter({ hasText: "2 would be created" }).waitFor();
  await summary.filter({ hasText: "INVALID_SIDE" }).waitFor();
  step("preview shown", { summary: (await summary.innerText()).split("\n")[0] });
  await shot("mappings-01-preview");
  if ((await page.locator('[data-testid="trade-row"][data-symbol="INFY"]').count()) !== 0) throw new Error("the preview wrote trades");

  await page.getByRole("button", { name: "Import", exact: true }).click();
  await summary.filter({ hasText: "2 created" }).waitFor();
  await page.locator('[data-testid="trade-row"][data-symbol="INFY"]').first().waitFor();
  step("mapped import done");
  await shot("mappings-02-imported");

  if (consoleErrors.length) throw new Error(`page errors: ${consoleErrors.join(" | ")}`);
  ok = true;
} catch (error) {
  failure = error;
}
await end(ok, failure, "mappings");
