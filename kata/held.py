"""Walkthroughs a teacher holds back until they reveal them, kata by kata, during a workshop.

A self-paced learner gets a kata's walkthrough once their check passes, or on asking (the
feedback model's level 4). A student edition made with `kata edition student DIR
--hold-walkthroughs` ships without the walkthroughs' text: `edition.toml` lists the held katas,
and their notebooks carry no walkthrough at all, so there is nothing to peek at. When the
teacher presses a kata's reveal button in the room, the room hands the text to every learner
who asks (`kata walkthrough N`, or the notebook's button); it is kept in `.kata/revealed/<id>.md`.
"""

import tomllib
from pathlib import Path

from kata.workspace import STATE

EDITION = "edition.toml"


def edition(root: Path) -> dict:
    """The edition this workbook is (`edition.toml`), or {} for the full workbook."""
    try:
        data = tomllib.loads((Path(root) / EDITION).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def held_ids(root: Path) -> set[str]:
    held = edition(root).get("held", [])
    return {i for i in held if isinstance(i, str)} if isinstance(held, list) else set()


def _revealed_path(root: Path, kata_id: str) -> Path:
    return Path(root) / STATE / "revealed" / f"{kata_id}.md"


def revealed_text(root: Path, kata_id: str) -> str | None:
    try:
        return _revealed_path(root, kata_id).read_text(encoding="utf-8")
    except OSError:
        return None


def keep_revealed(root: Path, kata_id: str, text: str) -> None:
    path = _revealed_path(root, kata_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def is_held(root: Path, kata_id: str) -> bool:
    """Whether this kata's walkthrough is held by the teacher and not revealed here yet."""
    return kata_id in held_ids(root) and revealed_text(root, kata_id) is None


def ask_the_room(root: Path, kata_id: str) -> str | None:
    """The walkthrough, if the teacher has revealed it (asks the room, briefly); None otherwise."""
    if (text := revealed_text(root, kata_id)) is not None:
        return text
    from kata.room.client import fetch_walkthrough

    text = fetch_walkthrough(Path(root), kata_id)
    if text:
        keep_revealed(root, kata_id, text)
    return text or None


HELD_MESSAGE = ("Your teacher is holding this walkthrough back until later in the workshop; it opens "
                "here once they reveal it. Until then, the hints are yours.")
