"""The real ``trademesh`` command (the installed console script), run as a subprocess against the mesh."""

from __future__ import annotations

import csv
import io
import json
import stat
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.cli.conftest import Run, ok
from tests.client_mesh import PASSWORD, RunningMesh, new_username
from trademesh.cli.render import equity_chart, format_inr, format_quantity, parse_micros, spreadsheet_safe
from trademesh.kernel.lots.fees import allocate_fee


def test_login_saves_the_session_owner_only_and_never_prints_tokens(cli: Run, config_dir: Path) -> None:
    name = new_username()
    ok(cli("register", "--email", f"{name}@example.com", "--username", name, "--password", PASSWORD))
    cli("logout")
    assert not (config_dir / "credentials.json").exists()

    login = cli("login", name, "--password", PASSWORD)
    assert f"Logged in as {name}" in ok(login)
    credentials = config_dir / "credentials.json"
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    assert stat.S_IMODE(config_dir.stat().st_mode) == 0o700
    saved = json.loads(credentials.read_text())
    assert saved["username"] == name
    whoami = cli("whoami")
    assert name in ok(whoami)
    for output in (login.stdout, login.stderr, whoami.stdout, whoami.stderr):
        assert saved["tokens"]["refresh_token"] not in output
        assert saved["tokens"]["access_token"] not in output


def test_an_expired_session_is_refreshed_and_the_rotation_saved(cli: Run, config_dir: Path, logged_in: str) -> None:
    credentials = config_dir / "credentials.json"
    saved = json.loads(credentials.read_text())
    saved["tokens"]["access_token"] = "expired"
    saved["tokens"]["access_expires_at"] = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    credentials.write_text(json.dumps(saved))

    assert logged_in in ok(cli("whoami"))
    renewed = json.loads(credentials.read_text())
    assert renewed["tokens"]["refresh_token"] != saved["tokens"]["refresh_token"]
    assert renewed["tokens"]["access_token"] != "expired"
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    # The rotated session keeps working in the next process.
    assert logged_in in ok(cli("whoami"))


def test_trades_add_list_and_positions(cli: Run, logged_in: str) -> None:
    bought = json.loads(ok(cli("trades", "add", "buy", "INFY", "10", "1500", "--time", "2024-12-20 10:15", "--json")))
    assert bought["quantityMicros"] == "10000000"
    assert bought["priceMicros"] == "1500000000"
    table = ok(cli("trades", "add", "sell", "NSE:INFY", "4", "1,600.50", "--time", "2024-12-20 14:00", "--fees", "20"))
    assert "₹1,600.50" in table

    listed = json.loads(ok(cli("trades", "list", "--json")))
    assert [(trade["side"], trade["quantityMicros"]) for trade in listed] == [
        ("SIDE_SELL", "4000000"),
        ("SIDE_BUY", "10000000"),
    ]
    assert listed[1]["id"] == bought["id"]

    [position] = json.loads(ok(cli("positions", "--json")))
    assert position["instrument"]["symbol"] == "INFY"
    assert position["netQuantityMicros"] == "6000000"
    # The buy had no fees typed, so the server charged it (COMPUTED); the sell's typed 20 is MANUAL.
    buy_fees = int(listed[1].get("feesMicros", "0"))
    assert buy_fees > 0
    assert listed[0]["feesMicros"] == "20000000"
    # FIFO, net: 4 * (1600.50 - 1500) - the sell's fees 20 - the closed 4/10 of the buy's charges.
    closed_buy_fees, _ = allocate_fee(buy_fees, [4, 6])
    realized = 402_000_000 - 20_000_000 - closed_buy_fees
    assert position["realizedPnlMicros"] == str(realized)
    human = ok(cli("positions"))
    assert "INFY" in human
    assert f"+₹{realized / 1_000_000:,.2f}" in human


def test_import_shows_progress_and_every_bad_row_and_never_imports_twice(
    cli: Run, logged_in: str, tmp_path: Path
) -> None:
    csv_file = tmp_path / "trades.csv"
    csv_file.write_text(
        "symbol,exchange,side,quantity,price,trade_time\n"
        "TCS,NSE,BUY,5,3500.5,2024-11-04 09:30\n"
        "TCS,NSE,SELL,5,3550,2024-11-05 10:00\n"
        "TCS,NSE,HOLD,5,3550,2024-11-05 10:00\n"
    )
    first = cli("trades", "import", str(csv_file))
    assert "2 created" in ok(first)
    assert "1 failed" in first.stdout
    assert "INVALID_SIDE" in first.stdout
    assert "Importing trades.csv" in first.stderr  # the progress bar (on stderr, so stdout stays parseable)

    again = json.loads(ok(cli("trades", "import", str(csv_file), "--json")))
    assert again["rowsTotal"] == "3"
    assert again["rowsDuplicate"] == "2"
    assert "rowsCreated" not in again  # 0: nothing imported twice
    assert [error["rowNumber"] for error in again["rowErrors"]] == ["4"]
    assert len(json.loads(ok(cli("trades", "list", "--json", "--symbol", "TCS")))) == 2


def test_quotes_watch_prints_live_updates_and_stops_on_count_or_duration(cli: Run, logged_in: str) -> None:
    watched = ok(cli("quotes", "watch", "INFY", "TCS", "--count", "4"))
    lines = watched.splitlines()
    assert len(lines) >= 4
    assert {line.split()[0] for line in lines} == {"INFY", "TCS"}
    assert all("₹" in line and "seq=" in line for line in lines)

    started = time.monotonic()
    ok(cli("quotes", "watch", "RELIANCE", "--duration", "1.5"))
    assert time.monotonic() - started < 15


def test_errors_are_one_readable_line_and_a_non_zero_exit(cli: Run, mesh: RunningMesh) -> None:
    not_logged_in = cli("positions")
    assert not_logged_in.returncode == 3
    assert not_logged_in.stderr.strip().count("\n") == 0
    assert "not logged in" in not_logged_in.stderr

    wrong = cli("login", new_username(), "--password", "Wrong-Password-42")
    assert wrong.returncode == 1
    assert "UNAUTHENTICATED INVALID_CREDENTIALS" in wrong.stderr

    name = new_username()
    ok(cli("register", "--email", f"{name}@example.com", "--username", name, "--password", PASSWORD))
    invalid = cli("trades", "add", "buy", "INFY", "0", "1500")
    assert invalid.returncode == 1
    assert invalid.stderr.startswith("trademesh: error: INVALID_ARGUMENT")
    assert "trade.quantity_micros" in invalid.stderr
    assert "Traceback" not in invalid.stderr

    unknown = cli("quotes", "watch", "NOSUCHSYMBOL", "--count", "1")
    assert unknown.returncode == 1
    assert "UNKNOWN_INSTRUMENTS" in unknown.stderr

    usage = cli("trades", "add", "hold", "INFY", "1", "1")
    assert usage.returncode == 2

    # Logged in to the gateway's address only: another target has no session.
    other = cli("whoami", target=mesh.trade)
    assert other.returncode == 3


def test_an_unreachable_mesh_is_exit_code_4(cli: Run, config_dir: Path, logged_in: str) -> None:
    saved = json.loads((config_dir / "credentials.json").read_text())
    dead = "127.0.0.1:9"  # discard: nothing listens
    saved["target"] = dead
    (config_dir / "credentials.json").write_text(json.dumps(saved))
    result = cli("whoami", target=dead)
    assert result.returncode == 4
    assert "UNAVAILABLE" in result.stderr


def test_shell_completion_script(cli: Run) -> None:
    script = ok(cli("--show-completion", "bash"))
    assert "_TRADEMESH_COMPLETE" in script


def test_money_quantities_and_the_equity_chart_render_exactly() -> None:
    assert format_inr(123456789_050000) == "₹12,34,56,789.05"
    assert format_inr(-2_500000, sign=True) == "-₹2.50"
    assert format_inr(1_002500) == "₹1.0025"
    assert format_quantity(123456) == "0.123456"
    assert parse_micros("1,520.05", "price") == 1_520_050000
    with pytest.raises(ValueError, match="6 decimal"):
        parse_micros("0.0000001", "quantity")
    rows = equity_chart([100_000000, -50_000000, 300_000000], width=3, height=5)
    assert len(rows) == 5
    assert rows[0].strip().startswith("₹300.00")
    assert rows[-1].strip().startswith("-₹50.00")
    assert [row.split("┤")[1] for row in rows] == [
        "  ●",
        "  │",
        "● │",
        "───",
        " ● ",
    ]


@pytest.mark.parametrize(
    ("typed", "exported"),
    [
        ('=HYPERLINK("http://evil.example","click")', '\'=HYPERLINK("http://evil.example","click")'),
        ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("plain note = fine", "plain note = fine"),
        ("", ""),
    ],
)
def test_spreadsheet_safe_neutralises_formula_triggers(typed: str, exported: str) -> None:
    assert spreadsheet_safe(typed) == exported


def test_trades_csv_export_neutralises_every_text_cell(cli: Run, logged_in: str) -> None:
    formula = '=HYPERLINK("http://evil.example","click")'
    ok(
        cli(
            "trades", "add", "buy", "INFY", "1", "1500", "--time", "2024-12-20 10:15",
            "--notes", formula, "--strategy", "+cmd", "--tag", "@risky", "--json",
        )
    )  # fmt: skip

    exported = ok(cli("trades", "list", "--csv"))

    (trade,) = list(csv.DictReader(io.StringIO(exported)))
    assert trade["notes"] == "'" + formula
    assert trade["strategy"] == "'+cmd"
    assert trade["tags"] == "'@risky"
    assert (trade["symbol"], trade["side"], trade["quantity"], trade["price_inr"]) == ("INFY", "buy", "1", "1500")
    # No cell of the file starts a formula.
    for cells in csv.reader(io.StringIO(exported)):
        assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in cells)
