// The slice filter bar of the analytics screen (decision 0250): strategies, tags (any/all), segment, symbols and
// opening side narrow the report to the round trips whose opening trade matches; "compare with the rest" shows
// the slice next to everything else of the period (CompareAnalytics).
import type { MessageInitShape } from "@bufbuild/protobuf";
import { analytics } from "@trademesh/sdk";
import type { JSX } from "preact";
import { useState } from "preact/hooks";
import { formatInr } from "./format";
import { Money } from "./ui";

/** What the bar chose: plain values, turned into an AnalyticsSlice by `sliceMessage`. */
export interface SliceChoice {
  strategies: string[];
  tags: string[];
  allTags: boolean;
  segments: analytics.SliceSegment[];
  symbols: string[];
  side: analytics.OpeningSide;
}

export const NO_SLICE: SliceChoice = {
  strategies: [],
  tags: [],
  allTags: false,
  segments: [],
  symbols: [],
  side: analytics.OpeningSide.UNSPECIFIED,
};

const SEGMENTS: [analytics.SliceSegment, string][] = [
  [analytics.SliceSegment.EQUITY, "Equity"],
  [analytics.SliceSegment.FUTURES, "Futures"],
  [analytics.SliceSegment.OPTIONS, "Options"],
  [analytics.SliceSegment.CURRENCY, "Currency"],
  [analytics.SliceSegment.COMMODITY, "Commodity"],
];

const SIDES: [analytics.OpeningSide, string][] = [
  [analytics.OpeningSide.UNSPECIFIED, "Long and short"],
  [analytics.OpeningSide.BUY, "Long (opened by a buy)"],
  [analytics.OpeningSide.SELL, "Short (opened by a sell)"],
];

/** Split a comma-separated entry into trimmed, non-empty, distinct values. */
export function splitValues(text: string): string[] {
  const seen = new Set<string>();
  const values: string[] = [];
  for (const raw of text.split(",")) {
    const value = raw.trim();
    if (value && !seen.has(value.toLowerCase())) {
      seen.add(value.toLowerCase());
      values.push(value);
    }
  }
  return values;
}

/** Whether a choice filters anything. */
export function isSliced(choice: SliceChoice): boolean {
  return (
    choice.strategies.length + choice.tags.length + choice.segments.length + choice.symbols.length > 0 ||
    choice.side !== analytics.OpeningSide.UNSPECIFIED
  );
}

/** The request's `slice` field for a choice (undefined: the whole journal). */
export function sliceMessage(choice: SliceChoice): MessageInitShape<typeof analytics.AnalyticsSliceSchema> | undefined {
  if (!isSliced(choice)) return undefined;
  return {
    strategies: choice.strategies,
    tags: choice.tags,
    tagMatch: choice.allTags ? analytics.TagMatch.ALL : analytics.TagMatch.ANY,
    segments: choice.segments,
    symbols: choice.symbols.map((s) => s.toUpperCase()),
    side: choice.side,
  };
}

function Chip({ label, onRemove }: { label: string; onRemove: () => void }): JSX.Element {
  return (
    <span class="chip" data-testid="slice-chip">
      {label}
      <button type="button" aria-label={`Remove ${label}`} onClick={onRemove}>
        ×
      </button>
    </span>
  );
}

export function SliceBar({
  choice,
  compare,
  onChange,
}: {
  choice: SliceChoice;
  compare: boolean;
  onChange: (choice: SliceChoice, compare: boolean) => void;
}): JSX.Element {
  const [strategy, setStrategy] = useState("");
  const [tag, setTag] = useState("");
  const [symbol, setSymbol] = useState("");
  const add = (event: Event): void => {
    event.preventDefault();
    onChange(
      {
        ...choice,
        strategies: splitValues([...choice.strategies, strategy].join(",")),
        tags: splitValues([...choice.tags, tag].join(",")),
        symbols: splitValues([...choice.symbols, symbol].join(",")),
      },
      compare,
    );
    setStrategy("");
    setTag("");
    setSymbol("");
  };
  const without = (key: "strategies" | "tags" | "symbols", value: string): void =>
    onChange({ ...choice, [key]: choice[key].filter((v) => v !== value) }, compare);
  return (
    <form class="card slice-bar" aria-label="Slice" data-testid="slice-bar" onSubmit={add}>
      <label>
        Strategy <input name="strategy" value={strategy} onInput={(e) => setStrategy(e.currentTarget.value)} placeholder="e.g. Breakout" />
      </label>
      <label>
        Tags <input name="tags" value={tag} onInput={(e) => setTag(e.currentTarget.value)} placeholder="comma-separated" />
      </label>
      <label>
        Symbol <input name="symbol" value={symbol} onInput={(e) => setSymbol(e.currentTarget.value)} placeholder="e.g. INFY" />
      </label>
      <label>
        Segment{" "}
        <select
          value={choice.segments[0] ?? 0}
          onChange={(e) => {
            const value = Number(e.currentTarget.value) as analytics.SliceSegment;
            onChange({ ...choice, segments: value ? [value] : [] }, compare);
          }}
        >
          <option value={0}>Any segment</option>
          {SEGMENTS.map(([value, label]) => (
            <option key={value} value={value}>
              {label}
            </option>
          ))}
        </select>
      </label>
      <label>
        Side{" "}
        <select value={choice.side} onChange={(e) => onChange({ ...choice, side: Number(e.currentTarget.value) as analytics.OpeningSide }, compare)}>
          {SIDES.map(([value, label]) => (
            <option key={value} value={value}>
              {label}
            </option>
          ))}
        </select>
      </label>
      <button type="submit">Add filter</button>
      <label>
        <input type="checkbox" checked={choice.allTags} onChange={(e) => onChange({ ...choice, allTags: e.currentTarget.checked }, compare)} /> All tags
      </label>
      <label>
        <input type="checkbox" checked={compare} onChange={(e) => onChange(choice, e.currentTarget.checked)} data-testid="slice-compare" /> Compare with the rest
      </label>
      {isSliced(choice) && (
        <div class="chips" data-testid="slice-chips">
          {choice.strategies.map((v) => (
            <Chip key={`s-${v}`} label={`strategy: ${v}`} onRemove={() => without("strategies", v)} />
          ))}
          {choice.tags.map((v) => (
            <Chip key={`t-${v}`} label={`tag: ${v}`} onRemove={() => without("tags", v)} />
          ))}
          {choice.symbols.map((v) => (
            <Chip key={`y-${v}`} label={`symbol: ${v}`} onRemove={() => without("symbols", v)} />
          ))}
          <button type="button" onClick={() => onChange(NO_SLICE, false)}>
            Clear
          </button>
        </div>
      )}
    </form>
  );
}

/** The key figures of a slice and of the rest side by side. */
export function CompareView({ first, second }: { first: analytics.AnalyticsReport; second: analytics.AnalyticsReport }): JSX.Element {
  const rows: [string, (r: analytics.AnalyticsReport) => JSX.Element | string][] = [
    ["Round trips", (r) => String(r.performance?.roundTripCount ?? 0n)],
    ["Net P&L", (r) => <Money micros={r.performance?.netPnlMicros ?? 0n} signed />],
    ["Win rate", (r) => (r.performance?.winRatePercent !== undefined ? `${r.performance.winRatePercent.toFixed(1)} %` : "—")],
    ["Expectancy", (r) => (r.performance?.expectancyMicros !== undefined ? formatInr(r.performance.expectancyMicros, true) : "—")],
    ["Max drawdown", (r) => formatInr(r.risk?.maxDrawdownMicros ?? 0n)],
    ["Fills", (r) => String(r.activity?.fillCount ?? 0n)],
  ];
  return (
    <table
      class="card compare"
      data-testid="slice-compare-view"
      data-first-round-trips={String(first.performance?.roundTripCount ?? 0n)}
      data-second-round-trips={String(second.performance?.roundTripCount ?? 0n)}
    >
      <thead>
        <tr>
          <th />
          <th>This slice</th>
          <th>The rest</th>
        </tr>
      </thead>
      <tbody>
        {rows.map(([label, value]) => (
          <tr key={label}>
            <th scope="row">{label}</th>
            <td>{value(first)}</td>
            <td>{value(second)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
