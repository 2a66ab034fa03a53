"""Read a learner's notebook whatever state it is in, and run it without a kernel.

Reading never raises anything but ``KataError`` with a message that names the file and the next
command: a folder or an unreadable file where the notebook should be, JSON that is not a
notebook, a ``source`` of null, tags written as a string. Cells are matched to the starter's by
id, and where ids are missing (an older notebook format) or repeated, by their contents, so no
cell the learner has is ever taken for another or lost.

Running executes the code cells in order as one module, as a kernel would: top-level ``await``
works, ``display()`` prints, and a cell that exits or raises is named. Cells tagged ``setup``
(kernel configuration), ``evidence`` (demonstrations), ``check`` (the ipytest cell), ``hint`` and
``walkthrough`` (help) are left out: the check is run by the caller, the others only show things.
"""

import ast
import inspect
import json
import linecache
import traceback
import types
from dataclasses import dataclass
from pathlib import Path

from kata import KataError, report_phase

SKIPPED_TAGS = {"setup", "evidence", "check", "hint", "walkthrough"}


def source_of(cell: dict) -> str:
    """A cell's source as one string (files store a string, a list of lines, or even null)."""
    source = cell.get("source") if isinstance(cell, dict) else None
    if isinstance(source, list):
        return "".join(part for part in source if isinstance(part, str))
    return source if isinstance(source, str) else ""


def tags_of(cell: dict) -> list[str]:
    metadata = cell.get("metadata") if isinstance(cell, dict) else None
    tags = metadata.get("tags") if isinstance(metadata, dict) else None
    if isinstance(tags, str):
        return [tags]
    return [tag for tag in tags if isinstance(tag, str)] if isinstance(tags, list) else []


def role_of(cell: dict) -> str:
    tags = tags_of(cell)
    return f"the `{tags[0]}` cell" if tags else f"a {cell.get('cell_type', 'code')} cell"


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


def read_notebook(path: Path, *, next_step: str) -> dict:
    """The notebook at ``path`` as a dict whose ``cells`` is a list of dicts."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KataError(f"{path} does not exist. {next_step}") from None
    except IsADirectoryError:
        raise KataError(f"{path} is a folder, not a notebook. Move it away, then {next_step}") from None
    except UnicodeDecodeError as error:
        raise KataError(f"{path} is not a readable notebook ({error.reason}). {next_step}") from None
    except OSError as error:
        raise KataError(f"{path} cannot be read ({error.strerror or error}). {next_step}") from None
    try:
        document = json.loads(text)
    except ValueError as error:
        raise KataError(f"{path} is not a readable notebook ({error}). {next_step}") from None
    cells = document.get("cells") if isinstance(document, dict) else None
    if not isinstance(cells, list):
        raise KataError(f"{path} is JSON but not a Jupyter notebook (it has no list of cells). {next_step}")
    document["cells"] = [cell for cell in cells if isinstance(cell, dict)]
    if not isinstance(document.get("metadata"), dict):
        document["metadata"] = {}
    return document


def read_cells(path: Path, *, next_step: str) -> list[Cell]:
    return [
        Cell(number, str(cell.get("cell_type", "raw")), source_of(cell), tuple(tags_of(cell)))
        for number, cell in enumerate(read_notebook(path, next_step=next_step)["cells"], start=1)
    ]


# --- which of the learner's cells is which of the starter's -----------------------------------


def identify(cells: list[dict], reference: list[dict]) -> list[str | None]:
    """For each of ``cells``, the id of the ``reference`` cell it is, or None for a cell of its
    own. By id first (the first of repeated ids only); cells without a usable id are matched by
    identical source, then tagged cells by their order among cells with the same first tag."""
    ids = [cell.get("id") if isinstance(cell.get("id"), str) else None for cell in reference]
    known = set(ids) - {None}
    result: list[str | None] = [None] * len(cells)
    taken: set[str] = set()
    for index, cell in enumerate(cells):
        cell_id = cell.get("id")
        if isinstance(cell_id, str) and cell_id in known and cell_id not in taken:
            result[index] = cell_id
            taken.add(cell_id)
    unmatched = [i for i, cell in enumerate(cells) if result[i] is None and not _own_id(cell, known)]
    for index in unmatched:
        for ref_id, ref in zip(ids, reference):
            if ref_id and ref_id not in taken and source_of(ref) == source_of(cells[index]):
                result[index] = ref_id
                taken.add(ref_id)
                break
    for index in unmatched:
        if result[index] is not None or not tags_of(cells[index]):
            continue
        role = tags_of(cells[index])[0]
        for ref_id, ref in zip(ids, reference):
            if ref_id and ref_id not in taken and tags_of(ref)[:1] == [role]:
                result[index] = ref_id
                taken.add(ref_id)
                break
    return result


def _own_id(cell: dict, known: set) -> bool:
    """A cell with an id the starter never had: a cell the learner added."""
    cell_id = cell.get("id")
    return isinstance(cell_id, str) and bool(cell_id) and cell_id not in known


def with_ids(cells: list[dict], reference: list[dict]) -> list[dict]:
    """Copies of ``cells``, each with the id of the reference cell it is, or a unique id of its own."""
    matched = identify(cells, reference)
    used = {cell_id for cell_id in matched if cell_id}
    out = []
    for number, (cell, cell_id) in enumerate(zip(cells, matched), start=1):
        if cell_id is None:
            own = cell.get("id")
            cell_id = own if isinstance(own, str) and own and own not in used else f"own-{number}"
            while cell_id in used:
                cell_id += "-x"
        used.add(cell_id)
        out.append({**cell, "id": cell_id})
    return out


# --- running the cells --------------------------------------------------------------------------


def _magic_line(source: str) -> int | None:
    for lineno, line in enumerate(source.splitlines(), start=1):
        if line.lstrip().startswith(("%", "!")):
            return lineno
    return None


def display(*objects, **_options) -> None:
    """What ``display()`` does outside a kernel: print each object's text form."""
    for value in objects:
        print(repr(value))


def _run(code: types.CodeType, namespace: dict, loop: list) -> None:
    if code.co_flags & inspect.CO_COROUTINE:  # the cell awaits at top level, as Jupyter allows
        if not loop:
            import asyncio

            loop.append(asyncio.Runner())
        loop[0].run(eval(code, namespace))
    else:
        exec(code, namespace)


def _exit_message(error: BaseException) -> str:
    if isinstance(error, SystemExit):
        return (f"ends the Python process (SystemExit{f': {error.code}' if error.code not in (None, '') else ''}, "
                "from sys.exit(), exit() or quit()). A kata cell must let the notebook go on; "
                "in Jupyter, Run All stops at that cell too.")
    return (f"raised {type(error).__name__}, which stops a program instead of reporting an error. "
            "A kata cell must let the notebook go on.")


def load_module(path: Path, name: str, *, next_step: str, skip: set[str] = SKIPPED_TAGS) -> types.ModuleType:
    """Execute the notebook's code cells, but those tagged with one of ``skip``, into a fresh
    module named ``name``."""
    module = types.ModuleType(name)
    module.__file__ = str(path)
    module.display = display
    module.In = [""]  # the cells run, in order, as IPython keeps them (a statement leaves no code behind)
    loop: list = []  # the event loop top-level awaits run on, made when a cell first needs it
    try:
        for cell in read_cells(path, next_step=next_step):
            if cell.kind != "code" or skip.intersection(cell.tags):
                continue
            where = f"{path}, {cell.where}"
            report_phase(where)
            magic = _magic_line(cell.source)
            if magic:
                raise KataError(
                    f"{where}, line {magic}: IPython magics and shell commands (`%`, `!`) only work in "
                    f"Jupyter. Move that line out of the cell, then {next_step}"
                )
            filename = f"<{path.name} {cell.where}>"
            # As IPython does: a cell's source stays readable from its code (tracebacks, and the
            # checks that run a learner's own tests again, elsewhere).
            linecache.cache[filename] = (len(cell.source), None, cell.source.splitlines(True), filename)
            try:
                code = compile(cell.source, filename, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
            except (SyntaxError, ValueError) as error:
                line = f", line {error.lineno}" if getattr(error, "lineno", None) else ""
                reason = getattr(error, "msg", None) or str(error)
                raise KataError(f"{where}{line}: {reason}. Fix it, then {next_step}") from None
            module.In.append(cell.source)
            try:
                _run(code, vars(module), loop)
            except Exception as error:
                frames = traceback.extract_tb(error.__traceback__)
                # From the cell's own frame on: this module's and asyncio's frames say nothing.
                first = next((i for i, f in enumerate(frames) if f.filename == code.co_filename), 0)
                frames = frames[first:]
                trace = "".join(traceback.format_list(frames)) + f"{type(error).__name__}: {error}"
                raise KataError(f"{where} raised an error when run:\n{trace}\nFix it, then {next_step}") from None
            except BaseException as error:  # SystemExit, KeyboardInterrupt: never a silent pass
                raise KataError(f"{where} {_exit_message(error)} Remove that, save, then {next_step}") from None
    finally:
        if loop:
            loop[0].close()
    return module
