"""The soak's limits, deadlines and the names of the calls it counts."""

from __future__ import annotations

from typing import Any, TypeVar

import grpc

Document = dict[str, Any]
Metadata = tuple[tuple[str, str], ...]
T = TypeVar("T")

PASSWORD = "Correct-Horse-42"
PAGE = 50
MINUTE = 60.0
#: The probe's deadline: the issue's "every minute a probe call must answer within 1 s".
PROBE_DEADLINE_SECONDS = 1.0
#: The deadline of the callers that give up (their calls are abandoned while the services work on them).
ABANDON_DEADLINE_SECONDS = 0.05
#: Deadline of the other unary calls: the gateway's default route timeout.
CALL_DEADLINE_SECONDS = 15.0
#: ImportTrades' deadline: what the contract asks clients to allow.
IMPORT_DEADLINE_SECONDS = 120.0
#: A caller whose call failed waits this long before its next one (a failing mesh must not become a busy loop).
ERROR_PAUSE_SECONDS = 0.2
#: Refresh a trader's access token (they live 15 minutes) when it has less than this left.
TOKEN_MARGIN_SECONDS = 300.0
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
#: Marks every process of this run (inherited by the launcher's children), to find strays after the stop.
RUN_MARKER = "TRADEMESH_STORAGE_SOAK_RUN"
UNAVAILABLE = grpc.StatusCode.UNAVAILABLE.name

LIST_FIRST = "ListTrades first"
LIST_NEXT = "ListTrades next"
LIST_ABANDON = "ListTrades 50ms"
ANALYTICS = "GetAnalytics"
ANALYTICS_ABANDON = "GetAnalytics 50ms"
CREATE = "CreateTrade"
IMPORT = "ImportTrades"
QUOTES = "SubscribeQuotes"
PROBE = "probe"
RPCS = [LIST_FIRST, LIST_NEXT, LIST_ABANDON, ANALYTICS, ANALYTICS_ABANDON, CREATE, IMPORT, QUOTES, PROBE]
