"""The committed notebooks are what their sources generate, and each has the kata anatomy: the
notebooks' rules of kata.rules (the ones `kata verify --authoring` enforces)."""

import pytest

from kata.rules import kata_problems
from tests.conftest import KATAS, ROOT, kata_params

NOTEBOOK_RULES = ["built", "only-kata-cells-differ", "anatomy", "variants-differ"]


@pytest.mark.parametrize("rule", NOTEBOOK_RULES)
@pytest.mark.parametrize("kata", kata_params())
def test_the_notebooks_keep_the_rule(kata, rule):
    problems = kata_problems(kata, ROOT, rule)
    assert not problems, "\n".join(problems)


def test_every_kata_has_its_notebooks():
    assert all(k.notebook.is_file() and k.solution.is_file() for k in KATAS)
