"""Run a kata's check on a notebook in this process, with no kernel: the same pytest module,
options and fixtures as the notebook's ``%%ipytest`` cell, so both give one answer."""

import contextlib
import io
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import ipytest

from checks import PYTEST_ARGS, harness
from kata import KataError
from kata.manifest import Kata
from kata.notebook import load_module


@dataclass
class CheckResult:
    kata: str
    notebook: str
    status: str  # "passed" or "failed"
    tests: list[dict] = field(default_factory=list)
    output: str = ""

    def failed(self) -> set[str]:
        return {t["name"] for t in self.tests if t["status"] in ("failed", "error")}


def run_check(kata: Kata, notebook: Path, *, echo: bool = False) -> CheckResult:
    """Execute ``notebook``'s code, then ``kata``'s check on it. Raises KataError on bad input."""
    module = load_module(notebook, f"kata_{kata.id.replace('-', '_')}", next_step=f"run `kata check {kata.number}` again.")
    try:
        exec(f"from {kata.check} import *", vars(module))
    except Exception as error:  # a broken check is the workbook's fault, not the learner's
        raise KataError(
            f"The check module {kata.check} could not be loaded ({type(error).__name__}: {error}). "
            "This is a problem in the workbook, not in your notebook: run `kata doctor`, and report it."
        ) from None
    output = io.StringIO()
    redirect = contextlib.nullcontext() if echo else contextlib.redirect_stdout(output)
    # ipytest writes a placeholder module file into the current folder, which may be read-only
    # (a learner's workbook) or one that should stay clean (the repository): use a scratch one.
    with redirect, tempfile.TemporaryDirectory(prefix="kata-") as scratch, contextlib.chdir(scratch):
        exit_code = ipytest.run(module=module, addopts=PYTEST_ARGS, run_in_thread=False, raise_on_error=False)
    tests = harness.last_results()
    passed = exit_code == 0 and tests and all(t["status"] == "passed" for t in tests)
    return CheckResult(kata.id, str(notebook), "passed" if passed else "failed", tests, output.getvalue())
