"""Checks are deterministic: the same notebook gets the same verdict run after run, while the
machine is busy. Each starter and solution is checked RUNS times with a busy loop on another
core; every run must fail exactly the same tests."""

import subprocess
import sys

import pytest

from kata.runner import run_check
from tests.conftest import kata_params

RUNS = 20
BUSY = "import time\nend = time.monotonic() + 600\nwhile time.monotonic() < end: pass"  # stops by itself


@pytest.fixture
def busy_core():
    spinner = subprocess.Popen([sys.executable, "-c", BUSY])
    yield
    spinner.kill()
    spinner.wait()


@pytest.mark.parametrize("kata", kata_params())
def test_every_run_gives_the_same_verdict(kata, busy_core):
    for notebook, expected in ((kata.notebook, set(kata.fails)), (kata.solution, set())):
        verdicts = [run_check(kata, notebook).failed() for _ in range(RUNS)]
        assert all(v == expected for v in verdicts), f"{notebook.name}: {[sorted(v) for v in verdicts if v != expected][:3]}"
