"""``trademesh alerts add --daily-loss / --drawdown`` against the running mesh: P&L guardrails (decision 0300)."""

from __future__ import annotations

import json
import subprocess
from typing import Any

from tests.cli.conftest import Run, ok


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(ok(result))


def test_guardrails_are_added_listed_shown_and_edited(cli: Run, logged_in: str) -> None:
    loss = as_json(cli("alerts", "add", "--daily-loss", "5000", "--note", "stop for the day", "--json"))
    assert (loss["condition"], loss["levelMicros"], loss["rearm"]) == (
        "ALERT_CONDITION_DAILY_LOSS_BEYOND",
        "5000000000",
        True,  # guardrails re-arm the next IST day unless --once
    )
    assert "instrument" not in loss
    drawdown = as_json(cli("alerts", "add", "--drawdown", "3,000.50", "--once", "--json"))
    assert (drawdown["condition"], drawdown["levelMicros"], drawdown.get("rearm", False)) == (
        "ALERT_CONDITION_DRAWDOWN_FROM_PEAK",
        "3000500000",
        False,
    )
    share = as_json(cli("alerts", "add", "--drawdown", "40%", "--json"))
    assert (share["changeBasisPoints"], share.get("levelMicros", "0")) == (4000, "0")

    table = ok(cli("alerts", "list"))
    assert "day's loss ≥ ₹5,000.00" in table
    assert "drawdown from the day's peak ≥ ₹3,000.50" in table
    assert "drawdown from the day's peak ≥ 40%" in table
    assert "once a day" in table
    assert "your book" in ok(cli("alerts", "show", loss["id"]))

    edited = as_json(cli("alerts", "edit", share["id"], "--value", "2500", "--json"))
    assert (edited["levelMicros"], edited.get("changeBasisPoints", 0)) == ("2500000000", 0)


def test_bad_guardrails_are_refused(cli: Run, logged_in: str) -> None:
    both = cli("alerts", "add", "--daily-loss", "5000", "--drawdown", "3000")
    assert both.returncode != 0
    assert "one of --daily-loss and --drawdown" in both.stderr
    with_symbol = cli("alerts", "add", "INFY", "--daily-loss", "5000")
    assert with_symbol.returncode != 0
    assert "whole book" in with_symbol.stderr
    too_much = cli("alerts", "add", "--drawdown", "150%")
    assert too_much.returncode == 1
    assert "INVALID_ARGUMENT" in too_much.stderr
    assert "alert.change_basis_points" in too_much.stderr
