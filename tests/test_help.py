"""Help and progress in a learner's kernel, in a copy of the workbook: Run All opens nothing and
marks nothing; the hint button opens one level at a time and records it, and `kata hint`
continues from there; a check on changed code counts as an attempt, and its findings show the
help of the level the learner opened. The kernel's client runs in a process of its own (see
tests/kernel_flow.py for why)."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import KATAS, kata, learner_notebook

FIRST = KATAS[0]

SESSION = """
import json, subprocess, sys
from pathlib import Path
import nbformat
from nbclient import NotebookClient
from kata.notebook import tags_of

book, path, kata_id = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
progress = book / ".kata" / "progress.json"
marks = lambda: json.loads(progress.read_text())["katas"].get(kata_id, {}) if progress.exists() else {}
report = {}
nb = nbformat.read(path, as_version=4)
client = NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
client.comm_open_handlers = {}  # no Output widget imitation: see tests/kernel_flow.py


def run(source):
    cell = nbformat.v4.new_code_cell(source)
    nb.cells.append(cell)
    client.execute_cell(cell, len(nb.cells) - 1)
    nb.cells.pop()


with client.setup_kernel():
    for index, cell in enumerate(nb.cells):
        client.execute_cell(cell, index)
    report["after_run_all"] = marks()
    run(f"from kata.widgets import _hint_buttons\\n_hint_buttons[{kata_id!r}].click()")
    report["after_the_button"] = marks()
    hint = subprocess.run([sys.executable, "-m", "kata.cli", "hint", "1"], cwd=book, capture_output=True, text=True)
    report["terminal_hint"] = hint.stdout.splitlines()[0]
    first = next(i for i, c in enumerate(nb.cells) if "kata" in tags_of(c))
    nb.cells[first].source += "\\n# my first idea"
    check = next(i for i, c in enumerate(nb.cells) if "check" in tags_of(c))
    for index in range(first, check + 1):
        client.execute_cell(nb.cells[index], index)
    report["after_a_changed_check"] = marks()
    report["check_output"] = "".join(o.get("text", "") for o in nb.cells[check].outputs)
print(json.dumps(report))
"""


@pytest.mark.long
def test_help_and_marks_in_a_learners_kernel(book):
    path = learner_notebook(book)
    env = {"PYTHONPATH": str(book)}  # the kernel runs this copy's harness, so marks go to this copy
    done = subprocess.run([sys.executable, "-c", SESSION, str(book), str(path), FIRST.id], cwd=book, capture_output=True,
                          text=True, timeout=900, env={**os.environ, **env})
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["after_run_all"] == {}, "Run All of the untouched starter marks nothing and opens no help"
    assert report["after_the_button"] == {"hint": 1}
    assert "Hint 2: the concept" in report["terminal_hint"], "the terminal continues from the notebook's level"
    entry = report["after_a_changed_check"]
    assert entry["state"] == "failing" and entry["attempts"] == 1 and entry["hint"] == 2
    assert "Hint 2: " in report["check_output"], "the findings show the help for the level the learner opened"
    assert kata(book, "list", "--json", check=0).stdout  # the marks the kernel wrote read cleanly
