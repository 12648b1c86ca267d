// A server stream kept alive: reconnect with exponential backoff (and jitter), refresh the token on
// UNAUTHENTICATED first, restart when nothing arrived for `silenceMs` (heartbeats included), stop on
// errors a retry cannot fix.
import { Code, ConnectError } from "@connectrpc/connect";
import { sessions } from "./api";

export type StreamState =
  | { kind: "connecting" }
  | { kind: "live" }
  | { kind: "retrying"; inSeconds: number; error: ConnectError }
  | { kind: "stopped"; error: ConnectError };

const FATAL = new Set([Code.InvalidArgument, Code.PermissionDenied, Code.Unimplemented, Code.FailedPrecondition]);

export function keepStreaming<T>(
  open: (signal: AbortSignal) => AsyncIterable<T>,
  onMessage: (message: T) => void,
  onState: (state: StreamState) => void,
  { silenceMs = 45_000, maxDelayMs = 30_000 }: { silenceMs?: number; maxDelayMs?: number } = {},
): () => void {
  let stopped = false;
  let attempt = 0;
  let current: AbortController | null = null;
  let wake: (() => void) | null = null;
  let live = false;

  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const timer = window.setTimeout(resolve, ms);
      wake = () => {
        window.clearTimeout(timer);
        resolve();
      };
    });

  void (async () => {
    while (!stopped) {
      const controller = new AbortController();
      current = controller;
      let watchdog = window.setTimeout(() => controller.abort(new ConnectError("no message for too long", Code.Unavailable)), silenceMs);
      onState({ kind: "connecting" });
      let error: ConnectError;
      try {
        for await (const message of open(controller.signal)) {
          window.clearTimeout(watchdog);
          watchdog = window.setTimeout(() => controller.abort(new ConnectError("no message for too long", Code.Unavailable)), silenceMs);
          if (!live) onState({ kind: "live" });
          live = true;
          attempt = 0;
          onMessage(message);
        }
        error = new ConnectError("the server ended the stream", Code.Unavailable);
      } catch (caught) {
        error = ConnectError.from(caught);
      } finally {
        window.clearTimeout(watchdog);
      }
      live = false;
      if (stopped) return;
      if (FATAL.has(error.code)) {
        onState({ kind: "stopped", error });
        return;
      }
      if (error.code === Code.Unauthenticated && !(await sessions.refresh())) {
        onState({ kind: "stopped", error });
        return;
      }
      const delay = Math.min(maxDelayMs, 1000 * 2 ** attempt) * (0.8 + Math.random() * 0.4);
      attempt = Math.min(attempt + 1, 10);
      onState({ kind: "retrying", inSeconds: Math.ceil(delay / 1000), error });
      await sleep(delay);
    }
  })();

  return () => {
    stopped = true;
    current?.abort();
    wake?.();
  };
}
