"""The auth & security katas: each check is a set of attacks. Here every attack runs against its
kata's solution, which must withstand all of them (the two-sided tests show each starter falls to
its declared ones); and each notebook names the threat it is about (an OWASP API Security Top 10
(2023) item)."""

import json
import re

import pytest

from kata.notebook import source_of
from kata.runner import run_check
from tests.conftest import KATAS

AUTH = [pytest.param(kata, id=kata.id) for kata in KATAS if "auth" in kata.module.lower()]
OWASP = re.compile(r"\bAPI(10|[1-9])(:2023)?\b")


@pytest.mark.parametrize("kata", AUTH)
def test_the_solution_withstands_every_attack_of_its_check(kata):
    result = run_check(kata, kata.solution)
    fallen = [t["name"] for t in result.tests if t["status"] != "passed"]
    assert result.tests and not fallen, f"{kata.id}: the solution falls to {fallen}"


@pytest.mark.parametrize("kata", AUTH)
def test_the_notebook_names_its_threat(kata):
    cells = json.loads(kata.notebook.read_text())["cells"]
    text = " ".join(source_of(cell) for cell in cells if cell["cell_type"] == "markdown")
    assert OWASP.search(text) and "OWASP" in text, f"{kata.id}: no OWASP API Top 10 item is named"


def test_the_module_has_its_seven_katas():
    assert len(AUTH) >= 7
