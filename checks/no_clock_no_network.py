"""Check: the learner's tests pass on the shop in either order, never sleep, never open a network
connection, never wait on the shop's real clock, and fail (fast) on every version of the shop
with one bug in its retries or in the ten minutes it keeps a price."""


from checks import mutation
from checks.feedback import expect, fail
from checks.mutation import (
    Mutant,
    expect_every_bug_caught,
    expect_no_sleep_and_no_network,
    expect_tests_pass_on_the_shop,
    expect_the_same_verdict_in_reverse,
)

__all__ = [
    "test_your_tests_pass_on_the_shop_as_written",
    "test_your_tests_give_the_same_verdict_in_either_order",
    "test_your_tests_neither_sleep_nor_reach_the_network",
    "test_your_tests_catch_a_retry_that_gives_up_at_once_or_never_pauses",
    "test_your_tests_catch_a_price_kept_for_ever_or_not_at_all",
    "test_your_tests_fail_fast_on_a_shop_that_retries_without_end",
]

RETRIES = ("A retry has a number of attempts and a pause before each new one; a stand-in for the service "
           "(httpx.MockTransport, or an override of the client) counts the calls, and a clock the test gives "
           "the shop records the pauses.")
KEPT = ("An expiry is tested from both sides, with a clock the test moves: still the old value just before, "
        "the new one just after. FastAPI: 'Testing Dependencies with Overrides'.")
FOREVER = ("A stand-in that answers only the calls the test expects, and fails the test on the next one, "
           "turns a loop without end into a failure at once.")

# What the shop's retry loop becomes in the version that never stops asking. A loop without end
# never finishes a test that lets it run: past this many attempts the check stops it, and notes
# that the learner's tests did not.
STOPPED_AFTER = 50  # attempts: the shop makes 3, so a test that lets it make 50 lets it make any number
STOPPED = f"the check stopped this retry loop after {STOPPED_AFTER} attempts: the shop never stops asking"
RETRY_LOOP = '''    for attempt in range(1, ATTEMPTS + 1):
        try:
            response = await prices.get(f"/prices/{isbn}")
        except httpx.TransportError:
            response = None
        if response is not None and response.status_code < 500:
            if response.status_code != 200:
                raise HTTPException(502, detail=f"The price service answered {response.status_code}")
            return response.json()["price_cents"]
        if attempt < ATTEMPTS:
            await clock.sleep(pause)
            pause *= 2
'''
WITHOUT_END = f'''    attempt = 0
    while True:  # "the price service always comes back: ask until it does"
        attempt += 1
        if attempt > {STOPPED_AFTER}:
            raise RuntimeError("{STOPPED}")
        try:
            response = await prices.get(f"/prices/{{isbn}}")
        except httpx.TransportError:
            response = None
        if response is not None and response.status_code < 500:
            if response.status_code != 200:
                raise HTTPException(502, detail=f"The price service answered {{response.status_code}}")
            return response.json()["price_cents"]
        await clock.sleep(pause)
        pause = min(pause * 2, 30.0)
'''

RETRY_BUGS = [
    Mutant("no-retry", "ATTEMPTS = 3", "ATTEMPTS = 1",
           "a shop that gives up at the first busy answer of the price service", RETRIES),
    Mutant("no-pause", "            await clock.sleep(pause)\n", "",
           "a shop that asks again at once, with no pause between attempts", RETRIES),
]
KEPT_BUGS = [
    Mutant("kept-for-ever", "if price is None or clock.now() >= until:", "if price is None:",
           "a shop that keeps a price for ever, never asking again", KEPT),
    Mutant("never-kept", "price, until = request.state.kept.get(book.isbn, (None, None))", "price, until = None, None",
           "a shop that keeps no price at all, asking the service for every page", KEPT),
]
ENDLESS = Mutant("retries-without-end", RETRY_LOOP, WITHOUT_END,
                 "a shop that asks a service that stays down again and again, without end", FOREVER)
MUTANTS = [*RETRY_BUGS, *KEPT_BUGS, ENDLESS]

# Not a bug: the shop whose real clock refuses to wait. Tests that pass on the shop and fail on
# this waited on the real clock somewhere (the shop's pauses), whichever client they used.
REAL_WAIT = "the shop's real clock was asked to wait"
REAL_CLOCK_WAITS = Mutant("real-clock-waits", "        await asyncio.sleep(seconds)",
                          f'        raise RuntimeError("{REAL_WAIT}")', "")


def grade(ns: dict) -> mutation.Grading:
    """``mutation.grade`` with the sleeps and the sockets of the learner's tests noted."""
    return mutation.grade(ns, [*MUTANTS, REAL_CLOCK_WAITS], guard=True)


def test_your_tests_pass_on_the_shop_as_written(kata_ns):
    expect_tests_pass_on_the_shop(grade(kata_ns))


def test_your_tests_give_the_same_verdict_in_either_order(kata_ns):
    expect_the_same_verdict_in_reverse(grade(kata_ns))


def test_your_tests_neither_sleep_nor_reach_the_network(kata_ns):
    grading = grade(kata_ns)
    expect_no_sleep_and_no_network(grading)
    waited = grading.mutants[REAL_CLOCK_WAITS.name].failing
    expect(
        not (grading.shop.passed and waited),
        f"Your tests made the shop wait on its real clock: {', '.join(t['name'] for t in waited[:3])} "
        "ran the shop's pauses between attempts in real time.",
        "Every retry test then costs the shop's real pauses on every run; and a clock the test does not "
        "control cannot show whether the shop paused at all, or for how long.",
        nudge="Where does the shop get the clock it waits with, and could a test hand it another one?",
        concept="Inject the clock: a dependency the app reads the time and waits through, which a test "
                "overrides with a clock it moves itself. FastAPI: 'Testing Dependencies with Overrides'.",
    )


def test_your_tests_catch_a_retry_that_gives_up_at_once_or_never_pauses(kata_ns):
    expect_every_bug_caught(grade(kata_ns), RETRY_BUGS)


def test_your_tests_catch_a_price_kept_for_ever_or_not_at_all(kata_ns):
    expect_every_bug_caught(grade(kata_ns), KEPT_BUGS)


def test_your_tests_fail_fast_on_a_shop_that_retries_without_end(kata_ns):
    grading = grade(kata_ns)
    expect_every_bug_caught(grading, [ENDLESS])
    run = grading.mutants[ENDLESS.name]
    stopped = [t for t in run.failing if STOPPED in t["message"]]
    if stopped and grading.shop.passed:
        fail(
            f"On a version of the shop that asks the price service again and again, without end, your test "
            f"{stopped[0]['name']} kept answering it: the check had to stop the shop after {STOPPED_AFTER} "
            "attempts. Nothing in the test would have.",
            "Against a real loop without end such a test never finishes: CI hangs until its time limit kills "
            "the job, and the report says 'timeout', not which promise the shop broke.",
            nudge="What does your stand-in for the price service do when the shop calls it more often than "
                  "the test expects?",
            concept=FOREVER,
        )
