"""The accounting service behind the sales report, and its vendor's blocking SDK.

``AccountingService`` is the upstream: an app to run with ``bookshop.upstream.serve``, whose
answers can be held back (``hold()``) until the caller lets them go (``release()``), so a report
can be parked for as long as a check or an evidence cell needs, with no clock involved.
``LegacyAccountingClient`` is the vendor's SDK: blocking, and with no timeout unless given one.
It signs every request, and the service refuses any request it did not sign: the SDK is the only
way to the figures. ``sdk_calls`` records the timeout each call to the SDK was made with.
``starvation_timeline`` plays a slow report and a health check against an app, for the evidence;
``park_reports`` (``reports_at_once`` in a notebook cell) sends many reports at once and counts how
many reach the service together, and how many wait for their turn.
"""

import asyncio
import hashlib
import hmac
import json
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import anyio
import anyio.to_thread
from anyio.from_thread import start_blocking_portal
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from bookshop.observe import ThreadRequest, request_label, waiting_for_a_turn, worker_threads
from bookshop.upstream import environment, service_url

ACCOUNTING_URL_ENV = "BOOKSHOP_ACCOUNTING_URL"
# The workbook's stand-in for the SDK marks a call made on a thread that runs an event loop: that
# call blocks the loop, so the code that would release a held answer can never run.
BLOCKS_AN_EVENT_LOOP = "X-Caller-Blocks-An-Event-Loop"

# The vendor signs each request with a key of its own, inside the SDK; the service checks it.
SIGNATURE = "X-Vendor-Signature"
_VENDOR_KEY = b"the vendor keeps this to itself"

TODAYS_SALES = {"month": "2026-10", "books_sold": 412, "revenue_cents": 512_345}


def _signature(path: str) -> str:
    return hmac.new(_VENDOR_KEY, f"GET {path}".encode(), hashlib.sha256).hexdigest()


_call_logs: list[list] = []


@contextmanager
def sdk_calls() -> Iterator[list]:
    """Record the timeout of every call to ``LegacyAccountingClient.monthly_sales`` meanwhile, as
    the call is made (a timeout set on the client after it was built counts), in any thread."""
    log: list = []
    _call_logs.append(log)
    try:
        yield log
    finally:
        _call_logs.remove(log)


def accounting_url() -> str:
    """The accounting service's base URL, read when it is called (not at import)."""
    return service_url(ACCOUNTING_URL_ENV, "accounting service")


@contextmanager
def accounting_at(url: str) -> Iterator[str]:
    """Point ``accounting_url()`` at ``url`` for the duration of the block."""
    with environment(**{ACCOUNTING_URL_ENV: url}):
        yield url


class LegacyAccountingClient:
    """The accounting vendor's SDK. It blocks, and like ``urllib`` it waits forever by default."""

    def __init__(self, base_url: str, *, timeout: float | None = None):
        self.base_url = base_url
        self.timeout = timeout

    def monthly_sales(self) -> dict:
        for log in list(_call_logs):
            log.append(self.timeout)
        request = urllib.request.Request(f"{self.base_url}/sales", headers={SIGNATURE: _signature("/sales")})
        if _runs_an_event_loop():
            request.add_header(BLOCKS_AN_EVENT_LOOP, "yes")  # see AccountingService
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            return json.load(response)


def _runs_an_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class AccountingService:
    """The upstream. ``GET /sales`` answers ``self.sales``, after ``release()`` if held.

    ``requests`` counts the queries received; ``in_flight`` those received and not yet answered,
    and ``most_at_once`` the largest ``in_flight`` seen since ``reset()``.

    A held answer goes out anyway after ``hold_limit`` seconds, with ``gave_up`` set: only code
    that blocks its own event loop (so that nobody can call ``release()``) ever waits that long,
    and once that happened the service holds no answer again (``gave_up`` is set at once). A
    query the SDK made from a thread that runs an event loop is never held: it is answered at
    once, with ``blocked_loop`` set, since whoever would release it is blocked behind it.

    A query the SDK did not sign is refused (401) and counted in ``unsigned``, nothing more.
    ``fail_next(status, times)`` answers the next ``times`` signed queries with that error status
    (counted in ``failed``), then answers as before: a caller that asks again and again gets the
    figures in the end, and ``requests`` says how many times it asked.
    """

    HOLD_LIMIT = 5.0

    def __init__(self, sales: dict | None = None, *, hold_limit: float = HOLD_LIMIT):
        self.app = FastAPI(title="Accounting service")
        self.hold_limit = hold_limit
        self.holds_no_more = False
        self.reset(sales)

        @self.app.get("/sales")
        async def sales(request: Request) -> dict:
            if not hmac.compare_digest(request.headers.get(SIGNATURE, ""), _signature("/sales")):
                self.unsigned += 1
                return JSONResponse({"detail": "Unsigned request: this service answers only the vendor's SDK"},
                                    status_code=401)
            self.requests += 1
            if self.failures_left > 0:
                self.failures_left -= 1
                self.failed += 1
                return JSONResponse({"detail": "The accounting service is down"}, status_code=self.failure_status)
            self.in_flight += 1
            self.most_at_once = max(self.most_at_once, self.in_flight)
            self.received.set()
            try:
                if request.headers.get(BLOCKS_AN_EVENT_LOOP):
                    self.blocked_loop = True
                elif self.holds_no_more:
                    self.gave_up = True
                # Wait in a thread of the service's own event loop (not the bookshop's).
                elif not await anyio.to_thread.run_sync(self.released.wait, self.hold_limit):
                    self.gave_up = self.holds_no_more = True
                return self.sales
            finally:
                self.in_flight -= 1

    def reset(self, sales: dict | None = None) -> None:
        """Today's sales (or ``sales``), answered at once, no request received yet."""
        self.sales = dict(TODAYS_SALES if sales is None else sales)
        self.requests = 0
        self.unsigned = 0
        self.failed = 0
        self.failures_left = 0
        self.failure_status = 503
        self.in_flight = 0
        self.most_at_once = 0
        self.gave_up = False
        self.blocked_loop = False
        self.received = threading.Event()
        self.released = threading.Event()
        self.released.set()

    def fail_next(self, status: int, times: int) -> None:
        """Answer the next ``times`` signed queries with ``status``, then as before."""
        self.failure_status, self.failures_left = status, times

    def hold(self) -> None:
        """Keep every answer until ``release()``."""
        self.released.clear()

    def release(self) -> None:
        self.released.set()

    async def first_request(self, *, unless: anyio.Event | None = None, within: float = 5.0) -> bool:
        """True once a request has reached the service; False if ``unless`` is set first (say,
        the request was answered without asking the service) or nothing came within ``within`` s.

        It waits in a thread of a limiter of its own: the default one may be full on purpose.
        """
        arrived = False
        async with anyio.create_task_group() as tg:
            if unless is not None:

                async def stop_early() -> None:
                    await unless.wait()
                    tg.cancel_scope.cancel()

                tg.start_soon(stop_early)
            arrived = await anyio.to_thread.run_sync(
                self.received.wait, within, abandon_on_cancel=True, limiter=anyio.CapacityLimiter(1)
            )
            tg.cancel_scope.cancel()
        return arrived or self.received.is_set()


# --- the evidence: one report holds the only worker thread; does /health answer? ---------------


def starvation_timeline(app, service: AccountingService, *, worker_threads_total: int = 1) -> list[str]:
    """Run the scenario on a fresh event loop and return its events, in the order they happened.

    The default thread limiter is shrunk to ``worker_threads_total`` tokens (as if the others were
    all taken by slow requests), one ``GET /reports/sales`` is parked at the accounting service,
    then ``GET /health`` is sent. The report is released once /health has answered, or has asked
    for a worker thread when none is free (it could not answer before the release).
    """
    from bookshop.client import describe, open_client  # imported late: client imports nothing from here

    async def scenario() -> list[str]:
        events: list[str] = []
        limiter = anyio.to_thread.current_default_thread_limiter()
        responses: dict[str, object] = {}
        health_settled = anyio.Event()

        def note(who: str, what: str) -> None:
            events.append(f"{who:<20} {what}")

        def on_thread_request(record: ThreadRequest) -> None:
            if not record.request or service.released.is_set():
                return  # after the release, the order of what follows depends on thread timing
            pool = "anyio's default limiter" if record.default_limiter else "a limiter of its own"
            wait = " -> none free, it waits" if record.must_wait else ""
            note(record.request, f"asks {pool} for a worker thread to run {record.function}: "
                                 f"{record.in_use}/{record.total} in use{wait}")
            if record.request == "GET /health" and record.must_wait:
                health_settled.set()

        async def send(path: str, client, done: anyio.Event) -> None:
            request_label.set(f"GET {path}")
            responses[path] = await client.get(path)
            done.set()

        service.hold()
        report_done, health_done = anyio.Event(), anyio.Event()
        async with open_client(app) as client:
            saved = limiter.total_tokens
            limiter.total_tokens = worker_threads_total
            note("worker threads", f"anyio's default limiter of this event loop: {saved} tokens, "
                                   f"shrunk to {worker_threads_total} (as if the rest were busy)")
            try:
                with worker_threads(on_thread_request):
                    async with anyio.create_task_group() as tg:
                        note("GET /reports/sales", "sent")
                        tg.start_soon(send, "/reports/sales", client, report_done)
                        arrived = await service.first_request(unless=report_done)
                        if not arrived and service.unsigned:
                            note("accounting service", "refused the report's request: the vendor's SDK had not "
                                                       "signed it")
                        if arrived:
                            if service.blocked_loop:
                                note("accounting service", "got the report's query from the event loop's own "
                                                           "thread: nothing else runs until it answers")
                            else:
                                note("accounting service", "got the report's query; holds its answer")
                        note("GET /health", "sent")
                        tg.start_soon(send, "/health", client, health_done)

                        async def settle_on_answer() -> None:
                            await health_done.wait()
                            health_settled.set()

                        tg.start_soon(settle_on_answer)
                        with anyio.move_on_after(2):  # only if /health neither answers nor queues
                            await health_settled.wait()
                        if health_done.is_set():
                            health = responses["/health"]
                            when = ("after the report had answered" if report_done.is_set()
                                    else "while the report still waits for the accounting service")
                            note("GET /health", f"-> {describe(health)}, {when}")
                        answered_early = health_done.is_set()
                        if service.requests and not (service.blocked_loop or service.gave_up):
                            note("accounting service", "answers (released by this cell)")
                        service.release()
                        await report_done.wait()
                        await health_done.wait()
                        report = responses["/reports/sales"]
                        note("GET /reports/sales", f"-> {describe(report)}")
                        if not answered_early:
                            health = responses["/health"]
                            note("GET /health", f"-> {describe(health)}, only once the report had given its thread back")
            finally:
                service.release()
                limiter.total_tokens = saved
        return events

    with start_blocking_portal() as portal:
        return portal.call(scenario)


# --- many reports at once: how many reach the accounting service together? ------------------------


@dataclass
class ReportsAtOnce:
    """What ``park_reports`` saw while the accounting service held every answer."""

    sent: int
    at_the_service: int  # queries held at the accounting service at the same time, at most
    waiting: int  # reports waiting for their turn on the event loop (a limiter, a semaphore)
    settled: bool  # every report was at the service, waiting for a turn, or answered
    blocked_loop: bool  # a query came from the event loop's own thread
    gave_up: bool  # the service had to let a held answer go on its own
    queried: int = 0  # queries the service received in all
    refused: int = 0  # requests the service refused: the vendor's SDK had not signed them
    statuses: list[int] = field(default_factory=list)  # the reports' answers, once released

    def lines(self) -> list[str]:
        if self.blocked_loop or self.gave_up:
            return [f"{self.sent} x GET /reports/sales sent at once: the reports blocked the event loop, "
                    "so they ran one after another and the service could hold none of them",
                    f"    answers: {self.statuses}"]
        busy = self.sent - self.at_the_service - self.waiting
        return [
            f"{self.sent} x GET /reports/sales sent at once, the accounting service holding every answer:",
            f"    at the accounting service at the same time:  {self.at_the_service}",
            f"    waiting for their turn on the event loop:    {self.waiting}",
            *([f"    neither (still on their way, or waiting somewhere this cell cannot see): {busy}"]
              if not self.settled else []),
            f"    answers once the service let them go: {self.statuses}",
            *([f"    refused by the service, not signed by the vendor's SDK: {self.refused}"] if self.refused else []),
        ]


async def park_reports(app, service: AccountingService, *, sent: int = 6, namespace: dict | None = None,
                       limit: float = 1.5) -> ReportsAtOnce:
    """Send ``sent`` reports at once while ``service`` holds its answers, and count.

    It waits until every report is accounted for: held at the service, waiting for a turn at a
    limiter, semaphore or lock it can see (FastAPI's ``max_concurrency``, the limiters passed to
    ``anyio.to_thread.run_sync``, those in ``namespace``, ``app.state`` or the lifespan state), or
    answered. Nothing else can move while the service holds, so that count is final: no clock
    decides it. ``limit`` seconds bound the wait, for reports that wait where it cannot see.
    """
    from bookshop.client import open_client  # imported late: client imports nothing from here

    states: list[dict] = []

    async def state_spy(scope, receive, send_):
        if scope.get("type") == "http" and isinstance(scope.get("state"), dict):
            states.append(scope["state"])
        await app(scope, receive, send_)

    statuses: dict[int, int] = {}

    async def report(i: int, client) -> None:
        request_label.set(f"report {i + 1}")
        statuses[i] = (await client.get("/reports/sales")).status_code

    def waiting(asked: list[ThreadRequest]) -> int:
        limiters = [r.limiter for r in asked if r.request and r.limiter is not None]
        app_state = getattr(getattr(app, "state", None), "_state", None)
        return waiting_for_a_turn(namespace or {}, app_state or {}, *states[:1], limiters)

    settled = False
    async with open_client(state_spy) as client:
        service.hold()
        try:
            with worker_threads() as asked:
                async with anyio.create_task_group() as tg:
                    for i in range(sent):
                        tg.start_soon(report, i, client)
                    with anyio.move_on_after(limit):
                        while not settled:
                            await anyio.sleep(0.001)
                            settled = service.in_flight + waiting(asked) + len(statuses) >= sent
                    result = ReportsAtOnce(sent, service.most_at_once, waiting(asked), settled,
                                           service.blocked_loop, service.gave_up)
                    service.release()
        finally:
            service.release()
    result.blocked_loop, result.gave_up = service.blocked_loop, service.gave_up
    result.queried = service.requests
    result.refused = service.unsigned
    result.statuses = [statuses[i] for i in sorted(statuses)]
    return result


def reports_at_once(app, service: AccountingService, *, sent: int = 6, namespace: dict | None = None) -> list[str]:
    """``park_reports`` on a fresh event loop, for a notebook cell: what it saw, as lines."""
    with start_blocking_portal() as portal:
        result = portal.call(lambda: park_reports(app, service, sent=sent, namespace=namespace))
    return result.lines()
