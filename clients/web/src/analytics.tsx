// Analytics (GetAnalytics: headline metrics, equity curve, P&L by category / weekday / hour) and live
// P&L (WatchPnl). Both degrade to a clear notice while the analytics service is not deployed.
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { analytics } from "@trademesh/sdk";
import type { JSX } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { call, clients } from "./api";
import { BarChart, LineChart } from "./charts";
import { isServiceMissing, readableError, type ReadableError } from "./errors";
import { enumLabel, formatInr, formatIst, formatPercent, formatPrice, formatQuantity } from "./format";
import { R_BUCKET_LABELS, formatR } from "./rmultiples";
import { CompareView, NO_SLICE, SliceBar, type SliceChoice, sliceMessage } from "./slicebar";
import { keepStreaming, type StreamState } from "./stream";
import { exchangeName } from "./trades";
import { ErrorBanner, Money, Unavailable } from "./ui";
import { StreamBadge } from "./watchlist";

const PERIODS: [analytics.Period, string][] = [
  [analytics.Period.DAILY, "Today"],
  [analytics.Period.WEEKLY, "This week"],
  [analytics.Period.MONTHLY, "This month"],
  [analytics.Period.FINANCIAL_YEAR, "This financial year"],
  [analytics.Period.ALL_TIME, "All time"],
];
const WEEKDAYS = ["", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

export function AnalyticsScreen(): JSX.Element {
  const [period, setPeriod] = useState(analytics.Period.ALL_TIME);
  const [report, setReport] = useState<analytics.AnalyticsReport | null>(null);
  const [error, setError] = useState<ReadableError | null>(null);
  const [missing, setMissing] = useState(false);
  const [loading, setLoading] = useState(true);
  const [reloadKey, setReloadKey] = useState(0);
  const [choice, setChoice] = useState<SliceChoice>(NO_SLICE);
  const [compare, setCompare] = useState(false);
  const [compared, setCompared] = useState<[analytics.AnalyticsReport, analytics.AnalyticsReport] | null>(null);

  useEffect(() => {
    let cancelled = false;
    setLoading(true);
    const query = { period, includeEquityCurve: true, equityCurveMaxPoints: 200, instrumentLimit: 5, slice: sliceMessage(choice) };
    call(async () => {
      const response = await clients.analytics.getAnalytics(query);
      const pair = compare ? await clients.analytics.compareAnalytics({ query, against: { case: "rest", value: true } }) : null;
      return { response, pair };
    })
      .then(({ response, pair }) => {
        if (cancelled) return;
        setReport(response.report ?? null);
        setCompared(pair?.first && pair.second ? [pair.first, pair.second] : null);
        setError(null);
        setMissing(false);
      })
      .catch((caught: unknown) => {
        if (cancelled) return;
        setMissing(isServiceMissing(caught));
        setError(readableError(caught));
      })
      .finally(() => !cancelled && setLoading(false));
    return () => {
      cancelled = true;
    };
  }, [period, reloadKey, choice, compare]);

  return (
    <section aria-labelledby="analytics-title" data-testid="analytics-screen">
      <div class="section-head">
        <h2 id="analytics-title">Analytics</h2>
        <label>
          Period{" "}
          <select value={period} onChange={(e) => setPeriod(Number(e.currentTarget.value))}>
            {PERIODS.map(([value, label]) => (
              <option key={value} value={value}>
                {label}
              </option>
            ))}
          </select>
        </label>
        <button type="button" onClick={() => setReloadKey((k) => k + 1)} disabled={loading} data-testid="analytics-reload">
          Recompute view
        </button>
      </div>
      {missing ? (
        <Unavailable what="Analytics" testid="analytics-unavailable" />
      ) : (
        <>
          <SliceBar
            choice={choice}
            compare={compare}
            onChange={(next, nextCompare) => {
              setChoice(next);
              setCompare(nextCompare);
            }}
          />
          <ErrorBanner error={error} />
          {loading && !report && <p class="muted">Loading…</p>}
          {compare && compared && <CompareView first={compared[0]} second={compared[1]} />}
          {report && <Report report={report} />}
        </>
      )}
      <LivePnl />
    </section>
  );
}

function Metric({ label, children, testid }: { label: string; children: JSX.Element | string; testid?: string }): JSX.Element {
  return (
    <div class="metric" data-testid={testid}>
      <span class="metric-label">{label}</span>
      <span class="metric-value">{children}</span>
    </div>
  );
}

/** Planned risk and R (decision 0230): only round trips whose opening trade has a stop or a planned risk. */
function RMultiples({ stats }: { stats: analytics.RMultipleStats | undefined }): JSX.Element {
  const planned = stats?.plannedRoundTripCount ?? 0n;
  const unplanned = stats?.unplannedRoundTripCount ?? 0n;
  return (
    <section class="card" data-testid="r-multiples" data-expectancy-r-milli={String(stats?.expectancyRMilli ?? "")}>
      <h3>R-multiples</h3>
      <div class="metrics">
        <Metric label="Expectancy" testid="metric-expectancy-r">{formatR(stats?.expectancyRMilli)}</Metric>
        <Metric label="Average R">{formatR(stats?.averageRMilli)}</Metric>
        <Metric label="With a plan">{`${planned} of ${planned + unplanned}`}</Metric>
        <Metric label="Win rate (planned)">{stats?.winRatePercent !== undefined ? `${stats.winRatePercent.toFixed(1)} %` : "—"}</Metric>
      </div>
      {planned > 0n ? (
        <table class="small">
          <thead>
            <tr>
              <th>R</th>
              <th>Round trips</th>
              <th>Win rate</th>
            </tr>
          </thead>
          <tbody>
            {(stats?.buckets ?? []).map((bucket, index) => (
              <tr key={index}>
                <td>{R_BUCKET_LABELS[index] ?? "?"}</td>
                <td>{String(bucket.roundTripCount)}</td>
                <td>{bucket.winRatePercent !== undefined ? `${bucket.winRatePercent.toFixed(0)} %` : "—"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <p class="muted small">Add a stop-loss or a planned risk to a trade to see its R-multiple.</p>
      )}
    </section>
  );
}

/** MAE/MFE of the period's measured round trips and the wins that once showed double their final profit (0270). */
function Excursions({ stats }: { stats: analytics.ExcursionStats | undefined }): JSX.Element {
  const measured = stats?.measuredRoundTripCount ?? 0n;
  const total = measured + (stats?.unmeasuredRoundTripCount ?? 0n);
  return (
    <section class="card" data-testid="excursions" data-measured={String(measured)}>
      <h3>MAE / MFE</h3>
      <div class="metrics">
        <Metric label="Average MAE" testid="metric-average-mae">{stats?.averageMaeMicros !== undefined ? formatInr(stats.averageMaeMicros, true) : "—"}</Metric>
        <Metric label="Average MFE" testid="metric-average-mfe">{stats?.averageMfeMicros !== undefined ? formatInr(stats.averageMfeMicros, true) : "—"}</Metric>
        <Metric label="Measured">{`${measured} of ${total} (${stats?.exactRoundTripCount ?? 0n} exact)`}</Metric>
        <Metric label="Wins that gave back half">
          {stats?.leftOnTablePercent !== undefined ? `${stats.leftOnTablePercent.toFixed(0)} % (${stats.leftOnTableCount} of ${stats.measuredWinCount})` : "—"}
        </Metric>
      </div>
      <p class="muted small">
        Worst and best unrealized P&amp;L while open, for the round trip's size: exact from live ticks, else from 1-minute bars.
        A win "gave back half" when its MFE was at least twice its final net P&amp;L.
      </p>
    </section>
  );
}

function Report({ report }: { report: analytics.AnalyticsReport }): JSX.Element {
  const perf = report.performance;
  const risk = report.risk;
  const profitFactor = perf?.profitFactorUnbounded ? "∞" : perf?.profitFactor !== undefined ? perf.profitFactor.toFixed(2) : "—";
  return (
    <div data-testid="analytics-report" data-round-trips={String(perf?.roundTripCount ?? 0n)} data-fills={String(report.activity?.fillCount ?? 0n)}>
      <div class="metrics">
        <Metric label="Net P&L" testid="metric-net-pnl"><Money micros={perf?.netPnlMicros ?? 0n} signed /></Metric>
        <Metric label="Round trips">{String(perf?.roundTripCount ?? 0n)}</Metric>
        <Metric label="Win rate">{perf?.winRatePercent !== undefined ? `${perf.winRatePercent.toFixed(1)} %` : "—"}</Metric>
        <Metric label="Profit factor">{profitFactor}</Metric>
        <Metric label="Expectancy">{perf?.expectancyMicros !== undefined ? formatInr(perf.expectancyMicros, true) : "—"}</Metric>
        <Metric label="Max drawdown">{formatInr(risk?.maxDrawdownMicros ?? 0n)}</Metric>
        <Metric label="Sharpe">{risk?.sharpeRatio !== undefined ? risk.sharpeRatio.toFixed(2) : "—"}</Metric>
        <Metric label="Fees paid">{formatInr(report.activity?.totalFeesMicros ?? 0n)}</Metric>
        <Metric label="Fills" testid="metric-fills">{String(report.activity?.fillCount ?? 0n)}</Metric>
        <Metric label="Unrealized (net)" testid="metric-net-unrealized"><Money micros={report.netUnrealizedPnlMicros} signed /></Metric>
        <Metric label="Est. exit charges" testid="metric-exit-charges"><Money micros={report.estimatedExitChargesMicros} /></Metric>
        <Metric label="Unrealized (gross)"><Money micros={report.unrealizedPnlMicros} signed /></Metric>
      </div>
      <RMultiples stats={report.rMultiples} />
      <Excursions stats={report.excursions} />
      <div class="charts">
        <figure class="card">
          <figcaption>Equity curve (cumulative net P&amp;L)</figcaption>
          <LineChart
            label="Equity curve"
            points={(report.equityCurve?.points ?? []).map((p) => ({
              x: Number(p.roundTripIndex),
              y: p.cumulativeNetPnlMicros,
              title: `#${p.roundTripIndex} ${p.instrument?.symbol}: ${formatInr(p.roundTripNetPnlMicros, true)} → ${formatInr(p.cumulativeNetPnlMicros, true)}`,
            }))}
          />
        </figure>
        <figure class="card">
          <figcaption>Net P&amp;L by category</figcaption>
          <BarChart
            label="Net P&L by category"
            bars={report.byCategory.map((c) => ({ label: enumLabel(analytics.TradeCategory[c.category], ""), value: c.stats?.netPnlMicros ?? 0n, count: c.stats?.roundTripCount ?? 0n }))}
          />
        </figure>
        <figure class="card">
          <figcaption>Net P&amp;L by weekday (close time, IST)</figcaption>
          <BarChart
            label="Net P&L by weekday"
            bars={report.byWeekday.map((w) => ({ label: WEEKDAYS[w.weekday] ?? "?", value: w.stats?.netPnlMicros ?? 0n, count: w.stats?.roundTripCount ?? 0n }))}
          />
        </figure>
        <figure class="card">
          <figcaption>Net P&amp;L by hour of day (IST)</figcaption>
          <BarChart
            label="Net P&L by hour"
            bars={report.byHourOfDay.filter((h) => h.hour >= 9 && h.hour <= 15).map((h) => ({ label: `${h.hour}h`, value: h.stats?.netPnlMicros ?? 0n, count: h.stats?.roundTripCount ?? 0n }))}
          />
        </figure>
      </div>
      <p class="muted small">
        Computed {formatIst(report.computedTime ? timestampMs(report.computedTime) : undefined)} · journal version {String(report.journalVersion)}
      </p>
    </div>
  );
}

function LivePnl(): JSX.Element {
  const [state, setState] = useState<StreamState>({ kind: "connecting" });
  const [missing, setMissing] = useState(false);
  const [totals, setTotals] = useState<analytics.PnlTotals | null>(null);
  const [positions, setPositions] = useState<Map<string, analytics.OpenPosition>>(new Map());
  const ref = useRef(positions);

  useEffect(
    () =>
      keepStreaming(
        (signal) => clients.analytics.watchPnl({ maxUpdatesPerSecond: 2 }, { signal }),
        (message) => {
          if (message.event.case !== "update") return;
          const update = message.event.value;
          const next = update.snapshot ? new Map<string, analytics.OpenPosition>() : new Map(ref.current);
          for (const position of update.positions) next.set(`${position.instrument?.exchange}:${position.instrument?.symbol}`, position);
          for (const closed of update.closedInstruments) next.delete(`${closed.exchange}:${closed.symbol}`);
          ref.current = next;
          setPositions(next);
          if (update.totals) setTotals(update.totals);
        },
        (next) => {
          setState(next);
          if (next.kind === "live") setMissing(false);
          else if (next.kind !== "connecting") setMissing(isServiceMissing(next.error));
        },
      ),
    [],
  );

  const unavailable = missing && !totals;
  return (
    <section aria-labelledby="livepnl-title" class="card" data-testid="live-pnl">
      <div class="section-head">
        <h3 id="livepnl-title">Live P&amp;L</h3>
        <StreamBadge state={state} />
      </div>
      {unavailable ? (
        <Unavailable what="Live P&L (analytics)" testid="livepnl-unavailable" />
      ) : state.kind === "stopped" ? (
        <ErrorBanner error={readableError(state.error)} />
      ) : (
        totals && (
          <>
            <div class="metrics">
              <Metric label={`Realized today (${totals.tradingDate})`}><Money micros={totals.realizedPnlTodayMicros} signed /></Metric>
              <Metric label="Net unrealized" testid="livepnl-net-unrealized"><Money micros={totals.netUnrealizedPnlMicros} signed /></Metric>
              <Metric label="Unrealized (gross)"><Money micros={totals.unrealizedPnlMicros} signed /></Metric>
              <Metric label="Est. exit charges" testid="livepnl-exit-charges"><Money micros={totals.estimatedExitChargesMicros} /></Metric>
              <Metric label="Day change"><Money micros={totals.dayChangeMicros} signed /></Metric>
              <Metric label="Realized all time (net)" testid="livepnl-realized-all-time"><Money micros={totals.realizedPnlAllTimeMicros} signed /></Metric>
              <Metric label="Open positions">{`${totals.openPositionCount}${totals.unmarkedPositionCount ? ` (${totals.unmarkedPositionCount} unmarked)` : ""}`}</Metric>
            </div>
            <div class="table-wrap">
              <table>
                <caption class="sr-only">Open positions marked to market</caption>
                <thead>
                  <tr>
                    <th scope="col">Instrument</th>
                    <th scope="col" class="num">Net qty</th>
                    <th scope="col" class="num">Avg price</th>
                    <th scope="col" class="num">LTP</th>
                    <th scope="col" class="num">Break-even</th>
                    <th scope="col" class="num">Unrealized</th>
                    <th scope="col" class="num">Est. exit charges</th>
                    <th scope="col" class="num">Net unrealized</th>
                    <th scope="col" class="num">Realized (net)</th>
                    <th scope="col" class="num">Day change</th>
                  </tr>
                </thead>
                <tbody>
                  {[...positions.values()].map((p) => (
                    <tr key={`${p.instrument?.exchange}:${p.instrument?.symbol}`}>
                      <td>
                        <strong>{p.instrument?.symbol}</strong> <span class="muted">{exchangeName(p.instrument?.exchange ?? 0)}</span>
                        {p.markStale && <span class="badge">stale</span>}
                      </td>
                      <td class="num">{formatQuantity(p.netQuantity * 1_000_000n)}</td>
                      <td class="num">{formatPrice(p.averageOpenPriceMicros)}</td>
                      <td class="num">{p.lastPriceMicros ? formatPrice(p.lastPriceMicros) : "—"}</td>
                      <td class="num" data-testid="livepnl-break-even">{p.breakEvenPriceMicros !== undefined ? formatPrice(p.breakEvenPriceMicros) : "—"}</td>
                      <td class="num"><Money micros={p.unrealizedPnlMicros} signed /></td>
                      <td class="num"><Money micros={p.estimatedExitChargesMicros} /></td>
                      <td class="num"><Money micros={p.netUnrealizedPnlMicros} signed /></td>
                      <td class="num" data-testid="livepnl-position-realized"><Money micros={p.positionRealizedPnlMicros} signed /></td>
                      <td class="num">{p.dayChangeMicros !== undefined ? <Money micros={p.dayChangeMicros} signed /> : formatPercent(undefined)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <LivePnlDefinitions />
          </>
        )
      )}
    </section>
  );
}

// What the Live P&L figures mean (README "Definitions"; docs/decisions/0102 and 0150).
function LivePnlDefinitions(): JSX.Element {
  return (
    <details class="definitions" data-testid="livepnl-definitions">
      <summary>What these figures mean</summary>
      <dl>
        <dt>Net</dt>
        <dd>After every charge: brokerage, STT/CTT, exchange and SEBI fees, stamp duty, GST and DP charges, as the broker reported them or as computed from the dated schedules.</dd>
        <dt>Realized</dt>
        <dd>FIFO per instrument: each closed quantity realizes (exit − entry) × quantity minus its share of the closing fill's and the opening lot's charges. Partial exits of open positions count at once, so "Realized all time" equals the sum of the Positions page's realized column.</dd>
        <dt>Unrealized / Net unrealized</dt>
        <dd>The open lots marked to the last price; net subtracts the charges still allocated to the open lots and the estimated exit charges.</dd>
        <dt>Est. exit charges</dt>
        <dd>The charges of one order closing the whole open quantity at the last price today, charged like the instrument's latest trade.</dd>
        <dt>Break-even</dt>
        <dd>The exit price at which the position nets zero after all charges (entry and estimated exit), exact to ₹0.000001; round it up to the tick for a long, down for a short.</dd>
      </dl>
    </details>
  );
}
