"""Read a kata's authored source: a py:percent file in which every cell starts with `# %%`.

    # %% [markdown] tags=["hint"]      a markdown cell; its lines are written as `# ` comments
    # %% tags=["kata", "starter"]      a code cell; its lines are taken as they are

The `kata` cells come in variants, told apart by a second tag: `starter` (the anti-pattern),
`solution` (the fix), `decoy:<name>` (a plausible wrong fix that the check must reject) and
`alternative:<name>` (a right fix written another way, which the check must accept). A decoy or
an alternative takes the solution's cell wherever it has none of its own.
"""

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from kata import KataError

HEADER = re.compile(r"^# %%(?P<markdown> \[markdown\])?(?: tags=(?P<tags>\[.*\]))?\s*$")


@dataclass
class SourceCell:
    kind: str  # "markdown" or "code"
    text: str
    tags: list[str] = field(default_factory=list)

    @property
    def variant(self) -> str | None:
        """Which notebook this cell belongs to: starter, solution, decoy:<name>, or all (None)."""
        found = [t for t in self.tags if t in ("starter", "solution") or t.startswith(("decoy:", "alternative:"))]
        return found[0] if found else None


def _markdown(lines: list[str]) -> list[str]:
    return [line[2:] if line.startswith("# ") else line.removeprefix("#") for line in lines]


def _trim(lines: list[str]) -> str:
    return "\n".join(lines).strip("\n")


def parse(path: Path) -> list[SourceCell]:
    cells: list[SourceCell] = []
    current: SourceCell | None = None
    body: list[str] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        header = HEADER.match(line) if line.startswith("# %%") else None
        if line.startswith("# %%") and header is None:
            raise KataError(f"{path}:{number}: cannot read the cell header {line!r}")
        if header:
            if current:
                current.text = _trim(_markdown(body) if current.kind == "markdown" else body)
                cells.append(current)
            tags = json.loads(header["tags"]) if header["tags"] else []
            current, body = SourceCell("markdown" if header["markdown"] else "code", "", tags), []
        elif current is None:
            if line.strip():
                raise KataError(f"{path}:{number}: text before the first `# %%` cell header")
        else:
            body.append(line)
    if current:
        current.text = _trim(_markdown(body) if current.kind == "markdown" else body)
        cells.append(current)
    return cells
