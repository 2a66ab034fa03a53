"""What every check shares, loaded as a pytest plugin (``-p checks.harness``).

Fixtures here reach the learner's objects through the module pytest collected the tests from:
the notebook's namespace under ipytest, or the module ``kata check`` built from the notebook.
A plugin's fixtures need no import, so ``from checks.x import *`` adds only test names.
"""

from collections.abc import Iterator

import pytest
from fastapi import FastAPI

from bookshop.db import DATABASE_URL_ENV, fresh_database

# --- the learner's objects ---------------------------------------------------------------


@pytest.fixture
def kata_ns(request) -> dict:
    return vars(request.module)


def learner(ns: dict, name: str):
    """The object the kata cell defines as ``name``, or a failure that says what is missing."""
    if name not in ns:
        pytest.fail(
            f"The check needs `{name}`, which the kata cell defines, but the notebook has no "
            f"`{name}`. If you renamed it, give it its old name back and run the cells again.",
            pytrace=False,
        )
    return ns[name]


@pytest.fixture(autouse=True)
def _restore_dependency_overrides(request) -> Iterator[None]:
    # A check may override dependencies; the learner's apps get back what they had.
    apps = [v for v in vars(request.module).values() if isinstance(v, FastAPI)]
    saved = [(app, dict(app.dependency_overrides)) for app in apps]
    yield
    for app, overrides in saved:
        app.dependency_overrides.clear()
        app.dependency_overrides.update(overrides)


# --- a fresh bookshop per test -----------------------------------------------------------


@pytest.fixture
def shop_db(tmp_path, monkeypatch) -> str:
    """A freshly seeded database that apps started during this test will serve."""
    url = fresh_database(tmp_path)
    monkeypatch.setenv(DATABASE_URL_ENV, url)
    return url


# --- the results, for `kata check --json` and the kernel tests ------------------------------

_results: list[dict] = []


def last_results() -> list[dict]:
    """One dict per test of the last run: ``name``, ``status`` and ``message``."""
    return list(_results)


def pytest_sessionstart(session) -> None:
    _results.clear()


def pytest_runtest_logreport(report) -> None:
    if report.when == "call" or report.outcome != "passed":
        status = {"passed": "passed", "skipped": "skipped"}.get(report.outcome, "failed")
        if report.when != "call" and report.outcome == "failed":
            status = "error"
        message = ""
        if report.failed:
            crash = getattr(report.longrepr, "reprcrash", None)
            message = crash.message if crash else str(report.longrepr)
        name = report.nodeid.rsplit("::", 1)[-1].split("[", 1)[0]  # drop anyio's "[asyncio]"
        _results[:] = [r for r in _results if r["name"] != name]
        _results.append({"name": name, "status": status, "message": message})
