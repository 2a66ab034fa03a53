"""`kata edition student DIR`: a copy of the workbook to hand out, without the answers.

What a learner needs is copied: the manifest, the starters, the checks, the shop, the harness,
the data, the tracks, the README and the tools to install it. What gives the fixes away is not:
`solutions/`, `sources/` (each holds the solution and the decoys), and the workbook's own tests
and benchmarks that read them. With ``hold`` the walkthroughs' text is taken out of the chosen
notebooks too, and `edition.toml` lists them as held (see kata.held); a teacher reveals them from
the room. With ``track`` the edition follows that track (`kata list` shows it; kata numbers stay).
"""

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

from kata import KataError
from kata.held import EDITION
from kata.manifest import Kata

# Never copied: the answers, the authors' and the machine's own files.
LEFT_OUT = {".git", ".venv", "workspace", ".kata", "artifacts", "solutions", "sources", "tests", "bench", ".ci",
            "__pycache__", "build", ".ipynb_checkpoints", ".pytest_cache", "room-data"}


def _ignore(folder: str, names: list[str]) -> set[str]:
    return {n for n in names if n in LEFT_OUT or n.endswith(".egg-info")}


def _strip_walkthrough(notebook: Path) -> None:
    document = json.loads(notebook.read_text(encoding="utf-8"))
    help_ = document.get("metadata", {}).get("kata", {}).get("help")
    if isinstance(help_, dict):
        help_["walkthrough"] = ""
        help_["held"] = True
    notebook.write_text(json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")


def _toml_list(items: list[str]) -> str:
    return "[" + ", ".join(json.dumps(i) for i in items) + "]"


def write_student_edition(root: Path, target: Path, katas: list[Kata], *, hold: list[Kata] = (),
                          track: str | None = None) -> list[Path]:
    """Write the edition into ``target`` (new or empty); returns the notebooks whose walkthrough was held."""
    target = Path(target).resolve()
    if target.exists() and any(target.iterdir()):
        raise KataError(f"{target} is not empty. Name a new folder for the edition.")
    if target.is_relative_to(root.resolve()) and target != root.resolve():
        first = target.relative_to(root.resolve()).parts[0]
        if first not in LEFT_OUT:
            raise KataError(f"{target} is inside the workbook; write the edition somewhere else (or under build/).")
    try:
        shutil.copytree(root, target, ignore=_ignore, dirs_exist_ok=True, symlinks=True)
    except OSError as error:
        raise KataError(f"Cannot write the edition to {target} ({error}).") from None
    stripped = []
    for kata in hold:
        notebook = target / kata.notebook.relative_to(root)
        _strip_walkthrough(notebook)
        stripped.append(notebook)
    lines = ["# This copy of the workbook is an edition made for handing out (`kata edition`).",
             'kind = "student"',
             f'made = "{datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}"']
    if track:
        lines.append(f'track = "{track}"')
    lines.append(f"held = {_toml_list([k.id for k in hold])}  # walkthroughs the teacher reveals from the room")
    (target / EDITION).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return stripped
