"""Refresh a learner's notebook from a new version of its starter, cell by cell, losing nothing.

Three versions take part, cells matched by id: ``base`` (the starter the learner's copy was made
from), ``upstream`` (the starter now) and ``mine`` (the learner's copy). The rules:

- Cells tagged ``kata`` belong to the learner: their version stays. Where the learner never
  touched one and the starter changed it, the new starter comes in. Where both changed it, the
  learner's stays and the clash is reported.
- Every other cell belongs to the workbook (prose, setup, evidence, check, hints): the new
  version comes in. A learner's edit to one is reported, and lives on in the backup taken first.
- Cells the learner added stay, after the cell they followed.
"""

from dataclasses import dataclass

from kata.notebook import source_of, tags_of


def _role(cell: dict) -> str:
    tags = tags_of(cell)
    return f"the `{tags[0]}` cell" if tags else f"a {cell.get('cell_type', 'code')} cell"


@dataclass
class Refresh:
    cells: list[dict]
    notes: list[str]  # what the learner should know: clashes, restored cells
    changed: bool


def refresh(base: list[dict], upstream: list[dict], mine: list[dict]) -> Refresh:
    base_by = {c.get("id"): c for c in base}
    mine_by = {c.get("id"): c for c in mine}
    upstream_ids = {c.get("id") for c in upstream}
    notes: list[str] = []
    merged: list[dict] = []
    for new in upstream:
        cell_id = new.get("id")
        old, own = base_by.get(cell_id), mine_by.get(cell_id)
        if own is None:
            if old is not None:
                notes.append(f"{cell_id} ({_role(new)}) was missing from your notebook: restored it.")
            merged.append(new)
        elif "kata" in tags_of(new):
            untouched = old is not None and source_of(own) == source_of(old)
            if untouched:
                merged.append(own if source_of(own) == source_of(new) else new)
            else:
                if old is not None and source_of(old) != source_of(new):
                    notes.append(
                        f"{cell_id} (your code): the starter of this cell changed in this version, and you "
                        "had edited it. Kept yours; `kata reset` would give you the new starter."
                    )
                merged.append(own)
        else:
            if source_of(own) == source_of(new):
                merged.append(own)  # unchanged: keep its outputs
            else:
                if old is None or source_of(own) != source_of(old):
                    notes.append(
                        f"{cell_id} ({_role(new)}) belongs to the workbook and you had edited it: replaced it "
                        "with the current version. Your edit is in the backup."
                    )
                merged.append(new)
    for cell in mine:
        cell_id = cell.get("id")
        old = base_by.get(cell_id)
        if cell_id not in upstream_ids and old is not None and source_of(cell) != source_of(old):
            notes.append(f"{cell_id} ({_role(cell)}) is gone from this version, but you had edited it: kept it.")
    dropped = {i for i, c in base_by.items() if i not in upstream_ids and source_of(mine_by.get(i, c)) == source_of(c)}
    _keep_added_cells(mine, merged, skip=dropped)
    return Refresh(merged, notes, merged != mine)


def _keep_added_cells(mine: list[dict], merged: list[dict], skip: set) -> None:
    """Insert the learner's cells that ``merged`` lacks after the cell they followed in ``mine``."""
    present = {c.get("id") for c in merged}
    anchor = None  # id of the last cell of `mine` that is also in `merged`
    inserted_after: dict = {}
    for cell in mine:
        cell_id = cell.get("id")
        if cell_id in present:
            anchor = cell_id
            continue
        if cell_id in skip:
            continue
        position = next((i for i, c in enumerate(merged) if c.get("id") == anchor), -1) if anchor else -1
        position += 1 + inserted_after.get(anchor, 0)
        merged.insert(position, cell)
        inserted_after[anchor] = inserted_after.get(anchor, 0) + 1
