# ruff: noqa: E501
"""Issue 20's probe as one table: each row is one attack on one RPC and the status it must get.

Every row runs straight against the service and, unless it says otherwise, through the Envoy gateway.
A new RPC (or a new attack) is one more row — one line each, hence no line-length rule here.
Tokens are forged with the mesh's own secrets where the attack assumes a thief has them (see conftest), and with the published or a stranger's key otherwise.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from tests.security import forge
from tests.security.calls import Outcome, call
from tests.security.conftest import ROUTES, World
from trademesh.analytics.v1 import analytics_service_pb2, period_pb2
from trademesh.auth.v1 import auth_service_pb2
from trademesh.common.v1 import instrument_pb2
from trademesh.marketdata.v1 import bar_pb2, marketdata_service_pb2
from trademesh.services.core.page_tokens import Codec
from trademesh.services.core.settings import DEV_TOKEN_SECRET
from trademesh.services.trade.model import user_tag
from trademesh.sync.v1 import broker_account_pb2, sync_service_pb2
from trademesh.trade.v1 import trade_pb2, trade_service_pb2

OK = grpc.StatusCode.OK
INVALID = grpc.StatusCode.INVALID_ARGUMENT
UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED
NOT_FOUND = grpc.StatusCode.NOT_FOUND
DENIED = grpc.StatusCode.PERMISSION_DENIED

ME = "trademesh.auth.v1.AuthService/GetMe"
LIST_TRADES = "trademesh.trade.v1.TradeService/ListTrades"
WATCH_TRADES = "trademesh.trade.v1.TradeService/WatchTrades"
GET_BARS = "trademesh.marketdata.v1.MarketDataService/GetBars"
GET_ANALYTICS = "trademesh.analytics.v1.AnalyticsService/GetAnalytics"
LIST_SYNC_LOGS = "trademesh.sync.v1.SyncService/ListSyncLogs"
GET_QUOTES = "trademesh.marketdata.v1.MarketDataService/GetQuotes"

#: Times the probe sent: past 9999, nanos out of range, year 1, the last day a Timestamp holds.
BAD_TIMES = {
    "year 10000": Timestamp(seconds=253402300800),
    "nanos 2e9": Timestamp(seconds=1_700_000_000, nanos=2_000_000_000),
    "year 1": Timestamp(seconds=-62135596800),
    "9999-12-31": Timestamp(seconds=253402214400),
}
#: A client's default limit on received metadata (gRPC core: 8 KiB).
CLIENT_METADATA_LIMIT = 8 * 1024


Token = Callable[[World], str | None]


def victim(world: World) -> str | None:
    return world.victim.access_token


def attacker(world: World) -> str | None:
    return world.attacker.access_token


def anonymous(world: World) -> str | None:
    return None


def _forged(make: Callable[[World], str]) -> Token:
    return make


def _victim_claims(world: World, **extra: Any) -> dict[str, Any]:
    return forge.claims(world.victim.user_id, **extra)


@dataclass(frozen=True)
class Case:
    """One attack: the RPC, the request, who sends it, and the status it must get."""

    name: str
    rpc: str
    request: Callable[[World], Message]
    expect: grpc.StatusCode
    token: Token = victim
    #: A google.rpc BadRequest violation that must name this field.
    field: str | None = None
    routes: tuple[str, ...] = ROUTES
    check: Callable[[Outcome], None] | None = None


def me(world: World) -> Message:
    return auth_service_pb2.GetMeRequest()


def trades(world: World) -> Message:
    return trade_service_pb2.ListTradesRequest()


def _expired_3s(world: World) -> str:
    return world.ring.sign(_victim_claims(world, issued=time.time() - 603, lifetime=600))


def _not_yet_valid_3s(world: World) -> str:
    claims = _victim_claims(world)
    claims["nbf"] = int(time.time()) + 3
    return world.ring.sign(claims)


def _analytics_at(stamp: Timestamp) -> Callable[[World], Message]:
    return lambda world: analytics_service_pb2.GetAnalyticsRequest(period=period_pb2.PERIOD_DAILY, reference_time=stamp)


def _sync_logs_from(stamp: Timestamp) -> Callable[[World], Message]:
    return lambda world: sync_service_pb2.ListSyncLogsRequest(start_time=stamp)


def _bars(page_token: str = "", start: Timestamp | None = None) -> marketdata_service_pb2.GetBarsRequest:
    return marketdata_service_pb2.GetBarsRequest(
        instrument=instrument_pb2.Instrument(exchange=instrument_pb2.EXCHANGE_NSE, symbol="INFY"),
        interval=bar_pb2.BAR_INTERVAL_ONE_MINUTE,
        start_time=start or Timestamp(seconds=int(time.time()) - 3600),
        page_token=page_token,
    )


def _raw_token(payload: object) -> str:
    text = payload if isinstance(payload, str) else json.dumps(payload)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _tampered(token: str) -> str:
    body, _, mac = token.partition(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload["i"] = "0" * len(str(payload.get("i", "")))
    return _raw_token(payload) + "." + mac


def _resume(world: World, secret: bytes, entry: str) -> Message:
    token = Codec(secret).encode({"k": "watch", "u": user_tag(world.victim.user_id), "e": entry})
    return trade_service_pb2.WatchTradesRequest(resume_token=token)


def _small_trailer(outcome: Outcome) -> None:
    assert len(outcome.violations) <= 10
    assert int(outcome.metadata["violation_count"]) >= 10_000
    assert outcome.trailer_bytes < CLIENT_METADATA_LIMIT


CASES: list[Case] = [
    # -- access tokens: every check the verifier makes ------------------------------------------------------------
    Case("a valid token works", ME, me, OK),
    Case("a valid token works (trade)", LIST_TRADES, trades, OK),
    Case("no token", LIST_TRADES, trades, UNAUTHENTICATED, token=anonymous),
    Case("garbage token", ME, me, UNAUTHENTICATED, token=lambda w: "not.a.jwt"),
    Case("alg=none", ME, me, UNAUTHENTICATED, token=lambda w: forge.alg_none(w.ring, _victim_claims(w))),
    Case("alg=none (trade)", LIST_TRADES, trades, UNAUTHENTICATED, token=lambda w: forge.alg_none(w.ring, _victim_claims(w))),
    Case("HS256 keyed with the public key", ME, me, UNAUTHENTICATED, token=lambda w: forge.hmac_with_public_key(w.ring, _victim_claims(w))),
    Case("foreign key under the real kid", ME, me, UNAUTHENTICATED, token=lambda w: forge.signed(forge.stranger_key(), _victim_claims(w), kid=w.ring.active_kid)),
    Case("foreign key under its own kid", LIST_TRADES, trades, UNAUTHENTICATED, token=lambda w: forge.signed(forge.stranger_key(), _victim_claims(w), kid="stranger")),
    Case("kid path traversal", ME, me, UNAUTHENTICATED, token=lambda w: forge.signed(forge.stranger_key(), _victim_claims(w), kid="../../../../dev/null")),
    Case("kid missing", ME, me, UNAUTHENTICATED, token=lambda w: forge.signed(forge.stranger_key(), _victim_claims(w))),
    Case("kid not a string", ME, me, UNAUTHENTICATED, token=lambda w: forge.raw_signed(forge.stranger_key(), {"alg": "EdDSA", "kid": 7}, _victim_claims(w))),
    Case("embedded jwk", ME, me, UNAUTHENTICATED, token=lambda w: forge.embedded_jwk(forge.stranger_key(), _victim_claims(w), w.ring.active_kid)),
    Case("jku to the attacker's keys", ME, me, UNAUTHENTICATED, token=lambda w: forge.remote_key_url(forge.stranger_key(), _victim_claims(w), w.ring.active_kid, "jku")),
    Case("x5u to the attacker's keys", LIST_TRADES, trades, UNAUTHENTICATED, token=lambda w: forge.remote_key_url(forge.stranger_key(), _victim_claims(w), w.ring.active_kid, "x5u")),
    Case("expired 3 s ago (leeway is 1 s)", ME, me, UNAUTHENTICATED, token=_expired_3s),
    Case("expired 3 s ago (trade)", LIST_TRADES, trades, UNAUTHENTICATED, token=_expired_3s),
    Case("not valid for 3 s more", ME, me, UNAUTHENTICATED, token=_not_yet_valid_3s),
    # The gateway's audience check is the gateway's own (issue 20 item 10, gateway half); the services':
    Case("wrong audience", ME, me, UNAUTHENTICATED, token=lambda w: w.ring.sign(_victim_claims(w, aud="elsewhere")), routes=("direct",)),
    Case("wrong issuer", ME, me, UNAUTHENTICATED, token=lambda w: w.ring.sign(_victim_claims(w, iss="elsewhere")), routes=("direct",)),
    Case("no jti", ME, me, UNAUTHENTICATED, token=lambda w: w.ring.sign({k: v for k, v in _victim_claims(w).items() if k != "jti"})),
    # -- IDOR: another user's ids are NOT_FOUND (no existence leak) ---------------------------------------------
    Case("GetTrade of another user", "trademesh.trade.v1.TradeService/GetTrade", lambda w: trade_service_pb2.GetTradeRequest(id=w.victim.trade_ids[0]), NOT_FOUND, token=attacker),
    Case("UpdateTrade of another user", "trademesh.trade.v1.TradeService/UpdateTrade", lambda w: trade_service_pb2.UpdateTradeRequest(trade=trade_pb2.Trade(id=w.victim.trade_ids[0], notes="mine now"), update_mask=FieldMask(paths=["notes"]), etag=w.victim.etags[w.victim.trade_ids[0]]), NOT_FOUND, token=attacker),
    Case("DeleteTrade of another user", "trademesh.trade.v1.TradeService/DeleteTrade", lambda w: trade_service_pb2.DeleteTradeRequest(id=w.victim.trade_ids[0], etag=w.victim.etags[w.victim.trade_ids[0]]), NOT_FOUND, token=attacker),
    Case("UndeleteTrade of another user", "trademesh.trade.v1.TradeService/UndeleteTrade", lambda w: trade_service_pb2.UndeleteTradeRequest(id=w.victim.trade_ids[0]), NOT_FOUND, token=attacker),
    Case("UpdateBrokerAccount not mine", "trademesh.sync.v1.SyncService/UpdateBrokerAccount", lambda w: sync_service_pb2.UpdateBrokerAccountRequest(broker_account=broker_account_pb2.BrokerAccount(id=uuid.uuid4().hex, nickname="x"), update_mask=FieldMask(paths=["nickname"]), etag="1"), NOT_FOUND, token=attacker),
    Case("UnlinkBrokerAccount not mine", "trademesh.sync.v1.SyncService/UnlinkBrokerAccount", lambda w: sync_service_pb2.UnlinkBrokerAccountRequest(broker_account_id=uuid.uuid4().hex), NOT_FOUND, token=attacker),
    Case("SyncNow of an account not mine", "trademesh.sync.v1.SyncService/SyncNow", lambda w: sync_service_pb2.SyncNowRequest(broker_account_id=uuid.uuid4().hex, request_id=str(uuid.uuid4())), NOT_FOUND, token=attacker),
    Case("RecomputeAnalytics of another user", "trademesh.analytics.v1.AnalyticsService/RecomputeAnalytics", lambda w: analytics_service_pb2.RecomputeAnalyticsRequest(user_id=w.victim.user_id), DENIED, token=attacker),
    Case("ReconcileTrades as a user", "trademesh.trade.v1.TradeService/ReconcileTrades", lambda w: trade_service_pb2.ReconcileTradesRequest(user_id=w.victim.user_id, broker_account_id="acct"), DENIED, token=attacker),
    # -- page and resume tokens: replay, tampering, forgery -----------------------------------------------------
    Case("page token replayed by another user", LIST_TRADES, lambda w: trade_service_pb2.ListTradesRequest(page_size=1, page_token=w.victim.page_token), INVALID, token=attacker, field="page_token"),
    Case("page token replayed with other filters", LIST_TRADES, lambda w: trade_service_pb2.ListTradesRequest(page_size=1, page_token=w.victim.page_token, symbol="TCS"), INVALID, field="page_token"),
    Case("page token tampered", LIST_TRADES, lambda w: trade_service_pb2.ListTradesRequest(page_size=1, page_token=_tampered(w.victim.page_token)), INVALID, field="page_token"),
    Case("page token forged with the published secret", LIST_TRADES, lambda w: trade_service_pb2.ListTradesRequest(page_token=Codec(DEV_TOKEN_SECRET.encode()).encode({"k": "trades", "u": user_tag(w.victim.user_id), "f": "", "t": 0, "i": "x"})), INVALID, field="page_token"),
    Case("page token replayed as is", LIST_TRADES, lambda w: trade_service_pb2.ListTradesRequest(page_size=1, page_token=w.victim.page_token), OK),
    Case("GetBars page token holding 1e400", GET_BARS, lambda w: _bars(_raw_token(f'{{"c": 1e400, "f": "x", "t": {int(time.time())}}}')), INVALID, field="page_token"),
    Case("GetBars page token unsigned", GET_BARS, lambda w: _bars(_raw_token({"c": 0, "f": "x", "t": int(time.time())})), INVALID, field="page_token"),
    Case("GetBars page token forged with the published secret", GET_BARS, lambda w: _bars(Codec(DEV_TOKEN_SECRET.encode()).encode({"k": "bars", "c": 0, "f": "x", "t": int(time.time())})), INVALID, field="page_token"),
    Case("resume token forged with the published secret", WATCH_TRADES, lambda w: _resume(w, DEV_TOKEN_SECRET.encode(), "1-0"), INVALID, field="resume_token"),
    Case("resume token of another user", WATCH_TRADES, lambda w: _resume(w, w.token_secret, "1-0"), INVALID, token=attacker, field="resume_token"),
    # A thief with the real secret still cannot reach INTERNAL: the entry id is bounded before Redis sees it.
    Case("resume entry id past 64 bits", WATCH_TRADES, lambda w: _resume(w, w.token_secret, "99999999999999999999-0"), INVALID, field="resume_token"),
    Case("resume entry id of unicode digits", WATCH_TRADES, lambda w: _resume(w, w.token_secret, "\u00b2-0"), INVALID, field="resume_token"),
    # -- times: INVALID_ARGUMENT naming the field, never INTERNAL ----------------------------------------------------
    *[Case(f"GetAnalytics reference_time {label}", GET_ANALYTICS, _analytics_at(stamp), INVALID, field="reference_time") for label, stamp in BAD_TIMES.items()],
    *[Case(f"ListSyncLogs start_time {label}", LIST_SYNC_LOGS, _sync_logs_from(stamp), INVALID, field="start_time") for label, stamp in BAD_TIMES.items()],
    Case("ListTrades start_time year 1", LIST_TRADES, lambda w: trade_service_pb2.ListTradesRequest(start_time=BAD_TIMES["year 1"]), INVALID, field="start_time"),
    Case("GetBars start_time year 10000", GET_BARS, lambda w: _bars(start=BAD_TIMES["year 10000"]), INVALID, field="start_time"),
    # -- sizes: bounded error details, limits on what a request may carry ------------------------------------------
    Case("10,000 malformed instruments give a small trailer", GET_QUOTES, lambda w: marketdata_service_pb2.GetQuotesRequest(instruments=[instrument_pb2.Instrument(symbol="bad symbol " + "x" * 40)] * 10_000), INVALID, check=_small_trailer),
    Case("1 MB notes", "trademesh.trade.v1.TradeService/CreateTrade", lambda w: trade_service_pb2.CreateTradeRequest(request_id=str(uuid.uuid4()), trade=trade_pb2.Trade(instrument=instrument_pb2.Instrument(exchange=instrument_pb2.EXCHANGE_NSE, symbol="INFY"), side=trade_pb2.SIDE_BUY, quantity_micros=1, price_micros=1, notes="n" * 1_000_000)), INVALID),
    Case("a 20 MB request", "trademesh.auth.v1.AuthService/Login", lambda w: auth_service_pb2.LoginRequest(login="x" * 20_000_000, password="y"), grpc.StatusCode.RESOURCE_EXHAUSTED, routes=("direct",)),
]  # fmt: skip


RUNS = [(case, route) for case in CASES for route in case.routes]


@pytest.mark.parametrize(("case", "route"), RUNS, ids=[f"{route}: {case.name}" for case, route in RUNS])
async def test_case(world: World, case: Case, route: str) -> None:
    service = case.rpc.partition("/")[0]

    outcome = await call(world.channel(route, service), case.rpc, case.request(world), token=case.token(world))

    assert outcome.code == case.expect, f"{case.name} via {route}: {outcome}"
    if case.field is not None:
        assert case.field in outcome.violations, f"{case.name} via {route}: {outcome}"
    if case.check is not None:
        case.check(outcome)
