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
    assert len(by_tag("hint")) >= 2, "at least two hint levels"
    (check,) = by_tag("check")
    assert source_of(check).splitlines()[:2] == ["%%ipytest", f"from {kata.check} import *"]
    assert cells[0]["cell_type"] == "markdown" and source_of(cells[0]).startswith("# ")
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in cells if c["cell_type"] == "code")


@pytest.mark.parametrize("kata", kata_params())
def test_decoys_build_and_differ_from_the_solution(kata):
    solution = render(kata, "solution")
    for decoy in kata.decoys:
        assert render(kata, f"decoy:{decoy.name}") != solution
