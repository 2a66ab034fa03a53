"""What every check shares, loaded as a pytest plugin (``-p checks.harness``).

Fixtures here reach the learner's objects through the module pytest collected the tests from:
the notebook's namespace under ipytest, or the module ``kata check`` built from the notebook.
A plugin's fixtures need no import, so ``from checks.x import *`` adds only test names.

The plugin also keeps the results: one record per test of the check (and only those), each
failure as the finding its test raised (see ``checks.feedback``), with what the server raised
meanwhile. A check passes only when every one of its tests ran here and passed. In a notebook
(``--kata-notebook``) it prints the report in the check cell and records the learner's progress.
"""

import contextlib
import gc
import types
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from bookshop.client import SERVER_ERRORS, Running, client_of, open_client, running
from bookshop.db import DATABASE_URL_ENV, fresh_database
from checks.feedback import Unmet, fail
from kata import report_phase

# --- the learner's objects ---------------------------------------------------------------


@pytest.fixture
def kata_ns(request) -> dict:
    return vars(request.module)


def learner(ns: dict, name: str):
    """The object the kata cell defines as ``name``, or a failure that says what is missing."""
    if name not in ns:
        fail(
            f"The check needs `{name}`, but the notebook has no `{name}`.",
            "Every cell above the check must run without an error: a cell that raises stops "
            f"before it defines what comes after the error. If you renamed `{name}`, give it its "
            "old name back, then run the cells again.",
        )
    return ns[name]


def strings_in_code(ns: dict) -> set[str]:
    """The string constants of the functions and classes the notebook defines, nested functions,
    methods, class attributes and the defaults of settings fields included: the keys, header
    names and flags an app holds in its code, which an attacker who reads it knows too."""
    codes, found = [], set()
    for value in list(ns.values()):
        if getattr(value, "__module__", None) != ns.get("__name__"):
            continue
        if isinstance(value, types.FunctionType):
            codes.append(value.__code__)
        elif isinstance(value, type):
            for member in vars(value).values():
                if isinstance(member, str):
                    found.add(member)
                elif isinstance(member, types.FunctionType):
                    codes.append(member.__code__)
            for field in (getattr(value, "model_fields", None) or {}).values():
                default = getattr(field, "default", None)
                default = default.get_secret_value() if isinstance(default, SecretStr) else default
                if isinstance(default, str):
                    found.add(default)
    while codes:
        for constant in codes.pop().co_consts:
            if isinstance(constant, str):
                found.add(constant)
            elif isinstance(constant, types.CodeType):
                codes.append(constant)
    return {text for text in found if 0 < len(text) < 1000}


def json_of(response):
    """The response's JSON body, or None when it has none (a plain-text 500, an empty body)."""
    try:
        return response.json()
    except ValueError:
        return None


def brief(response, limit: int = 100) -> str:
    """``404 {"detail":"Book not found"}``: a response as a finding quotes it."""
    text = " ".join(response.text.split())
    return f"{response.status_code} {text[:limit - 1] + '…' if len(text) > limit else text}".strip()


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


@pytest.fixture
def shop_db(tmp_path, monkeypatch) -> str:
    """A freshly seeded database that apps started during this test will serve."""
    url = fresh_database(tmp_path)
    monkeypatch.setenv(DATABASE_URL_ENV, url)
    return url


@dataclass
class RunningShop:
    database: str  # the URL of its database, a seeded copy of its own
    served: Running | None  # None: the notebook has no `app`, or it did not start


@pytest.fixture(scope="module")
async def running_shop(request, tmp_path_factory) -> AsyncIterator[RunningShop]:
    """The notebook's `app`, started once for every test of the check that asks for it, as one
    server process takes every request: for checks whose tests each send a few requests, where
    starting the app for each test would cost more than the requests. A test that needs the
    database as it was seeded puts it back itself."""
    url = fresh_database(tmp_path_factory.mktemp("running-shop"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(DATABASE_URL_ENV, url)  # for its startup, and for any app a test starts itself
        app = vars(request.module).get("app")
        async with AsyncExitStack() as stack:
            served = None
            if app is not None:
                with contextlib.suppress(Exception):  # each test starts the app itself, and says what went wrong
                    served = await stack.enter_async_context(running(app))
            yield RunningShop(url, served)


@asynccontextmanager
async def client_of_the_shop(ns: dict, shop: RunningShop) -> AsyncIterator[httpx.AsyncClient]:
    """A new client (no cookies, no connections of another's) of the running shop; where that did
    not start, of the app started for this test alone, which then fails the test with the reason."""
    if shop.served is None:
        async with open_client(learner(ns, "app")) as client:
            yield client
    else:
        async with client_of(shop.served) as client:
            yield client


# --- how this run was started -----------------------------------------------------------------


@dataclass
class Run:
    """Set by ``kata.runner`` before a run; in a notebook, worked out at the start of the run."""

    kata_id: str | None = None
    level: int = 0  # the hint level the learner has opened: how much help a finding may show
    expected: list[str] = field(default_factory=list)  # the check's tests, from its __all__
    interrupted: str = ""


run = Run()
_results: list[dict] = []


def pytest_addoption(parser) -> None:
    parser.addoption("--kata-notebook", action="store_true", help="report in the notebook and record progress")


def _server_errors_text() -> str:
    seen, lines = set(), []
    for error in SERVER_ERRORS:
        text = str(error).strip()
        line = f"{type(error).__name__}: {text.splitlines()[0] if text else ''}".rstrip(": ")
        if line not in seen:
            seen.add(line)
            lines.append(line[:300])
    return "; ".join(lines)


def _check_module(items) -> str | None:
    modules = {getattr(item, "function", None).__module__ for item in items if hasattr(item, "function")}
    found = sorted(m for m in modules if m and m.startswith("checks."))
    return found[0] if found else None


def _requested(info, name: str, learners: str) -> bool:
    """Whether the check's test needs the fixture ``name``: as an argument, or through the fixtures
    it needs (its own and the harness's autouse ones among them)."""
    def owner(fixture: str) -> str:
        return getattr(info.name2fixturedefs[fixture][-1].func, "__module__", "") or ""

    wanted = [*info.argnames, *(f for f in info.names_closure if f in info.name2fixturedefs and owner(f) != learners)]
    seen: set[str] = set()
    while wanted:
        current = wanted.pop()
        if current not in seen:
            seen.add(current)
            if current in info.name2fixturedefs and owner(current) != learners:
                wanted += info.name2fixturedefs[current][-1].argnames
    return name in seen


def pytest_collection_modifyitems(session, config, items) -> None:
    """Run the check's own tests, the originals, with the harness's fixtures; nothing else."""
    import sys

    module = _check_module(items)
    exported = list(getattr(sys.modules.get(module), "__all__", [])) if module else []
    run.expected = [name for name in exported if name.startswith("test_")]
    if config.getoption("kata_notebook"):
        from kata.help import kata_by_check, level

        kata = kata_by_check(module) if module else None
        run.kata_id = kata.id if kata else None
        run.level = level(kata.id) if kata else 0
    keep, problems = [], []
    for item in items:
        function = getattr(item, "function", None)
        if function is None or item.originalname not in run.expected:
            continue  # a test of the learner's own, or something that is no test of this check
        if function.__module__ != module:
            problems.append(f"`{item.originalname}` is not the check's own test: a cell replaced it")
        info = getattr(item, "_fixtureinfo")
        for name, definitions in info.name2fixturedefs.items():
            owner = getattr(definitions[-1].func, "__module__", "") or ""
            if owner != item.module.__name__:
                continue
            if _requested(info, name, owner):
                problems.append(f"a cell defines a pytest fixture named `{name}`, which the check uses itself")
            elif name in info.names_closure:
                # The learner's autouse fixtures (their tests' set-up, in a testing kata), and what
                # those need, are for their tests: the check's tests run without them.
                info.names_closure.remove(name)
        keep.append(item)
    if problems:
        run.interrupted = "; ".join(dict.fromkeys(problems)) + ". Remove that from your cells, then run the check again."
        keep = []
    deselected = [item for item in items if item not in keep]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
    items[:] = keep


def plain_tracebacks(config) -> None:
    """Nobody reads pytest's report of a failure here (a check says what it observed; a learner's
    suite is judged by its outcomes), and pytest's own report parses the source of every file in
    the traceback: most of the time a failing test takes. Python's plain traceback costs nothing."""
    config.option.tbstyle = "native"


def pytest_configure(config) -> None:
    plain_tracebacks(config)


def pytest_sessionstart(session) -> None:
    _results.clear()
    run.interrupted = ""
    # What the process held before the check (a kernel's modules, FastAPI's, SQLAlchemy's) is
    # left out of the garbage collector's passes until the check ends: one full pass over a warm
    # process's objects took 0.13 s, in about one staff-only check in ten.
    gc.freeze()


def pytest_runtest_logstart(nodeid, location) -> None:
    report_phase(f"the check's test {nodeid.rsplit('::', 1)[-1].split('[', 1)[0]}")


def _learner_name(nodeid: str) -> str:
    """The test's name with anyio's backend id dropped (it says nothing to a learner); other
    parameters stay, so each parametrized case keeps a result of its own."""
    name = nodeid.rsplit("::", 1)[-1]
    if not name.endswith("]"):
        return name
    base, params = name[:-1].split("[", 1)
    kept = [p for p in params.split("-") if p != "asyncio"]
    return f"{base}[{'-'.join(kept)}]" if kept else base


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep the finding a test failed with, and what the server raised meanwhile."""
    report = (yield).get_result()
    if not report.failed:
        return
    error = call.excinfo.value if call.excinfo else None
    report.kata_finding = error.finding.as_dict() if isinstance(error, Unmet) else None
    if report.kata_finding is None:
        text = str(error).strip() if error is not None else ""
        first = text.splitlines()[0][:300] if text else ""
        report.kata_error = f"{type(error).__name__}{': ' + first if first else ''}" if error is not None else "it failed"
    report.kata_server = _server_errors_text() if report.when == "call" else ""


def pytest_runtest_logreport(report) -> None:
    from kata.report import message

    if report.when != "call" and report.outcome == "passed":
        return
    status = "passed" if report.outcome == "passed" else "failed" if report.when == "call" else "error"
    if report.outcome == "skipped":
        status = "error"  # a check's test never skips: skipping would be a pass nobody earned
    record = {"name": _learner_name(report.nodeid), "status": status,
              "finding": getattr(report, "kata_finding", None), "error": getattr(report, "kata_error", None),
              "server": getattr(report, "kata_server", "")}
    if report.outcome == "skipped":
        record["error"] = "the test was skipped"
    record["message"] = message(record, run.level) if status != "passed" else ""
    _results[:] = [r for r in _results if r["name"] != record["name"]]
    _results.append(record)


def pytest_keyboard_interrupt(excinfo) -> None:
    from kata import current_phase

    run.interrupted = (f"{type(excinfo.value).__name__} was raised in {current_phase()} and stopped the check. "
                       "Something in your code raises it: let errors be ordinary exceptions.")


def _complete() -> None:
    """Every test the check exports gets a result; one that never ran has not passed."""
    from kata.report import message

    seen = {r["name"].split("[", 1)[0] for r in _results}
    for name in run.expected:
        if name not in seen:
            record = {"name": name, "status": "error", "finding": None, "server": "",
                      "error": run.interrupted or "this test did not run"}
            record["message"] = message(record, run.level)
            _results.append(record)


def last_results() -> list[dict]:
    """One dict per test of the last run: ``name``, ``status``, ``message``, ``finding``, ``error``, ``server``."""
    return [dict(r) for r in _results]


def passed(results: list[dict]) -> bool:
    return bool(results) and all(r["status"] == "passed" for r in results)


def pytest_sessionfinish(session) -> None:
    gc.unfreeze()
    if not run.expected:
        return
    _complete()
    if session.config.getoption("kata_notebook"):
        _notebook_report()


def _notebook_report() -> None:
    """In the learner's kernel: the report under the check cell, the progress mark, the help."""
    from kata import help as kata_help
    from kata.report import headline, render

    results = last_results()
    print(render(results, run.level))
    ok = passed(results)
    if ok:
        print(f"\nPassed: {headline(results)}. The walkthrough below the hints is open now.")
    else:
        print(f"\n{headline(results)[:1].upper()}{headline(results)[1:]}. Change the `kata` cell, run it "
              "(and the cells under it) again, then this check. Stuck? Open the next hint below.")
    if run.kata_id is None:
        return
    try:
        kata_help.checked_in_notebook(run.kata_id, ok)
    except Exception:  # noqa: BLE001 - the help and the marks are a convenience; the verdict stands
        pass
