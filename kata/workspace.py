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
from kata.notebook import identify, read_notebook, source_of, tags_of, with_ids

WORKSPACE, STATE = "workspace", ".kata"


@dataclass
class Update:
    kata: Kata
    action: str  # "created", "refreshed" or "unchanged"
    backup: Path | None = None
    notes: list[str] = field(default_factory=list)


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
        """Copy ``path`` (its bytes, whatever they are) to .kata/backups/<time>/."""
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S-%f")
        target = self.state / "backups" / stamp / path.relative_to(self.folder)
        try:
            data = path.read_bytes()
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        except IsADirectoryError:
            shutil.copytree(path, target)
        except OSError as error:
            raise KataError(
                f"Cannot back {path} up to {target} ({error.strerror or error}), so it was left as it is. "
                "Fix the permissions (or free some disk space), then run the command again."
            ) from None
        return target

    def outdated(self, kata: Kata) -> bool:
        """Whether the starter changed since the learner's copy was made or last refreshed."""
        try:
            return self._base(kata).read_bytes() != kata.notebook.read_bytes()
        except OSError:
            return False

    def _adopt(self, kata: Kata, starter_text: str) -> None:
        self._write(self._base(kata), starter_text)

    def reset(self, kata: Kata) -> Path | None:
        """Put the starter in place of the learner's notebook; returns where the old one went."""
        path = self.notebook(kata)
        starter, _ = self._starter(kata)
        saved = self.backup(path) if path.exists() else None
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)  # backed up just above
        self._write(path, starter)
        self._adopt(kata, starter)
        return saved

    def _starter(self, kata: Kata) -> tuple[str, dict]:
        try:
            text = kata.notebook.read_text(encoding="utf-8")
            return text, read_notebook(kata.notebook, next_step="")
        except (KataError, OSError) as error:
            raise KataError(
                f"The workbook's own starter {kata.notebook} cannot be read ({error}). Your notebook was "
                f"left as it is. If a merge or a pull changed it, `git status` shows it and `git checkout -- "
                f"{kata.notebook}` restores it."
            ) from None

    def update(self, kata: Kata) -> Update:
        path = self.notebook(kata)
        starter_text, upstream = self._starter(kata)
        if not path.exists() and not path.is_symlink():
            self._write(path, starter_text)
            self._adopt(kata, starter_text)
            return Update(kata, "created")
        mine = read_notebook(path, next_step=f"Your file was left as it is; `kata reset {kata.number}` starts over (after a backup).")
        base_path = self._base(kata)
        try:
            base = read_notebook(base_path, next_step="") if base_path.exists() else upstream
        except KataError:
            base = upstream  # a damaged record of the old starter: compare with the new one instead
        # Cells without ids (an older notebook format) or with repeated ids get the ids of the
        # starter's cells they are, or ids of their own: nothing is taken for a deleted cell.
        original = mine["cells"]
        result = refresh(base["cells"], upstream["cells"], with_ids(original, base["cells"]))
        if result.cells == original:
            self._adopt(kata, starter_text)
            return Update(kata, "unchanged", notes=result.notes)
        saved = self.backup(path)
        document = {**mine, "cells": result.cells, "metadata": {**mine.get("metadata", {}), **upstream["metadata"]}}
        document["nbformat"], document["nbformat_minor"] = upstream["nbformat"], upstream["nbformat_minor"]
        self._write(path, _dump(document))
        self._adopt(kata, starter_text)
        return Update(kata, "refreshed", saved, result.notes)

    def tampered_cells(self, kata: Kata, mine: list[dict], starter: list[dict]) -> list[str]:
        """The workbook's setup and check cells that the learner's cells lack or have edited."""
        learner = {cell_id: cell for cell, cell_id in zip(mine, identify(mine, starter)) if cell_id}
        problems = []
        for number, cell in enumerate(starter, start=1):
            tags = tags_of(cell)
            if not {"setup", "check"} & set(tags):
                continue
            own = learner.get(cell.get("id"))
            if own is None:
                problems.append(f"the `{tags[0]}` cell (cell {number} of the starter) was deleted")
            elif source_of(own) != source_of(cell):
                problems.append(f"the `{tags[0]}` cell (cell {number} of the starter) was edited")
        return problems
