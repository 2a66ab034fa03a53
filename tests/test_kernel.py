"""Two-sided, in a real Jupyter kernel, the way a learner works: Run All on the starter (the
check fails exactly as declared, each failure's finding on screen, no help opened), then the
kata cells are replaced by the solution and run again with everything below them in the same
kernel (the check passes, and the walkthrough opens by itself)."""

import json

import nbformat
import pytest
from nbclient import NotebookClient

from kata.notebook import tags_of
from tests.conftest import kata_params

READ_RESULTS = "import json\nfrom checks.harness import last_results\nprint(json.dumps(last_results()))"
HELP_STATE = ("import json\nfrom kata import help as h\n"
              "print(json.dumps({'level': h.level({id!r}), 'walkthrough': h.walkthrough_open({id!r})}))")


def _text(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")


def _probe(client, nb, source: str):
    cell = nbformat.v4.new_code_cell(source)
    nb.cells.append(cell)
    client.execute_cell(cell, len(nb.cells) - 1)
    nb.cells.pop()
    return json.loads(_text(cell).strip().splitlines()[-1])


@pytest.mark.parametrize("kata", kata_params())
def test_the_starter_fails_as_declared_then_the_fix_passes_in_one_kernel(kata):
    nb = nbformat.read(kata.notebook, as_version=4)
    solution = nbformat.read(kata.solution, as_version=4)
    client = NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(kata.notebook.parent)}})
    with client.setup_kernel():
        # A cell that raises fails the run: setup, evidence, hints and walkthrough must work on both sides.
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)
        results = _probe(client, nb, READ_RESULTS)
        failed = {r["name"] for r in results if r["status"] != "passed"}
        assert failed == set(kata.fails)
        check = next(c for c in nb.cells if "check" in tags_of(c))
        shown = _text(check)
        for result in results:
            if result["status"] != "passed":
                assert result["finding"], f"{result['name']} failed without a finding: {result['message']}"
                assert result["finding"]["observed"][:50] in " ".join(shown.split()), f"{result['name']} is not on screen"
        assert "Traceback" not in shown and "checks/" not in shown and "[asyncio]" not in shown
        help_cells = [c for c in nb.cells if {"hint", "walkthrough"} & set(tags_of(c))]
        assert len(help_cells) == 2 and all(c.outputs for c in help_cells)
        state = _probe(client, nb, HELP_STATE.replace("{id!r}", repr(kata.id)))
        assert state == {"level": 0, "walkthrough": False}, "Run All opened help nobody asked for"

        first = next(i for i, c in enumerate(nb.cells) if "kata" in tags_of(c))
        for index in range(first, len(nb.cells)):
            if "kata" in tags_of(nb.cells[index]):
                nb.cells[index].source = solution.cells[index].source
            client.execute_cell(nb.cells[index], index)
        results = _probe(client, nb, READ_RESULTS)
        assert results and all(r["status"] == "passed" for r in results), results
        assert f"all {len(results)} tests pass" in _text(next(c for c in nb.cells if "check" in tags_of(c)))
        assert _probe(client, nb, HELP_STATE.replace("{id!r}", repr(kata.id)))["walkthrough"], "a pass opens the walkthrough"
