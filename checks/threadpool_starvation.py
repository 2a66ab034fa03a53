"""Check: /health needs no worker thread, and slow sync reports are bounded: a timeout of at most ten
seconds, at most four at the accounting service at once (the others wait their turn), an error when
the service fails, and the app's default thread limit left alone."""

from collections.abc import Iterator

import anyio
import anyio.to_thread
import pytest

from bookshop.accounting import ACCOUNTING_URL_ENV, AccountingService, park_reports, sdk_calls
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
    "test_a_failing_accounting_service_is_reported_as_an_error_not_as_figures",
    "test_the_default_worker_thread_limit_is_left_as_the_app_found_it",
]

VERSION = "9.9.9-check"
REPORTS_AT_ONCE = 4  # the story: the accounting team's limit
GIVE_UP_AFTER = 10.0  # the story: a report gives up on the accounting service after ten seconds
FAILURES = 5  # the accounting service fails this many queries in a row, then answers again
SENT = REPORTS_AT_ONCE + 2
# Safety nets, never waited out by working code: a held answer is let go after HOLD_LIMIT s only
# when the event loop that should release it is blocked, and only once per check (the service
# then holds no more). /health either answers or queues at the thread limiter, which the check
# sees at once; SETTLE_LIMIT only bounds reports that wait where nobody can see them.
HOLD_LIMIT = 1.0
HEALTH_WAIT = 1.0
SETTLE_LIMIT = 0.5
RETRY_WAIT = 0.5  # only a report that keeps asking a failing service, pausing between tries, waits this out


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


def _refused(service: AccountingService) -> str:
    n = service.unsigned
    return (f" The accounting service refused {n} {'request' if n == 1 else 'requests'} that the vendor's "
            "SDK had not signed." if n else "")


def _report_reached(parked: bool, responses: dict, service: AccountingService) -> None:
    report = responses.get("/reports/sales")
    answered = f"it answered {brief(report)}" if report is not None else "it had not answered"
    expect(
        parked,
        f"GET /reports/sales never reached the accounting service ({answered}).{_refused(service)}",
        "The sales report is the month's figures from the accounting service, and the service answers "
        "only requests signed by the vendor's SDK: a report that does not go through the SDK has "
        "nothing true to show.",
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
    _report_reached(parked, responses, shop_accounting)
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
        f"the service received {seen.queried} queries.{_refused(shop_accounting)}",
        "The accountants asked for a fifth report to wait its turn, not to be turned away: an "
        "accountant who gets an error clicks again, and the month-end rush only grows. Each report is "
        "still one query to the accounting service, answered 200 once its turn came.",
        nudge="Does each report still run, once its turn comes, or is it refused?",
        concept="A concurrency limit makes the excess wait (a semaphore, a capacity limiter, FastAPI's "
                "max_concurrency); refusing it is rate limiting, another tool for another problem.",
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
    _report_reached(parked, responses, shop_accounting)
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


def _seconds(timeout) -> str:
    if timeout is None:
        return "no timeout"
    return f"the timeout {timeout!r}"


@pytest.mark.anyio
async def test_the_report_gives_up_on_a_silent_accounting_service(kata_ns, shop_accounting):
    # The timeout each call to the SDK is made with, read when the call is made.
    with sdk_calls() as timeouts:
        async with open_client(learner(kata_ns, "app")) as client:
            report = await client.get("/reports/sales")
    expect(
        timeouts and report.status_code == 200,
        f"GET /reports/sales answered {brief(report)} and made {len(timeouts)} "
        f"{'call' if len(timeouts) == 1 else 'calls'} to the vendor's SDK.{_refused(shop_accounting)}",
        "The report's figures come from the accounting service, which answers only requests signed by "
        "the vendor's SDK: the SDK is the only way to them.",
        nudge="Does the report still ask a LegacyAccountingClient for the month's sales?",
    )
    wrong = [t for t in timeouts
             if not (isinstance(t, (int, float)) and not isinstance(t, bool) and 0 < t <= GIVE_UP_AFTER)]
    if wrong:
        timeout = wrong[0]
        if timeout is None:
            how = "it waits for the accounting service for as long as the service takes, forever if it hangs."
        elif not isinstance(timeout, (int, float)) or isinstance(timeout, bool):
            how = "that is no number of seconds, so the SDK cannot tell how long to wait."
        elif timeout <= 0:
            how = "that gives the accounting service no time at all to answer."
        else:
            how = (f"it waits up to {timeout:g} s for the accounting service, where the shop gives up after "
                   f"{GIVE_UP_AFTER:g} s.")
        fail(
            f"The report called the vendor's SDK with {_seconds(timeout)}: {how}",
            "A report that does not give up in time holds its worker thread all that while. Last "
            "month-end the service hung: every report opened after that kept a thread, until none was left.",
            nudge="What does the SDK do, by default, when the service does not answer? Can you tell it "
                  "how long to wait, and how long does the story say a report may wait?",
            concept="Every blocking call to another service needs a bound on how long it may take: a "
                    "timeout, in seconds, after which the call fails and gives its thread back.",
        )


@pytest.mark.anyio
async def test_a_failing_accounting_service_is_reported_as_an_error_not_as_figures(kata_ns, shop_accounting):
    shop_accounting.fail_next(503, FAILURES)
    responses: dict = {}
    async with open_client(learner(kata_ns, "app")) as client:
        async with anyio.create_task_group() as tg:
            done = anyio.Event()
            tg.start_soon(_get, client, "/reports/sales", responses, done)
            with anyio.move_on_after(RETRY_WAIT):  # a safety net: only a report that never stops waits
                await done.wait()
            still_asking = not done.is_set()
            if still_asking:
                shop_accounting.fail_next(503, 0)  # let a retrying report end, then stop waiting for it
                tg.cancel_scope.cancel()
    asked, failed = shop_accounting.requests, shop_accounting.failed
    report = responses.get("/reports/sales")
    if still_asking or report is None or asked > FAILURES:
        fail(
            ("The accounting service answered 503 to every query of the report, and the report had not "
             "answered: it kept waiting and asking again." if still_asking or report is None else
             f"The accounting service answered 503 to {failed} queries in a row. The report kept asking, "
             f"{asked} queries, and answered {brief(report)} only once the service answered again."),
            "A report that asks again and again, for as long as the service fails, holds its worker thread "
            "all that while and hammers a service that is already down: a month-end outage becomes a "
            "shop-wide one.",
            nudge="What does the report do when the SDK raises? How many times may it ask?",
            concept="A failure of another service is an answer too: let it end the request (at most a few "
                    "bounded retries), and tell the client with an error status.",
        )
    expect(
        500 <= report.status_code < 600,
        f"The accounting service answered 503 to {failed} of the report's {asked} queries, and GET "
        f"/reports/sales answered {brief(report)}.",
        "Figures the accounting service never gave go into the month's books as if they were true. An "
        "error status (the 5xx family: the server side failed) tells the accountant to try again later."
        if report.status_code < 400 else
        "A 4xx tells the accountant that their request was wrong, and to change it. Here the accounting "
        "service failed: an error of the server side (the 5xx family) says to try again later.",
        nudge="What does the report answer when the SDK raises: is it the accounting service's figures?",
        concept="Never turn an upstream failure into a success with default values; let it become an error "
                "response (FastAPI answers 500 for an unhandled exception; 502 or 504 say an upstream failed).",
    )
    expect(
        asked >= 1,
        f"GET /reports/sales answered {brief(report)} without asking the accounting service.{_refused(shop_accounting)}",
        "The report is the accounting service's figures: it must ask for them.",
        nudge="Does the report still ask a LegacyAccountingClient for the month's sales?",
    )


@pytest.mark.anyio
async def test_the_default_worker_thread_limit_is_left_as_the_app_found_it(kata_ns, shop_accounting):
    before = anyio.to_thread.current_default_thread_limiter().total_tokens
    async with open_client(learner(kata_ns, "app")) as client:
        started = anyio.to_thread.current_default_thread_limiter().total_tokens
        await client.get("/health")
        await client.get("/reports/sales")
        after = anyio.to_thread.current_default_thread_limiter().total_tokens
    expect(
        before == started == after,
        f"The event loop's default thread limiter had {before:g} tokens before the app started, "
        f"{started:g} once it had started, and {after:g} after a GET /health and a GET /reports/sales.",
        "That limiter serves every plain def endpoint and dependency of the app (and Starlette's own "
        "file work): with fewer tokens, a few slow calls of any kind starve everything else again; with "
        "more, hung reports simply take more threads before the same cliff. The accounting team's four "
        "are the reports' limit, not the whole app's.",
        nudge="Which requests does the limit you set apply to: the reports only, or every request that "
              "needs a worker thread?",
        concept="anyio's default CapacityLimiter (40 tokens per event loop) is shared by all the app's "
                "sync work. A limit for one kind of work is an object of its own: FastAPI's max_concurrency "
                "on a dependency, or a CapacityLimiter made at startup. Read AnyIO's 'Working with threads'.",
    )
