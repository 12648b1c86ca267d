"""``note`` (day notes: show, edit, list, search, delete) and ``mistakes`` (the editable mistake list).

A note is the journal entry of one IST trading date (docs/decisions/0200). ``note edit`` reads the stored
note, changes only what its options name and writes it back under the note's etag, so an edit made
elsewhere in between is refused (ABORTED ETAG_MISMATCH) instead of being overwritten.
"""

from __future__ import annotations

import sys
from typing import Annotated

import click
import grpc
import typer
from rich.markdown import Markdown
from rich.table import Table

from trademesh.cli.shared import CliError, enum_label, format_timestamp, out, print_json, session_client
from trademesh.sdk import TrademeshError
from trademesh.trade.v1 import day_note_pb2, trade_pb2

__all__ = ["app", "mistakes_app"]

#: The ``note`` group.
app = typer.Typer(help="Day notes: a journal entry per IST trading day.", no_args_is_help=True)
#: The ``mistakes`` group.
mistakes_app = typer.Typer(help="Your list of mistake tags for day notes.", no_args_is_help=True)

MOODS = {"awful": 1, "bad": 2, "neutral": 3, "good": 4, "great": 5}


def _mood(text: str) -> int:
    value = text.strip().lower()
    if value in MOODS:
        return MOODS[value]
    if value in {"1", "2", "3", "4", "5"}:
        return int(value)
    raise typer.BadParameter("use 1-5 or awful, bad, neutral, good, great", param_hint="--mood")


def _mood_label(mood: int) -> str:
    return enum_label(mood, day_note_pb2.Mood, "MOOD_") if mood else "-"


def _print_note(note: day_note_pb2.DayNote, trades: list[trade_pb2.Trade] | None = None) -> None:
    out.print(f"[bold]{note.date}[/bold]  mood: {_mood_label(note.mood)}  etag: {note.etag}")
    out.print("mistakes: " + (", ".join(note.mistakes) or "-"))
    if note.text:
        out.print(Markdown(note.text))
    if note.lessons:
        out.print("[bold]Lessons[/bold]")
        out.print(note.lessons, markup=False)
    if trades is not None:
        out.print(f"{len(trades)} trade(s) that day" + (":" if trades else ""))
        for trade in trades:
            side = enum_label(trade.side, trade_pb2.Side, "SIDE_")
            out.print(
                f"  {format_timestamp(trade.trade_time, seconds=False)}  {side:<4} {trade.instrument.symbol}"
                f"  id {trade.id}",
                markup=False,
            )
    out.print(f"updated {format_timestamp(note.update_time)} IST", style="dim")


def _note_table(notes: list[day_note_pb2.DayNote]) -> Table:
    table = Table(title=f"{len(notes)} note(s)", title_justify="left")
    for column in ("date", "mood", "mistakes", "text"):
        table.add_column(column, no_wrap=column != "text")
    for note in notes:
        first_line = note.text.strip().splitlines()[0] if note.text.strip() else ""
        table.add_row(note.date, _mood_label(note.mood), ", ".join(note.mistakes), first_line[:80])
    return table


@app.command("show")
def note_show(
    context: typer.Context,
    day: Annotated[str, typer.Argument(help="The IST date, YYYY-MM-DD.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the note and its trades as JSON.")] = False,
) -> None:
    """Show the note of a day with that day's trades."""
    with session_client(context) as client:
        response = client.trade.GetDayNote(day_note_pb2.GetDayNoteRequest(date=day))
    if as_json:
        print_json(response)
        return
    _print_note(response.note, list(response.trades))


@app.command("edit")
def note_edit(
    context: typer.Context,
    day: Annotated[str, typer.Argument(help="The IST date, YYYY-MM-DD.")],
    text: Annotated[
        str | None,
        typer.Option(
            help="The note in Markdown ('-': read stdin). Default: edit it in $EDITOR unless only other fields change."
        ),
    ] = None,
    mood: Annotated[str | None, typer.Option(help="1-5 or awful, bad, neutral, good, great.")] = None,
    mistake: Annotated[
        list[str] | None,
        typer.Option("--mistake", help="A mistake tag from your list (repeatable; replaces the list)."),
    ] = None,
    no_mistakes: Annotated[bool, typer.Option("--no-mistakes", help="Clear the note's mistakes.")] = False,
    lessons: Annotated[str | None, typer.Option(help="Lessons learned.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the stored note as JSON.")] = False,
) -> None:
    """Create or change the note of a day (only the fields given change)."""
    with session_client(context) as client:
        try:
            current = client.trade.GetDayNote(day_note_pb2.GetDayNoteRequest(date=day)).note
        except TrademeshError as error:
            if error.code != grpc.StatusCode.NOT_FOUND:
                raise
            current = day_note_pb2.DayNote(date=day)
        note = day_note_pb2.DayNote()
        note.CopyFrom(current)
        if text == "-":
            note.text = sys.stdin.read()
        elif text is not None:
            note.text = text
        elif mood is None and mistake is None and not no_mistakes and lessons is None:
            edited = click.edit(current.text or f"# {day}\n\n", extension=".md")
            if edited is None:
                raise CliError("the editor closed without saving; nothing changed")
            note.text = edited
        if mood is not None:
            note.mood = _mood(mood)  # type: ignore[assignment]
        if no_mistakes or mistake is not None:
            del note.mistakes[:]
            note.mistakes.extend(tag for entry in mistake or [] for tag in entry.split(",") if tag.strip())
        if lessons is not None:
            note.lessons = lessons
        stored = client.trade.PutDayNote(day_note_pb2.PutDayNoteRequest(note=note, etag=current.etag)).note
    if as_json:
        print_json(stored)
        return
    out.print(f"saved the note of {stored.date} ({stored.etag})")


@app.command("list")
def note_list(
    context: typer.Context,
    start: Annotated[str, typer.Option("--from", help="First date, YYYY-MM-DD.")] = "",
    end: Annotated[str, typer.Option("--to", help="Last date, YYYY-MM-DD.")] = "",
    limit: Annotated[int, typer.Option(help="At most this many notes (newest first).", min=1)] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print the notes as JSON.")] = False,
) -> None:
    """List notes in a date range, newest first."""
    notes: list[day_note_pb2.DayNote] = []
    token = ""
    with session_client(context) as client:
        while len(notes) < limit:
            page = client.trade.ListDayNotes(
                day_note_pb2.ListDayNotesRequest(
                    start_date=start, end_date=end, page_size=min(limit - len(notes), 366), page_token=token
                )
            )
            notes.extend(page.notes)
            token = page.next_page_token
            if not token:
                break
    if as_json:
        print_json(notes)
        return
    out.print(_note_table(notes))


@app.command("search")
def note_search(
    context: typer.Context,
    query: Annotated[str, typer.Argument(help="A word or phrase (case-insensitive), or a mistake tag.")],
    limit: Annotated[int, typer.Option(help="At most this many notes (newest first).", min=1, max=100)] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print the notes as JSON.")] = False,
) -> None:
    """Find notes whose text or lessons contain a word, or that carry a mistake tag."""
    with session_client(context) as client:
        notes = list(
            client.trade.SearchDayNotes(day_note_pb2.SearchDayNotesRequest(query=query, page_size=limit)).notes
        )
    if as_json:
        print_json(notes)
        return
    out.print(_note_table(notes))


@app.command("delete")
def note_delete(
    context: typer.Context,
    day: Annotated[str, typer.Argument(help="The IST date, YYYY-MM-DD.")],
) -> None:
    """Delete the note of a day."""
    with session_client(context) as client:
        client.trade.DeleteDayNote(day_note_pb2.DeleteDayNoteRequest(date=day))
    out.print(f"deleted the note of {day}")


@mistakes_app.command("list")
def mistakes_list(
    context: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print the list as JSON.")] = False,
) -> None:
    """Show your mistake tags."""
    with session_client(context) as client:
        response = client.trade.ListMistakeTags(day_note_pb2.ListMistakeTagsRequest())
    if as_json:
        print_json(response)
        return
    for tag in response.tags:
        out.print(tag, markup=False)


@mistakes_app.command("set")
def mistakes_set(
    context: typer.Context,
    tags: Annotated[str, typer.Argument(help="Comma-separated tags, e.g. 'fomo,revenge trade,oversized'.")],
) -> None:
    """Replace your mistake tags (notes keep the tags they already carry)."""
    wanted = [tag.strip() for tag in tags.split(",") if tag.strip()]
    with session_client(context) as client:
        current = client.trade.ListMistakeTags(day_note_pb2.ListMistakeTagsRequest())
        stored = client.trade.PutMistakeTags(day_note_pb2.PutMistakeTagsRequest(tags=wanted, etag=current.etag))
    out.print(f"{len(stored.tags)} mistake tag(s): " + ", ".join(stored.tags), markup=False)
