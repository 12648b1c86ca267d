// The shell: the session decides between the login screen and the dashboard; the dashboard's screens
// are hash routes (#/trades, …, and #/trades/<id> for one trade's chart) so Envoy's static file server needs
// no SPA fallback.
import type { JSX } from "preact";
import { useEffect, useState } from "preact/hooks";
import { logout, sessions, type Session } from "./api";
import { AlertsScreen } from "./alerts";
import { AnalyticsScreen } from "./analytics";
import { AuthScreen } from "./auth";
import { CalendarScreen } from "./calendar";
import { Bell, InboxScreen } from "./notifications";
import { NotesScreen } from "./notes";
import { PositionsScreen } from "./positions";
import { TaxScreen } from "./tax";
import { TradeDetailScreen, tradeIdFromHash } from "./tradedetail";
import { TradesScreen } from "./trades";
import { WatchlistScreen } from "./watchlist";

const ROUTES = {
  trades: { label: "Trades", screen: TradesScreen },
  positions: { label: "Positions", screen: PositionsScreen },
  watchlist: { label: "Watchlist", screen: WatchlistScreen },
  analytics: { label: "Analytics", screen: AnalyticsScreen },
  calendar: { label: "Calendar", screen: CalendarScreen },
  tax: { label: "Tax", screen: TaxScreen },
  alerts: { label: "Alerts", screen: AlertsScreen },
  inbox: { label: "Inbox", screen: InboxScreen },
  notes: { label: "Day notes", screen: NotesScreen },
} as const;
type Route = keyof typeof ROUTES;

function currentRoute(): Route {
  const name = location.hash.replace(/^#\/?/, "").split("?")[0].split("/")[0];
  return name in ROUTES ? (name as Route) : "trades";
}

export function App(): JSX.Element {
  const [session, setSession] = useState<Session | null>(sessions.session);
  const [route, setRoute] = useState<Route>(currentRoute());
  const [tradeId, setTradeId] = useState<string | null>(tradeIdFromHash(location.hash));

  useEffect(() => sessions.subscribe(setSession), []);
  useEffect(() => {
    const onHash = (): void => {
      setRoute(currentRoute());
      setTradeId(tradeIdFromHash(location.hash));
    };
    window.addEventListener("hashchange", onHash);
    return () => window.removeEventListener("hashchange", onHash);
  }, []);
  useEffect(() => {
    document.title = session ? `${ROUTES[route].label} · trademesh` : "Log in · trademesh";
  }, [session, route]);

  if (!session) return <AuthScreen />;
  const Screen = ROUTES[route].screen;
  return (
    <div class="shell">
      <a href="#main" class="skip">Skip to content</a>
      <header class="topbar">
        <span class="brand">trademesh</span>
        <nav aria-label="Screens">
          {(Object.keys(ROUTES) as Route[]).map((name) => (
            <a key={name} href={`#/${name}`} aria-current={route === name ? "page" : undefined} class={route === name ? "active" : ""}>
              {ROUTES[name].label}
            </a>
          ))}
        </nav>
        <Bell />
        <span class="user" data-testid="current-user">
          {session.user.username}
        </span>
        <button type="button" class="link" onClick={() => void logout()} data-testid="logout">
          Log out
        </button>
      </header>
      <main id="main" tabIndex={-1}>
        {tradeId ? <TradeDetailScreen key={`trade-${tradeId}`} id={tradeId} /> : <Screen key={route} />}
      </main>
    </div>
  );
}
