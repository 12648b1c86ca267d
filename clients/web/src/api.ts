// The gateway connection: one grpc-web transport (Envoy translates to gRPC), typed clients from the
// generated @trademesh/sdk descriptors, and the session (tokens in memory only, refreshed before expiry).
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { analytics, auth, marketdata, notifications, trade } from "@trademesh/sdk";

/** Where the gateway is: VITE_TRADEMESH_GATEWAY at build/dev time, else this page's origin (served by Envoy). */
export const gatewayUrl: string = (import.meta.env.VITE_TRADEMESH_GATEWAY as string | undefined) || window.location.origin;

/** Refresh this long before the access token expires. */
const REFRESH_MARGIN_MS = 60_000;

export interface Session {
  user: auth.User;
  accessToken: string;
  accessExpiresMs: number;
  refreshToken: string;
}

type Listener = (session: Session | null) => void;

class SessionStore {
  private current: Session | null = null;
  private timer: number | undefined;
  private refreshing: Promise<boolean> | null = null;
  private listeners = new Set<Listener>();

  get session(): Session | null {
    return this.current;
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  start(user: auth.User, tokens: auth.TokenPair): void {
    this.set({ user, ...tokenFields(tokens) });
  }

  /** Rotate the refresh token now; false (and logged out) when the session cannot be renewed. */
  refresh(): Promise<boolean> {
    if (!this.current) return Promise.resolve(false);
    this.refreshing ??= (async () => {
      const session = this.current;
      try {
        if (!session) return false;
        const response = await clients.auth.refresh({ refreshToken: session.refreshToken });
        if (!response.tokens || this.current !== session) return false;
        this.set({ user: session.user, ...tokenFields(response.tokens) });
        return true;
      } catch (error) {
        // Only a rejected refresh token ends the session; a network blip is retried by the timer.
        if (ConnectError.from(error).code === Code.Unauthenticated) this.clear();
        else this.schedule(10_000);
        return false;
      } finally {
        this.refreshing = null;
      }
    })();
    return this.refreshing;
  }

  clear(): void {
    window.clearTimeout(this.timer);
    this.current = null;
    this.emit();
  }

  private set(session: Session): void {
    this.current = session;
    this.schedule(Math.max(5_000, session.accessExpiresMs - Date.now() - REFRESH_MARGIN_MS));
    this.emit();
  }

  private schedule(delayMs: number): void {
    window.clearTimeout(this.timer);
    this.timer = window.setTimeout(() => void this.refresh(), delayMs);
  }

  private emit(): void {
    for (const listener of this.listeners) listener(this.current);
  }
}

function tokenFields(tokens: auth.TokenPair): Omit<Session, "user"> {
  return {
    accessToken: tokens.accessToken,
    accessExpiresMs: tokens.accessTokenExpireTime ? timestampMs(tokens.accessTokenExpireTime) : Date.now() + 15 * 60_000,
    refreshToken: tokens.refreshToken,
  };
}

export const sessions = new SessionStore();

/** Adds the bearer token to every call made while logged in (public RPCs ignore it). */
const bearer: Interceptor = (next) => async (request) => {
  const session = sessions.session;
  if (session && !request.header.has("authorization")) {
    request.header.set("authorization", `Bearer ${session.accessToken}`);
  }
  return next(request);
};

const transport = createGrpcWebTransport({ baseUrl: gatewayUrl, interceptors: [bearer] });

export const clients: {
  auth: Client<typeof auth.AuthService>;
  trade: Client<typeof trade.TradeService>;
  marketdata: Client<typeof marketdata.MarketDataService>;
  analytics: Client<typeof analytics.AnalyticsService>;
  notifications: Client<typeof notifications.NotificationsService>;
} = {
  auth: createClient(auth.AuthService, transport),
  trade: createClient(trade.TradeService, transport),
  marketdata: createClient(marketdata.MarketDataService, transport),
  analytics: createClient(analytics.AnalyticsService, transport),
  notifications: createClient(notifications.NotificationsService, transport),
};

/**
 * Run a protected call; on UNAUTHENTICATED refresh once and retry, and end the session if that fails.
 * Streams use `sessions.refresh()` themselves before reconnecting.
 */
export async function call<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (ConnectError.from(error).code !== Code.Unauthenticated || !sessions.session) throw error;
    if (!(await sessions.refresh())) {
      sessions.clear();
      throw error;
    }
    return run();
  }
}

/** Log out on the server (revokes the refresh family and the access token), then forget the tokens. */
export async function logout(): Promise<void> {
  const session = sessions.session;
  try {
    if (session) await clients.auth.logout({ refreshToken: session.refreshToken });
  } finally {
    sessions.clear();
  }
}
