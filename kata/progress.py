"""The learner's progress marks: `.kata/progress.json`, small, versioned, git-ignored.

    {"version": 1,
     "katas": {"<kata id>": {"state": "failing" | "done",   (absent: not started)
                             "attempts": 3,                  checks run on code that is not the starter
                             "first_check": "2026-11-30T19:22:08Z",
                             "last_check": "2026-11-30T19:40:51Z",
                             "hint": 2,                      the highest hint level opened (0-3)
                             "walkthrough": true}}}          the walkthrough was shown

Every change is a read-modify-write under an exclusive lock on `.kata/progress.lock`, written to
a temporary file of its own and moved into place, so checks that finish at the same moment
(the notebook and `kata watch`, two terminals) never lose a mark. Losing the file loses only the
marks: nothing else depends on it. A file that cannot be read is reported and treated as empty.
"""

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; updates are still atomic, just not serialised
    fcntl = None

VERSION = 1
STATES = ("failing", "done")
FIELDS = {"state": str, "attempts": int, "first_check": str, "last_check": str, "hint": int, "walkthrough": bool}


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _clean(raw: object, problems: list[str]) -> dict[str, dict]:
    """The entries of ``raw`` that make sense; anything of the wrong type is dropped and noted."""
    if not isinstance(raw, dict) or not isinstance(raw.get("katas"), dict):
        problems.append("it has no `katas` table")
        return {}
    katas = {}
    for kata_id, entry in raw["katas"].items():
        if not isinstance(entry, dict):
            problems.append(f"the entry for {kata_id!r} is not a table")
            continue
        kept = {}
        for field, value in entry.items():
            kind = FIELDS.get(field)
            if kind is None:
                continue  # a field from a newer version: ignored, not an error
            if type(value) is not kind or (field == "state" and value not in STATES):
                problems.append(f"{kata_id}.{field} = {value!r} is not valid")
                continue
            kept[field] = value
        katas[kata_id] = kept
    return katas


class Progress:
    """A snapshot of the marks. Read them here; change them with ``change`` (locked)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.problem: str | None = None  # why the marks could not be read or written, if so
        self.katas = self._read()

    def _read(self) -> dict[str, dict]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError) as error:
            self.problem = f"{self.path} could not be read ({error}); starting with no marks."
            return {}
        try:
            raw = json.loads(text)
        except ValueError as error:
            self.problem = f"{self.path} could not be read ({error}); starting with no marks."
            return {}
        problems: list[str] = []
        katas = _clean(raw, problems)
        if problems:
            self.problem = f"{self.path}: ignored what could not be read ({'; '.join(problems[:3])})."
        return katas

    def entry(self, kata_id: str) -> dict:
        return self.katas.get(kata_id, {})

    def state(self, kata_id: str) -> str:
        return self.entry(kata_id).get("state", "not started")

    def hint(self, kata_id: str) -> int:
        return self.entry(kata_id).get("hint", 0)

    def document(self) -> dict:
        return {"version": VERSION, "katas": self.katas}

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a+") as lock:
            if fcntl is not None:
                fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                if fcntl is not None:
                    fcntl.flock(lock, fcntl.LOCK_UN)

    def change(self, kata_id: str, edit: Callable[[dict], None]) -> bool:
        """Apply ``edit`` to the kata's entry, under the lock, on the marks as they are on disk
        now. Returns False (and sets ``problem``) when the marks could not be saved."""
        try:
            with self._locked():
                self.problem = None
                self.katas = self._read()
                entry = dict(self.katas.get(kata_id, {}))
                edit(entry)
                self.katas[kata_id] = entry
                handle, scratch = tempfile.mkstemp(prefix=".progress-", dir=self.path.parent)
                try:
                    with os.fdopen(handle, "w", encoding="utf-8") as out:
                        json.dump(self.document(), out, indent=2, sort_keys=True)
                        out.write("\n")
                    os.replace(scratch, self.path)
                except BaseException:
                    with contextlib.suppress(OSError):
                        os.unlink(scratch)
                    raise
            return True
        except OSError as error:
            self.problem = (f"could not save progress to {self.path} ({error.strerror or error}); "
                            "your notebooks are unaffected.")
            return False

    # --- the changes the workbook makes ---------------------------------------------------

    def record_check(self, kata_id: str, passed: bool) -> bool:
        def edit(entry: dict) -> None:
            stamp = now()
            entry["state"] = "done" if passed else "failing"
            entry["attempts"] = entry.get("attempts", 0) + 1
            entry.setdefault("first_check", stamp)
            entry["last_check"] = stamp

        return self.change(kata_id, edit)

    def record_hint(self, kata_id: str, level: int) -> bool:
        return self.change(kata_id, lambda entry: entry.update(hint=max(entry.get("hint", 0), level)))

    def record_walkthrough(self, kata_id: str) -> bool:
        return self.change(kata_id, lambda entry: entry.update(walkthrough=True))

    def reset(self, kata_id: str) -> bool:
        """The kata is "not started" again; its attempts, times and hints stay as history."""
        return self.change(kata_id, lambda entry: entry.pop("state", None))
