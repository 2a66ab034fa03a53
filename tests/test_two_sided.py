"""Two-sided, in-process: every starter fails exactly its declared tests with a teaching
message, every solution passes, and every decoy is rejected."""

import pytest

from kata.verify import verify_kata
from tests.conftest import kata_params


@pytest.mark.parametrize("kata", kata_params())
def test_kata_is_two_sided(kata):
    verdicts = verify_kata(kata)
    problems = [f"{v.variant}: {p}" for v in verdicts for p in v.problems]
    assert not problems, "\n".join(problems)
    assert {v.variant for v in verdicts} == {"starter", "solution", *(f"decoy:{d.name}" for d in kata.decoys)}
