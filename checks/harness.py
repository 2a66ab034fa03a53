"""What every check shares, loaded as a pytest plugin (``-p checks.harness``).

Fixtures here reach the learner's objects through the module pytest collected the tests from:
the notebook's namespace under ipytest, or the module ``kata check`` built from the notebook.
A plugin's fixtures need no import, so ``from checks.x import *`` adds only test names.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI

from bookshop.client import SERVER_ERRORS
from bookshop.db import DATABASE_URL_ENV, fresh_database
from kata import report_phase
from kata.manifest import find_root, load
from kata.progress import Progress
from kata.workspace import STATE, Workspace

# --- the learner's objects ---------------------------------------------------------------


@pytest.fixture
def kata_ns(request) -> dict:
    return vars(request.module)


def learner(ns: dict, name: str):
    """The object the kata cell defines as ``name``, or a failure that says what is missing."""
    if name not in ns:
        pytest.fail(
            f"The check needs `{name}`, but the notebook has no `{name}`. Did every cell above the "
            "check run without an error? A cell that raises stops before it defines what comes "
            f"after the error. If you renamed `{name}`, give it its old name back; then run the "
            "cells again.",
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


@pytest.fixture(autouse=True)
def _forget_server_errors() -> None:
    SERVER_ERRORS.clear()


def _server_errors_text() -> str:
    seen, lines = set(), []
    for error in SERVER_ERRORS:
        line = f"{type(error).__name__}: {str(error).strip().splitlines()[0] if str(error).strip() else ''}"
        if line not in seen:
            seen.add(line)
            lines.append(line[:300])
    return "\n".join(lines)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Show what the server raised next to a failure: a 500 alone does not say why."""
    report = (yield).get_result()
    if report.when == "call" and report.failed and SERVER_ERRORS:
        text = _server_errors_text()
        report.kata_server_errors = text
        if hasattr(report.longrepr, "addsection"):
            report.longrepr.addsection("What the server raised while this test ran", text)


# --- a fresh bookshop per test -----------------------------------------------------------


@pytest.fixture
def shop_db(tmp_path, monkeypatch) -> str:
    """A freshly seeded database that apps started during this test will serve."""
    url = fresh_database(tmp_path)
    monkeypatch.setenv(DATABASE_URL_ENV, url)
    return url


# --- the results, for `kata check --json` and the kernel tests ------------------------------

_results: list[dict] = []


def _learner_name(nodeid: str) -> str:
    """The test's name with anyio's backend id dropped (it says nothing to a learner); other
    parameters stay, so each parametrized case keeps a result of its own."""
    name = nodeid.rsplit("::", 1)[-1]
    if not name.endswith("]"):
        return name
    base, params = name[:-1].split("[", 1)
    kept = [p for p in params.split("-") if p != "asyncio"]
    return f"{base}[{'-'.join(kept)}]" if kept else base


def last_results() -> list[dict]:
    """One dict per test of the last run: ``name``, ``status`` and ``message``."""
    return list(_results)


def pytest_sessionstart(session) -> None:
    _results.clear()


def pytest_runtest_logstart(nodeid, location) -> None:
    report_phase(f"the check's test {nodeid.rsplit('::', 1)[-1].split('[', 1)[0]}")


def pytest_sessionfinish(session) -> None:
    """In the learner's kernel, a check run marks the kata done or failing, like `kata check`."""
    if not _results:
        return
    try:
        root = find_root()
        workspace = Workspace(root)
        if not Path.cwd().resolve().is_relative_to(workspace.folder.resolve()):
            return
        modules = {item.function.__module__ for item in session.items if hasattr(item, "function")}
        progress = Progress(root / STATE / "progress.json")
        for kata in load(root):
            if kata.check in modules:
                progress.mark(kata.id, all(r["status"] == "passed" for r in _results))
        progress.save()
    except Exception:  # noqa: BLE001 - marks are a convenience; a check must never fail over them
        pass


def pytest_runtest_logreport(report) -> None:
    if report.when == "call" or report.outcome != "passed":
        status = {"passed": "passed", "skipped": "skipped"}.get(report.outcome, "failed")
        if report.when != "call" and report.outcome == "failed":
            status = "error"
        message = ""
        if report.failed:
            crash = getattr(report.longrepr, "reprcrash", None)
            message = crash.message if crash else str(report.longrepr)
            if getattr(report, "kata_server_errors", ""):
                message += f"\n(the server raised: {report.kata_server_errors})"
        name = _learner_name(report.nodeid)
        _results[:] = [r for r in _results if r["name"] != name]
        _results.append({"name": name, "status": status, "message": message})
