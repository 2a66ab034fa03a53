"""The soak (opt-in: `pytest -m soak`; `.ci/run` runs it after the test command): every check
gives the same verdict run after run while the machine is busy. Each starter and solution is
checked RUNS times with a busy loop on every core but one; every run must fail exactly the same
tests. Verdicts hold by construction (no clock decides them); this is the evidence. A testing
kata's check already runs the learner's suite a dozen times (both orders, every hidden bug), and
a deployment kata's starts real servers: those are checked RUNS_HEAVY times."""

import os
import subprocess
import sys

import pytest

from kata.runner import run_check
from tests.conftest import kata_params

pytestmark = pytest.mark.soak
RUNS = 20
RUNS_HEAVY = 6
HEAVY = ("testing", "deploy")
BUSY = "import time\nend = time.monotonic() + 900\nwhile time.monotonic() < end: pass"  # stops by itself


@pytest.fixture
def busy_cores():
    spinners = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(max(1, (os.cpu_count() or 2) - 1))]
    yield
    for spinner in spinners:
        spinner.kill()
        spinner.wait()


@pytest.mark.parametrize("kata", kata_params())
def test_every_run_gives_the_same_verdict(kata, busy_cores):
    for notebook, expected in ((kata.notebook, set(kata.fails)), (kata.solution, set())):
        runs = RUNS_HEAVY if any(word in kata.module.lower() for word in HEAVY) else RUNS
        verdicts = [run_check(kata, notebook).failed() for _ in range(runs)]
        assert all(v == expected for v in verdicts), f"{notebook.name}: {[sorted(v) for v in verdicts if v != expected][:3]}"
