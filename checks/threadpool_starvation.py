"""Check: /health needs no worker thread, and slow sync reports are bounded: a timeout, and at most
four at the accounting service at once."""

from collections.abc import Iterator

import anyio
import anyio.to_thread
import pytest

from bookshop.accounting import ACCOUNTING_URL_ENV, AccountingService, LegacyAccountingClient, park_reports
from bookshop.client import open_client
from bookshop.observe import request_label, worker_threads
from bookshop.upstream import serve
from checks.feedback import expect, fail
from checks.harness import brief, json_of, learner

__all__ = [
    "shop_accounting_server",
    "shop_accounting",
    "test_health_answers_while_a_slow_report_holds_every_worker_thread",
    "test_health_takes_no_worker_thread",
    "test_at_most_four_reports_query_the_accounting_service_at_once",
    "test_a_parked_report_completes_once_accounting_answers",
    "test_health_answers_with_the_configured_version_every_time",
    "test_the_report_gives_up_on_a_silent_accounting_service",
]

VERSION = "9.9.9-check"
REPORTS_AT_ONCE = 4  # the story: the accounting team's limit
SENT = REPORTS_AT_ONCE + 2
# Safety nets, never waited out by working code: a held answer is let go after HOLD_LIMIT s only
# when the event loop that should release it is blocked, and only once per check (the service
# then holds no more). /health either answers or queues at the thread limiter, which the check
# sees at once; SETTLE_LIMIT only bounds reports that wait where nobody can see them.
HOLD_LIMIT = 1.0
HEALTH_WAIT = 1.0
SETTLE_LIMIT = 1.0


@pytest.fixture(scope="module")
def shop_accounting_server() -> Iterator[AccountingService]:
    """The accounting service on a real port, for the whole check (stopping costs ~0.2 s)."""
    service = AccountingService(hold_limit=HOLD_LIMIT)
    with serve(service.app) as url:
        service.url = url
        try:
            yield service
        finally:
            service.release()  # never leave a request parked in the server thread


def _clear_caches(ns: dict) -> None:
    # A cached settings helper (`@lru_cache`, `@cache`), under any name, would keep the settings of
    # another test or of the notebook's own cells.
    for value in list(ns.values()):
        cache_clear = getattr(value, "cache_clear", None)
        if callable(cache_clear) and callable(value):
            try:
                cache_clear()
            except Exception:  # noqa: BLE001 - not a functools cache after all: leave it
                pass


@pytest.fixture
def shop_accounting(shop_accounting_server, kata_ns, monkeypatch) -> Iterator[AccountingService]:
    """Today's sales, answered at once; the app's settings and accounting URL read afresh."""
    service = shop_accounting_server
    service.reset()
    monkeypatch.setenv(ACCOUNTING_URL_ENV, service.url)
    monkeypatch.setenv("SHOP_VERSION", VERSION)
    _clear_caches(kata_ns)
    yield service
    service.release()
    _clear_caches(kata_ns)  # and the notebook's own cells should not see this test's settings


async def _get(client, path: str, into: dict, done: anyio.Event | None = None) -> None:
    request_label.set(f"GET {path}")  # worker_threads() records which request asked
    into[path] = await client.get(path)
    if done is not None:
        done.set()


def _loop_was_blocked(service: AccountingService) -> None:
    """The finding when a report called the accounting service from the event loop's own thread."""
    expect(
        not (service.blocked_loop or service.gave_up),
        "The report called the accounting service from the event loop's own thread: while it waited "
        "for the answer, nothing else in the app ran, not even the check that would have let the "
        "service answer." if service.blocked_loop else
        "The accounting service held the report's answer until it gave up: while the report waited, "
        "nothing else in the app ran, not even the check that would have let the service answer.",
        "A blocking call on the event loop stops every request of the process at once, /health "
        "included: one hung report takes the whole server down, with no thread pool involved.",
        nudge="The vendor's SDK blocks. Which kind of function does FastAPI run outside the event loop?",
        concept="FastAPI awaits an async def on the event loop and runs a plain def in a worker thread. "
                "Read FastAPI's 'Concurrency and async / await'.",
    )


def _report_reached(parked: bool, responses: dict) -> None:
    report = responses.get("/reports/sales")
    answered = f"it answered {brief(report)}" if report is not None else "it had not answered"
    expect(
        parked,
        f"GET /reports/sales never reached the accounting service ({answered}).",
        "The sales report is the month's figures from the accounting service: a report that does not "
        "ask it has nothing true to show.",
        nudge="Does the report still fetch the month's sales through the vendor's SDK?",
    )


@pytest.mark.anyio
async def test_health_answers_while_a_slow_report_holds_every_worker_thread(kata_ns, shop_accounting):
    responses: dict = {}
    parked = answered_while_parked = False
    async with open_client(learner(kata_ns, "app")) as client:
        # anyio gives each event loop one default limiter of 40 worker threads. Shrink this
        # loop's to 1 after startup: one parked report then plays "all 40 are busy".
        limiter = anyio.to_thread.current_default_thread_limiter()
        saved = limiter.total_tokens
        limiter.total_tokens = 1
        try:
            shop_accounting.hold()
            with worker_threads() as asked:
                async with anyio.create_task_group() as tg:
                    report_done = anyio.Event()
                    tg.start_soon(_get, client, "/reports/sales", responses, report_done)
                    parked = await shop_accounting.first_request(unless=report_done, within=HEALTH_WAIT)
                    if parked and not (shop_accounting.blocked_loop or shop_accounting.gave_up):
                        health_done = anyio.Event()
                        tg.start_soon(_get, client, "/health", responses, health_done)
                        # /health either answers, or queues for the one token the parked report
                        # holds, where it can never be served: the limiter says which, no clock needed.
                        with anyio.move_on_after(HEALTH_WAIT):  # a safety net only
                            while not health_done.is_set() and limiter.statistics().tasks_waiting == 0:
                                await anyio.sleep(0.001)
                        answered_while_parked = health_done.is_set()
                    shop_accounting.release()
        finally:
            shop_accounting.release()
            limiter.total_tokens = saved
    _loop_was_blocked(shop_accounting)
    _report_reached(parked, responses)
    queued = list(dict.fromkeys(r.function for r in asked if r.request == "GET /health"))
    expect(
        answered_while_parked,
        "While one GET /reports/sales waited for the accounting service and held the only worker "
        "thread (the check left 1 of anyio's 40: what 40 slow reports do), GET /health did not "
        f"answer: it was waiting for a worker thread to run {', '.join(queued) or 'something'}.",
        "The load balancer asks /health every few seconds. When the reports hold every thread, a "
        "health check that needs one stops answering, and the load balancer takes a healthy server "
        "out: the whole shop goes down because of one slow report.",
        nudge="/health is an async def. What does it depend on, and how does FastAPI call that?",
        concept="FastAPI runs every plain def endpoint and every plain def dependency in a worker thread "
                "taken from one limiter per event loop (40 tokens). A hot path that needs none of them "
                "cannot be starved. Read FastAPI's 'Concurrency and async / await'.",
    )
    health = responses["/health"]
    expect(health.status_code == 200, f"GET /health answered {brief(health)}.",
           "The load balancer takes a server whose health check fails out of service.")


@pytest.mark.anyio
async def test_health_takes_no_worker_thread(kata_ns, shop_accounting):
    async with open_client(learner(kata_ns, "app")) as client:
        with worker_threads() as asked:
            health = await client.get("/health")
    expect(health.status_code == 200, f"GET /health answered {brief(health)}.",
           "The load balancer takes a server whose health check fails out of service.")
    functions = list(dict.fromkeys(r.function for r in asked))
    expect(
        not asked,
        f"GET /health asked for a worker thread to run {', '.join(functions)}.",
        "Each worker thread comes from one limiter per event loop, shared with every slow def "
        "endpoint and dependency of the app. A health check that needs one reports on the thread "
        "pool, not on the app: when slow work takes every thread, it stops answering.",
        nudge="Which of the functions /health depends on is a plain def? Does a cache change how "
              "FastAPI calls it?",
        concept="Only async def endpoints and dependencies run on the event loop itself. Values the app "
                "computes once can be built at startup and handed to requests through the lifespan "
                "state. Read FastAPI's 'Concurrency and async / await' and 'Lifespan Events'.",
    )


@pytest.mark.anyio
async def test_at_most_four_reports_query_the_accounting_service_at_once(kata_ns, shop_accounting):
    seen = await park_reports(learner(kata_ns, "app"), shop_accounting, sent=SENT, namespace=kata_ns,
                              limit=SETTLE_LIMIT)
    _loop_was_blocked(shop_accounting)
    expect(
        seen.at_the_service <= REPORTS_AT_ONCE,
        f"The check sent {SENT} GET /reports/sales at once while the accounting service held its "
        f"answers: {seen.at_the_service} of them were waiting at the service at the same time.",
        "The accounting team allows four reports at once. And every report the app lets through "
        "holds a worker thread while it waits: on a month-end, the reports alone can take every "
        "thread of the process, with nothing to stop a fiftieth.",
        nudge="Where does the report say how many of it may run at the same time, and is that limit "
              "shared by every request, or made anew for each one?",
        concept="A limit on concurrency must be one object shared by all the requests it limits: FastAPI "
                "can limit how many calls of a dependency run at once, and anyio has capacity limiters. "
                "Read FastAPI's 'Advanced Dependencies' (limit dependency concurrency) and AnyIO's "
                "'Working with threads'.",
    )
    expect(
        seen.settled,
        f"The check sent {SENT} GET /reports/sales at once while the accounting service held its "
        f"answers: {seen.at_the_service} were held at the service, {seen.waiting} waited for their turn "
        f"on the event loop, and {SENT - seen.at_the_service - seen.waiting} were neither: they waited "
        "somewhere the check cannot see, most likely inside a worker thread each.",
        "A report that waits for its turn inside a worker thread still holds that thread: with enough "
        "of them the thread pool is full again, and every plain def in the app waits.",
        nudge="Where does a fifth report wait for its turn: on the event loop, or in a thread it already took?",
        concept="A capacity limiter or FastAPI's dependency concurrency limit makes the excess wait on "
                "the event loop, before it takes a thread. Read AnyIO's 'Working with threads'.",
    )
    answered = [status for status in seen.statuses if status == 200]
    expect(
        len(answered) == SENT and seen.queried == SENT,
        f"Once the accounting service let them go, the {SENT} reports answered {seen.statuses}, and "
        f"the service received {seen.queried} queries.",
        "A limit makes reports wait for their turn; it must not refuse or lose them: each report is "
        "still one query to the accounting service, answered 200.",
        nudge="Does each report still run, once its turn comes?",
    )


@pytest.mark.anyio
async def test_a_parked_report_completes_once_accounting_answers(kata_ns, shop_accounting):
    shop_accounting.sales = {"month": "2026-11", "books_sold": 777, "revenue_cents": 98_765}  # this test's only
    responses: dict = {}
    async with open_client(learner(kata_ns, "app")) as client:
        shop_accounting.hold()
        async with anyio.create_task_group() as tg:
            report_done = anyio.Event()
            tg.start_soon(_get, client, "/reports/sales", responses, report_done)
            parked = await shop_accounting.first_request(unless=report_done, within=HEALTH_WAIT)
            shop_accounting.release()
    _loop_was_blocked(shop_accounting)
    _report_reached(parked, responses)
    expect(
        shop_accounting.requests == 1,
        f"One GET /reports/sales made {shop_accounting.requests} queries to the accounting service.",
        "The accounting service is slow and shared: a report should ask it once for the month's sales.",
        nudge="How many times does one report call the SDK?",
    )
    report = responses["/reports/sales"]
    expect(
        report.status_code == 200 and json_of(report) == shop_accounting.sales,
        f"GET /reports/sales answered {brief(report, 160)}, while the accounting service answered "
        f"{shop_accounting.sales}.",
        "The report must show the figures the accounting service gave, for the month it gave them.",
        nudge="Does the report still build its answer from what the SDK returned?",
    )


@pytest.mark.anyio
async def test_health_answers_with_the_configured_version_every_time(kata_ns, shop_accounting):
    async with open_client(learner(kata_ns, "app")) as client:
        answers = [await client.get("/health") for _ in range(3)]
    statuses = [a.status_code for a in answers]
    expect(
        statuses == [200, 200, 200],
        f"Three GET /health in a row answered {statuses}.",
        "A health check that fails after its first answer gets the server taken out of service a few "
        "seconds after every deploy.",
        nudge="What does the function that gives /health its settings return the second time it is "
              "called? Is that something that can be awaited twice?",
        concept="A cache placed on an async def stores what calling it returns: a coroutine, which can "
                "be awaited only once. Cache plain values instead, or build them at startup. Read the "
                "Python docs of functools.lru_cache.",
    )
    bodies = [json_of(a) for a in answers]
    versions = [b.get("version") if isinstance(b, dict) else None for b in bodies]
    expect(
        versions == [VERSION] * 3,
        f"GET /health reported the versions {versions}, but the app was started with "
        f"SHOP_VERSION={VERSION!r}.",
        "The version on /health is how the operators see which release a server runs: it must be the "
        "configuration the app started with, not the one of whatever ran before.",
        nudge="When are the settings read: when the app starts, or earlier?",
        concept="Settings belong to startup, like the engine: see \"Settings are read at startup; secrets "
                "have no default\".",
    )


@pytest.mark.anyio
async def test_the_report_gives_up_on_a_silent_accounting_service(kata_ns, shop_accounting, monkeypatch):
    # The timeout each client is built with, whatever name the notebook imported the class under.
    timeouts: list = []
    build = LegacyAccountingClient.__init__

    def recording(self, *args, **kwargs):
        build(self, *args, **kwargs)
        timeouts.append(self.timeout)

    monkeypatch.setattr(LegacyAccountingClient, "__init__", recording)
    async with open_client(learner(kata_ns, "app")) as client:
        report = await client.get("/reports/sales")
    expect(
        timeouts and report.status_code == 200,
        f"GET /reports/sales answered {brief(report)} and built {len(timeouts)} accounting client(s).",
        "The report's figures come from the accounting service, through the vendor's SDK: there is "
        "no other source for them.",
        nudge="Does the report still build a LegacyAccountingClient and ask it for the month's sales?",
    )
    bounded = all(isinstance(t, (int, float)) and not isinstance(t, bool) and 0 < t < float("inf") for t in timeouts)
    if not bounded:
        fail(
            f"The report's accounting client was built with the timeout {timeouts[-1]!r}: it waits for "
            "the accounting service for as long as the service takes, forever if it hangs.",
            "A report that never gives up holds its worker thread for ever. Last month-end the service "
            "hung: every report opened after that kept a thread, until none was left.",
            nudge="What does the SDK do, by default, when the service does not answer? Can you tell it "
                  "how long to wait?",
            concept="Every blocking call to another service needs a bound on how long it may take: a "
                    "timeout, in seconds, after which the call fails and gives its thread back.",
        )
