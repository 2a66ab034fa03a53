"""Check: the registry's blocking `lookup` runs off the event loop, in a bounded pool of worker
threads, so the shop keeps answering while the registry is slow."""

import asyncio
import functools
import math
import sys
import threading
import weakref
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

import anyio
import anyio.to_thread
import pytest
from anyio._backends._asyncio import AsyncIOBackend
from anyio._backends._asyncio import CapacityLimiter as AnyioLimiter
from anyio._backends._asyncio import Semaphore as AnyioSemaphore

from bookshop.client import open_client
from bookshop.registry import RegistryRecord
from checks.feedback import expect, fail
from checks.harness import brief, json_of, learner

__all__ = [
    "test_the_blocking_registry_lookup_does_not_run_on_the_event_loop_thread",
    "test_the_shop_answers_other_requests_while_a_lookup_waits_for_the_registry",
    "test_a_burst_of_slow_lookups_holds_a_bounded_number_of_worker_threads",
    "test_a_registry_outage_is_answered_as_an_error_not_as_an_unknown_isbn",
    "test_a_lookup_asks_the_registry_once_and_returns_its_answer",
]

DUNE, EXHALATION, KINDRED = "9780441172719", "9781101947883", "9780807083697"
# A parked lookup in a worker thread asks the event loop to run one callback. A free loop runs it
# at once; a loop that is itself waiting for that thread never can. Only such code waits this out.
LOOP_PROBE = 0.3
# AnyIO's default thread limiter lends each event loop 40 threads at once (the evidence prints it);
# a constant here, since a loop the app already ran on may carry a limit the app changed.
DEFAULT_THREADS = 40
# In a burst the loop has 41 requests to move along, so a free loop may take longer to run the
# callback; only code that blocks the loop waits this out, and only once (see _LOOP_BLOCKERS).
BURST_PROBE = 1.0
SAFETY = 2.0  # never reached by working code: it only keeps a broken one from hanging the check
# A burst settles at once (every lookup parked in the registry, waiting for a turn, or answered)
# unless some lookups wait somewhere no spy sees (a thread blocked on a plain lock): only such code
# waits this out, and is then judged on the threads it holds. Long enough that a loaded machine
# always lets 41 lookups reach their place before it runs out.
BURST_LIMIT = SAFETY
# A lookup that raised reaches a working endpoint at once; code that loses the error in a thread of
# its own never answers at all (the check sees that thread end with the error, and stops waiting),
# and only code that loses it elsewhere waits this out.
LOST_ERROR_LIMIT = 1.0
LOOP_TURNS = 200  # far more than an in-process answer needs once its lookup is over

CONCURRENCY = (
    "FastAPI runs a plain def endpoint or dependency in a worker thread; AnyIO's to_thread.run_sync "
    "does the same for one call inside async def. Read FastAPI's 'Concurrency and async / await' "
    "and AnyIO's 'Working with threads'."
)

# --- which thread pool admitted each call, and what waits for one --------------------------------

_admitted = threading.local()  # .pool: the limiter or executor that gave this thread its current call


@dataclass
class _Pools:
    """The thread pools that handed out worker threads meanwhile, and what waits for a turn."""

    limiters: dict[int, object] = field(default_factory=dict)  # anyio limiters and semaphores acquired
    semaphores: dict[int, asyncio.Semaphore] = field(default_factory=dict)  # asyncio's, acquired
    executors: dict[int, ThreadPoolExecutor] = field(default_factory=dict)
    submitted: dict[int, int] = field(default_factory=dict)  # per executor: calls submitted and not finished
    started: dict[int, int] = field(default_factory=dict)  # per executor: calls a worker is running now
    thread_waits: int = 0  # threads blocked at a threading.Semaphore, each holding its thread meanwhile
    handed_results: int = 0  # a worker thread was handed something that is not a function to call

    def queued(self) -> int:
        """Calls that wait on the event loop for their turn (not those a free worker is about to
        pick up): at a limiter or semaphore, or in the queue of a full executor."""
        waiting = sum(limiter.statistics().tasks_waiting for limiter in list(self.limiters.values()))
        waiting += sum(1 for semaphore in list(self.semaphores.values())
                       for waiter in list(getattr(semaphore, "_waiters", None) or ()) if not waiter.done())
        for key, executor in list(self.executors.items()):
            if self.started.get(key, 0) >= executor._max_workers:
                waiting += self.submitted.get(key, 0) - self.started.get(key, 0)
        return waiting


def _size(pool) -> float:
    """How many threads a pool lends at once (``math.inf``: no limit)."""
    if isinstance(pool, ThreadPoolExecutor):
        return pool._max_workers
    return float(pool.total_tokens)


def _threads(size: float) -> str:
    if math.isinf(size):
        return "with no limit on its threads"
    return f"of up to {int(size)} thread{'s' if size != 1 else ''}"


def _describe_pool(pool) -> str:
    if pool is None:
        return "a thread started for it alone, outside any pool"
    kind = "a thread pool executor" if isinstance(pool, ThreadPoolExecutor) else "a thread limiter"
    return f"{kind} {_threads(_size(pool))}, created for that lookup alone"


def _not_a_function(func) -> bool:
    """A worker was handed a value, not a call to make (asyncio.to_thread wraps it in a partial)."""
    if isinstance(func, functools.partial) and getattr(func.func, "__name__", "") == "run" and func.args:
        func = func.args[0]  # contextvars.Context.run(the function, ...)
    return not callable(func)


@contextmanager
def _watch_pools() -> Iterator[_Pools]:
    """Note which anyio limiter or concurrent.futures executor admits each call to a worker thread
    (the thread knows it while the call runs), and what waits for a turn meanwhile: on the event
    loop, at an anyio limiter or semaphore, an asyncio semaphore, or in a full executor; in a
    thread, at a threading semaphore."""
    pools = _Pools()
    lock = threading.Lock()
    run_sync = vars(AsyncIOBackend)["run_sync_in_worker_thread"]
    submit = ThreadPoolExecutor.submit
    acquire = asyncio.Semaphore.acquire
    limiter_acquire = AnyioLimiter.acquire_on_behalf_of
    anyio_semaphore_acquire = AnyioSemaphore.acquire
    thread_acquire = threading.Semaphore.acquire

    def admitted_by(pool, func):
        def call(*args, **kwargs):
            previous = getattr(_admitted, "pool", None)
            _admitted.pool = pool
            try:
                return func(*args, **kwargs)
            finally:
                _admitted.pool = previous

        return call

    async def spying_run_sync(cls, func, args, abandon_on_cancel=False, limiter=None):
        pool = limiter or cls.current_default_thread_limiter()
        if _not_a_function(func):
            pools.handed_results += 1
            return await run_sync.__func__(cls, func, args, abandon_on_cancel, limiter)
        return await run_sync.__func__(cls, admitted_by(pool, func), args, abandon_on_cancel, limiter)

    def spying_submit(self, fn, /, *args, **kwargs):
        key = id(self)
        pools.executors[key] = self
        if _not_a_function(fn):
            pools.handed_results += 1
        with lock:
            pools.submitted[key] = pools.submitted.get(key, 0) + 1

        def started(*a, **k):
            with lock:
                pools.started[key] = pools.started.get(key, 0) + 1
            try:
                return admitted_by(self, fn)(*a, **k)
            finally:
                with lock:
                    pools.started[key] -= 1
                    pools.submitted[key] -= 1

        return submit(self, started, *args, **kwargs)

    async def spying_acquire(self):
        pools.semaphores[id(self)] = self
        return await acquire(self)

    async def spying_limiter_acquire(self, borrower):
        pools.limiters[id(self)] = self
        return await limiter_acquire(self, borrower)

    async def spying_anyio_semaphore_acquire(self):
        pools.limiters[id(self)] = self
        return await anyio_semaphore_acquire(self)

    def spying_thread_acquire(self, blocking=True, timeout=None):
        if not blocking:
            return thread_acquire(self, False)
        if thread_acquire(self, False):  # free: no wait to count
            return True
        with lock:
            pools.thread_waits += 1
        try:
            return thread_acquire(self, True, timeout)
        finally:
            with lock:
                pools.thread_waits -= 1

    AsyncIOBackend.run_sync_in_worker_thread = classmethod(spying_run_sync)
    ThreadPoolExecutor.submit = spying_submit
    asyncio.Semaphore.acquire = spying_acquire
    AnyioLimiter.acquire_on_behalf_of = spying_limiter_acquire
    AnyioSemaphore.acquire = spying_anyio_semaphore_acquire
    threading.Semaphore.acquire = threading.Semaphore.__enter__ = spying_thread_acquire
    try:
        yield pools
    finally:
        AsyncIOBackend.run_sync_in_worker_thread = run_sync
        ThreadPoolExecutor.submit = submit
        asyncio.Semaphore.acquire = acquire
        AnyioLimiter.acquire_on_behalf_of = limiter_acquire
        AnyioSemaphore.acquire = anyio_semaphore_acquire
        threading.Semaphore.acquire = threading.Semaphore.__enter__ = thread_acquire


# --- the registry, as the check sees it -----------------------------------------------------------


@dataclass(eq=False)
class _Call:
    isbn: str
    on_the_loop: bool  # an asyncio event loop was running in the thread that called lookup
    pool: object  # the limiter or executor that admitted the call (None: neither)


class _RegistrySpy:
    """Stands in for the app's IsbnRegistry: records who calls `lookup`, from which thread.
    For an ISBN in ``failures`` it raises, as the vendor's client does when the registry is down.

    With ``loop`` (the test's event loop) each lookup parks, like a registry that is slow today,
    until the test releases it; ``log`` records, in order, what happened meanwhile. A lookup
    parked in the event loop's own thread gives up at once: nothing could ever release it. One
    parked in a worker thread first asks the loop to run a callback: if the loop cannot (it is
    waiting for this very thread), the lookup gives up too, and so do all lookups after it.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None, failures: dict[str, Exception] | None = None,
                 probe: float = LOOP_PROBE):
        self.loop = loop
        self.probe = probe
        self.failures = failures or {}  # ISBN -> what lookup raises for it: the registry is down
        self.calls: list[_Call] = []
        self.parked_now: list[_Call] = []
        self.log: list[str] = []
        self.parked = threading.Event()  # a lookup started waiting (or gave up on waiting)
        self.released = threading.Event()
        self.loop_stuck = False
        self._lock = threading.Lock()

    def lookup(self, isbn: str) -> RegistryRecord | None:
        try:
            asyncio.get_running_loop()
            on_the_loop = True
        except RuntimeError:
            on_the_loop = False
        call = _Call(isbn, on_the_loop, getattr(_admitted, "pool", None))
        with self._lock:
            self.calls.append(call)
        if self.loop is not None:
            self._park(call)
        if isbn in self.failures:
            raise self.failures[isbn]
        if isbn.endswith("0000000"):
            return None  # an ISBN the registry does not know
        return RegistryRecord(isbn=isbn, title=f"Registry title of {isbn}", publisher=f"Publisher {isbn[-4:]}")

    def _park(self, call: _Call) -> None:
        self.log.append(f"GET /isbn/{call.isbn}: the lookup starts waiting for the registry"
                        + (", in the event loop's thread" if call.on_the_loop else ", in a worker thread"))
        if call.on_the_loop or self.loop_stuck:
            self.log.append("the lookup holds the event loop's own thread: nothing else runs until it returns "
                            "(here it returns at once, since nothing could ever let it go)")
            self.parked.set()
            return
        with self._lock:
            self.parked_now.append(call)
        self.parked.set()
        try:
            if not self._loop_runs():
                self.loop_stuck = True
                self.log.append("the lookup gives up: while it waited in its worker thread, the event loop "
                                "ran nothing at all")
            elif self.released.wait(SAFETY):
                self.log.append("the test lets the registry answer")
            else:
                self.log.append("the lookup gives up: nobody released it")
        finally:
            with self._lock:
                self.parked_now.remove(call)

    def _loop_runs(self) -> bool:
        ran = threading.Event()
        try:
            self.loop.call_soon_threadsafe(ran.set)
        except RuntimeError:  # the loop is closed
            return False
        return ran.wait(self.probe)

    def release(self) -> None:
        self.released.set()

    def timeline(self) -> str:
        return "\n".join(f"  {number}. {event}" for number, event in enumerate(self.log, start=1))


# Apps whose event loop a parked lookup found blocked (while the shop answers other requests). A
# burst against such an app would only wait for its probe to run out before every lookup gives up:
# it starts with the loop known to be stuck instead, and reaches the same verdict at once. Keyed by
# the app object, so a kata cell run again (a new app) is probed afresh.
_LOOP_BLOCKERS: "weakref.WeakSet" = weakref.WeakSet()


def _app_with(kata_ns, spy: _RegistrySpy):
    app = learner(kata_ns, "app")
    app.dependency_overrides[learner(kata_ns, "get_registry")] = lambda: spy
    return app


def _asked_once(spy: _RegistrySpy, response) -> None:
    expect(
        len(spy.calls) == 1,
        f"GET /isbn/{DUNE} answered {brief(response) if response is not None else 'nothing'} after "
        f"calling the registry's lookup {len(spy.calls)} time(s).",
        "Each lookup the back office asks for should reach the registry once, through the registry "
        "client the app was given; a lookup that never reaches it answers from somewhere else.",
        nudge="Does the endpoint still call lookup on the registry it receives, exactly once per request?",
    )


@pytest.mark.anyio
async def test_the_blocking_registry_lookup_does_not_run_on_the_event_loop_thread(kata_ns, shop_db):
    spy = _RegistrySpy()
    with _watch_pools() as pools:
        async with open_client(_app_with(kata_ns, spy)) as client:
            response = await client.get(f"/isbn/{DUNE}")
    _asked_once(spy, response)
    if spy.calls[0].on_the_loop and pools.handed_results:
        nudge = ("The lookup ran in the endpoint's own body, before anything reached a worker thread; "
                 "what the worker got was lookup's answer. What must a worker thread be handed to make "
                 "the call itself?")
    else:
        nudge = ("The endpoint is async def, and lookup has no await in front of it. Which thread runs "
                 "the endpoint's body, and what can that thread do while lookup waits?")
    expect(
        not spy.calls[0].on_the_loop,
        f"GET /isbn/{DUNE} called the registry's lookup in the event loop's thread: the one thread "
        "that serves every request of this process.",
        "The lookup holds the thread that calls it until the registry answers. On the event loop's "
        "thread that means nothing else runs meanwhile: one slow registry answer freezes every "
        "request of the shop, however unrelated.",
        nudge=nudge,
        concept="Code inside async def runs on the event loop; a blocking call there belongs in a worker "
                "thread instead. An async def helper around it changes nothing, and neither does calling "
                "it first and handing a worker thread its result. " + CONCURRENCY,
    )


@pytest.mark.anyio
async def test_the_shop_answers_other_requests_while_a_lookup_waits_for_the_registry(kata_ns, shop_db):
    spy = _RegistrySpy(asyncio.get_running_loop())
    app = _app_with(kata_ns, spy)
    responses: dict[str, object] = {}
    try:
        async with open_client(app) as client, anyio.create_task_group() as tg:

            async def look_dune_up() -> None:
                responses["lookup"] = await client.get(f"/isbn/{DUNE}")

            tg.start_soon(look_dune_up)
            with anyio.move_on_after(SAFETY):
                while not spy.parked.is_set() and "lookup" not in responses:
                    await anyio.sleep(0.001)  # polls; decides nothing
            if spy.parked.is_set():
                with anyio.move_on_after(SAFETY):
                    responses["book"] = book = await client.get("/books/1")
                    spy.log.append(f"a customer's GET /books/1 is answered {book.status_code}")
            spy.release()
    finally:
        spy.release()
    if spy.loop_stuck:
        _LOOP_BLOCKERS.add(app)
    lookup = responses.get("lookup")
    _asked_once(spy, lookup)
    timeline = spy.timeline()
    book = responses.get("book")
    expect(book is not None, f"GET /books/1 got no answer while a lookup waited for the registry:\n{timeline}",
           "A customer's page must never wait for the back office's registry lookup.")
    expect(book.status_code == 200, f"GET /books/1 answered {brief(book)}, not the book.",
           "The book page does not use the registry: it must keep working.")
    answered = spy.log.index(f"a customer's GET /books/1 is answered {book.status_code}")
    ended = next(i for i, event in enumerate(spy.log) if event.startswith(("the test lets", "the lookup gives", "the lookup holds")))
    if answered > ended and spy.loop_stuck:
        fail(
            f"The lookup ran in a worker thread, yet while it waited the event loop ran nothing: "
            f"GET /books/1 was answered only once the lookup had given up.\n{timeline}",
            "Something on the event loop's thread waited for the worker thread to finish. Waiting for a "
            "thread that way holds the loop exactly as the blocking call did: the shop still stops "
            "while the registry is slow.",
            nudge="How does the endpoint wait for the worker thread's result? Does the event loop get "
                  "its thread back while it waits?",
            concept="The event loop gets its thread back only at an await that suspends. Joining a thread "
                    "or waiting on a concurrent future's result blocks the thread that does it. "
                    + CONCURRENCY,
        )
    expect(
        answered < ended,
        f"While GET /isbn/{DUNE} waited for the registry, a customer's GET /books/1 got no answer; it "
        f"was answered only after the lookup ended:\n{timeline}",
        "The book page never calls the registry, yet it queued behind the lookup: while the registry "
        "is slow, every page of the shop is as slow. On Friday that was half a minute per request.",
        nudge="The endpoint is async def. Which thread runs lookup, and what else needs that thread?",
        concept="An event loop runs one piece of code at a time, in one thread; a blocking call there "
                "stops all of it. " + CONCURRENCY,
    )
    expect(
        lookup is not None and lookup.status_code == 200,
        f"Once the registry answered, GET /isbn/{DUNE} answered "
        f"{brief(lookup) if lookup is not None else 'nothing'}, not 200 with the record.",
        "The lookup itself must still work.",
    )


def _burst_isbn(number: int) -> str:
    return f"978100{number:07d}"  # ISBNs no other test asks for, each its own: no cache can answer


def _threads_at_work(kata_ns: dict) -> int:
    """Threads other than this one (the event loop's) that are inside one of the notebook's
    functions or the registry's lookup right now: each is a thread a lookup holds, running or
    blocked (in the registry, at a lock, on an event). An idle worker of a pool runs neither, and
    the thread that runs a notebook cell (in a kernel, the one that started this check) is in the
    cell's module-level code, not in a function of the notebook."""
    registry_code = {_RegistrySpy.lookup.__code__, _RegistrySpy._park.__code__}
    here = threading.get_ident()
    count = 0
    for ident, frame in sys._current_frames().items():
        if ident == here:
            continue
        while frame is not None:
            if (frame.f_globals is kata_ns and frame.f_code.co_name != "<module>") or frame.f_code in registry_code:
                count += 1
                break
            frame = frame.f_back
    return count


@pytest.mark.anyio
async def test_a_burst_of_slow_lookups_holds_a_bounded_number_of_worker_threads(kata_ns, shop_db):
    # A burst one larger than the number of worker threads AnyIO lends an event loop by default
    # must find a bound.
    default = DEFAULT_THREADS
    burst = [_burst_isbn(number) for number in range(1, default + 2)]
    spy = _RegistrySpy(asyncio.get_running_loop(), probe=BURST_PROBE)
    app = _app_with(kata_ns, spy)
    spy.loop_stuck = app in _LOOP_BLOCKERS  # judged already: lookups then give up at once, as they would
    answered: list[int] = []
    try:
        async with open_client(app) as client, anyio.create_task_group() as tg:

            async def look_up(isbn: str) -> None:
                answered.append((await client.get(f"/isbn/{isbn}")).status_code)

            with _watch_pools() as pools:
                for isbn in burst:
                    tg.start_soon(look_up, isbn)
                # Each lookup ends up parked in the registry, waiting for a turn (on the event loop,
                # or in a thread at a semaphore), or answered; then nothing moves until the registry
                # is released. Only then are the threads the lookups hold counted.
                with anyio.move_on_after(BURST_LIMIT):
                    while True:
                        with spy._lock:
                            parked = list(spy.parked_now)
                        if len(parked) + pools.thread_waits + pools.queued() + len(answered) >= len(burst):
                            break
                        await anyio.sleep(0.001)  # polls; decides nothing
                holding, waiting = _threads_at_work(kata_ns), pools.queued()
                with spy._lock:
                    parked = list(spy.parked_now)
                spy.release()
            total = float(anyio.to_thread.current_default_thread_limiter().total_tokens)
    finally:
        spy.release()
    expect(
        total <= default,
        f"While it served the lookups, the app raised the number of worker threads AnyIO lends at once "
        f"to the whole event loop from {default} to {'no limit' if math.isinf(total) else int(total)}.",
        "That limit is shared by every def endpoint and dependency of the process, not only the lookup: "
        "raising it takes the bound away from all of them, and a slow registry can then hold as many "
        "threads as there are requests.",
        nudge="Which object decides how many lookups wait in a thread at once, and who else relies on it?",
        concept="A bound of the registry's own, created once and no larger than the default, limits the "
                "lookups without touching the rest of the app. Read AnyIO's 'Working with threads'.",
    )
    if holding <= default:
        return
    pools_seen = {id(call.pool): call.pool for call in parked}
    kinds = list(dict.fromkeys(_describe_pool(call.pool) for call in parked))
    elsewhere = holding - len(parked)
    if elsewhere > 0:
        held = (f"{len(parked)} of them waiting in the registry, and {elsewhere} more blocked in the app's own "
                "code (waiting for another thread to finish, or at a lock)")
    elif len(pools_seen) == 1 and all(pool is not None for pool in pools_seen.values()):
        (pool,) = pools_seen.values()
        held = f"all from one pool {_threads(_size(pool))}: more than the {default} AnyIO lends by default"
    elif len(parked) >= 2:
        held = f"each lookup in {' or '.join(kinds)}: no pool of threads was shared between them"
    else:
        held = "none of them from a pool"
    fail(
        f"{len(burst)} slow registry lookups arrived together and held {holding} threads at the same time, "
        f"{held}.{f' {waiting} waited for a turn without a thread.' if elsewhere <= 0 else ''}",
        "When the registry is slow, each lookup that has a thread holds it until the registry answers. "
        "A bound makes the extra lookups wait their turn; without one (a pool, a limiter or a thread per "
        "call, or one pool with room for more threads than the default) a burst starts as many threads "
        "as there are requests, until the process runs out of threads or memory. A pool larger than "
        f"the default's {default} bounds nothing the default did not, and a thread that only waits for "
        "another thread is one more thread held.",
        nudge="How many lookups can hold a thread at once in your version, and which object decides that? "
              "How many of those objects does the app create, and how large are they?",
        concept="A thread pool bounds concurrency only when it is shared and small enough: AnyIO's default "
                "thread limiter (one per event loop), or one CapacityLimiter, semaphore or executor "
                "created once, at import or in the lifespan, with room for no more threads than the "
                "default. Read AnyIO's 'Working with threads'.",
    )


REFUSED, TIMED_OUT = "9781000000017", "9781000000024"


@pytest.mark.anyio
async def test_a_registry_outage_is_answered_as_an_error_not_as_an_unknown_isbn(kata_ns, shop_db):
    failures = {
        REFUSED: ConnectionRefusedError("the ISBN registry refused the connection"),
        TIMED_OUT: TimeoutError("the ISBN registry did not answer in time"),
    }
    spy = _RegistrySpy(failures=failures)
    lost: list[BaseException] = []  # errors that ended a thread, nobody having taken them from it
    hook = threading.excepthook
    threading.excepthook = lambda args: lost.append(args.exc_value)
    try:
        async with open_client(_app_with(kata_ns, spy)) as client, anyio.create_task_group() as tg:
            responses = {}

            async def ask(isbn: str) -> None:
                responses[isbn] = await client.get(f"/isbn/{isbn}")

            for isbn in failures:
                tg.start_soon(ask, isbn)
                with anyio.move_on_after(LOST_ERROR_LIMIT):
                    while isbn not in responses and not lost:
                        await anyio.sleep(0.001)  # polls; decides nothing
                    # A thread ended with the error unhandled. Whatever it handed the loop before it
                    # ended is queued already: a few turns of the loop, without any I/O, deliver it.
                    for _ in range(LOOP_TURNS):
                        if isbn in responses:
                            break
                        await anyio.sleep(0)
                if isbn not in responses:
                    tg.cancel_scope.cancel()  # one lost error is the finding: no need for a second one
                    break
    finally:
        threading.excepthook = hook
    for isbn, error in failures.items():
        response = responses.get(isbn)
        where = " It ended the thread that ran the lookup, and nothing took it from there." if lost else ""
        expect(
            response is not None,
            f"With the registry down (its client raised {type(error).__name__}: {error}), GET /isbn/{isbn} "
            f"got no answer at all: the error never reached the request that was waiting for the lookup.{where}",
            "A lookup that fails in a thread nobody waits on properly leaves its request waiting forever: "
            "the back office hangs, holding a connection, every time the registry is down.",
            nudge="When lookup raises in the thread that runs it, where does that exception go, and who "
                  "tells the waiting request?",
            concept="A worker thread's exception has to travel back to the code that awaits its result; "
                    "a pool's future or AnyIO's to_thread carries it there, a bare thread does not. "
                    "Read AnyIO's 'Working with threads'.",
        )
        what = "an unknown ISBN" if response.status_code == 404 else "a record" if response.status_code < 300 else ""
        expect(
            500 <= response.status_code < 600,
            f"With the registry down (its client raised {type(error).__name__}: {error}), "
            f"GET /isbn/{isbn} answered {brief(response)}{f', as for {what}' if what else ''}.",
            "The back office reads a 404 as 'no such ISBN' and a 200 as a checked record: it rejects "
            "a real book, or puts one on sale unchecked, and nobody learns that the registry is "
            "down. A registry that failed is a server error (5xx) the back office and the "
            "monitoring can tell apart from an unknown ISBN.",
            nudge="What does the endpoint do when lookup raises instead of returning? Which of its "
                  "answers can the back office still tell apart?",
            concept="Catch only the errors you can answer truthfully; an outage of a service you "
                    "depend on is an error of the request (502, 503 or 504 if you map it yourself, "
                    "500 if you let it propagate), never a value. Read FastAPI's 'Handling Errors'.",
        )


@pytest.mark.anyio
async def test_a_lookup_asks_the_registry_once_and_returns_its_answer(kata_ns, shop_db):
    spy = _RegistrySpy()
    unknown = "9780000000000"
    async with open_client(_app_with(kata_ns, spy)) as client:
        first = await client.get(f"/isbn/{DUNE}")
        found = {isbn: await client.get(f"/isbn/{isbn}") for isbn in (DUNE, EXHALATION)}
        missing = await client.get(f"/isbn/{unknown}")
    asked = [call.isbn for call in spy.calls]
    expected = [DUNE, DUNE, EXHALATION, unknown]
    expect(
        asked == expected,
        f"Four GET /isbn/... requests, for {expected} (Dune twice), asked the registry for {asked}.",
        "Each request must look its own ISBN up, once, with the registry the app was given: not a "
        "copy, not a cache, not a lookup for some other request. The registry is checked right before "
        "a book goes on sale: a record remembered from an earlier lookup may no longer be the "
        "registry's.",
        nudge="Does each request call lookup on the registry it receives, with its own ISBN, every time?",
    )
    for isbn, response in ((DUNE, first), *found.items()):
        expected_record = {"isbn": isbn, "title": f"Registry title of {isbn}", "publisher": f"Publisher {isbn[-4:]}"}
        expect(
            response.status_code == 200 and json_of(response) == expected_record,
            f"GET /isbn/{isbn} answered {brief(response)}, not the registry's record {expected_record}.",
            "The back office needs the registry's own record to check a book before it goes on sale.",
            nudge="What does the endpoint return: the record lookup gave back, or something else?",
        )
    expect(
        missing.status_code == 404,
        f"GET /isbn/{unknown}, an ISBN the registry does not know, answered {brief(missing)}, not 404.",
        "An unknown ISBN is a 404 the back office can act on.",
    )
