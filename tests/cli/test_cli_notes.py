"""``trademesh note`` and ``trademesh mistakes`` through the gateway (docs/decisions/0200)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.cli.conftest import Run, ok
from trademesh.kernel.calendar import IST


def test_notes_are_written_shown_listed_searched_and_deleted(
    cli: Run, logged_in: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    today = datetime.now(UTC).astimezone(IST).date()
    day, earlier = (today - timedelta(days=1)).isoformat(), (today - timedelta(days=8)).isoformat()
    ok(cli("trades", "add", "buy", "SBIN", "10", "800", "--time", f"{day} 10:00"))

    assert "revenge trade" in ok(cli("mistakes", "list")).splitlines()
    assert "3 mistake tag(s): fomo, chased breakout, sized up" in ok(
        cli("mistakes", "set", "fomo,Chased Breakout,sized up")
    )
    assert ok(cli("mistakes", "list")).splitlines() == ["fomo", "chased breakout", "sized up"]

    saved = ok(
        cli("note", "edit", day, "--mood", "4", "--mistake", "fomo", "--text", "# Gap day\nBought **SBIN** early.")
    )
    assert f"saved the note of {day} (v1)" in saved
    ok(cli("note", "edit", day, "--lessons", "Wait for the first candle.", "--mistake", "fomo,sized up"))
    shown = json.loads(ok(cli("note", "show", day, "--json")))
    assert shown["note"]["text"] == "# Gap day\nBought **SBIN** early."
    assert (shown["note"]["mood"], shown["note"]["mistakes"], shown["note"]["etag"]) == (
        "MOOD_GOOD",
        ["fomo", "sized up"],
        "v2",
    )
    assert [trade["instrument"]["symbol"] for trade in shown["trades"]] == ["SBIN"]
    human = ok(cli("note", "show", day))
    assert "Gap day" in human
    assert "mood: good" in human
    assert "1 trade(s) that day" in human

    # No --text: the note is written in $EDITOR (here a script that writes the file it is given).
    editor = tmp_path / "editor.sh"
    editor.write_text('#!/bin/sh\nprintf "Quiet day, no trades worth a gap." > "$1"\n')
    editor.chmod(0o755)
    monkeypatch.setenv("EDITOR", str(editor))
    ok(cli("note", "edit", earlier))
    assert json.loads(ok(cli("note", "show", earlier, "--json")))["note"]["text"] == "Quiet day, no trades worth a gap."

    listed = json.loads(ok(cli("note", "list", "--from", earlier, "--to", day, "--json")))
    assert [note["date"] for note in listed] == [day, earlier]
    assert [note["date"] for note in json.loads(ok(cli("note", "search", "GAP", "--json")))] == [day, earlier]
    assert [note["date"] for note in json.loads(ok(cli("note", "search", "sized up", "--json")))] == [day]
    assert day in ok(cli("note", "search", "first candle"))

    unknown = cli("note", "edit", day, "--mistake", "greed")
    assert unknown.returncode == 1
    assert "INVALID_ARGUMENT" in unknown.stderr
    assert "note.mistakes[0]" in unknown.stderr
    future = cli("note", "edit", (today + timedelta(days=2)).isoformat(), "--text", "later")
    assert future.returncode == 1
    assert "must not be after today in IST" in future.stderr
    bad_mood = cli("note", "edit", day, "--mood", "ecstatic")
    assert bad_mood.returncode == 2

    ok(cli("note", "delete", earlier))
    missing = cli("note", "show", earlier)
    assert missing.returncode == 1
    assert "NOT_FOUND DAY_NOTE_NOT_FOUND" in missing.stderr
