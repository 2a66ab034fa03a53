"""The learner's progress marks: a small git-ignored JSON file. Losing it loses only the marks."""

import json
import os
from pathlib import Path


class Progress:
    def __init__(self, path: Path):
        self.path = path
        self.problem: str | None = None  # why the marks could not be read or written, if so
        try:
            self.data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(self.data.get("katas"), dict):
                raise ValueError("no `katas` table")
        except FileNotFoundError:
            self.data = {"katas": {}}
        except (ValueError, OSError, AttributeError) as error:
            self.problem = f"{path} could not be read ({error}); starting with no marks."
            self.data = {"katas": {}}

    def _entry(self, kata_id: str) -> dict:
        return self.data["katas"].setdefault(kata_id, {})

    def state(self, kata_id: str) -> str:
        return self.data["katas"].get(kata_id, {}).get("state", "not started")

    def mark(self, kata_id: str, passed: bool) -> None:
        self._entry(kata_id)["state"] = "done" if passed else "failing"

    def next_hint(self, kata_id: str, levels: int) -> int:
        """The 1-based hint level to show now; each call moves on, up to the last level."""
        entry = self._entry(kata_id)
        entry["hint"] = min(entry.get("hint", 0) + 1, levels)
        return entry["hint"]

    def save(self) -> bool:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            scratch = self.path.with_suffix(".tmp")
            scratch.write_text(json.dumps(self.data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
            os.replace(scratch, self.path)
            return True
        except OSError as error:
            self.problem = f"could not save progress to {self.path} ({error.strerror}); your notebooks are unaffected."
            return False
