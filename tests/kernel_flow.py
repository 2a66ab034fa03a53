"""A learner's session in a real kernel, driven by nbclient (also `python -m tests.kernel_flow
KATA_ID [NOTEBOOK]`, which prints the session as JSON):

Run All on the notebook (the starter unless NOTEBOOK is given), read the check's results and
the help state; then replace the kata cells by the solution's and run them and everything below
them again, as a learner who fixed the code does; read them again.

The help cells show ipywidgets. nbclient imitates a browser's Output widgets by sending comm
messages to the kernel on the shell channel while it waits for a cell's reply on that same
socket; now and then the reply's wake-up is lost, and the cell "finishes" only when nbclient's
timeout fires (nbclient#312). A browser does not work that way (the browser test clicks the real
widgets), so this client does not imitate Output widgets: what they would show lands in the
cell's outputs instead.
"""

import json
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from kata.manifest import load, lookup
from kata.notebook import tags_of

READ_RESULTS = "import json\nfrom checks.harness import last_results\nprint(json.dumps(last_results()))"
HELP_STATE = ("import json\nfrom kata import help as h\n"
              "print(json.dumps({{'level': h.level({id!r}), 'walkthrough': h.walkthrough_open({id!r})}}))")


def _text(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")


def _probe(client, nb, source: str):
    cell = nbformat.v4.new_code_cell(source)
    nb.cells.append(cell)
    client.execute_cell(cell, len(nb.cells) - 1)
    nb.cells.pop()
    return json.loads(_text(cell).strip().splitlines()[-1])


def _snapshot(client, nb, kata_id: str) -> dict:
    check = next(c for c in nb.cells if "check" in tags_of(c))
    helps = [c for c in nb.cells if {"hint", "walkthrough"} & set(tags_of(c))]
    return {
        "results": _probe(client, nb, READ_RESULTS),
        "help": _probe(client, nb, HELP_STATE.format(id=kata_id)),
        "check_output": _text(check),
        "help_cells_with_output": sum(bool(c.get("outputs")) for c in helps),
        "help_cells": len(helps),
    }


def learner_session(kata_id: str, notebook: Path | None = None, fix: Path | None = None) -> dict:
    """Run All on ``notebook`` (the starter), then the kata cells of ``fix`` (the solution) and
    everything below them, in one kernel."""
    kata = lookup(load(Path(__file__).resolve().parent.parent), kata_id)
    notebook = notebook or kata.notebook
    nb = nbformat.read(notebook, as_version=4)
    solution = nbformat.read(fix or kata.solution, as_version=4)
    # The kernel is killed at the end (with its process group), not asked to shut down: its clean-up
    # and the interpreter's exit cost 0.3 s of CPU a kernel, and nothing here is about them.
    client = NotebookClient(nb, timeout=300, kernel_name="python3", shutdown_kernel="immediate",
                            resources={"metadata": {"path": str(notebook.parent)}})
    client.comm_open_handlers = {}  # no Output widget imitation: see the module's docstring
    with client.setup_kernel():
        # A cell that raises fails the run: setup, evidence, hints and walkthrough must work on both sides.
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)
        before = _snapshot(client, nb, kata.id)
        first = next(i for i, c in enumerate(nb.cells) if "kata" in tags_of(c))
        for index in range(first, len(nb.cells)):
            if "kata" in tags_of(nb.cells[index]):
                nb.cells[index].source = solution.cells[index].source
            client.execute_cell(nb.cells[index], index)
        after = _snapshot(client, nb, kata.id)
    return {"starter": before, "fixed": after}


if __name__ == "__main__":
    print(json.dumps(learner_session(sys.argv[1], Path(sys.argv[2]) if len(sys.argv) > 2 else None)))
