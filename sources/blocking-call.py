# %% [markdown]
# # A blocking call freezes every request
#
# **The story.** Before a new book goes on sale, the back office checks its ISBN against the
# national ISBN registry: `GET /isbn/{isbn}` returns the registry's record. The registry's vendor
# ships a Python client with no async API; its `lookup` sits on a socket until the registry
# answers, usually within a fifth of a second. On Friday the registry took half a minute per
# answer, and for that half minute the *whole shop* stood still: book pages, the home page,
# the health check. None of them calls the registry. The endpoint that does is `async def`.
#
# **You will learn**
# - that an `async def` endpoint runs on the event loop's thread, so a blocking call inside it
#   stops every request the process is serving, not only its own;
# - that `await` in front of an `async def` helper does not move a blocking call anywhere;
# - how a plain `def` endpoint, or `anyio.to_thread.run_sync` inside an `async def` one, runs
#   the call in a worker thread, and when to choose which;
# - why those worker threads must come from one shared pool, no larger than the default, and
#   never be waited for in a way that holds the event loop;
# - why moving the call must not change what the endpoint answers: a registry that is down is
#   still an error, and every lookup still asks the registry.
#
# Run the cells from the top (**Run → Run All Cells**), read the evidence, then make the check pass.

# %% tags=["setup"]
from checks import setup_notebook

setup_notebook()

# %% [markdown]
# ## The bookshop around the problem
#
# `IsbnRegistry` is the vendor's client (from the workbook's `bookshop` package): `lookup(isbn)`
# blocks the thread that calls it until the registry answers, then returns a `RegistryRecord`,
# or `None` for an ISBN the registry does not know. Like any network client, it raises when the
# registry cannot be reached (`ConnectionError`, `TimeoutError`). The app's lifespan wraps the shop's own, as
# taught in "The engine belongs to the lifespan" (it builds the engine and puts a `sessionmaker`
# in `request.state`), and adds one registry client, which endpoints get through `RegistryDep`.

# %%
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import anyio.to_thread
from fastapi import Depends, FastAPI, HTTPException, Request
from sqlalchemy.ext.asyncio import AsyncSession

from bookshop.registry import IsbnRegistry, RegistryRecord
from bookshop.db import lifespan as shop_lifespan
from bookshop.models import Book
from bookshop.schemas import BookOut


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict]:
    async with shop_lifespan(app) as state:
        yield {**state, "registry": IsbnRegistry()}


def get_registry(request: Request) -> IsbnRegistry:
    return request.state.registry


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.state.sessionmaker() as session:
        yield session


RegistryDep = Annotated[IsbnRegistry, Depends(get_registry)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]

# %% [markdown]
# ## The code under review
#
# This is the cell you will change. The endpoint is `async def`; which thread runs
# `registry.lookup(isbn)`, and what else can that thread do while the registry is silent?

# %% tags=["kata", "starter"]
app = FastAPI(lifespan=lifespan)


@app.get("/isbn/{isbn}")
async def lookup_isbn(isbn: str, registry: RegistryDep) -> RegistryRecord:
    record = registry.lookup(isbn)  # the vendor's client: waits on its socket for the registry
    if record is None:
        raise HTTPException(status_code=404, detail=f"The registry does not know ISBN {isbn}")
    return record

# %% tags=["kata", "solution"]
app = FastAPI(lifespan=lifespan)


# A plain `def`: FastAPI runs it in a worker thread, so while `lookup` waits for the registry
# only that thread waits; the event loop goes on serving every other request. The endpoint
# awaits nothing, so it loses nothing by not being `async def`.
@app.get("/isbn/{isbn}")
def lookup_isbn(isbn: str, registry: RegistryDep) -> RegistryRecord:
    record = registry.lookup(isbn)
    if record is None:
        raise HTTPException(status_code=404, detail=f"The registry does not know ISBN {isbn}")
    return record

# %% tags=["kata", "decoy:async-helper"]
# "Wrap the call in an `async def` helper and await it: async all the way down." It reads well,
# but `async def` only makes a function awaitable; its body still runs on the event loop's
# thread, and the blocking `lookup` inside it holds that thread exactly as before.
app = FastAPI(lifespan=lifespan)


async def lookup_async(registry: IsbnRegistry, isbn: str) -> RegistryRecord | None:
    return registry.lookup(isbn)


@app.get("/isbn/{isbn}")
async def lookup_isbn(isbn: str, registry: RegistryDep) -> RegistryRecord:
    record = await lookup_async(registry, isbn)
    if record is None:
        raise HTTPException(status_code=404, detail=f"The registry does not know ISBN {isbn}")
    return record

# %% tags=["kata", "decoy:offload-the-result"]
# "Send it to a worker thread with anyio.to_thread.run_sync." Right tool, one pair of
# parentheses too many: `registry.lookup(isbn)` is called right here, on the loop, and
# `run_sync` then receives its result instead of a function to call (a TypeError, so a 500).
app = FastAPI(lifespan=lifespan)


@app.get("/isbn/{isbn}")
async def lookup_isbn(isbn: str, registry: RegistryDep) -> RegistryRecord:
    record = await anyio.to_thread.run_sync(registry.lookup(isbn))
    if record is None:
        raise HTTPException(status_code=404, detail=f"The registry does not know ISBN {isbn}")
    return record

# %% tags=["kata", "decoy:wait-for-the-thread"]
# "A thread pool runs the lookup, so the loop is free." The pool runs it, but `.result()` waits
# for it right here, on the event loop's thread: the loop is held exactly as before.
from concurrent.futures import ThreadPoolExecutor

registry_threads = ThreadPoolExecutor(max_workers=8)
app = FastAPI(lifespan=lifespan)


@app.get("/isbn/{isbn}")
async def lookup_isbn(isbn: str, registry: RegistryDep) -> RegistryRecord:
    record = registry_threads.submit(registry.lookup, isbn).result()
    if record is None:
        raise HTTPException(status_code=404, detail=f"The registry does not know ISBN {isbn}")
    return record

# %% tags=["kata", "decoy:limiter-per-call"]
# "A capacity limiter of 1: each lookup gets exactly one thread, never more." Each lookup gets a
# limiter of its own, so the limit applies to nothing: a hundred lookups, a hundred threads.
app = FastAPI(lifespan=lifespan)


@app.get("/isbn/{isbn}")
async def lookup_isbn(isbn: str, registry: RegistryDep) -> RegistryRecord:
    record = await anyio.to_thread.run_sync(registry.lookup, isbn, limiter=anyio.CapacityLimiter(1))
    if record is None:
        raise HTTPException(status_code=404, detail=f"The registry does not know ISBN {isbn}")
    return record

# %% tags=["kata", "decoy:executor-per-call"]
# "asyncio's run_in_executor, with a thread pool of our own." A new pool for every call: its
# size limits nothing, and none of these pools is ever shut down.
import asyncio
from concurrent.futures import ThreadPoolExecutor

app = FastAPI(lifespan=lifespan)


@app.get("/isbn/{isbn}")
async def lookup_isbn(isbn: str, registry: RegistryDep) -> RegistryRecord:
    loop = asyncio.get_running_loop()
    record = await loop.run_in_executor(ThreadPoolExecutor(max_workers=4), registry.lookup, isbn)
    if record is None:
        raise HTTPException(status_code=404, detail=f"The registry does not know ISBN {isbn}")
    return record

# %% tags=["kata", "decoy:thread-per-request"]
# "Start a thread for the lookup and await an event it sets: no pool to run dry." No pool, so
# no limit either: every waiting request holds a thread of its own, however many there are.
import asyncio
import threading

app = FastAPI(lifespan=lifespan)


@app.get("/isbn/{isbn}")
async def lookup_isbn(isbn: str, registry: RegistryDep) -> RegistryRecord:
    loop = asyncio.get_running_loop()
    answer = loop.create_future()

    def look_up() -> None:
        record = registry.lookup(isbn)
        loop.call_soon_threadsafe(answer.set_result, record)

    threading.Thread(target=look_up, daemon=True).start()
    record = await answer
    if record is None:
        raise HTTPException(status_code=404, detail=f"The registry does not know ISBN {isbn}")
    return record

# %% tags=["kata", "decoy:unbounded-limiter"]
# "One limiter, shared by every lookup, with room for as many as come: no lookup ever waits for a
# thread." Shared, but it bounds nothing: a burst of slow lookups holds a thread each, as many
# threads as there are requests.
import math

registry_lookups = anyio.CapacityLimiter(math.inf)
app = FastAPI(lifespan=lifespan)


@app.get("/isbn/{isbn}")
async def lookup_isbn(isbn: str, registry: RegistryDep) -> RegistryRecord:
    record = await anyio.to_thread.run_sync(registry.lookup, isbn, limiter=registry_lookups)
    if record is None:
        raise HTTPException(status_code=404, detail=f"The registry does not know ISBN {isbn}")
    return record

# %% tags=["kata", "decoy:huge-executor"]
# "One executor for the registry, created once, big enough for our worst day." Created once, but
# with room for a hundred thousand threads it bounds nothing the default pool did not: on a slow
# day every waiting lookup holds a thread of its own.
import asyncio
from concurrent.futures import ThreadPoolExecutor

registry_threads = ThreadPoolExecutor(max_workers=100_000)
app = FastAPI(lifespan=lifespan)


@app.get("/isbn/{isbn}")
async def lookup_isbn(isbn: str, registry: RegistryDep) -> RegistryRecord:
    record = await asyncio.get_running_loop().run_in_executor(registry_threads, registry.lookup, isbn)
    if record is None:
        raise HTTPException(status_code=404, detail=f"The registry does not know ISBN {isbn}")
    return record

# %% tags=["kata", "decoy:raise-the-default"]
# "The default pool of 40 threads runs out on a slow day: raise it, and never run out." The default
# limiter is shared by every `def` endpoint and dependency of the event loop: raising it to 10 000
# takes the bound away from all of them, and a slow registry holds a thread per request again.
app = FastAPI(lifespan=lifespan)


@app.get("/isbn/{isbn}")
async def lookup_isbn(isbn: str, registry: RegistryDep) -> RegistryRecord:
    anyio.to_thread.current_default_thread_limiter().total_tokens = 10_000
    record = await anyio.to_thread.run_sync(registry.lookup, isbn)
    if record is None:
        raise HTTPException(status_code=404, detail=f"The registry does not know ISBN {isbn}")
    return record

# %% tags=["kata", "decoy:outage-as-unknown"]
# "A plain `def`, and while we are at it, a registry that fails must not crash the endpoint." It
# no longer crashes: it says "unknown ISBN" for a registry that is down, so the back office rejects
# real books, and nobody learns that the registry failed.
app = FastAPI(lifespan=lifespan)


@app.get("/isbn/{isbn}")
def lookup_isbn(isbn: str, registry: RegistryDep) -> RegistryRecord:
    try:
        record = registry.lookup(isbn)
    except Exception:
        record = None
    if record is None:
        raise HTTPException(status_code=404, detail=f"The registry does not know ISBN {isbn}")
    return record

# %% tags=["kata", "decoy:cache-per-registry"]
# "The slow registry is the problem: remember its answers, per registry client and ISBN." The
# second lookup of an ISBN never reaches the registry: the back office checks a book against a
# record that may have changed since, which is what the check before a sale is for.
from functools import lru_cache

app = FastAPI(lifespan=lifespan)


@lru_cache(maxsize=1024)
def cached_lookup(registry: IsbnRegistry, isbn: str) -> RegistryRecord | None:
    return registry.lookup(isbn)


@app.get("/isbn/{isbn}")
def lookup_isbn(isbn: str, registry: RegistryDep) -> RegistryRecord:
    record = cached_lookup(registry, isbn)
    if record is None:
        raise HTTPException(status_code=404, detail=f"The registry does not know ISBN {isbn}")
    return record

# %% tags=["kata", "alternative:to-thread"]
# Keep `async def` and send only the blocking call to a worker thread, from AnyIO's default
# limiter (the same pool FastAPI uses for `def` endpoints).
app = FastAPI(lifespan=lifespan)


@app.get("/isbn/{isbn}")
async def lookup_isbn(isbn: str, registry: RegistryDep) -> RegistryRecord:
    record = await anyio.to_thread.run_sync(registry.lookup, isbn)
    if record is None:
        raise HTTPException(status_code=404, detail=f"The registry does not know ISBN {isbn}")
    return record

# %% tags=["kata", "alternative:shared-limiter"]
# A limiter of the registry's own, created once: at most 5 lookups at a time, so a slow registry
# can never take more than 5 of the threads the rest of the app shares.
registry_lookups = anyio.CapacityLimiter(5)
app = FastAPI(lifespan=lifespan)


@app.get("/isbn/{isbn}")
async def lookup_isbn(isbn: str, registry: RegistryDep) -> RegistryRecord:
    record = await anyio.to_thread.run_sync(registry.lookup, isbn, limiter=registry_lookups)
    if record is None:
        raise HTTPException(status_code=404, detail=f"The registry does not know ISBN {isbn}")
    return record

# %% tags=["kata", "alternative:lifespan-limiter"]
# The same limiter, created by the lifespan and handed to requests through its state.
@asynccontextmanager
async def lifespan_with_limiter(app: FastAPI) -> AsyncIterator[dict]:
    async with lifespan(app) as state:
        yield {**state, "registry_lookups": anyio.CapacityLimiter(5)}


app = FastAPI(lifespan=lifespan_with_limiter)


@app.get("/isbn/{isbn}")
async def lookup_isbn(isbn: str, registry: RegistryDep, request: Request) -> RegistryRecord:
    record = await anyio.to_thread.run_sync(registry.lookup, isbn, limiter=request.state.registry_lookups)
    if record is None:
        raise HTTPException(status_code=404, detail=f"The registry does not know ISBN {isbn}")
    return record

# %% tags=["kata", "alternative:asyncio-to-thread"]
# asyncio's own way: the event loop's default executor, one per loop.
import asyncio

app = FastAPI(lifespan=lifespan)


@app.get("/isbn/{isbn}")
async def lookup_isbn(isbn: str, registry: RegistryDep) -> RegistryRecord:
    record = await asyncio.to_thread(registry.lookup, isbn)
    if record is None:
        raise HTTPException(status_code=404, detail=f"The registry does not know ISBN {isbn}")
    return record

# %% tags=["kata", "alternative:shared-executor"]
# One executor for the registry, created once, awaited without blocking the loop.
import asyncio
from concurrent.futures import ThreadPoolExecutor

registry_threads = ThreadPoolExecutor(max_workers=8, thread_name_prefix="registry")
app = FastAPI(lifespan=lifespan)


@app.get("/isbn/{isbn}")
async def lookup_isbn(isbn: str, registry: RegistryDep) -> RegistryRecord:
    loop = asyncio.get_running_loop()
    record = await loop.run_in_executor(registry_threads, registry.lookup, isbn)
    if record is None:
        raise HTTPException(status_code=404, detail=f"The registry does not know ISBN {isbn}")
    return record

# %% tags=["kata", "alternative:semaphore-and-threads"]
# A thread of its own for each lookup, but never more than 8 at a time: the semaphore is awaited
# on the event loop, so the 9th lookup waits there, holding no thread, until one of the 8 ends.
import asyncio
import threading

registry_slots = asyncio.Semaphore(8)
app = FastAPI(lifespan=lifespan)


async def in_a_thread(function, *args):
    loop = asyncio.get_running_loop()
    done = loop.create_future()

    def work() -> None:
        try:
            result = function(*args)
        except BaseException as error:  # carried back to the awaiting request, not lost in the thread
            loop.call_soon_threadsafe(done.set_exception, error)
        else:
            loop.call_soon_threadsafe(done.set_result, result)

    async with registry_slots:
        threading.Thread(target=work, daemon=True).start()
        return await done


@app.get("/isbn/{isbn}")
async def lookup_isbn(isbn: str, registry: RegistryDep) -> RegistryRecord:
    record = await in_a_thread(registry.lookup, isbn)
    if record is None:
        raise HTTPException(status_code=404, detail=f"The registry does not know ISBN {isbn}")
    return record

# %% tags=["kata", "alternative:def-with-a-semaphore"]
# A plain `def` endpoint, and a semaphore that lets 5 lookups reach the registry at a time; the
# others wait in their worker thread, which comes from the default pool of 40 all the same.
import threading

registry_slots = threading.BoundedSemaphore(5)
app = FastAPI(lifespan=lifespan)


@app.get("/isbn/{isbn}")
def lookup_isbn(isbn: str, registry: RegistryDep) -> RegistryRecord:
    with registry_slots:
        record = registry.lookup(isbn)
    if record is None:
        raise HTTPException(status_code=404, detail=f"The registry does not know ISBN {isbn}")
    return record

# %% [markdown]
# The shop's book page lives below. It never calls the registry, and it stays as it is while
# you fix the cell above.

# %%
@app.get("/books/{book_id}")
async def read_book(book_id: int, session: SessionDep) -> BookOut:
    book = await session.get(Book, book_id)
    if book is None:
        raise HTTPException(status_code=404, detail="Book not found")
    return BookOut.model_validate(book)

# %% [markdown]
# ## The evidence
#
# The next cell replays Friday without waiting half a minute. It swaps the registry for a
# `ParkedRegistry`, whose lookups wait until the cell releases them (a registry having a slow
# day), asks it about *Dune* from the back office, and while that lookup waits, opens a book
# page the way a customer would. It gives the customer one second, then releases the registry.
# The timeline is the order in which things happened, and which thread ran the lookup. Last, it
# asks AnyIO how many worker threads it lends at once, by default, to one event loop.

# %% tags=["evidence"]
from concurrent.futures import ThreadPoolExecutor, wait

from anyio.from_thread import start_blocking_portal

from bookshop.client import describe, shop_client
from bookshop.registry import ParkedRegistry

slow_registry = ParkedRegistry()
app.dependency_overrides[get_registry] = lambda: slow_registry
timeline = slow_registry.log
try:
    with shop_client(app) as client, ThreadPoolExecutor() as people:
        lookup = people.submit(client.get, "/isbn/9780441172719")  # the back office checks Dune
        slow_registry.parked.wait(10)  # ...and the registry is slow to answer
        page = people.submit(client.get, "/books/1")  # meanwhile, a customer opens a book page
        if wait([page], timeout=1).done:
            timeline.append(f"a customer's GET /books/1 is answered {page.result().status_code}")
        else:
            timeline.append("a customer's GET /books/1: still no answer one second later")
        slow_registry.release()
        lookup, page = lookup.result(), page.result()
finally:
    app.dependency_overrides.clear()

print("While the registry is slow to answer:")
for number, event in enumerate(timeline, start=1):
    print(f"  {number}. {event}")
print(f"In the end: GET /isbn/9780441172719 -> {describe(lookup)}")
print(f"            GET /books/1           -> {describe(page)}")


async def default_thread_limit() -> int:
    return int(anyio.to_thread.current_default_thread_limiter().total_tokens)


with start_blocking_portal() as portal:
    print(f"Worker threads AnyIO lends at once to one event loop, by default: {portal.call(default_thread_limit)}")

# %% [markdown]
# With the starter you should see the lookup waiting *in the event loop's thread*, and the
# customer's book page getting no answer until the registry answered the back office. Nothing
# is wrong with `/books/1`: it is queued behind a thread that is busy doing nothing. In
# the end both requests succeed, which is why this bug passes every functional test.
#
# ## The check
#
# Run it. Each failing test names what is wrong; fix the kata cell, run it again (and the
# endpoint cell below it), then re-run this cell until every test passes.

# %% tags=["check"]
%%ipytest
from checks.blocking_call import *

# %% [markdown]
# ## Hints
#
# Stuck? Each click opens one more level: a nudge, then the concept, then a sketch of
# the code. In a terminal, `kata hint blocking-call` opens the same levels.

# %% [markdown] tags=["hint"]
# ### Hint 1: a nudge
#
# The endpoint is `async def`, and `registry.lookup(isbn)` is the one call in it with no
# `await`. An event loop runs one piece of code at a time, in one thread. Which thread runs
# `lookup_isbn`, and what can that thread do for other requests while `lookup` waits? If you
# move the call somewhere else: how many lookups can then wait at once, and who waits for them?

# %% [markdown] tags=["hint"]
# ### Hint 2: the concept
#
# FastAPI calls an `async def` endpoint directly on the event loop: the loop only gets its
# thread back at the next `await` that actually suspends. A blocking call has no such `await`;
# it keeps the thread until it returns, so every other request, however unrelated, waits too.
# An `async def` helper around the call changes nothing, and neither does waiting on the loop
# for a thread that makes the call (`Thread.join`, a future's `.result()`): the loop is held
# all the same. The blocking call has to run in *another* thread while the loop awaits it:
# FastAPI does that for you when the endpoint is a plain `def`, and
# `anyio.to_thread.run_sync(function, *args)` does it for one call inside an `async def`.
# Both take their threads from one shared pool with a bound (AnyIO's default limiter, 40 threads
# per event loop); a pool, limiter or thread created for each call has no bound at all, and a pool
# of your own bounds the lookups only if it is created once and is no larger than that default.
# Moving the call changes *where* it runs, not what the endpoint answers: an error the registry's
# client raises is still an error, and every request still asks the registry.
#
# Read: FastAPI, [Concurrency and async / await](https://fastapi.tiangolo.com/async/); AnyIO,
# [Working with threads](https://anyio.readthedocs.io/en/stable/threads.html).

# %% [markdown] tags=["hint"]
# ### Hint 3: a sketch
#
# Either let FastAPI run the whole endpoint in a worker thread:
# ```python
# @app.get("/isbn/{isbn}")
# def lookup_isbn(isbn: str, registry: RegistryDep) -> RegistryRecord:
#     record = registry.lookup(isbn)
#     ...
# ```
# or keep `async def` and send only the blocking call to a worker thread. Pass the function
# and its arguments, without calling it, and let it use the shared default limiter:
# ```python
#     record = await anyio.to_thread.run_sync(registry.lookup, isbn)
# ```

# %% [markdown]
# ## The walkthrough

# %% [markdown] tags=["walkthrough"]
# ### The fix, step by step
#
# 1. **Find the blocking call.** A call is blocking when it waits (on a socket, a file, a lock,
#    `time.sleep`) without an `await`. The vendor's `lookup` is one: it has no async API. Inside
#    `async def`, it runs on the event loop's thread, the one thread that serves every request
#    of this process, and nothing else runs there until it returns. The evidence shows it: the
#    customer's `GET /books/1` got no answer while the lookup waited.
# 2. **Fix A: a plain `def` endpoint.** FastAPI runs `def` endpoints (and `def` dependencies,
#    like `get_registry` here) in a worker thread and awaits the result, so only that worker
#    waits for the registry. This is the right choice when the endpoint awaits nothing, as
#    here. FastAPI's own advice for when you are not sure is the same: use plain `def`.
# 3. **Fix B: `await anyio.to_thread.run_sync(registry.lookup, isbn)`.** Keep `async def` when
#    the endpoint also awaits something, say the async database session, and send just the
#    blocking call to a worker thread. Pass the function and its arguments separately:
#    `run_sync(registry.lookup(isbn))` calls `lookup` on the loop first and hands `run_sync`
#    the result. `asyncio.to_thread(registry.lookup, isbn)` works too, but with asyncio's own
#    default executor, a second pool beside AnyIO's (see step 5).
# 4. **Await the thread; never wait for it.** The loop is free only while the endpoint is
#    suspended at an `await`. Submitting the call to an executor and then calling `.result()`,
#    or starting a thread and `join()`ing it, waits on the loop's own thread: the evidence and
#    the check see the loop run nothing until the lookup ends, exactly as before.
# 5. **One bounded pool for everyone.** Fixes A and B borrow a thread from AnyIO's default limiter:
#    40 tokens per event loop (the evidence prints it), shared by every `def` endpoint and
#    dependency. A lookup that hangs for half a minute still holds one worker for half a
#    minute; the limit makes the 41st wait its turn instead of starting another thread. A
#    limit of your own works the same way when it is *one* object, created once (at import or
#    in the lifespan), and no larger than the default: `anyio.CapacityLimiter(5)` passed as
#    `limiter=`, one executor of 8 workers, or an `asyncio.Semaphore(8)` awaited before a thread
#    is started. A `CapacityLimiter(1)` or a `ThreadPoolExecutor()` created inside the endpoint
#    is a new pool per request, and a `threading.Thread` per request has no pool at all: a burst
#    of slow lookups then starts as many threads as there are requests. So does one shared pool
#    that is too large: `CapacityLimiter(math.inf)` or `ThreadPoolExecutor(max_workers=100_000)`
#    bounds nothing the default did not, and setting the default limiter's `total_tokens` to
#    10 000 removes the bound of every `def` endpoint of the app at once. The check sends 41 slow
#    lookups together and counts the threads they hold. What happens when all 40 are busy is
#    the subject of "Slow reports must not starve the health check"; a timeout on the client is
#    the other half of the cure.
# 6. **Change where the call runs, not what it answers.** The endpoint still asks the registry
#    on every request, and still lets the registry's errors be errors. Catching everything and
#    answering 404 tells the back office "no such ISBN" while the registry is down: it rejects
#    real books, and the monitoring sees nothing. A cache of the registry's answers (even one
#    keyed on the registry client) answers the second lookup of a book from memory, when the
#    point of the lookup is to check the registry right before the book goes on sale.
#
# Why not wrap the call in an `async def` helper and await it? `async def` makes a function
# awaitable, not non-blocking: its body still runs on the loop's thread. And
# `anyio.to_thread.run_sync(registry.lookup(isbn))` offloads nothing: the parentheses run the
# lookup on the loop, then `run_sync` fails with `TypeError` because a record is not callable.
#
# Read more: FastAPI, [Concurrency and async / await](https://fastapi.tiangolo.com/async/)
# (see "In a hurry?" and "Path operation functions"); AnyIO,
# [Working with threads](https://anyio.readthedocs.io/en/stable/threads.html) (and its section
# on adjusting the default maximum worker threads); Python,
# [asyncio.to_thread](https://docs.python.org/3/library/asyncio-task.html#running-in-threads).
#
# ### What to remember
# - `async def` is a promise that the function never blocks: everything in it runs on the event
#   loop's thread, shared by every request in the process.
# - A blocking call (a sync client, `time.sleep`, a sync database driver) belongs in a
#   worker thread: a plain `def` endpoint or dependency, or `await anyio.to_thread.run_sync(f, *args)`.
# - Await the worker thread; a `.result()` or `join()` on the loop blocks it all the same.
# - Worker threads come from one shared pool, no larger than the default; never create a
#   limiter, an executor or a thread per request, and never raise the default to "never run out".
# - When in doubt, write `def`; write `async def` only when everything inside is awaited.
# - To test it, ask *which thread* ran the call and *which pool* lent it, not how long a request took.
