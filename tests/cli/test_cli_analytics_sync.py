"""``trademesh analytics`` and ``trademesh sync`` against the stack's analytics and sync services."""

from __future__ import annotations

import json

from tests.cli.conftest import Run, ok
from tests.eventually import eventually_sync

# The dev stack's fake Kite Connect accepts this demo app with any request token (a dozen trades today).
DEMO_KITE_API_KEY = "trademesh-demo-kite"
DEMO_KITE_API_SECRET = "trademesh-demo-secret"
DEMO_TRADES = 12


def test_analytics_shows_performance_and_the_equity_curve(cli: Run, logged_in: str) -> None:
    ok(cli("trades", "add", "buy", "SBIN", "10", "800", "--time", "2024-12-02 10:00"))
    ok(cli("trades", "add", "sell", "SBIN", "10", "812.5", "--time", "2024-12-03 11:00", "--fees", "5"))
    # Analytics applies journal events asynchronously: wait until the round trip is in.
    report = eventually_sync(
        lambda: json.loads(ok(cli("analytics", "--period", "all-time", "--json"))),
        within=20,
        interval=0.3,
        until=lambda report: report.get("performance", {}).get("roundTripCount") == "1",
        what="the round trip reaches the analytics report",
    )
    performance = report["performance"]
    assert performance["roundTripCount"] == "1"
    # 10 * 12.50 - the sell's typed 5 - the charges the server computed for the buy (no fees typed).
    [_, buy] = json.loads(ok(cli("trades", "list", "--json")))
    buy_fees = int(buy.get("feesMicros", "0"))
    assert buy_fees > 0
    net = 125_000_000 - 5_000_000 - buy_fees
    assert performance["netPnlMicros"] == str(net)
    assert [point["cumulativeNetPnlMicros"] for point in report["equityCurve"]["points"]] == [str(net)]

    human = ok(cli("analytics", "--period", "all-time"))
    assert f"+₹{net / 1_000_000:,.2f}" in human
    assert "Equity curve" in human
    assert "●" in human


def test_sync_links_an_account_and_streams_a_run(cli: Run, logged_in: str) -> None:
    linked = cli(
        "sync", "link", "zerodha", "--api-key", DEMO_KITE_API_KEY, "--api-secret", DEMO_KITE_API_SECRET,
        "--request-token", "any-token",
    )  # fmt: skip
    assert "Linked account" in ok(linked)
    [account] = json.loads(ok(cli("sync", "accounts", "--json")))
    assert account["brokerUserId"] == "ZD1234"
    assert DEMO_KITE_API_SECRET not in linked.stdout + linked.stderr

    run = cli("sync", "now", timeout=60)  # the only account; attaches to a scheduled run if one started
    assert f"{DEMO_TRADES} fetched" in ok(run)
    assert "succeeded" in run.stdout
    trades = json.loads(ok(cli("trades", "list", "--json")))
    assert len(trades) == DEMO_TRADES
    assert {trade["brokerAccountId"] for trade in trades} == {account["id"]}


def test_tax_shows_heads_and_exports_csv(cli: Run, logged_in: str) -> None:
    ok(cli("trades", "add", "buy", "HDFC", "10", "100", "--time", "2024-12-02 10:00", "--fees", "1"))
    ok(cli("trades", "add", "sell", "HDFC", "10", "90", "--time", "2024-12-02 11:00", "--fees", "1"))
    csv_text = eventually_sync(
        lambda: ok(cli("tax", "--fy", "2024-25", "--csv")),
        within=20,
        interval=0.3,
        until=lambda text: len(text.splitlines()) == 2,
        what="the intraday lot reaches the tax statement",
    )
    header, row = csv_text.splitlines()
    assert header.startswith('"financial_year","head","kind"')
    assert '"SPECULATIVE_BUSINESS","EQUITY_INTRADAY"' in row
    assert '"HDFC"' in row
    assert '"\'-102"' in row  # net: 10 x (90 - 100) - 2, a leading minus neutralised like every cell

    human = ok(cli("tax", "--fy", "2024-25"))
    assert "Speculative business" in human
    assert "not tax advice" in human
    bad = cli("tax", "--fy", "2024")
    assert bad.returncode != 0
    assert "financial_year" in bad.stdout + bad.stderr
