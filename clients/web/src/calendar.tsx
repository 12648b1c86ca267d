// P&L calendar (GetPnlCalendar, GetDayTrips): a month as a heat map of daily net P&L (a round trip counts on
// the IST day of its closing fill, net of charges), weekly and monthly totals; clicking a day lists its
// round trips, each linking to its chart (#/trades/<opening trade id>).
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { analytics } from "@trademesh/sdk";
import type { JSX } from "preact";
import { useEffect, useState } from "preact/hooks";
import { call, clients } from "./api";
import { heatLevel, istMonth, monthRange, monthWeeks, shiftMonth, weekStart } from "./calendargrid";
import { isServiceMissing, readableError, type ReadableError } from "./errors";
import { excursionCell, isMeasured, qualityLabel } from "./excursions";
import { enumLabel, formatIst } from "./format";
import { exchangeName } from "./trades";
import { ErrorBanner, Money, Unavailable } from "./ui";

const WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

// The month shown, kept across screen changes.
let shownMonth = istMonth(Date.now());

export function CalendarScreen(): JSX.Element {
  const [month, setMonth] = useState(shownMonth);
  const [calendar, setCalendar] = useState<analytics.PnlCalendar | null>(null);
  const [selected, setSelected] = useState<string | null>(null);
  const [trips, setTrips] = useState<analytics.GetDayTripsResponse | null>(null);
  const [error, setError] = useState<ReadableError | null>(null);
  const [missing, setMissing] = useState(false);

  useEffect(() => {
    shownMonth = month;
    const range = monthRange(month);
    if (!range) return undefined;
    let cancelled = false;
    setSelected(null);
    setTrips(null);
    call(() => clients.analytics.getPnlCalendar({ startDate: range.start, endDate: range.end }))
      .then((response) => {
        if (cancelled) return;
        setCalendar(response.calendar ?? null);
        setError(null);
        setMissing(false);
      })
      .catch((caught: unknown) => {
        if (cancelled) return;
        setMissing(isServiceMissing(caught));
        setError(readableError(caught));
      });
    return () => {
      cancelled = true;
    };
  }, [month]);

  useEffect(() => {
    if (!selected) return undefined;
    let cancelled = false;
    call(() => clients.analytics.getDayTrips({ date: selected }))
      .then((response) => !cancelled && (setTrips(response), setError(null)))
      .catch((caught: unknown) => !cancelled && setError(readableError(caught)));
    return () => {
      cancelled = true;
    };
  }, [selected]);

  const days = new Map((calendar?.days ?? []).map((day) => [day.date, day]));
  const weeks = new Map((calendar?.weeks ?? []).map((week) => [week.weekStart, week]));
  const largest = (calendar?.days ?? []).reduce((max, day) => {
    const magnitude = day.netPnlMicros < 0n ? -day.netPnlMicros : day.netPnlMicros;
    return magnitude > max ? magnitude : max;
  }, 0n);
  const monthTotal = calendar?.months.find((m) => m.month === month);

  return (
    <section aria-labelledby="calendar-title" data-testid="calendar-screen">
      <div class="section-head">
        <h2 id="calendar-title">P&amp;L calendar</h2>
        <span class="calendar-nav">
          <button type="button" class="link" aria-label="Previous month" onClick={() => setMonth(shiftMonth(month, -1))}>
            ◀
          </button>{" "}
          <label>
            Month{" "}
            <input type="month" value={month} data-testid="calendar-month" onChange={(e) => e.currentTarget.value && setMonth(e.currentTarget.value)} />
          </label>{" "}
          <button type="button" class="link" aria-label="Next month" onClick={() => setMonth(shiftMonth(month, 1))}>
            ▶
          </button>
        </span>
      </div>
      {missing && <Unavailable what="Analytics" testid="analytics-unavailable" />}
      <ErrorBanner error={error} extra={error ? Object.entries(error.fields) : undefined} />
      <p class="muted">Net of charges; a round trip counts on the IST day of its closing fill.</p>
      <div class="table-wrap">
        <table class="calendar" data-testid="calendar-grid" data-month={month} data-loaded={calendar?.startDate.slice(0, 7) === month ? "1" : ""}>
          <caption class="sr-only">Daily net P&amp;L of {month}; choose a day to list its round trips</caption>
          <thead>
            <tr>
              {WEEKDAYS.map((name) => (
                <th key={name} scope="col">
                  {name}
                </th>
              ))}
              <th scope="col" class="num">
                Week
              </th>
            </tr>
          </thead>
          <tbody>
            {monthWeeks(month).map((week) => {
              const first = week.find((cell) => cell !== null);
              const total = first ? weeks.get(weekStart(first)) : undefined;
              return (
                <tr key={first}>
                  {week.map((date, index) => {
                    if (!date) return <td key={`empty-${index}`} class="calendar-empty" />;
                    const day = days.get(date);
                    const level = day ? heatLevel(day.netPnlMicros, largest) : 0;
                    return (
                      <td key={date} class={`calendar-day heat-${level < 0 ? `n${-level}` : level}${selected === date ? " calendar-day--selected" : ""}`}>
                        <button
                          type="button"
                          data-testid="calendar-day"
                          data-date={date}
                          data-net={day ? String(day.netPnlMicros) : ""}
                          aria-pressed={selected === date}
                          onClick={() => setSelected(date)}
                        >
                          <span class="calendar-date">{Number(date.slice(8))}</span>
                          {day && (
                            <>
                              <Money micros={day.netPnlMicros} signed />
                              <span class="muted calendar-count">{String(day.roundTripCount)} trip(s)</span>
                            </>
                          )}
                        </button>
                      </td>
                    );
                  })}
                  <td class="num" data-testid="calendar-week">
                    {total && (
                      <>
                        <Money micros={total.netPnlMicros} signed />
                        <span class="muted calendar-count">{total.tradingDayCount} day(s)</span>
                      </>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      <p data-testid="calendar-month-total">
        Month: <Money micros={calendar?.netPnlMicros ?? 0n} signed /> over {calendar?.tradingDayCount ?? 0} trading day(s),{" "}
        {String(monthTotal?.roundTripCount ?? 0n)} round trip(s); {monthTotal?.greenDayCount ?? 0} green, {monthTotal?.redDayCount ?? 0} red.
      </p>
      {selected && trips?.date === selected && <DayTrips response={trips} />}
    </section>
  );
}

function DayTrips({ response }: { response: analytics.GetDayTripsResponse }): JSX.Element {
  return (
    <div data-testid="day-trips" data-date={response.date}>
      <h3>
        Round trips closed on {response.date}: <Money micros={response.day?.netPnlMicros ?? 0n} signed />
      </h3>
      <a href={`#/notes?date=${response.date}`} data-testid="day-note-link">Day note</a>
      {response.trips.length === 0 ? (
        <p class="muted">No round trip closed on this day.</p>
      ) : (
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Instrument</th>
                <th scope="col">Side</th>
                <th scope="col">Category</th>
                <th scope="col">Opened</th>
                <th scope="col">Closed</th>
                <th scope="col" class="num">Gross</th>
                <th scope="col" class="num">Charges</th>
                <th scope="col" class="num">Net</th>
                <th scope="col" class="num" title="Maximum adverse excursion: the worst unrealized P&L while open">MAE</th>
                <th scope="col" class="num" title="Maximum favourable excursion: the best unrealized P&L while open">MFE</th>
                <th scope="col">Measured</th>
              </tr>
            </thead>
            <tbody>
              {response.trips.map((trip) => (
                <tr key={`${trip.openingTradeId}-${String(trip.closeTime?.seconds)}`} data-testid="day-trip" data-symbol={trip.instrument?.symbol}>
                  <td>
                    <a href={`#/trades/${encodeURIComponent(trip.openingTradeId)}`} data-testid="day-trip-chart" title="Chart of this round trip">
                      <strong>{trip.instrument?.symbol}</strong>
                    </a>{" "}
                    <span class="muted">{exchangeName(trip.instrument?.exchange ?? 0)}</span>
                  </td>
                  <td>{trip.long ? "Long" : "Short"}</td>
                  <td>{enumLabel(analytics.TradeCategory[trip.category], "")}</td>
                  <td>{trip.openTime ? formatIst(timestampMs(trip.openTime), false) : ""}</td>
                  <td>{trip.closeTime ? formatIst(timestampMs(trip.closeTime), false) : ""}</td>
                  <td class="num">
                    <Money micros={trip.grossPnlMicros} signed />
                  </td>
                  <td class="num">
                    <Money micros={trip.feesMicros} />
                  </td>
                  <td class="num">
                    <Money micros={trip.netPnlMicros} signed />
                  </td>
                  <TripExcursionCells excursion={trip.excursion} />
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

/** MAE, MFE (with R when planned) and how they were measured (decision 0270). */
function TripExcursionCells({ excursion }: { excursion: analytics.TripExcursion | undefined }): JSX.Element {
  const measured = isMeasured(excursion);
  return (
    <>
      <td class="num" data-testid="trip-mae">{measured && excursion ? excursionCell(excursion.maeMicros, excursion.maeRMilli) : "—"}</td>
      <td class="num" data-testid="trip-mfe">{measured && excursion ? excursionCell(excursion.mfeMicros, excursion.mfeRMilli) : "—"}</td>
      <td data-testid="trip-excursion-quality" class={measured ? "" : "muted"}>{qualityLabel(excursion?.quality)}</td>
    </>
  );
}
