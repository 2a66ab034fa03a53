"""Two-sided, in a real Jupyter kernel, the way a learner works: Run All on the starter (the
check fails exactly as declared, each failure's finding on screen, no help opened), then the
kata cells are replaced by the solution and run again with everything below them in the same
kernel (the check passes, and the walkthrough opens by itself). See tests/kernel_flow.py."""

import pytest

from kata.build import render
from tests.conftest import KATAS, kata_params
from tests.kernel_flow import learner_session


@pytest.mark.parametrize("kata", kata_params())
def test_the_starter_fails_as_declared_then_the_fix_passes_in_one_kernel(kata):
    session = learner_session(kata.id)

    starter = session["starter"]
    failed = {r["name"] for r in starter["results"] if r["status"] != "passed"}
    assert failed == set(kata.fails)
    shown = " ".join(starter["check_output"].split())
    for result in starter["results"]:
        if result["status"] != "passed":
            assert result["finding"], f"{result['name']} failed without a finding: {result['message']}"
            assert " ".join(result["finding"]["observed"].split())[:50] in shown, f"{result['name']} is not on screen"
    assert "Traceback" not in shown and "checks/" not in shown and "[asyncio]" not in shown
    assert starter["help_cells"] == starter["help_cells_with_output"] == 2
    assert starter["help"] == {"level": 0, "walkthrough": False}, "Run All opened help nobody asked for"

    fixed = session["fixed"]
    assert fixed["results"] and all(r["status"] == "passed" for r in fixed["results"]), fixed["results"]
    assert f"all {len(fixed['results'])} tests pass" in fixed["check_output"]
    assert fixed["help"]["walkthrough"], "a pass opens the walkthrough"


def test_a_kata_cell_of_statements_only_reaches_the_server(tmp_path):
    """A kata cell that adds a middleware and sets CMD defines no function to find it by: the server
    still runs the app with the middleware (from IPython's record of the cells run)."""
    alternative = tmp_path / "middleware-in-code.ipynb"
    alternative.write_text(render(next(k for k in KATAS if k.id == "behind-a-proxy"), "alternative:middleware-in-code"))
    fixed = learner_session("behind-a-proxy", fix=alternative)["fixed"]
    assert fixed["results"] and all(r["status"] == "passed" for r in fixed["results"]), fixed["results"]
