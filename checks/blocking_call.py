"""Check: the registry's blocking `lookup` runs off the event loop, in a bounded pool of worker
threads, so the shop keeps answering while the registry is slow."""

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

import anyio
import pytest
from anyio._backends._asyncio import AsyncIOBackend

from bookshop.client import open_client
from bookshop.registry import RegistryRecord
from checks.feedback import expect, fail
from checks.harness import brief, json_of, learner

__all__ = [
    "test_the_blocking_registry_lookup_does_not_run_on_the_event_loop_thread",
    "test_the_shop_answers_other_requests_while_a_lookup_waits_for_the_registry",
    "test_a_burst_of_lookups_shares_one_bounded_pool_of_worker_threads",
    "test_a_lookup_asks_the_registry_once_and_returns_its_answer",
]

DUNE, EXHALATION, KINDRED = "9780441172719", "9781101947883", "9780807083697"
# A parked lookup in a worker thread asks the event loop to run one callback. A free loop runs it
# at once; a loop that is itself waiting for that thread never can. Only such code waits this out.
LOOP_PROBE = 0.3
SAFETY = 2.0  # never reached by working code: it only keeps a broken one from hanging the check

CONCURRENCY = (
    "FastAPI runs a plain def endpoint or dependency in a worker thread; AnyIO's to_thread.run_sync "
    "does the same for one call inside async def. Read FastAPI's 'Concurrency and async / await' "
    "and AnyIO's 'Working with threads'."
)

# --- which thread pool admitted each call -------------------------------------------------------

_admitted = threading.local()  # .pool: the limiter or executor that gave this thread its current call


@dataclass
class _Pools:
    """The thread pools that handed out worker threads meanwhile, and what waits for one."""

    limiters: dict[int, object]
    executors: dict[int, ThreadPoolExecutor]
    submitted: dict[int, int]  # per executor: calls submitted and not finished
    started: dict[int, int]  # per executor: calls a worker is running now
    semaphore_waits: int = 0  # tasks waiting on a taken asyncio.Semaphore (a hand-made bound)

    def queued(self) -> int:
        """Calls that wait because their pool is full (not those a free worker is about to pick up)."""
        waiting = sum(limiter.statistics().tasks_waiting for limiter in list(self.limiters.values()))
        for key, executor in list(self.executors.items()):
            if self.started.get(key, 0) >= executor._max_workers:
                waiting += self.submitted.get(key, 0) - self.started.get(key, 0)
        return waiting + self.semaphore_waits


def _describe_pool(pool) -> str:
    if pool is None:
        return "a thread started for it alone, outside any pool"
    if isinstance(pool, ThreadPoolExecutor):
        workers = pool._max_workers
        return f"a thread pool executor of up to {workers} thread{'s' if workers != 1 else ''}, created for that lookup alone"
    return f"a thread limiter with room for {int(pool.total_tokens)}, created for that lookup alone"


@contextmanager
def _watch_pools() -> Iterator[_Pools]:
    """Note which anyio limiter or concurrent.futures executor admits each call to a worker thread
    (the thread knows it while the call runs), and how many calls wait for one."""
    pools = _Pools({}, {}, {}, {})
    lock = threading.Lock()
    run_sync = vars(AsyncIOBackend)["run_sync_in_worker_thread"]
    submit = ThreadPoolExecutor.submit
    acquire = asyncio.Semaphore.acquire

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
        pools.limiters[id(pool)] = pool
        return await run_sync.__func__(cls, admitted_by(pool, func), args, abandon_on_cancel, limiter)

    def spying_submit(self, fn, /, *args, **kwargs):
        key = id(self)
        pools.executors[key] = self
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
        if not self.locked():
            return await acquire(self)
        pools.semaphore_waits += 1
        try:
            return await acquire(self)
        finally:
            pools.semaphore_waits -= 1

    AsyncIOBackend.run_sync_in_worker_thread = classmethod(spying_run_sync)
    ThreadPoolExecutor.submit = spying_submit
    asyncio.Semaphore.acquire = spying_acquire
    try:
        yield pools
    finally:
        AsyncIOBackend.run_sync_in_worker_thread = run_sync
        ThreadPoolExecutor.submit = submit
        asyncio.Semaphore.acquire = acquire


# --- the registry, as the check sees it -----------------------------------------------------------


@dataclass(eq=False)
class _Call:
    isbn: str
    on_the_loop: bool  # an asyncio event loop was running in the thread that called lookup
    pool: object  # the limiter or executor that admitted the call (None: neither)


class _RegistrySpy:
    """Stands in for the app's IsbnRegistry: records who calls `lookup`, from which thread.

    With ``loop`` (the test's event loop) each lookup parks, like a registry that is slow today,
    until the test releases it; ``log`` records, in order, what happened meanwhile. A lookup
    parked in the event loop's own thread gives up at once: nothing could ever release it. One
    parked in a worker thread first asks the loop to run a callback: if the loop cannot (it is
    waiting for this very thread), the lookup gives up too, and so do all lookups after it.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None):
        self.loop = loop
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
        return ran.wait(LOOP_PROBE)

    def release(self) -> None:
        self.released.set()

    def timeline(self) -> str:
        return "\n".join(f"  {number}. {event}" for number, event in enumerate(self.log, start=1))


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
    async with open_client(_app_with(kata_ns, spy)) as client:
        response = await client.get(f"/isbn/{DUNE}")
    _asked_once(spy, response)
    expect(
        not spy.calls[0].on_the_loop,
        f"GET /isbn/{DUNE} called the registry's lookup in the event loop's thread: the one thread "
        "that serves every request of this process.",
        "The lookup holds the thread that calls it until the registry answers. On the event loop's "
        "thread that means nothing else runs meanwhile: one slow registry answer freezes every "
        "request of the shop, however unrelated.",
        nudge="The endpoint is async def, and lookup has no await in front of it. Which thread runs "
              "the endpoint's body, and what can that thread do while lookup waits?",
        concept="Code inside async def runs on the event loop; a blocking call there belongs in a worker "
                "thread instead. An async def helper around it changes nothing. " + CONCURRENCY,
    )


@pytest.mark.anyio
async def test_the_shop_answers_other_requests_while_a_lookup_waits_for_the_registry(kata_ns, shop_db):
    spy = _RegistrySpy(asyncio.get_running_loop())
    responses: dict[str, object] = {}
    try:
        async with open_client(_app_with(kata_ns, spy)) as client, anyio.create_task_group() as tg:

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


@pytest.mark.anyio
async def test_a_burst_of_lookups_shares_one_bounded_pool_of_worker_threads(kata_ns, shop_db):
    spy = _RegistrySpy(asyncio.get_running_loop())
    isbns = (DUNE, EXHALATION, KINDRED)
    answered: list[int] = []
    unbounded: list[_Call] = []
    try:
        async with open_client(_app_with(kata_ns, spy)) as client, anyio.create_task_group() as tg:

            async def look_up(isbn: str) -> None:
                answered.append((await client.get(f"/isbn/{isbn}")).status_code)

            with _watch_pools() as pools:
                for isbn in isbns:
                    tg.start_soon(look_up, isbn)
                # Each lookup ends up parked in the registry, queued for a worker thread (its pool
                # is full), or answered; then nothing moves until the registry is released.
                parked: list[_Call] = []
                with anyio.move_on_after(SAFETY):
                    while True:
                        with spy._lock:
                            parked = list(spy.parked_now)
                        if len(parked) + pools.queued() + len(answered) >= len(isbns):
                            break
                        await anyio.sleep(0.001)  # polls; decides nothing
                # Lookups parked at the same time that no single pool handed out share no bound.
                if len(parked) >= 2 and (any(call.pool is None for call in parked)
                                         or len({id(call.pool) for call in parked}) > 1):
                    unbounded = parked
                spy.release()
    finally:
        spy.release()
    if unbounded:
        kinds = list(dict.fromkeys(_describe_pool(call.pool) for call in unbounded))
        fail(
            f"{len(unbounded)} registry lookups ran at the same time, each in {' or '.join(kinds)}: "
            "no pool of threads was shared between them.",
            "A bound on worker threads only works if every lookup asks the same pool for its thread. "
            "When the registry is slow, each waiting lookup holds a thread: with a pool per call, or a "
            "thread per request, a burst of lookups starts as many threads as there are requests, "
            "until the process runs out of threads or memory, instead of making the extra lookups "
            "wait their turn.",
            nudge="How many lookups can run at once in your version, and which object decides that? "
                  "How many of those objects does the app create?",
            concept="A thread pool bounds concurrency only when it is shared: AnyIO's default thread "
                    "limiter (one per event loop), or one CapacityLimiter or executor created once, "
                    "at import or in the lifespan. Read AnyIO's 'Working with threads'.",
        )


@pytest.mark.anyio
async def test_a_lookup_asks_the_registry_once_and_returns_its_answer(kata_ns, shop_db):
    spy = _RegistrySpy()
    unknown = "9780000000000"
    async with open_client(_app_with(kata_ns, spy)) as client:
        found = {isbn: await client.get(f"/isbn/{isbn}") for isbn in (DUNE, EXHALATION)}
        missing = await client.get(f"/isbn/{unknown}")
    asked = [call.isbn for call in spy.calls]
    expect(
        asked == [DUNE, EXHALATION, unknown],
        f"Three GET /isbn/... requests asked the registry for {asked}.",
        "Each request must look its own ISBN up, once, with the registry the app was given: not a "
        "copy, not a cache, not a lookup for some other request.",
        nudge="Does each request call lookup on the registry it receives, with its own ISBN?",
    )
    for isbn, response in found.items():
        expected = {"isbn": isbn, "title": f"Registry title of {isbn}", "publisher": f"Publisher {isbn[-4:]}"}
        expect(
            response.status_code == 200 and json_of(response) == expected,
            f"GET /isbn/{isbn} answered {brief(response)}, not the registry's record {expected}.",
            "The back office needs the registry's own record to check a book before it goes on sale.",
            nudge="What does the endpoint return: the record lookup gave back, or something else?",
        )
    expect(
        missing.status_code == 404,
        f"GET /isbn/{unknown}, an ISBN the registry does not know, answered {brief(missing)}, not 404.",
        "An unknown ISBN is a 404 the back office can act on.",
    )
