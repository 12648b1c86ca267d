import { create, toBinary } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { AnySchema, anyPack } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { findTrailerError } from "@connectrpc/connect/protocol-grpc";
import { describe, expect, it } from "vitest";
import { fieldError, otherFieldErrors, readableError } from "./errors";
import { BadRequestSchema, ErrorInfoSchema } from "./gen/google/rpc/error_details_pb";

/** The trailers a trademesh service sends: grpc-status, grpc-message and a google.rpc.Status in -bin. */
function serverTrailers(code: Code, message: string): Headers {
  const badRequest = create(BadRequestSchema, {
    fieldViolations: [
      { field: "trade.quantity_micros", description: "must be > 0" },
      { field: "trade.instrument.symbol", description: "must not be empty" },
      { field: "request_id", description: "must be a UUID" },
    ],
  });
  const info = create(ErrorInfoSchema, { reason: "INVALID_FIELDS", domain: "trade.trademesh.dev" });
  // google.rpc.Status { int32 code = 1; string message = 2; repeated google.protobuf.Any details = 3; }
  const status = new BinaryWriter().tag(1, WireType.Varint).int32(code).tag(2, WireType.LengthDelimited).string(message);
  for (const any of [anyPack(BadRequestSchema, badRequest), anyPack(ErrorInfoSchema, info)]) {
    status.tag(3, WireType.LengthDelimited).bytes(toBinary(AnySchema, any));
  }
  const bin = btoa(String.fromCharCode(...status.finish())).replace(/=+$/, "");
  return new Headers({ "grpc-status": String(code), "grpc-message": encodeURIComponent(message), "grpc-status-details-bin": bin });
}

describe("readableError", () => {
  it("decodes field violations and the reason from grpc-status-details-bin", () => {
    const error = findTrailerError(serverTrailers(Code.InvalidArgument, "trade has invalid fields"));
    expect(error).toBeInstanceOf(ConnectError);
    const readable = readableError(error);
    expect(readable.code).toBe(Code.InvalidArgument);
    expect(readable.message).toBe("Trade has invalid fields");
    expect(readable.reason).toBe("INVALID_FIELDS");
    expect(fieldError(readable.fields, "trade.quantity_micros")).toBe("must be > 0");
    expect(fieldError(readable.fields, "trade.instrument")).toBe("must not be empty");
    expect(otherFieldErrors(readable.fields, ["trade.quantity_micros", "trade.instrument"])).toEqual([["request_id", "must be a UUID"]]);
  });
  it("explains an unreachable service without Envoy's jargon", () => {
    const readable = readableError(new ConnectError("no healthy upstream", Code.Unavailable));
    expect(readable.message).toMatch(/not reachable/);
    expect(readable.fields).toEqual({});
  });
});
