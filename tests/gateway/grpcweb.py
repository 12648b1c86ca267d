"""A deliberately small grpc-web client over plain HTTP (aiohttp), to check the wire format Envoy speaks.

grpc-web framing: each message is ``flag (1 byte) | length (4 bytes, big endian) | bytes``; flag 0x00 is a
data frame, flag 0x80 a trailer frame whose payload is HTTP/1-style ``name:value\\r\\n`` lines
(``grpc-status``, ``grpc-message``, ...). A call that fails before any message may instead be
"trailers-only": ``grpc-status`` in the HTTP response headers and no body.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field

import aiohttp
import h2.config
import h2.connection
import h2.events

CONTENT_TYPE = "application/grpc-web+proto"
DATA_FRAME = 0x00
TRAILER_FRAME = 0x80


def frame(payload: bytes, flag: int = DATA_FRAME) -> bytes:
    """One grpc-web frame."""
    return struct.pack(">BI", flag, len(payload)) + payload


def parse_frames(body: bytes) -> list[tuple[int, bytes]]:
    """Split a response body into (flag, payload) frames; fail on a truncated frame."""
    frames: list[tuple[int, bytes]] = []
    offset = 0
    while offset < len(body):
        if len(body) - offset < 5:
            raise AssertionError(f"truncated frame header at {offset}: {body[offset:]!r}")
        flag, length = struct.unpack_from(">BI", body, offset)
        offset += 5
        if len(body) - offset < length:
            raise AssertionError(f"frame at {offset - 5} claims {length} bytes, {len(body) - offset} left")
        frames.append((flag, body[offset : offset + length]))
        offset += length
    return frames


def parse_trailers(payload: bytes) -> dict[str, str]:
    """Trailer-frame payload → lower-cased names and values."""
    trailers: dict[str, str] = {}
    for line in payload.decode("ascii").split("\r\n"):
        if line:
            name, _, value = line.partition(":")
            trailers[name.strip().lower()] = value.strip()
    return trailers


@dataclass
class GrpcWebResponse:
    """What a grpc-web call returned, as seen on the wire."""

    http_status: int
    headers: Mapping[str, str]
    messages: list[bytes]
    trailers: dict[str, str]
    #: True when the status came in the HTTP headers (trailers-only response), not a trailer frame.
    trailers_only: bool = False
    frames: list[tuple[int, bytes]] = field(default_factory=list)

    @property
    def grpc_status(self) -> int:
        """The gRPC status code (0 = OK)."""
        return int(self.trailers["grpc-status"])

    @property
    def grpc_message(self) -> str:
        """The gRPC status message (percent-encoded on the wire)."""
        return self.trailers.get("grpc-message", "")


def _decode(status: int, headers: Mapping[str, str], body: bytes) -> GrpcWebResponse:
    frames = parse_frames(body)
    messages = [payload for flag, payload in frames if flag == DATA_FRAME]
    trailer_frames = [payload for flag, payload in frames if flag & TRAILER_FRAME]
    if trailer_frames:
        assert len(trailer_frames) == 1, frames
        assert frames[-1][0] & TRAILER_FRAME, "the trailer frame must come last"
        return GrpcWebResponse(status, headers, messages, parse_trailers(trailer_frames[0]), False, frames)
    assert "grpc-status" in headers, f"no trailer frame and no grpc-status header: {headers}"
    trailers = {key: value for key, value in headers.items() if key.startswith("grpc-")}
    return GrpcWebResponse(status, headers, messages, trailers, True, frames)


async def call(
    session: aiohttp.ClientSession,
    url: str,
    path: str,
    request: bytes,
    headers: Mapping[str, str] | None = None,
) -> GrpcWebResponse:
    """POST one grpc-web request over HTTP/1.1 and decode the response."""
    all_headers = {"content-type": CONTENT_TYPE, "x-grpc-web": "1", "accept": CONTENT_TYPE, **(headers or {})}
    async with session.post(url + path, data=frame(request), headers=all_headers) as response:
        body = await response.read()
        response_headers = {key.lower(): value for key, value in response.headers.items()}
    return _decode(response.status, response_headers, body)


def call_h2c(host: str, port: int, path: str, request: bytes) -> GrpcWebResponse:
    """One grpc-web request over HTTP/2 without TLS (prior knowledge), on a bare h2 connection (blocking)."""
    connection = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    with socket.create_connection((host, port), timeout=10) as sock:
        connection.initiate_connection()
        stream = connection.get_next_available_stream_id()
        connection.send_headers(
            stream,
            [
                (":method", "POST"),
                (":scheme", "http"),
                (":authority", f"{host}:{port}"),
                (":path", path),
                ("content-type", CONTENT_TYPE),
                ("x-grpc-web", "1"),
            ],
        )
        connection.send_data(stream, frame(request), end_stream=True)
        sock.sendall(connection.data_to_send())
        status = 0
        headers: dict[str, str] = {}
        body = b""
        ended = False
        while not ended:
            data = sock.recv(65536)
            if not data:
                raise AssertionError("connection closed before the stream ended")
            for event in connection.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived):
                    headers = {str(name): str(value) for name, value in event.headers or []}
                    status = int(headers[":status"])
                elif isinstance(event, h2.events.DataReceived):
                    body += event.data or b""
                    connection.acknowledge_received_data(event.flow_controlled_length or 0, stream)
                elif isinstance(event, h2.events.TrailersReceived):
                    raise AssertionError(f"grpc-web carries its trailers in the body, not HTTP/2 trailers: {event}")
                elif isinstance(event, h2.events.StreamEnded | h2.events.StreamReset):
                    ended = True
            sock.sendall(connection.data_to_send())
    return _decode(status, headers, body)
