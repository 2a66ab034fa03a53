"""Run a learner's notebook without a kernel: its code cells, in order, as one Python module.

Cells tagged `setup` (kernel configuration), `evidence` (demonstrations) and `check` (the
ipytest cell) are left out: the check is run by the caller, the others only show things.
"""

import json
import traceback
import types
from dataclasses import dataclass
from pathlib import Path

from kata import KataError, report_phase

SKIPPED_TAGS = {"setup", "evidence", "check"}


def source_of(cell: dict) -> str:
    """A notebook cell's source as one string (files store it as a string or a list of lines)."""
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def tags_of(cell: dict) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


@dataclass(frozen=True)
class Cell:
    number: int  # 1-based position in the notebook, as the learner counts cells
    kind: str
    source: str
    tags: tuple[str, ...]

    @property
    def where(self) -> str:
        role = f" (the `{self.tags[0]}` cell)" if self.tags else ""
        return f"cell {self.number}{role}"


def read_cells(path: Path, *, next_step: str) -> list[Cell]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        cells = document["cells"]
        return [
            Cell(
                number,
                cell["cell_type"],
                source_of(cell),
                tuple(tags_of(cell)),
            )
            for number, cell in enumerate(cells, start=1)
        ]
    except FileNotFoundError:
        raise KataError(f"{path} does not exist. {next_step}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise KataError(f"{path} is not a readable notebook ({error}). {next_step}") from None
    except (KeyError, TypeError, AttributeError):
        raise KataError(f"{path} is JSON but not a Jupyter notebook. {next_step}") from None


def _magic_line(source: str) -> int | None:
    for lineno, line in enumerate(source.splitlines(), start=1):
        if line.lstrip().startswith(("%", "!")):
            return lineno
    return None


def load_module(path: Path, name: str, *, next_step: str) -> types.ModuleType:
    """Execute the notebook's code cells into a fresh module named ``name``."""
    module = types.ModuleType(name)
    module.__file__ = str(path)
    for cell in read_cells(path, next_step=next_step):
        if cell.kind != "code" or SKIPPED_TAGS.intersection(cell.tags):
            continue
        where = f"{path}, {cell.where}"
        report_phase(where)
        magic = _magic_line(cell.source)
        if magic:
            raise KataError(
                f"{where}, line {magic}: IPython magics and shell commands (`%`, `!`) only work in "
                f"Jupyter. Move that line out of the cell, then {next_step}"
            )
        try:
            code = compile(cell.source, f"<{path.name} {cell.where}>", "exec")
        except SyntaxError as error:
            raise KataError(f"{where}, line {error.lineno}: {error.msg}. Fix it, then {next_step}") from None
        try:
            exec(code, vars(module))
        except Exception as error:
            frames = traceback.extract_tb(error.__traceback__)[1:]  # drop this function's frame
            trace = "".join(traceback.format_list(frames)) + f"{type(error).__name__}: {error}"
            raise KataError(f"{where} raised an error when run:\n{trace}\nFix it, then {next_step}") from None
    return module
