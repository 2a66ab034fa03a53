"""Check: /health needs no worker thread, so slow sync reports can never starve it."""

from collections.abc import Iterator

import anyio
import anyio.to_thread
import pytest

from bookshop.client import open_client
from bookshop.accounting import ACCOUNTING_URL_ENV, AccountingService, LegacyAccountingClient
from bookshop.observe import request_label, worker_threads
from bookshop.upstream import serve
from checks.harness import learner

__all__ = [
    "shop_accounting_server",
    "shop_accounting",
    "test_health_answers_while_a_slow_report_holds_every_worker_thread",
    "test_health_takes_no_worker_thread",
    "test_a_parked_report_completes_once_accounting_answers",
    "test_health_answers_with_the_configured_version_every_time",
    "test_the_report_gives_up_on_a_silent_accounting_service",
]

VERSION = "9.9.9-check"
HEALTH_WAIT = 5.0  # seconds; a safety net: the thread limiter tells a queued /health at once


@pytest.fixture(scope="module")
def shop_accounting_server() -> Iterator[AccountingService]:
    """The accounting service on a real port, for the whole check (stopping costs ~0.2 s)."""
    service = AccountingService()
    with serve(service.app) as url:
        service.url = url
        try:
            yield service
        finally:
            service.release()  # never leave a request parked in the server thread


@pytest.fixture
def shop_accounting(shop_accounting_server, kata_ns, monkeypatch) -> Iterator[AccountingService]:
    """Today's sales, answered at once; the app's settings and accounting URL read afresh."""
    service = shop_accounting_server
    service.reset()
    monkeypatch.setenv(ACCOUNTING_URL_ENV, service.url)
    monkeypatch.setenv("SHOP_VERSION", VERSION)
    cache_clear = getattr(kata_ns.get("get_settings"), "cache_clear", None)
    if callable(cache_clear):
        cache_clear()  # an lru_cache'd get_settings would keep another test's settings
    yield service
    service.release()
    if callable(cache_clear):
        cache_clear()  # and the notebook's own cells should not see this test's settings


async def _get(client, path: str, into: dict, done: anyio.Event | None = None) -> None:
    request_label.set(f"GET {path}")  # worker_threads() records which request asked
    into[path] = await client.get(path)
    if done is not None:
        done.set()


BLOCKED_THE_EVENT_LOOP = (
    "The accounting service had to give up holding its answer: while the report waited for it, "
    "nothing else ran, not even the code that lets it go. The report blocked the event loop: a "
    "blocking SDK called from an `async def` stops every request. Call it from a plain `def` "
    "(FastAPI runs that in a worker thread) and bound that instead."
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
                    parked = await shop_accounting.first_request(unless=report_done)
                    if parked and not shop_accounting.gave_up:
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
    assert not shop_accounting.gave_up, BLOCKED_THE_EVENT_LOOP
    assert parked, (
        f"GET /reports/sales never reached the accounting service (it answered "
        f"{responses.get('/reports/sales')}): the report must fetch the month's sales from it."
    )
    queued = list(dict.fromkeys(r.function for r in asked if r.request == "GET /health"))
    assert answered_while_parked, (
        "GET /health queued for a worker thread, and got no answer, while one slow GET /reports/sales held the "
        "only worker thread (this check shrank anyio's 40 to 1: what 40 slow reports do). "
        f"/health asked for a worker thread to run {', '.join(queued) or 'something'}: FastAPI runs "
        "every plain `def` dependency and endpoint in one, so /health queued behind the reports. "
        "Make /health and every dependency it has `async def` (or values from the lifespan state)."
    )
    health = responses["/health"]
    assert health.status_code == 200, f"GET /health answered {health.status_code} {health.text[:100]}"


@pytest.mark.anyio
async def test_health_takes_no_worker_thread(kata_ns, shop_accounting):
    async with open_client(learner(kata_ns, "app")) as client:
        with worker_threads() as asked:
            health = await client.get("/health")
    assert health.status_code == 200, f"GET /health answered {health.status_code} {health.text[:100]}"
    functions = list(dict.fromkeys(r.function for r in asked))
    assert not asked, (
        f"GET /health ran {', '.join(functions)} in a worker thread. Each one waits for a free "
        "token of anyio's thread limiter (40 per event loop, shared with every `def` endpoint and "
        "dependency), so a health check that needs one reports on the thread pool, not on the "
        "app. Make /health and every dependency it has `async def`; a cached value can be "
        "returned by an `async def` (e.g. settings built in the lifespan, from `request.state`)."
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
            parked = await shop_accounting.first_request(unless=report_done)
            shop_accounting.release()
    report = responses["/reports/sales"]
    assert not shop_accounting.gave_up, BLOCKED_THE_EVENT_LOOP
    assert parked and shop_accounting.requests == 1, (
        f"GET /reports/sales made {shop_accounting.requests} request(s) to the accounting service; "
        "it should ask it once for the month's sales."
    )
    assert report.status_code == 200 and report.json() == shop_accounting.sales, (
        f"GET /reports/sales should answer 200 with the accounting service's figures "
        f"{shop_accounting.sales}, got {report.status_code} {report.text[:120]}"
    )


@pytest.mark.anyio
async def test_health_answers_with_the_configured_version_every_time(kata_ns, shop_accounting):
    async with open_client(learner(kata_ns, "app")) as client:
        answers = [await client.get("/health") for _ in range(3)]
    statuses = [a.status_code for a in answers]
    assert statuses == [200, 200, 200], (
        f"Three GET /health in a row answered {statuses}. If the first worked and the next did "
        "not: `@lru_cache` on an `async def` caches the coroutine, not its result, and a "
        "coroutine can be awaited only once. Build the settings once in the lifespan instead."
    )
    versions = [a.json().get("version") for a in answers]
    assert versions == [VERSION] * 3, (
        f"GET /health reported versions {versions}, but the app was started with "
        f"SHOP_VERSION={VERSION!r}: /health should report the settings the app started with."
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
    assert timeouts and report.status_code == 200, (
        f"GET /reports/sales answered {report.status_code} and built {len(timeouts)} accounting "
        "client(s): the report must still ask the accounting service, through its SDK."
    )
    assert all(isinstance(t, (int, float)) and 0 < t < float("inf") for t in timeouts), (
        f"The report's LegacyAccountingClient was built with timeout={timeouts[-1]!r}, so when the "
        "accounting service falls silent the report holds its worker thread forever, and enough "
        "such reports hold them all. Choose how long a report may wait: pass `timeout=` (seconds)."
    )
