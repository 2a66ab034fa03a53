# %% [markdown]
# # Independent calls wait for each other
#
# **The story.** A book's page shows today's price, from the price service, and its rating,
# from the review site. Both are HTTP services on the network, and the page is `async def`
# and awaits both, so it looks as concurrent as code can look. Yet the page is exactly as slow
# as the price service *plus* the review service, and when the review site has a slow
# afternoon, every page is slower by all of it, on top of the price. The two calls need
# nothing from each other. They still run one after the other.
#
# **You will learn**
# - that `await` waits: two awaits in a row are two calls in a row, even in `async def`;
# - how `asyncio.gather` (or a task group, with one catch the walkthrough shows) puts
#   independent calls in flight together, so the page waits for the slower one instead of the sum;
# - what each does when one of the calls fails, and how to keep that failure a clear 502;
# - why results must be matched to their calls, not to the order they come back in, and why a
#   slow service must become an error, never a page of made-up numbers.
#
# Run the cells from the top (**Run → Run All Cells**), read the evidence, then make the check pass.

# %% tags=["setup"]
from checks import setup_notebook

setup_notebook()

# %% [markdown]
# ## The bookshop around the problem
#
# The two upstream services run on their own (the evidence cell starts them); the app finds them
# through two settings, `BOOKSHOP_PRICES_URL` and `BOOKSHOP_REVIEWS_URL`, read when it starts.
# The lifespan wraps the shop's own (the engine, as in "The engine belongs to the lifespan") and
# adds one `httpx.AsyncClient`, with a 10-second timeout. `Upstreams` wraps the two calls: each
# returns the service's answer, or raises `HTTPException(502)` naming the service that failed
# (an error answer, a refused connection, a timeout), since the page cannot be built without it.

# %%
import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import anyio
import httpx
from fastapi import Depends, FastAPI, HTTPException, Request
from sqlalchemy.ext.asyncio import AsyncSession

from bookshop.db import lifespan as shop_lifespan
from bookshop.models import Book
from bookshop.schemas import BookOut
from bookshop.prices import Price
from bookshop.reviews import ReviewSummary
from bookshop.schemas import BookPage
from bookshop.upstream import UpstreamSettings


class Upstreams:
    """The two services the book page needs, called over the app's one HTTP client."""

    def __init__(self, http: httpx.AsyncClient, settings: UpstreamSettings):
        self.http = http
        self.settings = settings

    async def price(self, isbn: str) -> Price:
        url = f"{self.settings.prices_url}/prices/{isbn}"
        return Price.model_validate(await self._get("price service", url))

    async def reviews(self, isbn: str) -> ReviewSummary:
        url = f"{self.settings.reviews_url}/reviews/{isbn}"
        return ReviewSummary.model_validate(await self._get("review service", url))

    async def _get(self, service: str, url: str) -> dict:
        try:
            response = await self.http.get(url)
        except httpx.HTTPError as error:
            raise HTTPException(status_code=502, detail=f"The {service} is unreachable") from error
        if response.is_error:
            raise HTTPException(status_code=502, detail=f"The {service} answered {response.status_code}")
        return response.json()


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict]:
    settings = UpstreamSettings()  # read at startup: the services' URLs
    async with shop_lifespan(app) as state, httpx.AsyncClient(timeout=10) as http:
        yield {**state, "upstreams": Upstreams(http, settings)}


def get_upstreams(request: Request) -> Upstreams:
    return request.state.upstreams


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.state.sessionmaker() as session:
        yield session


UpstreamsDep = Annotated[Upstreams, Depends(get_upstreams)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]

# %% [markdown]
# ## The code under review
#
# This is the cell you will change. Read the three awaits: which of them need the result of
# an earlier one, and which could have been started at the same time?

# %% tags=["kata", "starter"]
app = FastAPI(lifespan=lifespan)


@app.get("/books/{book_id}/page")
async def book_page(book_id: int, session: SessionDep, upstreams: UpstreamsDep) -> BookPage:
    book = await session.get(Book, book_id)
    if book is None:
        raise HTTPException(status_code=404, detail="Book not found")
    price = await upstreams.price(book.isbn)  # waits for the price service to answer...
    reviews = await upstreams.reviews(book.isbn)  # ...before the review service is even asked
    return BookPage(
        id=book.id, title=book.title, price_cents=price.price_cents, rating=reviews.average, review_count=reviews.count
    )

# %% tags=["kata", "solution"]
app = FastAPI(lifespan=lifespan)


@app.get("/books/{book_id}/page")
async def book_page(book_id: int, session: SessionDep, upstreams: UpstreamsDep) -> BookPage:
    # The book comes first: both calls need its ISBN.
    book = await session.get(Book, book_id)
    if book is None:
        raise HTTPException(status_code=404, detail="Book not found")
    # The two calls need nothing from each other: start both, then wait for both. `gather` runs
    # each in a task of its own and returns their results in the order given; if one raises,
    # its exception (here the HTTPException(502)) is raised here as it is.
    price, reviews = await asyncio.gather(upstreams.price(book.isbn), upstreams.reviews(book.isbn))
    return BookPage(
        id=book.id, title=book.title, price_cents=price.price_cents, rating=reviews.average, review_count=reviews.count
    )

# %% tags=["kata", "decoy:tasks-awaited-one-by-one"]
# "Tasks run concurrently: wrap each call in a task." They do, but only while something else
# runs meanwhile. Awaiting each task right after creating it waits for the first to finish
# before the second even exists: the same two calls in a row, with more code.
app = FastAPI(lifespan=lifespan)


@app.get("/books/{book_id}/page")
async def book_page(book_id: int, session: SessionDep, upstreams: UpstreamsDep) -> BookPage:
    book = await session.get(Book, book_id)
    if book is None:
        raise HTTPException(status_code=404, detail="Book not found")
    price = await asyncio.create_task(upstreams.price(book.isbn))
    reviews = await asyncio.create_task(upstreams.reviews(book.isbn))
    return BookPage(
        id=book.id, title=book.title, price_cents=price.price_cents, rating=reviews.average, review_count=reviews.count
    )

# %% tags=["kata", "decoy:task-group"]
# "Structured concurrency: an AnyIO task group, which even cancels the other call when one
# fails." The calls do overlap. But a task group reports its tasks' errors inside an
# ExceptionGroup, and FastAPI does not look inside it: the price service's 502 becomes a 500.
app = FastAPI(lifespan=lifespan)


@app.get("/books/{book_id}/page")
async def book_page(book_id: int, session: SessionDep, upstreams: UpstreamsDep) -> BookPage:
    book = await session.get(Book, book_id)
    if book is None:
        raise HTTPException(status_code=404, detail="Book not found")
    results = {}

    async def fetch(name, call):
        results[name] = await call

    async with anyio.create_task_group() as tg:
        tg.start_soon(fetch, "price", upstreams.price(book.isbn))
        tg.start_soon(fetch, "reviews", upstreams.reviews(book.isbn))
    price, reviews = results["price"], results["reviews"]
    return BookPage(
        id=book.id, title=book.title, price_cents=price.price_cents, rating=reviews.average, review_count=reviews.count
    )

# %% tags=["kata", "decoy:return-exceptions"]
# "With `return_exceptions=True`, a broken review site cannot take the page down." It cannot:
# instead the page tells the customer that Dune has no reviews, which is false, and nobody
# learns that the review service is down. A failure must reach the client as a failure.
app = FastAPI(lifespan=lifespan)


@app.get("/books/{book_id}/page")
async def book_page(book_id: int, session: SessionDep, upstreams: UpstreamsDep) -> BookPage:
    book = await session.get(Book, book_id)
    if book is None:
        raise HTTPException(status_code=404, detail="Book not found")
    price, reviews = await asyncio.gather(
        upstreams.price(book.isbn), upstreams.reviews(book.isbn), return_exceptions=True
    )
    if isinstance(price, BaseException):
        raise price
    if isinstance(reviews, BaseException):
        reviews = ReviewSummary(isbn=book.isbn, average=0, count=0)
    return BookPage(
        id=book.id, title=book.title, price_cents=price.price_cents, rating=reviews.average, review_count=reviews.count
    )

# %% tags=["kata", "decoy:as-completed"]
# "as_completed hands over each answer as soon as it is back, so the page starts sooner." It
# hands them over in the order they *finish*, and says nothing about which is which. The price
# service is usually the quicker one, so the first answer is taken for the price: until the day
# the review site is quicker.
app = FastAPI(lifespan=lifespan)


@app.get("/books/{book_id}/page")
async def book_page(book_id: int, session: SessionDep, upstreams: UpstreamsDep) -> BookPage:
    book = await session.get(Book, book_id)
    if book is None:
        raise HTTPException(status_code=404, detail="Book not found")
    first, second = asyncio.as_completed([upstreams.price(book.isbn), upstreams.reviews(book.isbn)])
    price, reviews = await first, await second
    return BookPage(
        id=book.id, title=book.title, price_cents=price.price_cents, rating=reviews.average, review_count=reviews.count
    )

# %% tags=["kata", "decoy:timeout-fallback"]
# "A slow review site must not slow the page down: give it one second, then show the page
# without reviews." The page is fast, and wrong: it tells the customer that the book has no
# reviews, and the monitoring sees a success while the review site is failing.
app = FastAPI(lifespan=lifespan)


async def reviews_or_none(upstreams: Upstreams, isbn: str) -> ReviewSummary:
    try:
        return await asyncio.wait_for(upstreams.reviews(isbn), timeout=1)
    except TimeoutError:
        return ReviewSummary(isbn=isbn, average=0, count=0)


@app.get("/books/{book_id}/page")
async def book_page(book_id: int, session: SessionDep, upstreams: UpstreamsDep) -> BookPage:
    book = await session.get(Book, book_id)
    if book is None:
        raise HTTPException(status_code=404, detail="Book not found")
    price, reviews = await asyncio.gather(upstreams.price(book.isbn), reviews_or_none(upstreams, book.isbn))
    return BookPage(
        id=book.id, title=book.title, price_cents=price.price_cents, rating=reviews.average, review_count=reviews.count
    )

# %% tags=["kata", "decoy:wait-done-set"]
# "asyncio.wait runs both tasks and hands back the finished ones: price first, reviews second."
# It hands back a *set*, and a set has no order: iterating it follows the tasks' hashes (their
# memory addresses), so the first task out is the price on one run and the reviews on another.
app = FastAPI(lifespan=lifespan)


@app.get("/books/{book_id}/page")
async def book_page(book_id: int, session: SessionDep, upstreams: UpstreamsDep) -> BookPage:
    book = await session.get(Book, book_id)
    if book is None:
        raise HTTPException(status_code=404, detail="Book not found")
    done, _ = await asyncio.wait(
        [asyncio.create_task(upstreams.price(book.isbn)), asyncio.create_task(upstreams.reviews(book.isbn))]
    )
    price, reviews = [task.result() for task in done]
    return BookPage(
        id=book.id, title=book.title, price_cents=price.price_cents, rating=reviews.average, review_count=reviews.count
    )

# %% tags=["kata", "decoy:last-good-page"]
# "When a service is down, show the last page that worked: better than an error." The customer
# sees a price the price service no longer vouches for, and nobody learns that it is down: the
# failure is hidden behind a copy that grows staler by the hour.
app = FastAPI(lifespan=lifespan)
last_good: dict[int, BookPage] = {}


@app.get("/books/{book_id}/page")
async def book_page(book_id: int, session: SessionDep, upstreams: UpstreamsDep) -> BookPage:
    book = await session.get(Book, book_id)
    if book is None:
        raise HTTPException(status_code=404, detail="Book not found")
    try:
        price, reviews = await asyncio.gather(upstreams.price(book.isbn), upstreams.reviews(book.isbn))
    except HTTPException:
        if book_id in last_good:
            return last_good[book_id]
        raise
    page = BookPage(
        id=book.id, title=book.title, price_cents=price.price_cents, rating=reviews.average, review_count=reviews.count
    )
    last_good[book_id] = page
    return page

# %% tags=["kata", "alternative:tasks-started-first"]
# Start both tasks, then await them: both calls are in flight before the first await.
app = FastAPI(lifespan=lifespan)


@app.get("/books/{book_id}/page")
async def book_page(book_id: int, session: SessionDep, upstreams: UpstreamsDep) -> BookPage:
    book = await session.get(Book, book_id)
    if book is None:
        raise HTTPException(status_code=404, detail="Book not found")
    price_task = asyncio.create_task(upstreams.price(book.isbn))
    reviews_task = asyncio.create_task(upstreams.reviews(book.isbn))
    price, reviews = await price_task, await reviews_task
    return BookPage(
        id=book.id, title=book.title, price_cents=price.price_cents, rating=reviews.average, review_count=reviews.count
    )

# %% tags=["kata", "alternative:task-group-unwrapped"]
# asyncio's task group cancels the other call when one fails; `except*` takes the HTTPException
# back out of the group, so FastAPI answers it as it is.
app = FastAPI(lifespan=lifespan)


@app.get("/books/{book_id}/page")
async def book_page(book_id: int, session: SessionDep, upstreams: UpstreamsDep) -> BookPage:
    book = await session.get(Book, book_id)
    if book is None:
        raise HTTPException(status_code=404, detail="Book not found")
    try:
        async with asyncio.TaskGroup() as tg:
            price_task = tg.create_task(upstreams.price(book.isbn))
            reviews_task = tg.create_task(upstreams.reviews(book.isbn))
    except* HTTPException as group:
        raise group.exceptions[0] from None
    price, reviews = price_task.result(), reviews_task.result()
    return BookPage(
        id=book.id, title=book.title, price_cents=price.price_cents, rating=reviews.average, review_count=reviews.count
    )

# %% tags=["kata", "alternative:deadline-504"]
# One deadline for the whole page: if both answers are not back within 3 seconds, the page is
# a 504 Gateway Timeout, whichever service was slow.
app = FastAPI(lifespan=lifespan)


@app.get("/books/{book_id}/page")
async def book_page(book_id: int, session: SessionDep, upstreams: UpstreamsDep) -> BookPage:
    book = await session.get(Book, book_id)
    if book is None:
        raise HTTPException(status_code=404, detail="Book not found")
    try:
        async with asyncio.timeout(3):
            price, reviews = await asyncio.gather(upstreams.price(book.isbn), upstreams.reviews(book.isbn))
    except TimeoutError:
        raise HTTPException(status_code=504, detail="The price service or the review site is too slow") from None
    return BookPage(
        id=book.id, title=book.title, price_cents=price.price_cents, rating=reviews.average, review_count=reviews.count
    )

# %% tags=["kata", "alternative:wait-with-deadline"]
# Both tasks started, then `asyncio.wait` with a deadline: a call still running after 5 seconds
# makes the page a 504, and the results are taken from the tasks themselves, never from the set.
# (The slow call is left to finish on its own; `gather` also lets the other call run.)
app = FastAPI(lifespan=lifespan)


@app.get("/books/{book_id}/page")
async def book_page(book_id: int, session: SessionDep, upstreams: UpstreamsDep) -> BookPage:
    book = await session.get(Book, book_id)
    if book is None:
        raise HTTPException(status_code=404, detail="Book not found")
    price_task = asyncio.create_task(upstreams.price(book.isbn))
    reviews_task = asyncio.create_task(upstreams.reviews(book.isbn))
    done, pending = await asyncio.wait({price_task, reviews_task}, timeout=5)
    if pending:
        raise HTTPException(status_code=504, detail="The price service or the review site is too slow")
    price, reviews = price_task.result(), reviews_task.result()
    return BookPage(
        id=book.id, title=book.title, price_cents=price.price_cents, rating=reviews.average, review_count=reviews.count
    )

# %% [markdown]
# The plain book endpoint below calls no service, and it stays as it is while you fix the
# cell above.

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
# The next cell starts the two services on real ports (uvicorn, on 127.0.0.1) and opens Dune's
# page. The services share a `MeetingPoint`: each holds its answer until the *other* service's
# request has arrived too, for at most one second. Two calls in flight together meet at once;
# a call that starts only after the other one answered never can. The timeline below is drawn
# from the order in which the services saw requests arrive and answers leave (one column per
# step), not from timestamps.

# %% tags=["evidence"]
from bookshop.client import describe, shop_client
from bookshop.observe import MeetingPoint
from bookshop.prices import price_service
from bookshop.reviews import review_service
from bookshop.upstream import serve_all, upstreams_at

meeting = MeetingPoint(limit=1.0)
prices, reviews = price_service(), review_service()
prices.state.meeting = reviews.state.meeting = meeting
with (
    serve_all(prices, reviews) as (prices_url, reviews_url),
    upstreams_at(prices_url, reviews_url),
    shop_client(app) as client,
):
    page = client.get("/books/3/page")

print(f"GET /books/3/page -> {describe(page)}")
print("The two calls, as the services saw them:")
print(meeting.timeline())

# %% [markdown]
# With the starter you should see the calls *queued*: the review call's bar starts after the
# price call's bar ends, and the price service waited in vain for a review call while it was
# in flight. The page still answers 200 with the right numbers, which is why nobody noticed:
# only the time is wrong. With real latencies the page takes the sum of the two instead of
# the slower one: two calls to a service that takes 0.3 s took 0.69 s in a row and 0.34 s
# with `asyncio.gather` when this kata was written.
#
# ## The check
#
# Run it. Each failing test names what is wrong; fix the kata cell, run it again (and the
# endpoint cell below it), then re-run this cell until every test passes.

# %% tags=["check"]
%%ipytest
from checks.sequential_awaits import *

# %% [markdown]
# ## Hints
#
# Stuck? Each click opens one more level: a nudge, then the concept, then a sketch of
# the code. In a terminal, `kata hint sequential-awaits` opens the same levels.

# %% [markdown] tags=["hint"]
# ### Hint 1: a nudge
#
# Look at the two lines `price = await ...` and `reviews = await ...`. Does the second line
# use anything the first one produced? Then why must it wait for the first one to finish?
# And once both answers are back, how will your code know which one is the price?

# %% [markdown] tags=["hint"]
# ### Hint 2: the concept
#
# `await` means "suspend this function until that result is ready". It frees the event loop
# for *other requests*, but this function goes no further, so the review call is not even
# sent before the price service has answered. To overlap two calls, both must be started
# before you wait: wrap each coroutine in a task (which starts it), then wait for all the
# tasks. `asyncio.gather(a, b)` does both steps and returns the results in the order you
# passed the calls, whichever finished first. The book itself must still be read first: both
# calls need its ISBN. Keep failures visible: the 502 that `Upstreams` raises for a service
# that is down, refuses connections or times out must reach the client, not be replaced by
# numbers nobody gave you.
#
# Read: Python, [Running tasks concurrently](https://docs.python.org/3/library/asyncio-task.html#running-tasks-concurrently).

# %% [markdown] tags=["hint"]
# ### Hint 3: a sketch
#
# ```python
# book = await session.get(Book, book_id)
# ...  # 404 if there is no such book
# price, reviews = await asyncio.gather(
#     upstreams.price(...),
#     upstreams.reviews(...),
# )
# ```
# Pass the coroutines to `gather` without awaiting them first, and let its errors propagate.

# %% [markdown]
# ## The walkthrough

# %% [markdown] tags=["walkthrough"]
# ### The fix, step by step
#
# 1. **Sort the awaits by what they need.** Reading the book needs only `book_id`; each
#    service call needs the book's ISBN; neither call needs the other. So the book comes first,
#    and the two calls can run together. Awaits that depend on each other stay in order.
# 2. **Start both, then wait for both.** `await asyncio.gather(upstreams.price(isbn),
#    upstreams.reviews(isbn))` wraps each coroutine in a task, which starts it, and returns
#    when both are done. The evidence shows the two calls in flight together, so the page now
#    waits for the slower service, not the sum. Creating both tasks first and awaiting them
#    afterwards works too; awaiting each task right after creating it does not, because the
#    second task does not exist until the first has finished.
# 3. **Match results by position, not by arrival.** `gather` returns the results in the order
#    you passed the calls, whatever order they finished in. `asyncio.as_completed` hands them
#    over in the order they *finish*, with no label: taking its first result for the price
#    works only while the price service is the quicker one. `asyncio.wait` is worse: the `done`
#    it returns is a set, whose order follows the tasks' memory addresses, so the same code
#    is right on one run and wrong on the next. Take each result from its own task
#    (`price_task.result()`), never from the set. The check makes the review site answer
#    first, and hands back `asyncio.wait`'s sets in the order the tasks finished (a set may
#    come back in any order), so such a page shows a rating as a price, or fails, every time.
# 4. **Know what happens when one call fails.** With `gather`, the first exception is raised
#    to you as it is, here the `HTTPException(502)` that `Upstreams` raised, so the client gets a
#    502 naming the service; the other call is not cancelled, it runs to its end and its result
#    is dropped. An AnyIO task group (or `asyncio.TaskGroup`) cancels the other call instead,
#    but raises the error inside an `ExceptionGroup`, which FastAPI answers with a plain 500.
#    To use a task group here, unwrap it: `except* HTTPException as group: raise
#    group.exceptions[0]`. The check runs both on the versions this workbook pins.
# 5. **Do not hide a failure, nor a slow answer.** `return_exceptions=True` hands you
#    exceptions as values; filling in "0 reviews" for a service that is down shows the customer
#    something false and tells nobody that it broke. The same goes for a timeout: wrapping the
#    review call in `asyncio.wait_for(..., timeout=1)` and showing "no reviews" when it runs
#    out turns a slow review site into a page of made-up numbers that the monitoring counts as
#    a success. So does a copy of the last page that worked, shown while a service is down:
#    its price is no longer the price service's, and the failure is hidden behind it. The
#    check views each page once while both services work before it breaks one of them.
#    A timeout is right; what it raises must reach the client as 502 Bad Gateway
#    (what `Upstreams` does with httpx's own timeout) or 504 Gateway Timeout (say, one
#    `asyncio.timeout(...)` around the whole `gather`). If the page can really live without a
#    part, decide that on purpose and say so in the response.
#
# How does the check see a timeout without waiting for one? It holds one service's answer,
# then moves the app's event-loop clock on by an hour at every reading: every deadline the app
# set on that clock (httpx's, `wait_for`'s, `asyncio.timeout`'s) has then passed, and the
# page answers at once, with an error or with made-up data.
#
# Read more: Python, [Running tasks concurrently](https://docs.python.org/3/library/asyncio-task.html#running-tasks-concurrently),
# [Task groups](https://docs.python.org/3/library/asyncio-task.html#task-groups) and
# [Timeouts](https://docs.python.org/3/library/asyncio-task.html#timeouts);
# AnyIO, [Creating and managing tasks](https://anyio.readthedocs.io/en/stable/tasks.html);
# HTTPX, [Timeouts](https://www.python-httpx.org/advanced/timeouts/);
# FastAPI, [Concurrency and async / await](https://fastapi.tiangolo.com/async/).
#
# ### What to remember
# - `await` waits. Two awaits in a row are two calls in a row, whatever `async def` suggests.
# - Independent calls: start them all, then wait for all, with `asyncio.gather` (or a task
#   group). Dependent calls stay in order.
# - Take results by position (`gather`) or from their own task, never by the order they come
#   back in, and never from `asyncio.wait`'s sets.
# - `gather` re-raises the first error as it is and lets the others finish; task groups cancel
#   the others and wrap errors in an `ExceptionGroup`, which FastAPI answers with 500.
# - A failed or slow upstream is a 502 or a 504, never made-up data.
# - To test it, use a meeting point only overlapping calls can pass, and a clock you move
#   yourself, not a stopwatch.
