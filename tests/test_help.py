"""Help and progress in a learner's kernel, in a copy of the workbook: Run All opens nothing and
marks nothing; the hint button opens one level at a time and records it, and `kata hint`
continues from there; a check on changed code counts as an attempt; a pass opens the walkthrough."""

import json

import nbformat
from nbclient import NotebookClient

from kata.notebook import tags_of
from tests.conftest import KATAS, kata, learner_notebook

FIRST = KATAS[0]


def _progress(book) -> dict:
    path = book / ".kata" / "progress.json"
    return json.loads(path.read_text())["katas"].get(FIRST.id, {}) if path.exists() else {}


def _run(client, nb, source: str) -> None:
    cell = nbformat.v4.new_code_cell(source)
    nb.cells.append(cell)
    client.execute_cell(cell, len(nb.cells) - 1)
    nb.cells.pop()


def test_help_and_marks_in_a_learners_kernel(book, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(book))  # the kernel runs this copy's harness
    path = learner_notebook(book)
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)
        assert _progress(book) == {}, "Run All of the untouched starter marks nothing and opens no help"

        _run(client, nb, f"from kata.widgets import _hint_buttons\n_hint_buttons[{FIRST.id!r}].click()")
        assert _progress(book) == {"hint": 1}
        assert "Hint 2: the concept" in kata(book, "hint", "1", check=0).stdout.splitlines()[0]

        first = next(i for i, c in enumerate(nb.cells) if "kata" in tags_of(c))
        nb.cells[first].source += "\n# my first idea"
        check = next(i for i, c in enumerate(nb.cells) if "check" in tags_of(c))
        for index in range(first, check + 1):
            client.execute_cell(nb.cells[index], index)
        entry = _progress(book)
        assert entry["state"] == "failing" and entry["attempts"] == 1 and entry["hint"] == 2
        shown = "".join(o.get("text", "") for o in nb.cells[check].outputs)
        assert "Hint 2: " in shown, "the findings show the help for the level the learner opened"
