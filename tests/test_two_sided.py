"""Two-sided, in-process: every starter fails exactly its declared tests, each with a finding
that gives nothing of the fix away; every solution and alternative passes; every decoy is
rejected; and the evidence cells run on every decoy and alternative."""

import pytest

from kata.verify import verify_kata
from tests.conftest import kata_params


@pytest.mark.parametrize("kata", kata_params())
def test_kata_is_two_sided(kata):
    verdicts = verify_kata(kata)
    problems = [f"{v.variant}: {p}" for v in verdicts for p in v.problems]
    assert not problems, "\n".join(problems)
    assert {v.variant for v in verdicts} == {"starter", "solution", *(f"decoy:{d.name}" for d in kata.decoys),
                                             *(f"alternative:{name}" for name in kata.alternatives)}
