"""Spies that watch an app from outside: which engines it used, what SQL it ran, when it answered,
which connections it kept, which threads it asked for, which HTTP clients it built, what it read
from an upload, what it logged, and how two calls to two services overlapped.

The evidence cells print what these record; the checks assert on it. Nothing here reads a clock.
"""

import functools
import logging
import sqlite3
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from weakref import WeakKeyDictionary

import anyio
import anyio.to_thread
import httpx
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import Pool


@contextmanager
def engine_events(*names: str) -> Iterator[list[tuple]]:
    """Record SQLAlchemy events from every engine: ``(name, engine id, detail)`` in order.

    Supported names: ``connect``, ``sql``, ``commit``, ``rollback``, ``disposed``.
    """
    log: list[tuple] = []
    hooks = {
        "connect": ("engine_connect", lambda conn: log.append(("connect", id(conn.engine), None))),
        "sql": (
            "before_cursor_execute",
            lambda conn, cursor, statement, params, context, many: log.append(
                ("sql", id(conn.engine), statement)
            ),
        ),
        "commit": ("commit", lambda conn: log.append(("commit", id(conn.engine), None))),
        "rollback": ("rollback", lambda conn: log.append(("rollback", id(conn.engine), None))),
        "disposed": ("engine_disposed", lambda engine: log.append(("disposed", id(engine), None))),
    }
    chosen = [hooks[name] for name in names]
    for identifier, hook in chosen:
        event.listen(Engine, identifier, hook)
    try:
        yield log
    finally:
        for identifier, hook in chosen:
            event.remove(Engine, identifier, hook)


class PoolLedger:
    """Connections taken from and given back to every pool: ``out`` is how many are still taken."""

    def __init__(self) -> None:
        self.taken = 0
        self.returned = 0

    @property
    def out(self) -> int:
        return self.taken - self.returned


@contextmanager
def pool_connections() -> Iterator[PoolLedger]:
    """Count connections checked out of, and back into, any SQLAlchemy pool meanwhile. A
    connection the garbage collector reclaims was never given back: it is not counted as returned."""
    ledger = PoolLedger()

    def taken(*_args) -> None:
        ledger.taken += 1

    def returned(*_args) -> None:
        ledger.returned += 1

    event.listen(Pool, "checkout", taken)
    event.listen(Pool, "checkin", returned)
    try:
        yield ledger
    finally:
        event.remove(Pool, "checkout", taken)
        event.remove(Pool, "checkin", returned)


def response_spy(app, log: list):
    """Wrap an ASGI app so that ``log`` gets ``("response-start", status)`` when it answers."""

    async def spy(scope, receive, send):
        async def spying_send(message):
            if message["type"] == "http.response.start":
                log.append(("response-start", message["status"]))
            await send(message)

        await app(scope, receive, spying_send)

    return spy


def run_sql(url: str, *statements: str) -> list[tuple]:
    """Run statements on the SQLite file behind ``url``, outside any app; return the last rows."""
    rows: list[tuple] = []
    with sqlite3.connect(url.split(":///", 1)[1]) as conn:
        for statement in statements:
            rows = conn.execute(statement).fetchall()
    return rows


# --- two services, two calls: did they overlap? ---------------------------------------------------


SERVICES = ("prices", "reviews")


class MeetingPoint:
    """Each service holds its answer until the other service's request has arrived too.

    Two calls in flight at the same time meet at once. A call made only after the other one
    answered can never be met: the first service waits ``limit`` seconds, gives up, answers.
    ``events`` records, in order: ``(service, "arrives" | "gives up waiting" | "answers")``.
    """

    def __init__(self, limit: float = 1.0):
        self.limit = limit
        self.events: list[tuple[str, str]] = []
        self._arrived = {service: threading.Event() for service in SERVICES}
        self._lock = threading.Lock()

    def _record(self, service: str, what: str) -> None:
        with self._lock:
            self.events.append((service, what))

    def arrive(self, service: str) -> None:
        self._record(service, "arrives")
        self._arrived[service].set()
        (other,) = (name for name in SERVICES if name != service)
        if not self._arrived[other].wait(self.limit):
            self._record(service, "gives up waiting")

    def answer(self, service: str) -> None:
        self._record(service, "answers")

    def spans(self) -> dict[str, tuple[int, int]]:
        """Each service's call as (first step, last step); consecutive arrivals share a step,
        and so do consecutive answers, so two calls in flight together get the same span."""
        step, previous, spans = -1, None, {}
        for service, what in list(self.events):
            if what not in ("arrives", "answers"):
                continue
            if what != previous:
                step, previous = step + 1, what
            start, end = spans.get(service, (step, step))
            spans[service] = (start, step) if what == "answers" else (step, end)
        return spans

    def overlapped(self) -> bool:
        """Both calls were in flight at the same time: both arrived before either answered."""
        spans = self.spans()
        return all(service in spans for service in SERVICES) and spans["prices"][0] == spans["reviews"][0]

    def timeline(self) -> str:
        spans, width = self.spans(), 12
        lines = []
        for service in SERVICES:
            if service not in spans:
                lines.append(f"  {service:<8} (never called)")
                continue
            start, end = spans[service]
            lines.append(f"  {service:<8} {' ' * width * start}[{'=' * (width * (end - start) - 2)}]")
        if self.overlapped():
            lines.append("  overlapping: both calls were in flight at the same time")
        else:
            lines.append("  queued: one call started only after the other had answered")
        for service, what in list(self.events):
            if what == "gives up waiting":
                lines.append(f"  ({service} waited for the other call while it was in flight; none came)")
        return "\n".join(lines)


# --- who asks for a worker thread -----------------------------------------------------------------


request_label: ContextVar[str] = ContextVar("request_label", default="")


@dataclass(frozen=True)
class ThreadRequest:
    request: str  # the request_label of the task that asked ("" outside a labelled request)
    function: str  # what was to run in the thread, e.g. "get_settings()"
    default_limiter: bool  # False when the caller passed a limiter of its own
    in_use: int  # tokens of that limiter borrowed at that moment
    total: int

    @property
    def must_wait(self) -> bool:
        return self.in_use >= self.total


def _name(func) -> str:
    """``get_settings()`` for what FastAPI runs in a thread; its wrappers are looked through."""
    if isinstance(func, functools.partial):
        if callable(func.keywords.get("function")):  # FastAPI's wrapper around a `def` endpoint
            return _name(func.keywords["function"])
        func = func.func  # a dependency, with the values of its own parameters
    name = getattr(func, "__name__", repr(func))
    if name == "validate" and hasattr(func, "__self__"):
        return "the response model's validation"  # after a `def` endpoint, also in a thread
    return f"{name}()"


@contextmanager
def worker_threads(on_request=None) -> Iterator[list[ThreadRequest]]:
    """Record each call to ``anyio.to_thread.run_sync`` meanwhile, when it is made (before it
    gets a thread). ``on_request(record)`` is called right after a record is added."""
    log: list[ThreadRequest] = []
    original = anyio.to_thread.run_sync

    async def spying_run_sync(func, *args, limiter=None, **kwargs):
        pool = limiter or anyio.to_thread.current_default_thread_limiter()
        record = ThreadRequest(request_label.get(), _name(func), limiter is None, pool.borrowed_tokens, int(pool.total_tokens))
        log.append(record)
        if on_request is not None:
            on_request(record)
        return await original(func, *args, limiter=limiter, **kwargs)

    anyio.to_thread.run_sync = spying_run_sync
    try:
        yield log
    finally:
        anyio.to_thread.run_sync = original


# --- which HTTP clients were built, and which called a service ------------------------------------


@dataclass
class ClientLog:
    """What ``http_clients`` saw: the clients built, their arguments, and who called the upstream."""

    built: WeakKeyDictionary = field(default_factory=WeakKeyDictionary)  # client -> its keyword arguments
    callers: list[httpx.AsyncClient] = field(default_factory=list)  # each client that called, once

    def arguments(self, client: httpx.AsyncClient) -> dict | None:
        """The keyword arguments ``client`` was built with, or None if it was built earlier."""
        return self.built.get(client)


@contextmanager
def http_clients(upstream_url: str) -> Iterator[ClientLog]:
    """Record every ``httpx.AsyncClient`` that sends a request to ``upstream_url`` meanwhile.

    The log keeps those clients alive, so ``is_closed`` can be read after the app stopped.
    """
    log = ClientLog()
    original_init, original_send = httpx.AsyncClient.__init__, httpx.AsyncClient.send

    def spying_init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        log.built[self] = kwargs

    async def spying_send(self, request, *args, **kwargs):
        if str(request.url).startswith(upstream_url) and not any(c is self for c in log.callers):
            log.callers.append(self)
        return await original_send(self, request, *args, **kwargs)

    httpx.AsyncClient.__init__, httpx.AsyncClient.send = spying_init, spying_send
    try:
        yield log
    finally:
        httpx.AsyncClient.__init__, httpx.AsyncClient.send = original_init, original_send


# --- what an app reads from an upload -------------------------------------------------------------


_READS = ("read", "read1", "readline", "readinto")


@contextmanager
def upload_reads(events: list) -> Iterator[list]:
    """Note ``("read", asked, got)`` in ``events`` for every read from an uploaded file meanwhile.

    Starlette keeps each uploaded file in a ``tempfile.SpooledTemporaryFile`` (in memory up to
    1 MiB, then on disk). ``await upload.read(n)``, ``upload.file.read(n)`` and
    ``shutil.copyfileobj(upload.file, ...)`` all end in one of its read methods, so they are
    watched there. ``asked`` is ``-1`` when the caller asked for everything that is left.
    """
    originals = {name: getattr(tempfile.SpooledTemporaryFile, name) for name in _READS}

    def watch(name, original):
        def watched(self, *args, **kwargs):
            result = original(self, *args, **kwargs)
            if name == "readinto":
                asked, got = len(args[0]), result or 0
            else:
                size = args[0] if args else kwargs.get("size", kwargs.get("n", -1))
                asked, got = (-1 if size is None or size < 0 else size), len(result)
            events.append(("read", asked, got))
            return result

        return watched

    for name, original in originals.items():
        setattr(tempfile.SpooledTemporaryFile, name, watch(name, original))
    try:
        yield events
    finally:
        for name, original in originals.items():
            setattr(tempfile.SpooledTemporaryFile, name, original)


# --- what an app logs -----------------------------------------------------------------------------


class _Collect(logging.Handler):
    def __init__(self, events: list):
        super().__init__(logging.WARNING)
        self.events = events

    def emit(self, record: logging.LogRecord) -> None:
        self.events.append(("log", record.levelname, record.getMessage()))


@contextmanager
def logged_warnings(events: list) -> Iterator[list]:
    """Note ``("log", level, message)`` in ``events`` for every warning or error logged meanwhile."""
    handler = _Collect(events)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield events
    finally:
        root.removeHandler(handler)
