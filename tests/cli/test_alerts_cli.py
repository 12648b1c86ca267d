"""``trademesh alerts`` and ``trademesh inbox`` against the running mesh (its notifications service, the gateway).

Alerts fire on the mesh's simulated feed: a one-shot "above ₹0.01" alert fires on the next tick of its
instrument, exactly once; the levels of alerts that must stay armed are far from any simulated price.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import TRADEMESH, Run, ok
from tests.client_mesh import PASSWORD, RunningMesh, new_username
from tests.eventually import eventually_sync

WAIT = 30.0


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(ok(result))


def unread(cli: Run) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = as_json(cli("inbox", "--unread", "--json"))
    return items


def test_alerts_are_added_in_every_kind_listed_shown_edited_and_removed(cli: Run, logged_in: str) -> None:
    above = as_json(cli("alerts", "add", "INFY", "above", "99,999.50", "--note", "breakout", "--json"))
    assert above["condition"] == "ALERT_CONDITION_PRICE_ABOVE"
    assert (above["levelMicros"], above["note"], above["state"]) == ("99999500000", "breakout", "ALERT_STATE_ARMED")
    assert "rearm" not in above  # one-shot by default
    below = as_json(cli("alerts", "add", "NSE:TCS", "below", "0.50", "--expires", "7d", "--json"))
    assert below["condition"] == "ALERT_CONDITION_PRICE_BELOW"
    assert below["expireTime"]
    crossing = as_json(cli("alerts", "add", "RELIANCE", "crossing", "99999", "--rearm", "--cool-down", "1h", "--json"))
    assert (crossing["rearm"], crossing["coolDown"]) == (True, "3600s")
    change = as_json(cli("alerts", "add", "SBIN", "change", "45.5%", "--cool-down", "15m", "--json"))
    assert (change["condition"], change["changeBasisPoints"], change["rearm"], change["coolDown"]) == (
        "ALERT_CONDITION_DAY_CHANGE_BEYOND",
        4550,
        True,
        "900s",
    )

    listed = as_json(cli("alerts", "list", "--json"))
    assert [item["id"] for item in listed] == [change["id"], crossing["id"], below["id"], above["id"]]
    table = ok(cli("alerts", "list"))
    assert "4 alert(s)" in table
    assert "above ₹99,999.50" in table
    assert "change beyond ±45.5%" in table
    assert "every 1h" in table
    assert "once" in table

    shown = ok(cli("alerts", "show", above["id"]))
    assert "above ₹99,999.50" in shown
    assert "breakout" in shown
    assert "armed" in shown

    edited = as_json(cli("alerts", "edit", above["id"], "--value", "99998", "--note", "higher", "--json"))
    assert (edited["levelMicros"], edited["note"]) == ("99998000000", "higher")
    edited = as_json(cli("alerts", "edit", change["id"], "--value", "60", "--once", "--json"))
    assert (edited["changeBasisPoints"], edited.get("rearm", False), edited.get("coolDown")) == (6000, False, None)

    assert f"deleted alert {below['id']}" in ok(cli("alerts", "rm", below["id"]))
    assert below["id"] not in {item["id"] for item in as_json(cli("alerts", "list", "--json"))}
    gone = cli("alerts", "show", below["id"])
    assert gone.returncode == 1
    assert "NOT_FOUND ALERT_NOT_FOUND" in gone.stderr


def test_bad_alerts_are_explained_from_the_servers_field_violations(cli: Run, logged_in: str) -> None:
    too_short = cli("alerts", "add", "INFY", "above", "1600", "--cool-down", "10s")
    assert too_short.returncode == 1
    assert "INVALID_ARGUMENT" in too_short.stderr
    assert "alert.cool_down: must be 1 minute .. 7 days" in too_short.stderr
    zero = cli("alerts", "add", "INFY", "change", "0")
    assert zero.returncode == 1
    assert "alert.change_basis_points: must be 1..10000" in zero.stderr
    negative = cli("alerts", "add", "INFY", "below", "0")
    assert negative.returncode == 1
    assert "alert.level_micros: must be > 0" in negative.stderr
    # What the CLI can tell by itself is a usage error (exit 2), before any call.
    assert cli("alerts", "add", "XYZ:INFY", "above", "1").returncode == 2
    assert cli("alerts", "add", "INFY", "sideways", "1").returncode == 2
    bad_duration = cli("alerts", "add", "INFY", "above", "1", "--cool-down", "soon")
    assert bad_duration.returncode == 2
    assert "not a duration" in bad_duration.stderr
    assert cli("inbox", "read").returncode == 2  # ids or --all


def test_a_fired_alert_lands_in_the_inbox_and_is_read_and_deleted(cli: Run, logged_in: str) -> None:
    alert = as_json(cli("alerts", "add", "INFY", "above", "0.01", "--note", "cli test", "--json"))
    items = eventually_sync(lambda: unread(cli), until=lambda found: len(found) == 1, within=WAIT, what="a notice")
    notice = items[0]
    assert (notice["alertId"], notice["kind"]) == (alert["id"], "NOTIFICATION_KIND_PRICE_ALERT")
    assert "INFY" in notice["title"]

    fired = as_json(cli("alerts", "show", alert["id"], "--json"))
    assert (fired["state"], fired["triggerCount"]) == ("ALERT_STATE_TRIGGERED", "1")
    assert "triggered" in ok(cli("alerts", "list", "--state", "triggered"))
    assert as_json(cli("alerts", "list", "--state", "armed", "--json")) == []

    listing = ok(cli("inbox"))
    assert "1 notification(s), 1 unread" in listing
    assert notice["id"] in listing
    assert ok(cli("inbox", "read", notice["id"])).strip() == "0 unread"
    assert unread(cli) == []
    assert len(as_json(cli("inbox", "--json"))) == 1
    assert "marked 0 notification(s) read" in ok(cli("inbox", "read", "--all"))
    assert f"deleted notification {notice['id']}" in ok(cli("inbox", "rm", notice["id"]))
    assert as_json(cli("inbox", "--json")) == []
    again = cli("inbox", "rm", notice["id"])
    assert again.returncode == 1
    assert "NOT_FOUND NOTIFICATION_NOT_FOUND" in again.stderr


def test_inbox_follow_prints_the_snapshot_then_live_notifications(
    cli: Run, logged_in: str, mesh: RunningMesh, config_dir: Path
) -> None:
    env = {**os.environ, "TRADEMESH_CONFIG_DIR": str(config_dir), "TRADEMESH_TARGET": mesh.gateway}
    command = [TRADEMESH, "inbox", "--follow", "--json", "--count", "2", "--duration", "90"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) as follow:
        assert follow.stdout is not None
        assert follow.stderr is not None
        snapshot = json.loads(follow.stdout.readline())  # the stream is open: nothing created now is missed
        assert snapshot.get("unreadCount", "0") == "0"
        assert "snapshot" in snapshot
        first = as_json(cli("alerts", "add", "INFY", "above", "0.01", "--json"))
        second = as_json(cli("alerts", "add", "TCS", "above", "0.01", "--json"))
        output, errors = follow.communicate(timeout=120)
    assert follow.returncode == 0, errors
    messages = [json.loads(line) for line in output.splitlines()]
    notices = [message for message in messages if "notification" in message]
    assert {notice["notification"]["alertId"] for notice in notices} == {first["id"], second["id"]}
    assert [notice["unreadCount"] for notice in notices] == ["1", "2"]
    assert all(message["resumeToken"] for message in messages)


def test_another_users_alerts_and_notifications_are_not_found(
    cli: Run, logged_in: str, mesh: RunningMesh, tmp_path: Path
) -> None:
    alert = as_json(cli("alerts", "add", "INFY", "above", "0.01", "--json"))
    notice = eventually_sync(lambda: unread(cli), until=lambda found: len(found) == 1, within=WAIT, what="a notice")[0]

    other_env = {**os.environ, "TRADEMESH_CONFIG_DIR": str(tmp_path / "other"), "TRADEMESH_TARGET": mesh.gateway}

    def other(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [TRADEMESH, *args], capture_output=True, text=True, env=other_env, timeout=30, check=False
        )

    name = new_username()
    ok(other("register", "--email", f"{name}@example.com", "--username", name, "--password", PASSWORD))
    for args in (("alerts", "show", alert["id"]), ("alerts", "rm", alert["id"]), ("inbox", "rm", notice["id"])):
        refused = other(*args)
        assert (refused.returncode, "NOT_FOUND" in refused.stderr) == (1, True), args
    assert json.loads(ok(other("alerts", "list", "--json"))) == []
    assert ok(other("inbox", "read", notice["id"])).strip() == "0 unread"  # ignored, as the contract says
    assert [item["id"] for item in unread(cli)] == [notice["id"]]  # still unread for its owner


@pytest.mark.parametrize("args", [("alerts", "list"), ("inbox",)])
def test_the_new_commands_need_a_login(cli: Run, args: tuple[str, ...]) -> None:
    result = cli(*args)
    assert result.returncode == 3
    assert "trademesh login" in result.stderr


def test_inbox_follow_prints_readable_lines_as_they_come(
    cli: Run, logged_in: str, mesh: RunningMesh, config_dir: Path
) -> None:
    env = {**os.environ, "TRADEMESH_CONFIG_DIR": str(config_dir), "TRADEMESH_TARGET": mesh.gateway, "COLUMNS": "200"}
    command = [TRADEMESH, "inbox", "--follow", "--count", "1", "--duration", "90"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) as follow:
        assert follow.stdout is not None
        assert follow.stdout.readline().strip() == "0 unread — following (Ctrl-C to stop)"
        alert = as_json(cli("alerts", "add", "INFY", "above", "0.01", "--note", "readable", "--json"))
        output, errors = follow.communicate(timeout=120)
    assert follow.returncode == 0, errors
    line = output.strip()
    assert line.startswith("● ")
    assert "[price alert]" in line
    assert "INFY" in line
    assert line.endswith("[1 unread]")
    assert "readable" in line  # the alert's note
    assert f"({alert['id']}." in line  # the notification's id: the alert's, then the firing's generation
