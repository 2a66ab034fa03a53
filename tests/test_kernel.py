"""Two-sided in a real Jupyter kernel: each notebook runs top to bottom as a learner would run
it (Run All), and its check cell gives the same verdict as the in-process run."""

import json

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import kata_params

READ_RESULTS = "import json\nfrom checks.harness import last_results\nprint(json.dumps(last_results()))"


def run_notebook(path):
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(READ_RESULTS))
    # A cell that raises fails the run: the evidence and setup cells must work on both sides.
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    results = json.loads("".join(o.get("text", "") for o in nb.cells[-1].outputs).strip().splitlines()[-1])
    check_output = next("".join(o.get("text", "") for o in c.outputs) for c in nb.cells if "check" in c.metadata.get("tags", []))
    return results, check_output


@pytest.mark.parametrize("kata", kata_params())
def test_starter_fails_as_declared_in_a_kernel(kata):
    results, output = run_notebook(kata.notebook)
    failed = {r["name"] for r in results if r["status"] != "passed"}
    assert failed == set(kata.fails)
    for result in results:
        if result["status"] != "passed":
            teaching = result["message"].split(": ", 1)[-1].splitlines()[0]
            assert teaching[:60] in output, f"the notebook does not show {result['name']}'s message"


@pytest.mark.parametrize("kata", kata_params())
def test_solution_passes_in_a_kernel(kata):
    results, output = run_notebook(kata.solution)
    assert results and all(r["status"] == "passed" for r in results), results
    assert f"{len(results)} passed" in output
