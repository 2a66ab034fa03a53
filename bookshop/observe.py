"""Spies that watch an app from outside: which engines it used, what SQL it ran, when it answered,
which connections it kept, which threads it asked for (and how many tasks wait for a turn), which
HTTP clients it built, what it read from an upload, which files it opened from which thread, what it
logged, and how two calls to two services overlapped.

The evidence cells print what these record; the checks assert on it. Nothing here reads a clock.
"""

import asyncio
import functools
import logging
import os
import sqlite3
import sys
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
from sqlalchemy.util import await_only


@contextmanager
def engine_events(*names: str) -> Iterator[list[tuple]]:
    """Record SQLAlchemy events from every engine: ``(name, engine id, detail)`` in order.

    Supported names: ``connect``, ``sql``, ``statement``, ``commit``, ``rollback``, ``disposed``.
    ``sql`` records the SQL text; ``statement`` records ``(SQL text, parameters)``, the values the
    driver sends apart from the text.
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
        "statement": (
            "before_cursor_execute",
            lambda conn, cursor, statement, params, context, many: log.append(
                ("statement", id(conn.engine), (statement, params))
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


# --- two services, two calls: did they overlap, and in which order did the app get the answers? -


SERVICES = ("prices", "reviews")
NEVER_REACHED = 5.0  # seconds: only a service whose request the app sent and then lost waits this out


class MeetingPoint:
    """Each service holds its answer until the other service's request has arrived too.

    Two calls in flight at the same time meet at once. A call made only after the other one
    answered can never be met: the first service waits ``limit`` seconds, gives up, answers.
    ``events`` records, in order: ``(service, "arrives" | "gives up waiting" | "answers")``, and
    while the app is watched, ``(service, "sent by the app" | "back in the app")``.

    While ``watching_app`` runs, the services also know what the app is doing, which makes every
    wait but one decided by what happened, not by how long it took: a service whose partner
    request the app has already sent waits for it (it is on its way); one whose partner the app
    has not sent waits only ``limit`` (``0``: not at all). Code that starts both calls before it
    awaits either has sent both before the first one can reach a service. Optional choreography:

    - ``isbn``: only requests for this ISBN take part; any other passes straight through.
    - ``order=(first, second)``: ``second`` holds its answer until the app has ``first``'s answer
      back (or never asked for it), so the answers reach the app in that order, every time.
    - ``hold``: that service holds its answer until ``release()``, for at most ``hold_limit``
      seconds (then it gives up and answers: the app had no timeout of its own). ``held`` is set
      when the held request has arrived.
    """

    def __init__(self, limit: float = 1.0, *, isbn: str | None = None, order: tuple[str, str] | None = None,
                 hold: str | None = None, hold_limit: float = 1.0):
        self.limit = limit
        self.isbn = isbn
        self.order = order
        self.hold = hold
        self.hold_limit = hold_limit
        self.events: list[tuple[str, str]] = []
        self.held = threading.Event()
        self.gave_up_holding = False
        self._released = threading.Event()
        self._changed = threading.Condition()
        self._arrived: set[str] = set()
        self._sent: set[str] = set()
        self._back: set[str] = set()
        self._watched = False

    def concerns(self, isbn: str) -> bool:
        return self.isbn is None or isbn == self.isbn

    def _note(self, service: str, what: str, into: set[str] | None = None) -> None:
        with self._changed:
            self.events.append((service, what))
            if into is not None:
                into.add(service)
            self._changed.notify_all()

    def _in_flight(self, service: str) -> bool:
        return service in self._sent and service not in self._back

    def arrive(self, service: str) -> None:
        self._note(service, "arrives", self._arrived)
        (other,) = (name for name in SERVICES if name != service)
        with self._changed:
            met = self._changed.wait_for(
                lambda: other in self._arrived or (self._watched and self._in_flight(other)), self.limit
            )
            if met and other not in self._arrived:  # the app sent it: it is on its way (or fails on it)
                self._changed.wait_for(lambda: other in self._arrived or not self._in_flight(other), NEVER_REACHED)
                met = other in self._arrived
        if not met:
            self._note(service, "gives up waiting")
        if self.order is not None and service == self.order[1]:
            first = self.order[0]
            with self._changed:  # until the app has the first answer back, if it is waiting for one
                self._changed.wait_for(lambda: not self._watched or not self._in_flight(first), NEVER_REACHED)
        if service == self.hold:
            self.held.set()
            if not self._released.wait(self.hold_limit):
                self.gave_up_holding = True
                self._note(service, "gives up holding its answer")

    def answer(self, service: str) -> None:
        self._note(service, "answers")

    def release(self) -> None:
        """Let a held service answer."""
        self._released.set()

    def ready_for_the_clock(self) -> bool:
        """The held request has arrived, and the app has no call to the other service in flight."""
        (other,) = (name for name in SERVICES if name != self.hold)
        with self._changed:
            return self.held.is_set() and not self._in_flight(other)

    def back_in_the_app(self, service: str) -> bool:
        with self._changed:
            return service in self._back

    def in_flight(self) -> list[str]:
        """The services the app has sent a request to and not yet got back (while watched)."""
        with self._changed:
            return [service for service in SERVICES if self._in_flight(service)]

    @contextmanager
    def watching_app(self, **urls: str) -> Iterator["MeetingPoint"]:
        """Watch the app's httpx clients: ``prices=url, reviews=url`` say which service a request
        is for. Each request for this meeting's ISBN is noted when sent and when back in the app."""
        original = httpx.AsyncClient.send
        meeting = self

        def service_of(request: httpx.Request) -> str | None:
            url = str(request.url)
            for service, base in urls.items():
                if url.startswith(base) and (meeting.isbn is None or meeting.isbn in url):
                    return service
            return None

        async def watched_send(client, request, *args, **kwargs):
            service = service_of(request)
            if service is None:
                return await original(client, request, *args, **kwargs)
            meeting._note(service, "sent by the app", meeting._sent)
            try:
                return await original(client, request, *args, **kwargs)
            finally:
                meeting._note(service, "back in the app", meeting._back)

        httpx.AsyncClient.send = watched_send
        self._watched = True
        try:
            yield self
        finally:
            httpx.AsyncClient.send = original
            self._watched = False
            self.release()

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

    def sequence(self) -> str:
        """What the services saw, in order, on one line: ``1. the prices request arrives, 2. ...``."""
        words = {
            "arrives": "the {0} request arrives",
            "gives up waiting": "{0} waits for the {1} request, but none comes",
            "answers": "{0} answers",
            "gives up holding its answer": "{0} gives up holding its answer",
        }
        steps = [words[what].format(service, *(name for name in SERVICES if name != service))
                 for service, what in list(self.events) if what in words]
        return ", ".join(f"{number}. {step}" for number, step in enumerate(steps, start=1)) or "no request arrived"

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


@contextmanager
def clock_runs_out() -> Iterator[None]:
    """Every reading of the running event loop's clock is an hour later than the one before: each
    timeout and deadline set on that clock (asyncio's, AnyIO's, httpx's) has run out by the time
    the loop next looks, and fires at once. Nothing sleeps. Call it on the loop that serves the app."""
    import asyncio
    import itertools

    loop = asyncio.get_running_loop()
    real, readings = loop.time, itertools.count(1)
    loop.time = lambda: real() + 3600.0 * next(readings)
    try:
        yield
    finally:
        del loop.time


# --- who asks for a worker thread -----------------------------------------------------------------


request_label: ContextVar[str] = ContextVar("request_label", default="")


@dataclass(frozen=True)
class ThreadRequest:
    request: str  # the request_label of the task that asked ("" outside a labelled request)
    function: str  # what was to run in the thread, e.g. "get_settings()"
    default_limiter: bool  # False when the caller passed a limiter of its own
    in_use: int  # tokens of that limiter borrowed at that moment
    total: int
    limiter: object = field(default=None, compare=False, repr=False)  # the limiter it asked

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
        record = ThreadRequest(request_label.get(), _name(func), limiter is None, pool.borrowed_tokens,
                               int(pool.total_tokens), pool)
        log.append(record)
        if on_request is not None:
            on_request(record)
        return await original(func, *args, limiter=limiter, **kwargs)

    anyio.to_thread.run_sync = spying_run_sync
    try:
        yield log
    finally:
        anyio.to_thread.run_sync = original


def waiting_for_a_turn(*places) -> int:
    """How many tasks wait, right now, at the limiters, semaphores and locks found in ``places``.

    A place is one of them, or a dict (a notebook's namespace, a lifespan's state) or a list whose
    values are looked at, one level deep. FastAPI's ``Depends(..., max_concurrency=N)`` semaphores
    of the running event loop and its default thread limiter are always counted. Call it on the
    event loop that serves the app. A task counted here waits on the event loop, with no thread.
    """
    from fastapi import concurrency as fastapi_concurrency

    seen: dict[int, object] = {}

    def add(value) -> None:
        if isinstance(value, (anyio.CapacityLimiter, anyio.Semaphore, anyio.Lock, asyncio.Semaphore, asyncio.Lock)):
            seen.setdefault(id(value), value)

    for place in places:
        values = place.values() if isinstance(place, dict) else place if isinstance(place, (list, tuple, set)) else [place]
        for value in list(values):
            add(value)
            if isinstance(value, dict):
                for inner in list(value.values()):
                    add(inner)
    add(anyio.to_thread.current_default_thread_limiter())
    semaphores = fastapi_concurrency._dependency_semaphores.get(None)  # FastAPI 0.165: one per Depends, per loop
    for semaphore in list(semaphores.values()) if semaphores else []:
        add(semaphore)
    waiting = 0
    for value in seen.values():
        if isinstance(value, (asyncio.Semaphore, asyncio.Lock)):
            waiting += sum(1 for waiter in (getattr(value, "_waiters", None) or ()) if not waiter.done())
        else:
            waiting += value.statistics().tasks_waiting
    return waiting


# --- which HTTP clients were built, and which called a service ------------------------------------


@dataclass
class ClientLog:
    """What ``http_clients`` saw: the clients built, their arguments, who called the upstream, and
    which connection pools carried those calls."""

    built: WeakKeyDictionary = field(default_factory=WeakKeyDictionary)  # client -> its keyword arguments
    callers: list[httpx.AsyncClient] = field(default_factory=list)  # each client that called, once
    pools: list = field(default_factory=list)  # each httpcore connection pool that carried a call, once

    def open_connections(self) -> int:
        """Connections to the upstream that the pools in ``pools`` still hold open."""
        return sum(1 for pool in self.pools for connection in pool.connections if not connection.is_closed())

    def arguments(self, client: httpx.AsyncClient) -> dict | None:
        """The keyword arguments ``client`` was built with, or None if it was built earlier."""
        return self.built.get(client)


@contextmanager
def http_clients(upstream_url: str) -> Iterator[ClientLog]:
    """Record every ``httpx.AsyncClient`` that sends a request to ``upstream_url`` meanwhile, and
    every httpcore connection pool that carries one (however many transports wrap it).

    The log keeps those clients and pools alive, so ``is_closed`` and the pools' connections can be
    read after the app stopped.
    """
    import httpcore

    log = ClientLog()
    original_init, original_send = httpx.AsyncClient.__init__, httpx.AsyncClient.send
    original_handle = httpcore.AsyncConnectionPool.handle_async_request

    async def spying_handle(self, request):
        url = request.url
        target = f"{url.scheme.decode()}://{url.host.decode()}:{url.port}"
        if (target.startswith(upstream_url) or upstream_url.startswith(target)) and not any(p is self for p in log.pools):
            log.pools.append(self)
        return await original_handle(self, request)

    def spying_init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        log.built[self] = kwargs

    async def spying_send(self, request, *args, **kwargs):
        if str(request.url).startswith(upstream_url) and not any(c is self for c in log.callers):
            log.callers.append(self)
        return await original_send(self, request, *args, **kwargs)

    httpx.AsyncClient.__init__, httpx.AsyncClient.send = spying_init, spying_send
    httpcore.AsyncConnectionPool.handle_async_request = spying_handle
    try:
        yield log
    finally:
        httpx.AsyncClient.__init__, httpx.AsyncClient.send = original_init, original_send
        httpcore.AsyncConnectionPool.handle_async_request = original_handle


# --- what an app reads from an upload -------------------------------------------------------------


_READS = ("read", "read1", "readline", "readinto")


@contextmanager
def upload_reads(events: list, on_read=None) -> Iterator[list]:
    """Note ``("read", asked, got, on_disk, on_event_loop)`` in ``events`` for every read from an
    uploaded file meanwhile.

    Starlette keeps each uploaded file in a ``tempfile.SpooledTemporaryFile`` (in memory up to
    1 MiB, then on disk). ``await upload.read(n)``, ``upload.file.read(n)`` and
    ``shutil.copyfileobj(upload.file, ...)`` all end in one of its read methods, so they are
    watched there. ``asked`` is ``-1`` when the caller asked for everything that is left.
    ``on_disk`` says the file had been moved to disk (a read then waits for the disk), and
    ``on_event_loop`` that the thread that read was running an event loop, as ``file_opens`` notes:
    a read from disk there blocks the loop. ``on_read(event)`` is called right after each event is
    noted, in the thread that read.
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
            event = ("read", asked, got, bool(getattr(self, "_rolled", False)),
                     asyncio._get_running_loop() is not None)
            events.append(event)
            if on_read is not None:
                on_read(event)
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


# --- two requests that reach one SQL statement together -------------------------------------------


_racer: ContextVar[str | None] = ContextVar("statement_racer", default=None)


class StatementRendezvous:
    """Two requests meet before a SQL statement: the first statement of each request that starts
    with ``prefix`` (case-insensitive, e.g. ``"INSERT INTO books"``) is held until the other
    request has reached its own, or has ended. So both do everything they do before that
    statement (a look-up, say) before either sends it: two requests that arrive together, made
    to overlap at the worst moment, every time.

    Serve ``rendezvous.app(app)`` inside ``with rendezvous:``. Requests are labelled "first" and
    "second" in the order they arrive (later ones are not held); ``steps`` records
    ``(label, verb)`` for each statement they send ("SELECT", "INSERT", ...), in order. Code that
    can never send the statement while the other request waits (it waits for that request to
    finish first) is met by no one: the waiting request gives up after ``limit`` seconds, and
    ``gave_up`` notes its label.

    The hold runs in SQLAlchemy's greenlet, on the event loop (``await_only``): async engines only.
    """

    LABELS = ("first", "second")

    def __init__(self, prefix: str, limit: float = 1.0):
        self.prefix = " ".join(prefix.split()).upper()
        self.limit = limit
        self.steps: list[tuple[str, str]] = []
        self.gave_up: list[str] = []
        self._arrived: list[str] = []
        self._ready: dict[str, asyncio.Event] = {}

    def app(self, app):
        async def racing(scope, receive, send):
            if scope["type"] != "http" or len(self._arrived) >= len(self.LABELS):
                return await app(scope, receive, send)
            label = self.LABELS[len(self._arrived)]
            self._arrived.append(label)
            self._ready.setdefault(label, asyncio.Event())
            token = _racer.set(label)
            try:
                await app(scope, receive, send)
            finally:
                _racer.reset(token)
                self._ready[label].set()  # ended: nobody waits for it any more

        return racing

    def _before(self, conn, cursor, statement, parameters, context, executemany) -> None:
        label = _racer.get()
        if label is None:
            return
        words = statement.split()
        self.steps.append((label, words[0].upper() if words else ""))
        mine = self._ready.setdefault(label, asyncio.Event())
        if mine.is_set() or not " ".join(words).upper().startswith(self.prefix):
            return
        mine.set()
        other = self._ready.setdefault(next(name for name in self.LABELS if name != label), asyncio.Event())

        async def meet() -> None:
            try:
                await asyncio.wait_for(other.wait(), self.limit)
            except TimeoutError:
                self.gave_up.append(label)

        try:
            await_only(meet())
        except Exception:  # noqa: BLE001 - not in an async engine's greenlet: send it unheld
            pass

    def __enter__(self) -> "StatementRendezvous":
        event.listen(Engine, "before_cursor_execute", self._before)
        return self

    def __exit__(self, *exc) -> None:
        event.remove(Engine, "before_cursor_execute", self._before)


# --- which files an app opens, and from which thread ------------------------------------------


@dataclass(frozen=True)
class FileOpen:
    path: str
    writing: bool  # opened to write, create, append or truncate
    on_event_loop: bool  # the thread that opened it was running an event loop: the open blocked it


_file_open_logs: list[tuple[tuple[str, ...], list[FileOpen]]] = []
_file_open_hook_installed = False


def _on_audit(event: str, args: tuple) -> None:
    if event != "open" or not _file_open_logs:
        return
    path, mode, flags = (tuple(args) + (None, None, None))[:3]
    if not isinstance(path, (str, bytes)) and not hasattr(path, "__fspath__"):
        return  # a file descriptor: the open that made it was noted already
    try:
        where = os.path.abspath(os.fsdecode(path))
    except (TypeError, ValueError):
        return
    if isinstance(mode, str):
        writing = any(c in mode for c in "wax+")
    else:
        writing = bool((flags or 0) & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND))
    for folders, log in list(_file_open_logs):
        # A folder opened as such (Linux's unnamed temporary files, O_TMPFILE) is no file of the app's.
        if any(where.startswith(folder + os.sep) for folder in folders):
            log.append(FileOpen(where, writing, asyncio._get_running_loop() is not None))


@contextmanager
def file_opens(*folders) -> Iterator[list[FileOpen]]:
    """Record every file opened in ``folders`` (or below) meanwhile, by any thread, with whether
    that thread was running an event loop: an open there blocks the loop, and every request with it.

    Python's audit hooks (``sys.addaudithook``) see every ``open()``, ``os.open()`` and what is
    built on them (``pathlib``, ``tempfile``, ``anyio.open_file`` in its worker thread). A hook can
    never be removed: one is installed for the process, the first time, and serves every spy.
    """
    global _file_open_hook_installed
    if not _file_open_hook_installed:
        sys.addaudithook(_on_audit)
        _file_open_hook_installed = True
    log: list[FileOpen] = []
    entry = (tuple(os.path.abspath(os.fspath(folder)) for folder in folders), log)
    _file_open_logs.append(entry)
    try:
        yield log
    finally:
        _file_open_logs.remove(entry)


# --- which database connections were opened, and whether they are still open ---------------------


def _driver_connection_is_open(dbapi_connection) -> bool:
    """Whether the driver's connection behind a pool's DBAPI connection is still open: read from
    the driver itself, since a pool's ``close`` event fires before the close, even one that fails."""
    driver = getattr(dbapi_connection, "driver_connection", dbapi_connection)
    if hasattr(driver, "_tx") and hasattr(driver, "_connection"):  # aiosqlite: None once closed
        return driver._connection is not None
    if isinstance(driver, sqlite3.Connection):
        try:
            driver.total_changes
        except sqlite3.ProgrammingError:  # "Cannot operate on a closed database."
            return False
        return True
    return not getattr(driver, "closed", False)


class ConnectionLedger:
    """The DBAPI connections SQLAlchemy pools opened or handed out meanwhile, kept to be looked at later."""

    def __init__(self) -> None:
        self.used: list = []

    def note(self, dbapi_connection) -> None:
        if not any(dbapi_connection is known for known in self.used):
            self.used.append(dbapi_connection)

    def still_open(self) -> list:
        return [connection for connection in self.used if _driver_connection_is_open(connection)]


@contextmanager
def database_connections() -> Iterator[ConnectionLedger]:
    """Record every DBAPI connection any SQLAlchemy pool opens or hands out meanwhile (the pool's
    ``connect`` and ``checkout`` events), including one a pool had opened before. ``still_open()``
    asks each driver whether its connection is open now: after an app has shut down, that is what
    it left open, whatever its engine's ``dispose`` did or did not do."""
    ledger = ConnectionLedger()

    def opened(dbapi_connection, *_args) -> None:
        ledger.note(dbapi_connection)

    event.listen(Pool, "connect", opened)
    event.listen(Pool, "checkout", opened)
    try:
        yield ledger
    finally:
        event.remove(Pool, "connect", opened)
        event.remove(Pool, "checkout", opened)


# --- a service that holds its answers until a check lets them go -------------------------------------


class HeldAnswers:
    """A lookup service's ``meeting`` (see ``bookshop.upstream.lookup_service``) that holds every
    answer until ``open()``: each request arrives, is counted in ``arrived``, and waits. A request
    waits at most ``limit`` seconds, then answers anyway, so a gate nobody opened cannot hang a
    server. ``isbns``: only requests for these take part; others pass straight through.

    ``wait_for(count, within)`` returns once ``count`` requests have arrived (True), or when
    ``unless()`` says there is no point waiting (a client got its answer: ``poke()`` after that),
    or after ``within`` seconds (False)."""

    def __init__(self, limit: float = 5.0, *, isbns: set[str] | None = None):
        self.limit = limit
        self.isbns = isbns
        self.arrived = 0
        self.answered = 0
        self._opened = threading.Event()
        self._changed = threading.Condition()

    def concerns(self, isbn: str) -> bool:
        return self.isbns is None or isbn in self.isbns

    def arrive(self, service: str) -> None:
        with self._changed:
            self.arrived += 1
            self._changed.notify_all()
        self._opened.wait(self.limit)

    def answer(self, service: str) -> None:
        with self._changed:
            self.answered += 1
            self._changed.notify_all()

    def poke(self) -> None:
        """Something ``wait_for``'s ``unless`` looks at has changed."""
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, count: int, within: float, unless=lambda: False) -> bool:
        with self._changed:
            self._changed.wait_for(lambda: self.arrived >= count or unless(), within)
            return self.arrived >= count

    def open(self) -> None:
        self._opened.set()

    @property
    def is_open(self) -> bool:
        return self._opened.is_set()

    def __enter__(self) -> "HeldAnswers":
        return self

    def __exit__(self, *exc) -> None:
        self.open()
