"""The learner's own copies of the notebooks, kept apart from the workbook's files.

`notebooks/` holds the starters as the workbook ships them; `git pull` may change them at any
time. The learner works in `workspace/` (git-ignored), which `kata` fills from the starters and
refreshes cell by cell after an update (see kata.merge). Before anything in `workspace/` is
overwritten, the file is copied to `.kata/backups/<time>/`. `.kata/base/` remembers which
version of each starter a workspace copy was made from, so a refresh can tell the learner's
edits from the workbook's.
"""

import json
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from kata import KataError
from kata.manifest import Kata
from kata.merge import refresh
from kata.notebook import read_cells, source_of, tags_of

WORKSPACE, STATE = "workspace", ".kata"


@dataclass
class Update:
    kata: Kata
    action: str  # "created", "refreshed" or "unchanged"
    backup: Path | None = None
    notes: list[str] = field(default_factory=list)


def _load(path: Path, next_step: str) -> dict:
    read_cells(path, next_step=next_step)  # reports unreadable notebooks with a clear message
    return json.loads(path.read_text(encoding="utf-8"))


def _dump(document: dict) -> str:
    return json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


class Workspace:
    def __init__(self, root: Path):
        self.root = root
        self.folder = root / WORKSPACE
        self.state = root / STATE

    def notebook(self, kata: Kata) -> Path:
        return self.folder / kata.notebook.relative_to(self.root / "notebooks")

    def _base(self, kata: Kata) -> Path:
        return self.state / "base" / f"{kata.id}.ipynb"

    def _write(self, path: Path, text: str) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        except OSError as error:
            raise KataError(
                f"Cannot write {path} ({error.strerror}). Is the workbook folder read-only? Copy it "
                "somewhere you can write, or fix its permissions, then run the command again."
            ) from None

    def backup(self, path: Path) -> Path:
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S-%f")
        target = self.state / "backups" / stamp / path.relative_to(self.folder)
        self._write(target, path.read_text(encoding="utf-8"))
        return target

    def outdated(self, kata: Kata) -> bool:
        """Whether the starter changed since the learner's copy was made or last refreshed."""
        base = self._base(kata)
        return base.exists() and base.read_text(encoding="utf-8") != kata.notebook.read_text(encoding="utf-8")

    def _adopt(self, kata: Kata, starter_text: str) -> None:
        self._write(self._base(kata), starter_text)

    def reset(self, kata: Kata) -> Path | None:
        """Put the starter in place of the learner's notebook; returns where the old one went."""
        path = self.notebook(kata)
        saved = self.backup(path) if path.exists() else None
        starter = kata.notebook.read_text(encoding="utf-8")
        self._write(path, starter)
        self._adopt(kata, starter)
        return saved

    def update(self, kata: Kata) -> Update:
        path = self.notebook(kata)
        starter_text = kata.notebook.read_text(encoding="utf-8")
        if not path.exists():
            self._write(path, starter_text)
            self._adopt(kata, starter_text)
            return Update(kata, "created")
        upstream = json.loads(starter_text)
        mine = _load(path, next_step=f"Your file was left as it is; `kata reset {kata.number}` starts over (after a backup).")
        base_path = self._base(kata)
        base = json.loads(base_path.read_text(encoding="utf-8")) if base_path.exists() else upstream
        result = refresh(base["cells"], upstream["cells"], mine["cells"])
        if not result.changed:
            self._adopt(kata, starter_text)
            return Update(kata, "unchanged", notes=result.notes)
        saved = self.backup(path)
        document = {**mine, "cells": result.cells, "metadata": {**mine.get("metadata", {}), **upstream["metadata"]}}
        document["nbformat"], document["nbformat_minor"] = upstream["nbformat"], upstream["nbformat_minor"]
        self._write(path, _dump(document))
        self._adopt(kata, starter_text)
        return Update(kata, "refreshed", saved, result.notes)

    def tampered_cells(self, kata: Kata) -> list[str]:
        """The workbook's setup and check cells that the learner's notebook lacks or has edited."""
        learner = {c.get("id"): c for c in _load(self.notebook(kata), next_step="")["cells"]}
        problems = []
        for number, cell in enumerate(json.loads(kata.notebook.read_text(encoding="utf-8"))["cells"], start=1):
            tags = tags_of(cell)
            if not {"setup", "check"} & set(tags):
                continue
            own = learner.get(cell.get("id"))
            if own is None:
                problems.append(f"the `{tags[0]}` cell (cell {number} of the starter) was deleted")
            elif source_of(own) != source_of(cell):
                problems.append(f"the `{tags[0]}` cell (cell {number} of the starter) was edited")
        return problems
