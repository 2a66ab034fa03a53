"""Two-sided, in-process: every starter fails exactly its declared tests, each with a finding
that gives nothing of the fix away; every solution and alternative passes; every decoy is
rejected; and nothing any variant's check started is left running after it.

The evidence cells run on the starter and the solution in the kernel tests, and on every decoy and
alternative in `test_the_evidence_runs_on_every_variant`: a part of the soak (`-m soak`, which
`.ci/run` runs after the test command), as of `kata verify --authoring`."""

import uuid
from pathlib import Path

import pytest

from kata.build import render
from kata.verify import run_evidence, variants, verify_kata
from tests.conftest import MARK, kata_params, left_behind


@pytest.mark.parametrize("kata", kata_params())
def test_kata_is_two_sided(kata, monkeypatch):
    mark = uuid.uuid4().hex
    monkeypatch.setenv(MARK, mark)
    verdicts = verify_kata(kata, evidence=False)
    problems = [f"{v.variant}: {p}" for v in verdicts for p in v.problems]
    assert not problems, "\n".join(problems)
    assert {v.variant for v in verdicts} == {"starter", "solution", *(f"decoy:{d.name}" for d in kata.decoys),
                                             *(f"alternative:{name}" for name in kata.alternatives)}
    # Servers, runs of a learner's suite, whatever a variant's code started: nothing outlives its check.
    if Path("/proc/self/environ").exists():
        assert not left_behind(mark)


@pytest.mark.soak
@pytest.mark.parametrize("kata", kata_params())
def test_the_evidence_runs_on_every_variant(kata, tmp_path):
    """A learner who re-runs the evidence after a fix, right or wrong, sees it run, not crash."""
    crashes = []
    for variant, _, _ in variants(kata):
        if variant in ("starter", "solution"):
            continue
        path = tmp_path / kata.notebook.parent.name / f"{variant.replace(':', '-')}.ipynb"
        path.parent.mkdir(exist_ok=True)
        path.write_text(render(kata, variant), encoding="utf-8")
        if crash := run_evidence(kata, path):
            crashes.append(f"{variant}: {crash[:600]}")
    assert not crashes, "\n".join(crashes)
