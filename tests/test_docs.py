"""The README stays honest: every setting a service reads is documented there."""

from __future__ import annotations

from pathlib import Path

from trademesh.devstack.settings_doc import BEGIN, END, environment_names, markdown

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_lists_every_setting() -> None:
    text = README.read_text()

    missing = sorted(name for name in environment_names() if f"`{name}`" not in text)

    assert missing == [], "README misses settings; paste `python -m trademesh.devstack.settings_doc`"


def test_readme_settings_section_is_current() -> None:
    text = README.read_text()

    section = text[text.index(BEGIN) + len(BEGIN) : text.index(END)]

    assert section.strip() == markdown().strip(), "run: python -m trademesh.devstack.settings_doc --write README.md"
