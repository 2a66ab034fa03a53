"""Generate a kata's notebooks from its one source: the starter, the solution and its decoys.

Every notebook is the source's cells in order, with each group of `kata` cells narrowed to one
variant. So starter and solution cannot drift apart: they differ only in their `kata` cells.
The hint and walkthrough cells of the source do not become cells: their texts go into the
notebook's metadata, and one code cell each shows them level by level (see ``kata.help``).
"""

import sys
from pathlib import Path

from kata import KataError
from kata.manifest import Kata
from kata.source import SourceCell, parse

# nbformat validates with jsonschema, which, where rfc3987-syntax is installed (JupyterLab's
# jupyter-events asks for it), builds 39 Lark parsers at import to check the `iri` format: 1.7 s
# in every process that builds or renders a notebook. No notebook schema has an `iri` field.
sys.modules.setdefault("rfc3987_syntax", None)  # jsonschema then goes without that format
import nbformat  # noqa: E402
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook  # noqa: E402

STARTER, SOLUTION = "starter", "solution"
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def select(cells: list[SourceCell], variant: str, origin: Path) -> list[SourceCell]:
    """The cells of one variant; a decoy takes the solution's cell wherever it has none of its own."""
    chosen: list[SourceCell] = []
    group: list[SourceCell] = []

    def close_group() -> None:
        if not group:
            return
        picked = [c for c in group if c.variant == variant]
        if not picked and variant.startswith(("decoy:", "alternative:")):
            picked = [c for c in group if c.variant == SOLUTION]
        if not picked:
            raise KataError(f"{origin}: a group of kata cells has no {variant!r} variant")
        chosen.extend(picked)
        group.clear()

    for cell in cells:
        if cell.variant:
            group.append(cell)
        else:
            close_group()
            chosen.append(cell)
    close_group()
    return chosen


HELP_CELLS = {
    "hint": "from checks import hints\n\nhints({id!r})",
    "walkthrough": "from checks import walkthrough\n\nwalkthrough({id!r})",
}


def _help(cells: list[SourceCell], origin: Path) -> dict:
    """The hint levels and the walkthrough, taken out of the cells into the notebook's metadata."""
    hints = []
    for cell in cells:
        if "hint" in cell.tags:
            first, _, rest = cell.text.partition("\n")
            hints.append({"title": first.lstrip("#").strip(), "text": rest.strip()})
    walkthroughs = [cell.text for cell in cells if "walkthrough" in cell.tags]
    if len(walkthroughs) != 1 or not hints:
        raise KataError(f"{origin}: a kata needs hint cells and exactly one walkthrough cell")
    return {"hints": hints, "walkthrough": walkthroughs[0]}


def notebook(kata: Kata, variant: str) -> nbformat.NotebookNode:
    cells = select(parse(kata.source), variant, kata.source)
    help_texts = _help(cells, kata.source)
    counters: dict[str, int] = {}
    nb_cells = []
    for cell in cells:
        tags = [t for t in cell.tags if t != cell.variant]
        role = tags[0] if tags else "cell"
        if role in HELP_CELLS:
            if counters.get(role):
                continue  # one cell shows every level; the texts are in the metadata
            cell = SourceCell("code", HELP_CELLS[role].format(id=kata.id), [role])
        # Ids follow the role of a cell, so a learner's `kata-1` is still `kata-1` in a new version.
        counters[role] = counters.get(role, 0) + 1
        make = new_markdown_cell if cell.kind == "markdown" else new_code_cell
        metadata = {"tags": tags} if tags else {}
        nb_cells.append(make(cell.text, id=f"{role}-{counters[role]}", metadata=metadata))
    nb = new_notebook(
        cells=nb_cells,
        metadata={
            "kernelspec": KERNELSPEC,
            "language_info": {"name": "python"},
            "kata": {"id": kata.id, "variant": variant, "help": help_texts},
        },
    )
    nbformat.validate(nb)
    return nb


def render(kata: Kata, variant: str) -> str:
    return nbformat.writes(notebook(kata, variant)) + "\n"


def targets(kata: Kata) -> dict[Path, str]:
    return {kata.notebook: STARTER, kata.solution: SOLUTION}


def stale(katas: list[Kata]) -> list[Path]:
    """Committed notebooks that differ from what their source generates now."""
    return [
        path
        for kata in katas
        for path, variant in targets(kata).items()
        if not path.is_file() or path.read_text(encoding="utf-8") != render(kata, variant)
    ]


def build(katas: list[Kata]) -> list[Path]:
    written = []
    for kata in katas:
        for path, variant in targets(kata).items():
            text = render(kata, variant)
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
                written.append(path)
    return written
