"""The accounting service behind the sales report, and its vendor's blocking SDK.

``AccountingService`` is the upstream: an app to run with ``bookshop.upstream.serve``, whose
answers can be held back (``hold()``) until the caller lets them go (``release()``), so a report
can be parked for as long as a check or an evidence cell needs, with no clock involved.
``LegacyAccountingClient`` is the vendor's SDK: blocking, and with no timeout unless given one.
``starvation_timeline`` plays a slow report and a health check against an app, for the evidence.
"""

import json
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

import anyio
import anyio.to_thread
from anyio.from_thread import start_blocking_portal
from fastapi import FastAPI

from bookshop.observe import ThreadRequest, request_label, worker_threads
from bookshop.upstream import environment, service_url

ACCOUNTING_URL_ENV = "BOOKSHOP_ACCOUNTING_URL"

TODAYS_SALES = {"month": "2026-10", "books_sold": 412, "revenue_cents": 512_345}


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
        with urllib.request.urlopen(f"{self.base_url}/sales", timeout=self.timeout) as response:
            return json.load(response)


class AccountingService:
    """The upstream. ``GET /sales`` answers ``self.sales``, after ``release()`` if held.

    A held answer goes out anyway after ``HOLD_LIMIT`` seconds, with ``gave_up`` set: only code
    that blocks its own event loop (so that nobody can call ``release()``) ever waits that long.
    """

    HOLD_LIMIT = 5.0

    def __init__(self, sales: dict | None = None):
        self.app = FastAPI(title="Accounting service")
        self.reset(sales)

        @self.app.get("/sales")
        async def sales() -> dict:
            self.requests += 1
            self.received.set()
            # Wait in a thread of the service's own event loop (not the bookshop's).
            if not await anyio.to_thread.run_sync(self.released.wait, self.HOLD_LIMIT):
                self.gave_up = True
            return self.sales

    def reset(self, sales: dict | None = None) -> None:
        """Today's sales (or ``sales``), answered at once, no request received yet."""
        self.sales = dict(TODAYS_SALES if sales is None else sales)
        self.requests = 0
        self.gave_up = False
        self.received = threading.Event()
        self.released = threading.Event()
        self.released.set()

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
    from bookshop.client import open_client  # imported late: client imports nothing from here

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
                        if await service.first_request(unless=report_done):
                            note("accounting service", "got the report's query; holds its answer")
                        note("GET /health", "sent")
                        tg.start_soon(send, "/health", client, health_done)

                        async def settle_on_answer() -> None:
                            await health_done.wait()
                            health_settled.set()

                        tg.start_soon(settle_on_answer)
                        with anyio.move_on_after(5):  # only if /health neither answers nor queues
                            await health_settled.wait()
                        if health_done.is_set():
                            health = responses["/health"]
                            note("GET /health", f"-> {health.status_code} {health.text}, "
                                                "while the report still holds its thread")
                        answered_early = health_done.is_set()
                        note("accounting service", "answers (released by this cell)")
                        service.release()
                        await report_done.wait()
                        await health_done.wait()
                        report = responses["/reports/sales"]
                        note("GET /reports/sales", f"-> {report.status_code} {report.text}")
                        if not answered_early:
                            health = responses["/health"]
                            note("GET /health", f"-> {health.status_code} {health.text}, "
                                                "only once the report had given its thread back")
            finally:
                service.release()
                limiter.total_tokens = saved
        return events

    with start_blocking_portal() as portal:
        return portal.call(scenario)
