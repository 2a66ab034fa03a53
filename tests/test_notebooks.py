"""The committed notebooks are what their sources generate, and each has the kata anatomy."""

import json

import pytest

from kata.build import render, stale
from kata.notebook import source_of, tags_of
from tests.conftest import KATAS, kata_params


def test_committed_notebooks_are_up_to_date():
    outdated = stale(KATAS)
    assert not outdated, f"stale notebooks, run `kata build`: {[str(p) for p in outdated]}"


def _cells(path):
    return json.loads(path.read_text())["cells"]


@pytest.mark.parametrize("kata", kata_params())
def test_starter_and_solution_differ_only_in_kata_cells(kata):
    starter, solution = _cells(kata.notebook), _cells(kata.solution)
    assert [c["id"] for c in starter] == [c["id"] for c in solution]
    differing = [s["id"] for s, f in zip(starter, solution) if s != f]
    assert differing and all("kata" in tags_of(c) for c in starter if c["id"] in differing)


@pytest.mark.parametrize("kata", kata_params())
def test_notebook_anatomy(kata):
    cells = _cells(kata.notebook)
    by_tag = lambda tag: [c for c in cells if tag in tags_of(c)]  # noqa: E731
    assert len(by_tag("setup")) == 1 and len(by_tag("evidence")) >= 1 and len(by_tag("kata")) >= 1
    (check,) = by_tag("check")
    (hint,) = by_tag("hint")
    (walkthrough,) = by_tag("walkthrough")
    assert source_of(hint).endswith(f"hints({kata.id!r})") and source_of(walkthrough).endswith(f"walkthrough({kata.id!r})")
    assert cells.index(check) < cells.index(hint) < cells.index(walkthrough), "help comes after the check"
    help_texts = json.loads(kata.notebook.read_text())["metadata"]["kata"]["help"]
    assert [h["title"].split(":")[0] for h in help_texts["hints"]] == ["Hint 1", "Hint 2", "Hint 3"]
    assert "What to remember" in help_texts["walkthrough"]
    visible = "".join(source_of(c) for c in cells)
    assert "What to remember" not in visible and help_texts["hints"][0]["text"][:40] not in visible, (
        "help is in the metadata, not in cells a learner sees before asking")
    assert source_of(check).splitlines()[:2] == ["%%ipytest", f"from {kata.check} import *"]
    assert cells[0]["cell_type"] == "markdown" and source_of(cells[0]).startswith("# ")
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in cells if c["cell_type"] == "code")


@pytest.mark.parametrize("kata", kata_params())
def test_decoys_and_alternatives_build_and_differ_from_the_solution(kata):
    solution = render(kata, "solution")
    for variant in [f"decoy:{d.name}" for d in kata.decoys] + [f"alternative:{a}" for a in kata.alternatives]:
        assert render(kata, variant) != solution, f"{variant} has no cell of its own"
