"""Grading the learner's own tests by the bugs they catch: the testing katas' shared machinery.

In a testing kata the cells tagged ``app`` hold the shop under test, as the learner reads it, and
the ``kata`` cells hold the learner's tests (pytest functions and fixtures). A *mutant* is the
shop with one realistic bug: one exact piece of the ``app`` cells' text replaced by another. The
mutants are defined in the kata's check module and never shown.

``grade`` runs the learner's tests again, each run in a child process of its own (forked, so it
starts warm; bounded in time; on a fresh database; with its temporary files removed after):

- against the shop as written, in the order the tests were written and reversed: a test that
  fails there is over-specified or broken, and a suite whose verdict depends on the order is
  not a suite anyone can trust;
- against each mutant, once: the suite must fail on every one.

The shop's code comes from the starter notebook as shipped (so an edited ``app`` cell changes
nothing); the learner's tests come from the cells that defined them (their source stays readable
from their code, in a kernel as under ``kata check``). Runs happen in parallel children.
"""

import contextlib
import functools
import gc
import hashlib
import json
import linecache
import os
import random
import select
import shutil
import signal
import sys
import tempfile
import time
import types
from dataclasses import dataclass, field
from pathlib import Path

from bookshop.scratch import new_folder, temporary_folder

__all__: list[str] = []

RUN_LIMIT = 20.0  # seconds one run of the learner's suite may take: only a test that hangs reaches it
SKIPPED_TAGS = {"setup", "evidence", "check", "hint", "walkthrough", "kata"}


@dataclass(frozen=True)
class Mutant:
    """One bug: ``old`` (found exactly once in the ``app`` cells) becomes ``new``. ``kind`` says
    what kind of bug it is, as hint level 1 shows it; ``concept`` what to read, at level 2."""

    name: str
    old: str
    new: str
    kind: str
    concept: str = ""


@dataclass
class Run:
    variant: str  # "the shop" or a mutant's name
    reverse: bool = False
    tests: list[dict] = field(default_factory=list)  # {"name", "outcome", "message"}
    problem: str = ""  # the run did not complete: a timeout, a crash, tests that could not be collected
    sleeps: list[str] = field(default_factory=list)  # what slept, when guarded
    connections: list[str] = field(default_factory=list)  # where sockets connected, when guarded

    @property
    def passed(self) -> bool:
        return not self.problem and bool(self.tests) and all(t["outcome"] == "passed" for t in self.tests)

    @property
    def failing(self) -> list[dict]:
        return [t for t in self.tests if t["outcome"] != "passed"]

    @property
    def caught(self) -> bool:
        """Whether this run went red as CI would show it: a test failed or errored, or the run broke.
        A test skipped or marked xfail is reported as expected, whatever it found."""
        return bool(self.problem) or any(t["outcome"] in ("failed", "error") for t in self.tests)

    @property
    def set_aside(self) -> list[dict]:
        return [t for t in self.tests if t["outcome"] in ("skipped", "xfailed")]


@dataclass
class Grading:
    shop: Run
    reversed: Run
    mutants: dict[str, Run]  # by mutant name

    def survivors(self, mutants: list[Mutant]) -> list[Mutant]:
        """The mutants the learner's tests let through (all of them passed)."""
        return [m for m in mutants if not self.mutants[m.name].caught]


# --- what runs: the shop's cells as shipped, the learner's cells as written ---------------------


def learner_sources(ns: dict) -> list[str]:
    """The source of every cell that defined a function or class in ``ns`` and is not one of the
    shop's cells: the learner's tests, fixtures and helpers, in the order they were defined."""
    from bookshop.serving import cell_sources

    shipped_sources = {text.strip() for text in shop_source(ns)}
    return [text for text in cell_sources(ns) if text.strip() not in shipped_sources]


def _kata_of(ns: dict):
    from kata.help import kata_by_check

    module = next((value.__module__ for name, value in ns.items() if name.startswith("test_") and callable(value)
                   and str(getattr(value, "__module__", "")).startswith("checks.")), None)
    kata = kata_by_check(module) if module else None
    if kata is None:
        raise LookupError("no testing kata's check is loaded in this namespace")
    return kata


def _shipped(ns: dict) -> list[dict]:
    notebook = _kata_of(ns).notebook
    stat = notebook.stat()
    return _cells_of(notebook, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=4)
def _cells_of(notebook: Path, _mtime: int, _size: int) -> list[dict]:
    """A notebook's cells, read once per version of the file (a grading asks a dozen times)."""
    return json.loads(notebook.read_text(encoding="utf-8"))["cells"]


def shop_source(ns: dict, mutant: Mutant | None = None) -> list[str]:
    """The code cells that build the shop, as shipped, with ``mutant``'s bug in the ``app`` cells."""
    from kata.notebook import source_of, tags_of

    cells = []
    for cell in _shipped(ns):
        tags = set(tags_of(cell))
        if cell.get("cell_type") != "code" or tags & SKIPPED_TAGS:
            continue
        text = source_of(cell)
        if mutant is not None and "app" in tags and mutant.old in text:
            text = text.replace(mutant.old, mutant.new, 1)
        cells.append(text)
    if mutant is not None and not any(mutant.new in text for text in cells):
        raise ValueError(f"mutant {mutant.name}: its text is not in the shop's `app` cells")
    return cells


# --- one run, in a child ------------------------------------------------------------------------


def _plain_name(name: str) -> str:
    """test_x[asyncio] -> test_x, test_y[asyncio-3] -> test_y[3]: anyio's backend id says nothing
    to a learner."""
    if not name.endswith("]") or "[" not in name:
        return name
    base, params = name[:-1].split("[", 1)
    kept = [param for param in params.split("-") if param != "asyncio"]
    return f"{base}[{'-'.join(kept)}]" if kept else base


class _Record:
    def __init__(self, reverse: bool):
        self.reverse = reverse
        self.tests: list[dict] = []

    def pytest_configure(self, config) -> None:
        from checks.harness import plain_tracebacks

        plain_tracebacks(config)

    def pytest_collection_modifyitems(self, items) -> None:
        if self.reverse:
            items.reverse()

    def pytest_runtest_logreport(self, report) -> None:
        if report.when == "call" or report.outcome != "passed":
            message = ""
            if report.failed or report.skipped:
                crash = getattr(report.longrepr, "reprcrash", None)
                message = (crash.message if crash else str(report.longrepr))[:400]
            name = _plain_name(report.nodeid.rsplit("::", 1)[-1])
            outcome = report.outcome if report.when == "call" else ("error" if report.failed else report.outcome)
            if outcome == "skipped" and hasattr(report, "wasxfail"):
                outcome = "xfailed"
            self.tests = [t for t in self.tests if t["name"] != name] + [{"name": name, "outcome": outcome, "message": message}]


def _guard(sleeps: list[str], connections: list[str], learner_files: set[str]) -> None:
    """Note every sleep a learner's test asks for, and every socket connection made meanwhile."""
    import asyncio
    import socket

    import anyio

    def caller_in_learner_code() -> str | None:
        frame = sys._getframe(2)
        while frame is not None:
            if frame.f_code.co_filename in learner_files:
                return f"line {frame.f_lineno} of your tests"
            frame = frame.f_back
        return None

    def watch(module, name, is_async):
        original = getattr(module, name)
        if is_async:
            async def watched(delay, *args, **kwargs):
                where = caller_in_learner_code()
                if where and delay and delay > 0:
                    sleeps.append(f"{module.__name__}.{name}({delay!r}) at {where}")
                return await original(delay, *args, **kwargs)
        else:
            def watched(delay, *args, **kwargs):
                where = caller_in_learner_code()
                if where and delay and delay > 0:
                    sleeps.append(f"{module.__name__}.{name}({delay!r}) at {where}")
                return original(delay, *args, **kwargs)
        setattr(module, name, watched)

    watch(time, "sleep", False)
    watch(asyncio, "sleep", True)
    watch(anyio, "sleep", True)
    original_connect = socket.socket.connect

    def connect(self, address):
        connections.append(str(address))
        return original_connect(self, address)

    socket.socket.connect = connect


def _run_here(cells: list[str], learner: list[str], reverse: bool, stop_first: bool, scratch: str, guard: bool,
              shown: list[str] | None = None) -> dict:
    import pytest

    from bookshop.db import DATABASE_URL_ENV, fresh_database
    from checks import SESSION_ARGS, preloaded  # the learner's session: the checks' options, without their harness
    from kata.runner import _CollectNotebook

    os.environ[DATABASE_URL_ENV] = fresh_database(Path(scratch))
    module = types.ModuleType("tests_under_check")
    namespace = vars(module)
    # A mutant's code reads as the shop's own: a test that reads the source (inspect.getsource)
    # finds the shop as shipped, and catches only what the code does.
    readable = [*(shown or cells), *learner]
    for number, text in enumerate([*cells, *learner]):
        filename = f"<{'your tests' if number >= len(cells) else 'the shop'}, cell {number + 1}>"
        linecache.cache[filename] = (len(readable[number]), None, readable[number].splitlines(True), filename)
        try:
            exec(compile(text, filename, "exec"), namespace)
        except BaseException as error:  # noqa: BLE001 - the learner's cell, or the mutated shop
            where = "your tests" if number >= len(cells) else "the shop"
            return {"problem": f"{where} could not be set up: {type(error).__name__}: {error}"[:400]}
    sleeps: list[str] = []
    connections: list[str] = []
    if guard:
        _guard(sleeps, connections, {f"<your tests, cell {n + 1}>" for n in range(len(cells), len(cells) + len(learner))})
    random.seed(0)  # a suite that draws at random draws the same every run: one verdict, every time
    placeholder = Path(scratch) / "tests_under_check.py"
    placeholder.touch()
    record = _Record(reverse)
    # --confcutdir: otherwise pytest lists every entry of every folder above (all of /tmp).
    pytest.main([*SESSION_ARGS, f"--rootdir={scratch}", f"--confcutdir={scratch}", f"--basetemp={scratch}/tmp",
                 *(("-x",) if stop_first else ()),
                 str(placeholder)], plugins=[*preloaded(SESSION_ARGS), _CollectNotebook(module, placeholder), record])
    return {"tests": record.tests, "sleeps": sleeps, "connections": connections}


@functools.cache
def _certificates():
    """The SSL context an httpx client builds for itself when told nothing (the system's
    certificates), built once in the grading process: its forked runs inherit it."""
    from httpx._config import create_ssl_context

    return create_ssl_context()


def _share_the_certificates() -> None:
    """In a run's child: every httpx client made with the default verification gets the context
    built before the fork, as if each had been given ``verify=`` one shared context (which httpx
    allows), instead of reading the certificate file again: 30-40 ms a client, and a suite that
    starts the shop five times, whose lifespan makes a client, runs in each of eight children.
    What the clients trust is unchanged; any other verification is built as before."""
    try:
        from httpx import _config as config
        from httpx._transports import default as transports
    except ImportError:  # httpx moved its insides: every client loads its own, as it always may
        return
    build, shared = config.create_ssl_context, _certificates()

    def create_ssl_context(verify=True, cert=None, trust_env=True):
        if verify is True and cert is None and trust_env:
            return shared
        return build(verify=verify, cert=cert, trust_env=trust_env)

    config.create_ssl_context = transports.create_ssl_context = create_ssl_context


def _start(cells: list[str], learner: list[str], reverse: bool, stop_first: bool, guard: bool,
           shown: list[str] | None = None):
    """Fork a child for one run; returns (pid, reading fd, scratch folder). Without fork, runs here.

    A kernel has threads of its own, and forking a process with threads is safe only for a child
    that touches nothing those threads hold: this child drops the kernel's streams at once, runs
    pytest on its own module, writes to its pipe and ends with os._exit."""
    scratch = str(new_folder("kata-suite-"))
    if not hasattr(os, "fork"):
        return None, _run_here(cells, learner, reverse, stop_first, scratch, guard, shown), scratch
    reading, writing = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(reading)
            os.setsid()
            devnull = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(devnull, fd)
            sys.stdout = sys.stderr = open(os.devnull, "w")  # a kernel's own streams lead nowhere here
            os.environ["TMPDIR"] = tempfile.tempdir = scratch
            _share_the_certificates()
            result = _run_here(cells, learner, reverse, stop_first, scratch, guard, shown)
            os.write(writing, json.dumps(result).encode())
        except BaseException as error:  # noqa: BLE001 - the parent must hear of it
            with contextlib.suppress(BaseException):
                os.write(writing, json.dumps({"problem": f"the run failed: {type(error).__name__}: {error}"[:400]}).encode())
        finally:
            os._exit(0)
    os.close(writing)
    return pid, reading, scratch


def _collect(started: list, limit: float) -> list[dict]:
    deadline = time.monotonic() + limit
    results: list[dict | None] = [None] * len(started)
    buffers = [b"" for _ in started]
    open_fds = {reading: index for index, (pid, reading, _) in enumerate(started) if pid is not None}
    for index, (pid, reading, _) in enumerate(started):
        if pid is None:
            results[index] = reading  # ran here: `reading` holds the result
    while open_fds:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        ready, _, _ = select.select(list(open_fds), [], [], remaining)
        for fd in ready:
            chunk = os.read(fd, 1 << 16)
            if chunk:
                buffers[open_fds[fd]] += chunk
            else:
                index = open_fds.pop(fd)
                os.close(fd)
                try:
                    results[index] = json.loads(buffers[index]) if buffers[index] else {
                        "problem": "the run ended without a result: something in the tests ended the process"}
                except ValueError:
                    results[index] = {"problem": "the run ended without a readable result"}
    for fd, index in open_fds.items():
        os.close(fd)
        results[index] = {"problem": f"your tests did not finish within {limit:g} s: something in them waits or "
                                     "loops for ever"}
    for pid, _, scratch in started:
        if pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        shutil.rmtree(scratch, ignore_errors=True)
    return results  # type: ignore[return-value]


# A small suite of the workbook's own (never a learner's): run once in a process that forks, it
# makes the first uses every child shares (pytest's plugins, an event loop, the SQLite dialect,
# FastAPI's request path, the ORM's mappers) happen once, before the first fork, not in every
# child: here before a learner's suite runs a dozen times, and in `kata watch` and `kata verify`
# (``kata.isolated.warm_up``) before each check.
WARM_UP = """
import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI, Request
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from bookshop.db import lifespan
from bookshop.models import Book, Order

app = FastAPI(lifespan=lifespan)


@app.get("/books")
async def books(request: Request) -> list[str]:
    async with request.state.sessionmaker() as session:
        await session.scalars(select(Order).options(selectinload(Order.lines)))
        return [book.title for book in await session.scalars(select(Book))]


@app.post("/echo", status_code=201)
async def echo(body: dict) -> dict:
    return body


@pytest.fixture
async def client():
    async with LifespanManager(app) as manager:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://t") as client:
            yield client


@pytest.mark.anyio
async def test_the_shop_answers(client):
    assert (await client.get("/books")).status_code == 200
    assert (await client.post("/echo", json={"a": 1})).status_code == 201
"""
@functools.cache
def warm_up() -> None:
    """Run ``WARM_UP`` here, once; nothing where processes cannot fork (no child would inherit it)."""
    if not hasattr(os, "fork"):
        return
    _certificates()
    from unittest.mock import patch

    # The run sets the database's URL: the environment is put back as it was afterwards.
    with patch.dict(os.environ), temporary_folder("kata-warm-up-") as scratch, contextlib.suppress(Exception):
        _run_here([], [WARM_UP], False, False, scratch, False)


_cache: dict[str, Grading] = {}


def grade(ns: dict, mutants: list[Mutant], *, guard: bool = False) -> Grading:
    """Run the learner's tests against the shop (both orders) and every mutant, in parallel
    children; cached for one check run of the same tests. ``guard`` notes sleeps and sockets."""
    learner = learner_sources(ns)
    key = hashlib.sha256(json.dumps([learner, [m.name for m in mutants], guard]).encode()).hexdigest()
    if key in _cache:
        return _cache[key]
    plan = [("the shop", None, False), ("the shop", None, True), *((m.name, m, False) for m in mutants)]
    # A mutant is caught at the first failing test: the rest of that run tells nothing more.
    warm_up()
    sources = [shop_source(ns, mutant) for _, mutant, _ in plan]
    gc.freeze()  # the children inherit this process's objects: no collection in them walks (and copies) those
    try:
        started = [_start(cells, learner, reverse, mutant is not None, guard, sources[0])
                   for cells, (_, mutant, reverse) in zip(sources, plan)]
    finally:
        gc.unfreeze()
    runs = []
    for (variant, _, reverse), result in zip(plan, _collect(started, RUN_LIMIT)):
        runs.append(Run(variant, reverse, result.get("tests", []), result.get("problem", ""),
                        result.get("sleeps", []), result.get("connections", [])))
    grading = Grading(runs[0], runs[1], {run.variant: run for run in runs[2:]})
    _cache.clear()  # one learner suite at a time: keep memory flat
    _cache[key] = grading
    return grading


# --- the findings every testing kata gives --------------------------------------------------------


def _listed(tests: list[dict], limit: int = 3) -> str:
    shown = "; ".join(f"{t['name']} ({t['outcome']}{': ' + t['message'].splitlines()[0][:160] if t['message'] else ''})"
                      for t in tests[:limit])
    return shown + (f"; and {len(tests) - limit} more" if len(tests) > limit else "")


def expect_tests_pass_on_the_shop(grading: Grading) -> None:
    from checks.feedback import fail

    run = grading.shop
    if run.problem:
        fail(f"Your tests could not run against the shop as written: {run.problem}.",
             "A suite that does not run catches nothing, and CI would report the error instead of a result.",
             nudge="Does every cell of your tests run on its own, with the shop's cells above it?")
    if not run.tests:
        fail("Your cells define no test: no function whose name starts with test_ ran.",
             "With no tests, every bug ships.",
             nudge="pytest runs the functions whose names start with test_. Where are yours?")
    if run.failing:
        fail(f"On the shop as written, {len(run.failing)} of your {len(run.tests)} tests did not pass: "
             f"{_listed(run.failing)}.",
             "A test that fails on correct code is broken or pins something nobody promised: it gets ignored, "
             "then deleted, and the bug it was meant to catch ships anyway.",
             nudge="Does that test start the shop the way it runs, begin from the data it expects (not what "
                   "another test left), and assert only what the shop promises?")


def expect_the_same_verdict_in_reverse(grading: Grading) -> None:
    from checks.feedback import expect

    run = grading.reversed
    expect(
        run.passed or not grading.shop.passed,
        f"Run in the reverse order, your tests gave another verdict: "
        f"{run.problem or _listed(run.failing)}, although they all passed in the order written.",
        "A suite whose verdict depends on its order passes or fails by accident: tests that share state "
        "(rows, overrides, a client) break when pytest -k, pytest-xdist or a new test changes the order.",
        nudge="What does one of your tests leave behind that another one relies on, or trips over?",
    )


def expect_every_bug_caught(grading: Grading, mutants: list[Mutant]) -> None:
    from checks.feedback import fail

    survivors = grading.survivors(mutants)
    if survivors:
        kinds = "; ".join(m.kind for m in survivors)
        concepts = " ".join(dict.fromkeys(m.concept for m in survivors if m.concept))
        set_aside = sorted({t["name"] for m in survivors for t in grading.mutants[m.name].set_aside})
        aside = (f" On those versions, {', '.join(set_aside[:3])} {'was' if len(set_aside) == 1 else 'were'} skipped "
                 "or marked xfail, which pytest reports as expected, not as a failure." if set_aside else "")
        fail(f"{len(survivors)} of {len(mutants)} versions of the shop, each with one bug in it, passed every one "
             f"of your tests.{aside}",
             "Those are bugs your suite lets ship: a green run says nothing about them.",
             nudge=f"The kinds of bug that got through: {kinds}.", concept=concepts)


def expect_no_sleep_and_no_network(grading: Grading) -> None:
    from checks.feedback import expect

    runs = [grading.shop, grading.reversed, *grading.mutants.values()]
    sleeps = list(dict.fromkeys(s for run in runs for s in run.sleeps))
    connections = list(dict.fromkeys(c for run in runs for c in run.connections))
    expect(not sleeps, f"Your tests slept: {'; '.join(sleeps[:3])}.",
           "A test that sleeps is slow on every run, and still flaky on a busy machine: the wait is a guess.",
           nudge="What would let the test decide when time has passed, instead of the wall clock?")
    expect(not connections, f"Your tests opened network connections: {', '.join(connections[:3])}.",
           "A test that needs a real service fails when that service is down, slow or changed, not when the "
           "code is wrong; and on CI it may reach nothing at all.",
           nudge="What could stand in for the service inside the test process?")
