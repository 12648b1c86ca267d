// Server errors made readable: the gRPC code, google.rpc.ErrorInfo (stable reason) and google.rpc.BadRequest
// field violations, all decoded from grpc-status-details-bin by ConnectError.findDetails.
import { Code, ConnectError } from "@connectrpc/connect";
import { BadRequestSchema, ErrorInfoSchema, RetryInfoSchema } from "./gen/google/rpc/error_details_pb.js";

export interface ReadableError {
  code: Code;
  /** One sentence for the user. */
  message: string;
  /** ErrorInfo.reason, e.g. "EMAIL_TAKEN"; empty when the server sent none. */
  reason: string;
  /** Field path (as the server names it, e.g. "trade.quantity_micros") → description. */
  fields: Record<string, string>;
  /** RetryInfo delay in seconds, when given. */
  retryAfterSeconds?: number;
}

const CODE_TEXT: Partial<Record<Code, string>> = {
  [Code.Unavailable]: "The service is not reachable right now. Try again in a moment.",
  [Code.Unauthenticated]: "Your session has ended. Please log in again.",
  [Code.PermissionDenied]: "You are not allowed to do that.",
  [Code.DeadlineExceeded]: "The server took too long to answer.",
  [Code.ResourceExhausted]: "Too many requests. Please wait a moment.",
  [Code.Internal]: "Something went wrong on the server.",
  [Code.Unimplemented]: "This feature is not available on the server.",
};

export function readableError(error: unknown): ReadableError {
  const err = ConnectError.from(error);
  const fields: Record<string, string> = {};
  for (const badRequest of err.findDetails(BadRequestSchema)) {
    for (const violation of badRequest.fieldViolations) {
      fields[violation.field] = fields[violation.field]
        ? `${fields[violation.field]}; ${violation.description}`
        : violation.description;
    }
  }
  const info = err.findDetails(ErrorInfoSchema)[0];
  const retry = err.findDetails(RetryInfoSchema)[0]?.retryDelay;
  const serverMessage = err.rawMessage.trim();
  let message = serverMessage && err.code !== Code.Internal ? serverMessage : (CODE_TEXT[err.code] ?? "Request failed.");
  if (err.code === Code.Unavailable && (!serverMessage || /upstream|no healthy|unavailable/i.test(serverMessage))) {
    message = CODE_TEXT[Code.Unavailable]!;
  }
  return {
    code: err.code,
    message: message.charAt(0).toUpperCase() + message.slice(1),
    reason: info?.reason ?? "",
    fields,
    retryAfterSeconds: retry ? Number(retry.seconds) + retry.nanos / 1e9 : undefined,
  };
}

/** True when the error means "the service behind the gateway is not there (yet)". */
export function isServiceMissing(error: unknown): boolean {
  const code = ConnectError.from(error).code;
  return code === Code.Unavailable || code === Code.Unimplemented;
}

/**
 * Pick the violations that belong to one form field: `paths` are the server's field paths for it
 * (a violation of "trade.instrument.symbol" belongs to "trade.instrument" and to itself).
 */
export function fieldError(fields: Record<string, string>, ...paths: string[]): string | undefined {
  const found = Object.entries(fields)
    .filter(([field]) => paths.some((path) => field === path || field.startsWith(path + ".") || field.startsWith(path + "[")))
    .map(([, description]) => description);
  return found.length ? found.join("; ") : undefined;
}

/** Violations not claimed by any of the form's fields (shown in the form's summary). */
export function otherFieldErrors(fields: Record<string, string>, known: string[]): [string, string][] {
  return Object.entries(fields).filter(
    ([field]) => !known.some((path) => field === path || field.startsWith(path + ".") || field.startsWith(path + "[")),
  );
}
