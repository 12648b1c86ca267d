// Day notes (docs/decisions/0200): the journal entry of one IST trading day — Markdown text with a sanitised
// preview, mood, mistakes from the user's own list, lessons — beside that day's trades; plus search over
// every note and the editable mistake list. Reached at #/notes, or #/notes?date=YYYY-MM-DD from a day.
import { timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { trade } from "@trademesh/sdk";
import DOMPurify from "dompurify";
import { marked } from "marked";
import type { JSX } from "preact";
import { useEffect, useMemo, useState } from "preact/hooks";
import { call, clients } from "./api";
import { fieldError, otherFieldErrors, readableError, type ReadableError } from "./errors";
import { formatIst, formatPrice, formatQuantity } from "./format";
import { ErrorBanner, Field, Notice } from "./ui";

const IST_OFFSET_MS = 330 * 60_000;
const MOODS: [trade.Mood, string][] = [
  [trade.Mood.UNSPECIFIED, "—"],
  [trade.Mood.AWFUL, "1 · awful"],
  [trade.Mood.BAD, "2 · bad"],
  [trade.Mood.NEUTRAL, "3 · neutral"],
  [trade.Mood.GOOD, "4 · good"],
  [trade.Mood.GREAT, "5 · great"],
];
const FORM_FIELDS = ["note.date", "note.text", "note.mood", "note.mistakes", "note.lessons"];

/** Today's date in IST, YYYY-MM-DD. */
export function todayIst(now = Date.now()): string {
  return new Date(now + IST_OFFSET_MS).toISOString().slice(0, 10);
}

/** Markdown to HTML that is safe to insert: marked renders, DOMPurify strips scripts, handlers and bad URLs. */
export function renderMarkdown(text: string): string {
  return DOMPurify.sanitize(marked.parse(text, { async: false, gfm: true, breaks: true }));
}

function dateFromHash(): string | null {
  const match = /[?&]date=(\d{4}-\d{2}-\d{2})/.exec(location.hash);
  return match ? match[1] : null;
}

interface Draft {
  text: string;
  mood: trade.Mood;
  mistakes: string[];
  lessons: string;
}

const EMPTY: Draft = { text: "", mood: trade.Mood.UNSPECIFIED, mistakes: [], lessons: "" };

function isCode(error: unknown, code: Code): boolean {
  return ConnectError.from(error).code === code;
}

export function NotesScreen(): JSX.Element {
  const [day, setDay] = useState(dateFromHash() ?? todayIst());
  const [draft, setDraft] = useState<Draft>(EMPTY);
  const [etag, setEtag] = useState("");
  const [trades, setTrades] = useState<trade.Trade[]>([]);
  const [tags, setTags] = useState<string[]>([]);
  const [tagsEtag, setTagsEtag] = useState("");
  const [tagsText, setTagsText] = useState("");
  const [preview, setPreview] = useState(false);
  const [error, setError] = useState<ReadableError | null>(null);
  const [status, setStatus] = useState("");
  const [reload, setReload] = useState(0);
  const [query, setQuery] = useState("");
  const [results, setResults] = useState<trade.DayNote[] | null>(null);

  useEffect(() => {
    call(() => clients.trade.listMistakeTags({}))
      .then((response) => (setTags(response.tags), setTagsEtag(response.etag), setTagsText(response.tags.join(", "))))
      .catch((caught: unknown) => setError(readableError(caught)));
  }, []);

  useEffect(() => {
    let cancelled = false;
    setStatus("");
    setError(null);
    const load = async (): Promise<void> => {
      try {
        const response = await call(() => clients.trade.getDayNote({ date: day }));
        if (cancelled) return;
        const note = response.note!;
        setDraft({ text: note.text, mood: note.mood, mistakes: [...note.mistakes], lessons: note.lessons });
        setEtag(note.etag);
        setTrades(response.trades);
      } catch (caught) {
        if (cancelled) return;
        if (!isCode(caught, Code.NotFound)) {
          setError(readableError(caught));
          return;
        }
        // No note yet: an empty one, and the day's trades straight from ListTrades (IST midnight to midnight).
        setDraft(EMPTY);
        setEtag("");
        const start = Date.parse(`${day}T00:00:00Z`) - IST_OFFSET_MS;
        if (Number.isNaN(start)) return;
        const listed = await call(() =>
          clients.trade.listTrades({ pageSize: 500, startTime: timestampFromMs(start), endTime: timestampFromMs(start + 86_400_000) }),
        ).catch(() => null);
        if (!cancelled) setTrades(listed ? [...listed.trades].reverse() : []);
      }
    };
    void load();
    return () => {
      cancelled = true;
    };
  }, [day, reload]);

  const save = async (): Promise<void> => {
    setStatus("");
    try {
      const response = await call(() => clients.trade.putDayNote({ note: { date: day, ...draft }, etag }));
      setEtag(response.note!.etag);
      setError(null);
      setStatus(`Saved the note of ${day}.`);
    } catch (caught) {
      setError(readableError(caught));
    }
  };

  const remove = async (): Promise<void> => {
    try {
      await call(() => clients.trade.deleteDayNote({ date: day, etag }));
      setReload((n) => n + 1);
      setStatus(`Deleted the note of ${day}.`);
    } catch (caught) {
      setError(readableError(caught));
    }
  };

  const search = async (event: Event): Promise<void> => {
    event.preventDefault();
    try {
      const response = await call(() => clients.trade.searchDayNotes({ query, pageSize: 50 }));
      setResults(response.notes);
      setError(null);
    } catch (caught) {
      setError(readableError(caught));
    }
  };

  const saveTags = async (): Promise<void> => {
    const wanted = tagsText.split(",").map((tag) => tag.trim()).filter(Boolean);
    try {
      const response = await call(() => clients.trade.putMistakeTags({ tags: wanted, etag: tagsEtag }));
      setTags(response.tags);
      setTagsEtag(response.etag);
      setTagsText(response.tags.join(", "));
      setStatus("Saved your mistake tags.");
    } catch (caught) {
      setError(readableError(caught));
    }
  };

  const html = useMemo(() => (preview ? renderMarkdown(draft.text) : ""), [preview, draft.text]);
  const fields = error?.fields ?? {};
  const conflict = error?.reason === "ETAG_MISMATCH";
  const shownTags = [...tags, ...draft.mistakes.filter((tag) => !tags.includes(tag))];
  const toggle = (tag: string): void =>
    setDraft({ ...draft, mistakes: draft.mistakes.includes(tag) ? draft.mistakes.filter((t) => t !== tag) : [...draft.mistakes, tag] });

  return (
    <section aria-labelledby="notes-title" data-testid="notes-screen">
      <div class="section-head">
        <h2 id="notes-title">Day notes</h2>
        <label>
          Day{" "}
          <input type="date" value={day} max={todayIst()} onChange={(e) => e.currentTarget.value && setDay(e.currentTarget.value)} data-testid="note-date" />
        </label>
        <form role="search" onSubmit={(e) => void search(e)} data-testid="note-search">
          <input type="search" aria-label="Search notes" placeholder="Search notes" value={query} onInput={(e) => setQuery(e.currentTarget.value)} />
          <button type="submit">Search</button>
        </form>
      </div>
      <ErrorBanner error={error} extra={otherFieldErrors(fields, FORM_FIELDS)} />
      {conflict && (
        <Notice kind="warn" testid="note-conflict">
          This note changed elsewhere.{" "}
          <button type="button" class="link" onClick={() => setReload((n) => n + 1)}>
            Load the latest version
          </button>
        </Notice>
      )}
      {status && <Notice kind="ok" testid="note-status">{status}</Notice>}
      {results && (
        <div data-testid="note-results">
          <h3>{results.length} matching note(s)</h3>
          <ul>
            {results.map((note) => (
              <li key={note.date}>
                <button type="button" class="link" onClick={() => setDay(note.date)} data-testid="note-result" data-date={note.date}>
                  {note.date}
                </button>{" "}
                <span class="muted">{note.text.split("\n")[0].slice(0, 80)}</span>
              </li>
            ))}
          </ul>
        </div>
      )}
      <form class="note-form" data-testid="note-form" data-etag={etag} onSubmit={(e) => (e.preventDefault(), void save())}>
        <Field label="Note (Markdown)" name="note.text" error={fieldError(fields, "note.text", "note.date")}>
          {(props) =>
            preview ? (
              <div {...props} class="markdown" data-testid="note-preview" dangerouslySetInnerHTML={{ __html: html }} />
            ) : (
              <textarea {...props} rows={12} value={draft.text} onInput={(e) => setDraft({ ...draft, text: e.currentTarget.value })} />
            )
          }
        </Field>
        <button type="button" onClick={() => setPreview(!preview)} data-testid="note-preview-toggle">
          {preview ? "Edit" : "Preview"}
        </button>
        <Field label="Mood" name="note.mood" error={fieldError(fields, "note.mood")}>
          {(props) => (
            <select {...props} value={draft.mood} onChange={(e) => setDraft({ ...draft, mood: Number(e.currentTarget.value) as trade.Mood })}>
              {MOODS.map(([value, label]) => (
                <option key={value} value={value}>
                  {label}
                </option>
              ))}
            </select>
          )}
        </Field>
        <fieldset data-field="note.mistakes" data-testid="note-mistakes">
          <legend>Mistakes</legend>
          {shownTags.map((tag) => (
            <label key={tag} class="chip">
              <input type="checkbox" checked={draft.mistakes.includes(tag)} onChange={() => toggle(tag)} /> {tag}
            </label>
          ))}
          {fieldError(fields, "note.mistakes") && <small class="field-error" role="alert">{fieldError(fields, "note.mistakes")}</small>}
        </fieldset>
        <Field label="Lessons" name="note.lessons" error={fieldError(fields, "note.lessons")}>
          {(props) => <textarea {...props} rows={3} value={draft.lessons} onInput={(e) => setDraft({ ...draft, lessons: e.currentTarget.value })} />}
        </Field>
        <button type="submit" data-testid="note-save">
          Save note
        </button>{" "}
        {etag && (
          <button type="button" onClick={() => void remove()} data-testid="note-delete">
            Delete note
          </button>
        )}
      </form>
      <h3>Trades on {day}</h3>
      {trades.length === 0 ? (
        <p class="muted" data-testid="note-no-trades">No trades that day.</p>
      ) : (
        <table data-testid="note-trades">
          <thead>
            <tr>
              <th scope="col">Time (IST)</th>
              <th scope="col">Side</th>
              <th scope="col">Symbol</th>
              <th scope="col">Quantity</th>
              <th scope="col">Price</th>
            </tr>
          </thead>
          <tbody>
            {trades.map((t) => (
              <tr key={t.id} data-testid="note-trade">
                <td>{formatIst(t.tradeTime ? timestampMs(t.tradeTime) : undefined, false)}</td>
                <td>{t.side === trade.Side.BUY ? "buy" : "sell"}</td>
                <td>{t.instrument?.symbol}</td>
                <td class="num">{formatQuantity(t.quantityMicros)}</td>
                <td class="num">{formatPrice(t.priceMicros)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <details>
        <summary>Your mistake tags</summary>
        <label>
          Tags (comma-separated, at most 50){" "}
          <input value={tagsText} onInput={(e) => setTagsText(e.currentTarget.value)} data-testid="mistake-tags" size={60} />
        </label>{" "}
        <button type="button" onClick={() => void saveTags()} data-testid="mistake-tags-save">
          Save tags
        </button>
      </details>
    </section>
  );
}
