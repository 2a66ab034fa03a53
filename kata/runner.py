"""Run a kata's check on a notebook in this process, with no kernel: the same pytest module,
options and fixtures as the notebook's ``%%ipytest`` cell, so both give one answer.

The check module is imported before the learner's cells run, and whatever those cells changed in
it, or in the harness, is put back before the tests run: a cell can break its own code, not the
check that judges it. ``kata check`` calls this in a child process (see ``kata.isolated``).
"""

import contextlib
import importlib
import types
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bookshop.scratch import temporary_folder
from checks import PYTEST_ARGS, harness, preloaded, quiet_the_orphans_of_refused_queries
from kata import KataError
from kata.manifest import Kata
from kata.notebook import load_module


@dataclass
class CheckResult:
    kata: str
    notebook: str
    status: str  # "passed" or "failed"
    tests: list[dict] = field(default_factory=list)

    def failed(self) -> set[str]:
        return {t["name"] for t in self.tests if t["status"] != "passed"}


class _CollectNotebook:
    """Have pytest collect the tests from ``module`` where it would import ``placeholder``."""

    def __init__(self, module: types.ModuleType, placeholder: Path):
        self.module, self.placeholder = module, placeholder

    @pytest.hookimpl(tryfirst=True)
    def pytest_pycollect_makemodule(self, module_path, parent):
        if Path(module_path) != self.placeholder:
            return None
        notebook = self.module

        class NotebookModule(pytest.Module):
            def _getobj(self):
                return notebook

        return NotebookModule.from_parent(parent, path=Path(module_path))


def import_check(kata: Kata) -> types.ModuleType:
    try:
        return importlib.import_module(kata.check)
    except Exception as error:  # a broken check is the workbook's fault, not the learner's
        raise KataError(
            f"The check module {kata.check} could not be loaded ({type(error).__name__}: {error}). "
            "This is a problem in the workbook, not in your notebook: run `kata doctor`, and report it."
        ) from None


def _restore(module: types.ModuleType, saved: dict) -> None:
    namespace = vars(module)
    for name in [n for n in namespace if n not in saved]:
        del namespace[name]
    namespace.update(saved)


def run_check(kata: Kata, notebook: Path, *, level: int = 0) -> CheckResult:
    """Execute ``notebook``'s code, then ``kata``'s check on it. Raises KataError on bad input.
    ``level`` is the hint level the learner has opened: the findings show that much help."""
    check = import_check(kata)
    quiet_the_orphans_of_refused_queries()  # as in a notebook
    saved = {module: dict(vars(module)) for module in (check, harness)}
    next_step = f"run `kata check {kata.number}` again."
    notebook = Path(notebook).resolve()
    # Jupyter runs a notebook in its own folder: relative paths in the cells mean the same here.
    with contextlib.chdir(notebook.parent):
        module = load_module(notebook, f"kata_{kata.id.replace('-', '_')}", next_step=next_step)
        for saved_module, namespace in saved.items():
            _restore(saved_module, namespace)
        for name in check.__all__:
            setattr(module, name, getattr(check, name))
        with temporary_folder("kata-") as scratch:
            # pytest lists every entry of each folder between --confcutdir and the file it
            # collects: without it, the whole temporary folder (thousands of entries, a second
            # per check). The scratch folder also holds the tests' temporary folders: none is
            # left behind.
            placeholder = Path(scratch) / "notebook.py"
            placeholder.touch()
            harness.run.kata_id, harness.run.level = kata.id, level
            pytest.main([*PYTEST_ARGS, f"--rootdir={scratch}", f"--confcutdir={scratch}", f"--basetemp={scratch}/tmp",
                         str(placeholder)],
                        plugins=[*preloaded(PYTEST_ARGS), _CollectNotebook(module, placeholder)])
    tests = harness.last_results()
    return CheckResult(kata.id, str(notebook), "passed" if harness.passed(tests) else "failed", tests)
