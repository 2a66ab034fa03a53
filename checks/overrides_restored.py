"""Check: the learner's tests of the basket quote put their stand-ins in place for one test only.

Besides the three findings every testing kata gives (pass on the shop, the same verdict in
either order, every bug caught), this check runs the tests once more, on a shop that answers 503
to every request, so that they fail as tests fail when something is broken: after each test, a
fixture of the check's own (first in, last out) looks at the app's ``dependency_overrides``. A
stand-in still in place after the test that set it, passed or failed, leaks into the tests after
it. That run is hidden, like the mutants."""

import hashlib
import json

from checks.feedback import expect
from checks.mutation import (
    RUN_LIMIT,
    Mutant,
    Run,
    _collect,
    _start,
    expect_every_bug_caught,
    expect_tests_pass_on_the_shop,
    expect_the_same_verdict_in_reverse,
    grade,
    learner_sources,
    shop_source,
)

__all__ = [
    "test_your_tests_pass_on_the_shop_as_written",
    "test_your_tests_give_the_same_verdict_in_either_order",
    "test_your_tests_catch_every_bug_in_the_rates_and_the_quote",
    "test_no_test_leaves_an_override_behind",
]

REAL = ("An override replaces the dependency for every request the app serves until it is removed: "
        "the tests that should run the real one must not inherit another test's stand-in. Read FastAPI's "
        "'Testing Dependencies with Overrides' and pytest's fixtures (teardown after yield).")
STAND_IN = ("Some cases the real data cannot reach; a stand-in for the dependency, chosen by the test, can: "
            "that is what overrides are for.")

MUTANTS = [
    Mutant("free-from-300", "free_from_cents=3000", "free_from_cents=30000",
           "the carrier's real rates typed in wrong: free delivery only from 300.00", REAL),
    Mutant("threshold-excluded", "books >= rates.free_from_cents", "books > rates.free_from_cents",
           "a basket worth exactly the free-delivery threshold still pays delivery (no books in the shop "
           "add up to exactly 30.00)", STAND_IN),
    Mutant("total-without-delivery", "total_cents=books + delivery", "total_cents=books",
           "a total that leaves the delivery out", STAND_IN),
]

# The hidden run: every request answers 503, and a fixture that runs first and ends last notes the
# stand-ins a test left on the app (then puts the app back, so each test is judged on its own).
LEFT_BEHIND = "stand-ins left behind: "
_ANCHOR = "    return Quote(books_cents=books, delivery_cents=delivery, total_cents=books + delivery)"
PROBE = Mutant("probe", _ANCHOR, _ANCHOR + f'''

import pytest as _kata_pytest
from fastapi.responses import JSONResponse as _KataJSONResponse


@app.middleware("http")
async def _kata_out_of_order(request, call_next):
    return _KataJSONResponse({{"detail": "out of order"}}, status_code=503)


@_kata_pytest.fixture(autouse=True)
def _kata_stand_ins_left_behind():
    before = dict(app.dependency_overrides)
    yield
    left = [getattr(key, "__name__", repr(key)) for key, value in app.dependency_overrides.items()
            if before.get(key) is not value]
    app.dependency_overrides.clear()
    app.dependency_overrides.update(before)
    if left:
        raise AssertionError({LEFT_BEHIND!r} + ", ".join(left))
''', "")

_probes: dict[str, Run] = {}


def _graded(ns: dict):
    """The usual grading, and the hidden run on the broken shop, started first so both overlap."""
    key = hashlib.sha256(json.dumps(learner_sources(ns)).encode()).hexdigest()
    started = None if key in _probes else _start(shop_source(ns, PROBE), learner_sources(ns), False, False, False)
    try:
        grading = grade(ns, MUTANTS)
    finally:
        if started is not None:
            result = _collect([started], RUN_LIMIT)[0]
            _probes.clear()
            _probes[key] = Run("the shop, out of order", False, result.get("tests", []), result.get("problem", ""))
    return grading, _probes[key]


def test_your_tests_pass_on_the_shop_as_written(kata_ns):
    expect_tests_pass_on_the_shop(_graded(kata_ns)[0])


def test_your_tests_give_the_same_verdict_in_either_order(kata_ns):
    expect_the_same_verdict_in_reverse(_graded(kata_ns)[0])


def test_your_tests_catch_every_bug_in_the_rates_and_the_quote(kata_ns):
    expect_every_bug_caught(_graded(kata_ns)[0], MUTANTS)


def test_no_test_leaves_an_override_behind(kata_ns):
    probe = _graded(kata_ns)[1]
    leaks = [(test["name"], test["message"].split(LEFT_BEHIND, 1)[1].splitlines()[0])
             for test in probe.tests if LEFT_BEHIND in test["message"]]
    shown = "; ".join(f"after {name}, a stand-in for {what}" for name, what in leaks[:3])
    expect(
        not leaks,
        f"The check ran your tests once more on a shop that answers 503 to everything, so that they fail. "
        f"{len(leaks)} of {len(probe.tests)} tests left a stand-in on the app when they ended: {shown}"
        f"{'; and more' if len(leaks) > 3 else ''}.",
        "Overrides live on the app object, which every test shares: a stand-in that outlives its test "
        "replaces the real dependency in the tests after it, in this file and in others, so they pass or fail "
        "by the order they run in. And tests fail exactly when something is broken: a clean-up that a failed "
        "assert skips leaks on the day it matters.",
        nudge="Where is each stand-in taken away, and would that still happen if an assert above it failed? "
              "Which part of a pytest test runs after it, whatever its outcome?",
        concept="A pytest fixture's code after yield runs at teardown, passed or failed; monkeypatch undoes "
                "what it set the same way. Read: pytest, 'How to use fixtures' (teardown) and 'How to "
                "monkeypatch'; FastAPI, 'Testing Dependencies with Overrides'.",
    )
