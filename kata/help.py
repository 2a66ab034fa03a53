"""A kata's help, in the levels the learner climbs on purpose: three hints (a nudge, the concept,
a sketch), then the walkthrough (the fix step by step, the tempting wrong fixes, what to remember).

The texts are built into the starter notebook's metadata (``kata.help``), not into its cells, so
nothing of them shows until asked for. The level reached is recorded in the learner's progress
when the notebook is one of the learner's copies in ``workspace/``, and kept in memory otherwise
(a starter opened straight from ``notebooks/``, the workbook's own tests), so the notebook and
``kata hint`` share one level.
"""

import json
from dataclasses import dataclass
from pathlib import Path

from kata.manifest import Kata, load
from kata.notebook import source_of
from kata.progress import Progress
from kata.workspace import STATE, Workspace

# Levels opened in this process for notebooks outside the workspace: {kata id: level}, and the
# katas whose walkthrough was opened or whose check passed here.
_levels: dict[str, int] = {}
_walkthroughs: set[str] = set()
_passed: set[str] = set()


@dataclass(frozen=True)
class Help:
    hints: list[tuple[str, str]]  # (title, markdown) per level
    walkthrough: str  # markdown


def root() -> Path:
    """The workbook these checks belong to (not the current folder, which may be anywhere)."""
    return Path(__file__).resolve().parent.parent


def help_for(kata: Kata) -> Help:
    try:
        document = json.loads(kata.notebook.read_text(encoding="utf-8"))
        data = document["metadata"]["kata"]["help"]
        walkthrough = data["walkthrough"]
        if not walkthrough and data.get("held"):  # held back by the teacher: see kata.held
            from kata.held import revealed_text

            walkthrough = revealed_text(root(), kata.id) or ""
        return Help([(h["title"], h["text"]) for h in data["hints"]], walkthrough)
    except (OSError, ValueError, KeyError, TypeError):
        return Help([], "")


def kata_by_id(kata_id: str) -> Kata:
    return next(k for k in load(root()) if k.id == kata_id)


def kata_by_check(module: str) -> Kata | None:
    return next((k for k in load(root()) if k.check == module), None)


def _progress() -> Progress | None:
    """The learner's marks, when this process works on the learner's copies."""
    workspace = Workspace(root())
    try:
        inside = Path.cwd().resolve().is_relative_to(workspace.folder.resolve())
    except OSError:
        inside = False
    return Progress(root() / STATE / "progress.json") if inside else None


def level(kata_id: str, progress: Progress | None = None) -> int:
    progress = progress or _progress()
    return max(_levels.get(kata_id, 0), progress.hint(kata_id) if progress else 0)


def open_hint(kata_id: str, wanted: int, progress: Progress | None = None) -> int:
    """Open hint level ``wanted`` (never more than one past the level reached); returns the level."""
    progress = progress or _progress()
    reached = min(max(level(kata_id, progress), wanted), level(kata_id, progress) + 1)
    _levels[kata_id] = reached
    if progress:
        progress.record_hint(kata_id, reached)
        from kata.room.client import record_event

        record_event(root(), kata_id, "hint", progress.entry(kata_id))
    return reached


def walkthrough_open(kata_id: str, progress: Progress | None = None) -> bool:
    """Shown when asked for, or once the learner's check passed."""
    progress = progress or _progress()
    from kata.held import is_held

    if is_held(root(), kata_id):  # not until the teacher reveals it
        return False
    if kata_id in _walkthroughs or kata_id in _passed:
        return True
    return bool(progress and (progress.entry(kata_id).get("walkthrough") or progress.state(kata_id) == "done"))


def open_walkthrough(kata_id: str, progress: Progress | None = None) -> None:
    progress = progress or _progress()
    _walkthroughs.add(kata_id)
    if progress:
        progress.record_walkthrough(kata_id)
        from kata.room.client import record_event

        record_event(root(), kata_id, "walkthrough", progress.entry(kata_id))


def checked_in_notebook(kata_id: str, passed: bool) -> None:
    """A check cell ran in this kernel: mark the learner's progress, open the walkthrough on a pass."""
    if passed:
        _passed.add(kata_id)
    progress = _progress()
    if progress is not None and not _only_the_starter_ran(kata_id):
        progress.record_check(kata_id, passed)
        from checks.harness import last_results
        from kata.room.client import record_event

        record_event(root(), kata_id, "check", progress.entry(kata_id), last_results())
    from kata.widgets import check_finished  # only a kernel gets here; widgets need one

    check_finished(kata_id, passed)


def _only_the_starter_ran(kata_id: str) -> bool:
    """Whether every cell this kernel ran is a cell of the starter as shipped: then the learner has
    not tried anything yet, and the kata stays "not started" whatever the check said."""
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None:
        return False
    kata = kata_by_id(kata_id)
    try:
        cells = json.loads(kata.notebook.read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError):
        return False
    shipped = {source_of(cell).strip() for cell in cells if cell.get("cell_type") == "code"}
    ran = [text.strip() for text in shell.history_manager.input_hist_raw if text.strip()]
    return all(text in shipped for text in ran)
