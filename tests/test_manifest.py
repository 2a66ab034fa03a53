"""katas.toml is complete and every path and check it names is real: the manifest's rules of
kata.rules (the ones `kata verify --authoring` enforces), plus what this workbook's curriculum is."""

import pytest

from kata.rules import RULES, kata_problems, manifest_problems
from tests.conftest import KATAS, ROOT, kata_params

MANIFEST_RULES = [r.name for r in RULES if r.scope == "manifest"]
ROW_RULES = ["minutes", "paths", "check-module", "decoy"]  # the notebooks' rules: tests/test_notebooks.py


@pytest.mark.parametrize("rule", MANIFEST_RULES)
def test_the_manifest_keeps_the_rule(rule):
    problems = manifest_problems(KATAS, ROOT, rule)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("rule", ROW_RULES)
@pytest.mark.parametrize("kata", kata_params())
def test_the_kata_keeps_the_rule(kata, rule):
    problems = kata_problems(kata, ROOT, rule)
    assert not problems, "\n".join(problems)


def test_the_rules_split_between_the_two_test_files_cover_them_all():
    from tests.test_notebooks import NOTEBOOK_RULES

    assert sorted(ROW_RULES + NOTEBOOK_RULES) == sorted(r.name for r in RULES if r.scope == "kata")


def test_modules_come_in_order():
    first = [k for k in KATAS if "dependency injection" in k.module.lower()]
    assert len(first) >= 5 and KATAS[: len(first)] == first
    asynchronous = [k for k in KATAS if "async" in k.module.lower()]
    assert len(asynchronous) >= 6 and KATAS[len(first): len(first) + len(asynchronous)] == asynchronous
