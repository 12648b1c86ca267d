"""``watch_notifications``: the inbox stream resumes with its token after a disconnect — no gap, no double.

The notifications service of the running mesh sits behind a TCP relay that the test cuts (every
connection closed, the port refused) and opens again, so the SDK's stream really breaks mid-way. The
notifications come from real alerts fired by the mesh's simulated feed: a one-shot "above ₹0.01" alert on
INFY fires on the next INFY tick, exactly once.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Iterator

import grpc
import pytest

from tests.client_mesh import PASSWORD, RunningMesh, new_username
from tests.eventually import eventually
from tests.sdk.test_sdk import registered
from trademesh.common.v1 import instrument_pb2
from trademesh.notifications.v1 import alert_pb2, notifications_service_pb2
from trademesh.sdk import AsyncTrademesh, ClientOptions, TrademeshError, connect, connect_sync

pb = notifications_service_pb2
WAIT = 30.0
_ROW = re.compile(r"^  notifications +(?P<address>\S+) ", re.MULTILINE)


def notifications_address(mesh: RunningMesh) -> str:
    """The notifications service's own address, from the launcher's summary."""
    found = _ROW.search("".join(mesh.output))
    assert found, "the mesh runs no notifications service"
    return found["address"]


class Relay:
    """A TCP relay to ``upstream`` on a fixed loopback port that can be cut and opened again."""

    def __init__(self, upstream: str) -> None:
        host, _, port = upstream.rpartition(":")
        self._upstream = (host, int(port))
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        """Refuse new connections and reset the open ones (the stream breaks mid-way)."""
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        await self._server.wait_closed()
        self._writers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self._upstream)
        self._writers |= {writer, up_writer}

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                sink.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers -= {writer, up_writer}


@pytest.fixture
async def relay(mesh: RunningMesh) -> AsyncIterator[Relay]:
    relay = Relay(notifications_address(mesh))
    await relay.start()
    yield relay
    if relay._server is not None and relay._server.is_serving():
        await relay.cut()


async def fire_alert(client: AsyncTrademesh) -> str:
    """Create a one-shot alert that the next INFY tick fires; return its id."""
    alert = alert_pb2.Alert(
        instrument=instrument_pb2.Instrument(symbol="INFY", exchange=instrument_pb2.EXCHANGE_NSE),
        condition=alert_pb2.ALERT_CONDITION_PRICE_ABOVE,
        level_micros=10_000,
    )
    response = await client.notifications.CreateAlert(pb.CreateAlertRequest(request_id=str(uuid.uuid4()), alert=alert))
    return response.alert.id


async def inbox_ids(client: AsyncTrademesh) -> list[str]:
    """Every notification id of the caller, oldest first."""
    page = await client.notifications.ListNotifications(pb.ListNotificationsRequest(page_size=200))
    return [item.id for item in reversed(page.notifications)]


async def next_message(stream: AsyncIterator[notifications_service_pb2.WatchNotificationsResponse]) -> str:
    """The next notification's id (the stream hands on count-only heartbeats too: skip them)."""
    while True:
        message = await asyncio.wait_for(anext(stream), WAIT)
        if message.WhichOneof("event") == "notification":
            return message.notification.id
        assert message.WhichOneof("event") == "heartbeat_time", message


async def test_the_inbox_stream_resumes_after_a_cut_without_gap_or_double(mesh: RunningMesh, relay: Relay) -> None:
    owner = await registered(mesh.gateway)
    options = ClientOptions(stream_max_backoff_seconds=0.5)
    async with owner, connect(relay.address, tokens=owner.tokens, options=options) as through_relay:
        watch = through_relay.watch_notifications()
        stream = aiter(watch)
        first = await asyncio.wait_for(anext(stream), WAIT)
        assert first.WhichOneof("event") == "snapshot"
        assert (first.unread_count, list(first.snapshot.notifications)) == (0, [])

        await fire_alert(owner)
        delivered = [await next_message(stream)]
        assert watch.tracker.unread_count == 1
        token_after_first = watch.tracker.resume_token

        await relay.cut()
        # Two notifications while the stream is down: they must arrive after the reconnect, by replay.
        await fire_alert(owner)
        await fire_alert(owner)
        await eventually(lambda: inbox_ids(owner), until=lambda ids: len(ids) == 3, within=WAIT, what="3 notices")
        await relay.start()

        delivered += [await next_message(stream), await next_message(stream)]
        await fire_alert(owner)  # and a live one after the resume
        delivered.append(await next_message(stream))

        assert delivered == await inbox_ids(owner), "every notification once, in order"
        assert watch.reconnects >= 1
        assert watch.tracker.unread_count == 4
        sequences = watch.tracker.last_sequence

        # A later process resumes from a saved token: everything after it, nothing before it, no snapshot.
        later = through_relay.watch_notifications(resume_token=token_after_first)
        resumed = aiter(later)
        replayed = [await next_message(resumed) for _ in range(3)]
        assert replayed == delivered[1:]
        assert later.tracker.last_sequence == sequences


async def test_a_resume_token_of_another_user_is_refused(mesh: RunningMesh) -> None:
    owner = await registered(mesh.gateway)
    stranger = await registered(mesh.gateway)
    async with owner, stranger:
        watch = owner.watch_notifications()
        await asyncio.wait_for(anext(aiter(watch)), WAIT)
        assert watch.tracker.resume_token
        with pytest.raises(TrademeshError) as refused:
            await asyncio.wait_for(
                anext(aiter(stranger.watch_notifications(resume_token=watch.tracker.resume_token))), WAIT
            )
        assert (refused.value.code, refused.value.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "RESUME_TOKEN_INVALID")


@pytest.mark.timeout(120)
def test_the_blocking_client_watches_the_inbox_and_resumes_from_a_saved_token(mesh: RunningMesh) -> None:
    with connect_sync(mesh.gateway) as client:
        name = new_username()
        client.register(email=f"{name}@example.com", username=name, password=PASSWORD)

        def fire() -> str:
            alert = alert_pb2.Alert(
                instrument=instrument_pb2.Instrument(symbol="TCS", exchange=instrument_pb2.EXCHANGE_NSE),
                condition=alert_pb2.ALERT_CONDITION_PRICE_ABOVE,
                level_micros=10_000,
            )
            created = client.notifications.CreateAlert(pb.CreateAlertRequest(request_id=str(uuid.uuid4()), alert=alert))
            return created.alert.id

        def next_notice(items: Iterator[notifications_service_pb2.WatchNotificationsResponse]) -> str:
            message = next(items)
            while message.WhichOneof("event") != "notification":
                message = next(items)
            return message.notification.alert_id

        watch = client.watch_notifications(snapshot_size=5)
        items = iter(watch)
        assert next(items).WhichOneof("event") == "snapshot"
        first = fire()
        assert next_notice(items) == first
        saved = watch.tracker.resume_token
        second = fire()
        assert next_notice(items) == second

        later = iter(client.watch_notifications(resume_token=saved))
        assert next_notice(later) == second, "a saved token resumes right after the first notice, no snapshot"
