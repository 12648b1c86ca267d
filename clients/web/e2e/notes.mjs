// Day notes in the browser (docs/decisions/0200), against a running mesh (Envoy serving dist/ at `/`), in
// Debian's headless Chromium driven by playwright-core. Run by tests/web/test_browser_notes.py:
//
//   TM_URL=http://127.0.0.1:8080/ TM_ARTIFACTS=../../test-artifacts/web-notes node e2e/notes.mjs
//
// register → write a Markdown note (preview is sanitised) with mood, a mistake and lessons → save → reload
// (tokens live in memory, so log in again) → the note is still there → find it by search → open it from
// the result. Waits are on conditions, never fixed sleeps. Prints one JSON line {"ok", "steps", "error"?}.
import { launch, logIn, register } from "./harness.mjs";

const { url, step, page, consoleErrors, shot, go, end } = await launch("web-notes");
// An injected handler would set this flag: the sanitiser must stop it.
await page.addInitScript(() => {
  window.__xss = false;
});

let ok = false;
let failure = "";
try {
  const name = `notes_${Date.now().toString(36)}`;
  const password = "Journey-Horse-42";
  const word = `zephyr${Date.now().toString(36)}`;

  await page.goto(url);
  await register(page, name, password);
  step("registered", { username: name });

  // A trade now (the form's default time): it belongs to today's IST date, the notes screen's default day.
  await go("#/trades");
  await page.getByTestId("add-trade").click();
  const form = page.getByTestId("trade-form");
  await form.getByLabel("Symbol").fill("INFY");
  await form.getByLabel("Quantity").fill("10");
  await form.getByLabel("Price (₹)").fill("1573.70");
  await form.getByRole("button", { name: "Add trade" }).click();
  await page.locator('[data-testid="trade-row"][data-symbol="INFY"]').waitFor();
  step("trade added");

  await go("#/notes");
  const screen = page.getByTestId("notes-screen");
  await screen.waitFor();
  const day = await page.getByTestId("note-date").inputValue();
  await page.getByTestId("note-trade").filter({ hasText: "INFY" }).waitFor();
  step("the day's trade listed before the note exists");
  await page.getByTestId("note-mistakes").getByLabel("fomo").waitFor();
  const text = `# Opening range\nHeld **${word}** through the dip.\n\n<img src="x" onerror="window.__xss = true">`;
  await page.getByLabel("Note (Markdown)").fill(text);
  await page.getByTestId("note-preview-toggle").click();
  const preview = page.getByTestId("note-preview");
  await preview.locator("h1", { hasText: "Opening range" }).waitFor();
  await preview.locator("strong", { hasText: word }).waitFor();
  const handlers = await preview.locator("[onerror]").count();
  if (handlers !== 0 || (await page.evaluate(() => window.__xss))) throw new Error("the preview kept an event handler");
  step("preview rendered and sanitised", { day });
  await shot("notes-01-preview");
  await page.getByTestId("note-preview-toggle").click();
  await page.getByLabel("Mood").selectOption({ label: "4 · good" });
  await page.getByTestId("note-mistakes").getByLabel("fomo").check();
  await page.getByLabel("Lessons").fill("Wait for the first fifteen minutes.");
  await page.getByTestId("note-save").click();
  await page.getByTestId("note-status").filter({ hasText: `Saved the note of ${day}` }).waitFor();
  await page.locator('[data-testid="note-form"][data-etag="v1"]').waitFor();
  step("note saved");
  await shot("notes-02-saved");

  // Edit the mistake list: the new tag is offered on the note at once.
  await page.locator("details summary", { hasText: "Your mistake tags" }).click();
  await page.getByTestId("mistake-tags").fill("fomo, late exit");
  await page.getByTestId("mistake-tags-save").click();
  await page.getByTestId("note-status").filter({ hasText: "Saved your mistake tags" }).waitFor();
  await page.getByTestId("note-mistakes").getByLabel("late exit").waitFor();
  if ((await page.getByTestId("note-mistakes").locator("label").count()) !== 2) throw new Error("the mistake list did not change");
  step("mistake tags saved");

  // Reload: tokens are kept in memory only, so the app asks to log in again.
  await page.reload();
  await logIn(page, name, password);
  await go(`#/notes?date=${day}`);
  await screen.waitFor();
  await page.locator('[data-testid="note-form"][data-etag="v1"]').waitFor();
  const kept = await page.getByLabel("Note (Markdown)").inputValue();
  if (!kept.includes(word)) throw new Error(`the note did not survive the reload: ${kept}`);
  if (!(await page.getByTestId("note-mistakes").getByLabel("fomo").isChecked())) throw new Error("the mistake was lost");
  if ((await page.getByLabel("Mood").inputValue()) !== "4") throw new Error("the mood was lost");
  await page.getByTestId("note-trade").filter({ hasText: "INFY" }).waitFor();
  step("note kept across reload");

  // Search from another day finds it and opens it.
  await page.getByTestId("note-date").fill("2024-01-02");
  await page.locator('[data-testid="note-form"][data-etag=""]').waitFor();
  await page.getByLabel("Search notes").fill(word.toUpperCase());
  await page.getByRole("button", { name: "Search" }).click();
  const result = page.locator(`[data-testid="note-result"][data-date="${day}"]`);
  await result.waitFor();
  const count = await page.getByTestId("note-result").count();
  if (count !== 1) throw new Error(`search found ${count} notes, expected 1`);
  await result.click();
  await page.locator('[data-testid="note-form"][data-etag="v1"]').waitFor();
  step("note found by search");
  await shot("notes-03-search");

  // From the P&L calendar: a day's panel links to that day's note.
  await go("#/calendar");
  await page.locator(`[data-testid="calendar-day"][data-date="${day}"]`).click();
  await page.locator(`[data-testid="day-trips"][data-date="${day}"]`).getByTestId("day-note-link").click();
  await page.locator('[data-testid="note-form"][data-etag="v1"]').waitFor();
  if ((await page.getByTestId("note-date").inputValue()) !== day) throw new Error("the calendar opened another day's note");
  step("note opened from the calendar");

  if (consoleErrors.length) throw new Error(`page errors: ${consoleErrors.join(" | ")}`);
  ok = true;
} catch (error) {
  failure = error;
}
await end(ok, failure, "notes");
