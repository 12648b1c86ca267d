"""``trademesh watchlist``: the real command against the running mesh (gateway, market data, database)."""

from __future__ import annotations

import json

from tests.cli.conftest import Run, ok


def test_watchlist_commands_round_trip_through_the_server(cli: Run, logged_in: str) -> None:
    assert "No watchlists yet" in ok(cli("watchlist", "list"))
    assert "Banks [" in ok(cli("watchlist", "create", "Banks", "SBIN", "HDFCBANK"))
    ok(cli("watchlist", "create", "IT"))
    assert "SBIN, HDFCBANK, ICICIBANK" in ok(cli("watchlist", "add", "banks", "ICICIBANK", "SBIN"))
    assert "HDFCBANK, ICICIBANK" in ok(cli("watchlist", "rm", "Banks", "SBIN"))
    ok(cli("watchlist", "rename", "IT", "Tech"))
    ok(cli("watchlist", "add", "Tech", "INFY", "NSE:TCS"))
    shown = json.loads(ok(cli("watchlist", "show", "Tech", "--json")))
    assert shown["name"] == "Tech"
    assert [item["symbol"] for item in shown["instruments"]] == ["INFY", "TCS"]
    listed = json.loads(ok(cli("watchlist", "list", "--json")))
    assert [item["name"] for item in listed] == ["Banks", "Tech"]
    assert "Deleted 'Banks'" in ok(cli("watchlist", "delete", "Banks"))
    assert [item["name"] for item in json.loads(ok(cli("watchlist", "list", "--json")))] == ["Tech"]


def test_watchlist_errors_exit_non_zero_with_the_reason(cli: Run, logged_in: str) -> None:
    missing = cli("watchlist", "show", "Nope")
    assert missing.returncode == 1
    assert "no watchlist 'Nope'" in missing.stderr
    ok(cli("watchlist", "create", "A"))
    unknown = cli("watchlist", "add", "A", "NOTASYMBOL")
    assert unknown.returncode == 1
    assert "UNKNOWN_INSTRUMENTS" in unknown.stderr
    not_in = cli("watchlist", "rm", "A", "INFY")
    assert not_in.returncode == 1
    assert "not in 'A': INFY" in not_in.stderr
    bad = cli("watchlist", "add", "A", "XX:INFY")
    assert bad.returncode == 2


def test_quotes_watch_streams_a_stored_watchlist(cli: Run, logged_in: str) -> None:
    ok(cli("watchlist", "create", "Pair", "INFY", "TCS"))
    watched = ok(cli("quotes", "watch", "--watchlist", "pair", "--count", "4"))
    lines = watched.splitlines()
    assert len(lines) >= 4
    assert {line.split()[0] for line in lines} == {"INFY", "TCS"}
    both = cli("quotes", "watch", "ITC", "--watchlist", "Pair")
    assert both.returncode == 2
    missing = cli("quotes", "watch", "--watchlist", "Nope")
    assert missing.returncode == 1
    assert "no watchlist 'Nope'" in missing.stderr
