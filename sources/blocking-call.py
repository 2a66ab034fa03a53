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
#   the call in a worker thread, and when to choose which.
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
# or `None` for an ISBN the registry does not know. The app's lifespan is kata 1's (the engine,
# and a `sessionmaker` in `request.state`) plus one registry client, which endpoints get
# through `RegistryDep`.

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
# The timeline is the order in which things happened, and which thread ran the lookup.

# %% tags=["evidence"]
from concurrent.futures import ThreadPoolExecutor, wait

from bookshop.registry import ParkedRegistry
from bookshop.client import shop_client

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
print(f"In the end: GET /isbn/9780441172719 -> {lookup.status_code} {lookup.json().get('title')}, "
      f"GET /books/1 -> {page.status_code} {page.json().get('title')}")

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
# Look at the first word of the endpoint, `async`, and at the one call inside it that has no
# `await`: `registry.lookup(isbn)`. An event loop runs one piece of code at a time, in one
# thread. Which thread runs `lookup_isbn`, and what can it do while `lookup` waits?

# %% [markdown] tags=["hint"]
# ### Hint 2: the concept
#
# FastAPI calls an `async def` endpoint directly on the event loop: the loop only gets its
# thread back at the next `await` that actually waits. A blocking call has no such `await`; it
# keeps the thread until it returns, so every other request, however unrelated, waits too.
# Putting the call in an `async def` helper and awaiting the helper changes nothing, since the
# helper's body runs on the same thread. The blocking call has to run in *another* thread:
# FastAPI does that for you when the endpoint is a plain `def`, and
# `anyio.to_thread.run_sync(function, *args)` does it for one call inside an `async def`.

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
# and its arguments, without calling it:
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
#    the result.
# 4. **Know what a worker thread costs.** Both fixes borrow a thread from the same pool, AnyIO's
#    default limiter of 40. A lookup that hangs for half a minute still holds one worker for
#    half a minute; it just no longer holds the whole shop. What happens when all 40 are busy
#    is kata 9 (threadpool starvation); a timeout on the client is the other
#    half of the cure.
#
# Why not wrap the call in an `async def` helper and await it? `async def` makes a function
# awaitable, not non-blocking: its body still runs on the loop's thread. And
# `anyio.to_thread.run_sync(registry.lookup(isbn))` offloads nothing: the parentheses run the
# lookup on the loop, then `run_sync` fails with `TypeError` because a record is not callable.
#
# Read more: FastAPI, [Concurrency and async / await](https://fastapi.tiangolo.com/async/)
# (see "In a hurry?" and "Path operation functions"); AnyIO,
# [Working with threads](https://anyio.readthedocs.io/en/stable/threads.html).
#
# ### What to remember
# - `async def` is a promise that the function never blocks: everything in it runs on the event
#   loop's thread, shared by every request in the process.
# - A blocking call (a sync client, `time.sleep`, a sync database driver) belongs in a
#   worker thread: a plain `def` endpoint or dependency, or `await anyio.to_thread.run_sync(f, *args)`.
# - When in doubt, write `def`; write `async def` only when everything inside is awaited.
# - To test it, ask *which thread* ran the call, not how long a request took.
