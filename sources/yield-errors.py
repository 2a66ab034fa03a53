# %% [markdown]
# # A yield dependency must not swallow errors
#
# **The story.** After a bad night with the database, a colleague changed the bookshop's
# `get_session` dependency so that "every error ends up in the logs": the `yield` now sits in a
# `try`, and the `except Exception` logs the traceback. The logs are fuller than ever, yet
# customers have started getting **500 Internal Server Error** for a book that does not exist, and
# a sold-out book no longer says it is sold out. When the warehouse's API went down this morning,
# the server's own error report blamed FastAPI ("Response not awaited"), not the warehouse.
#
# **You will learn**
# - that FastAPI throws an endpoint's exception, `HTTPException` included, into every
#   dependency that is still suspended at its `yield`;
# - why an `except` there that does not re-raise turns a 404 into a 500 and hides the real error
#   behind a `FastAPIError`;
# - how to write a session dependency that rolls back and re-raises, and what its `async with`
#   already does for you.
#
# Run the cells from the top (**Run → Run All Cells**), read the evidence, then make the check pass.

# %% tags=["setup"]
from checks import setup_notebook

setup_notebook()

# %% [markdown]
# ## The bookshop around the problem
#
# The models, the schemas and the app's `lifespan` come from the workbook's `bookshop` package.
# That lifespan is the one kata 1 taught: it builds the engine at startup, hands requests a
# `sessionmaker` through `request.state`, and disposes of the engine at shutdown.
# Orders are also reserved with a shipping partner, the `Warehouse`, reached through a dependency.

# %%
import logging
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request
from sqlalchemy.ext.asyncio import AsyncSession

from bookshop.db import lifespan
from bookshop.models import Book, Order, OrderLine
from bookshop.schemas import BookOut, OrderIn, OrderLineIn, OrderOut

log = logging.getLogger("bookshop.requests")


class Warehouse:
    """The shipping partner's API: it reserves the copies of an order for dispatch."""

    async def reserve(self, order_id: int, lines: list[OrderLineIn]) -> None:
        pass  # an HTTP call in production; in this notebook it always succeeds


def get_warehouse() -> Warehouse:
    return Warehouse()

# %% [markdown]
# ## The code under review
#
# This is the cell you will change. The session is opened, lent to the endpoint with `yield`,
# and closed by `async with`. Ask yourself: what happens to an exception the *endpoint* raises
# while this generator is paused at `yield`, and what does the `except` do with it?

# %% tags=["kata", "starter"]
app = FastAPI(lifespan=lifespan)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.state.sessionmaker() as session:
        try:
            yield session
        except Exception:
            log.exception("Request failed")  # "so that database errors end up in the logs"

# %% tags=["kata", "solution"]
app = FastAPI(lifespan=lifespan)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.state.sessionmaker() as session:
        try:
            yield session
        except Exception:
            log.exception("Request failed")
            # Undo this request's writes here, where the reader sees it (closing would too).
            await session.rollback()
            # Let the error go on: FastAPI turns an HTTPException into its response,
            # and anything else reaches the server, which answers 500 and reports it.
            raise

# %% tags=["kata", "decoy:let-http-errors-through"]
# "Only the 404 and 409 were broken: let HTTPException through, keep logging the rest." The
# client errors come back, but every *unexpected* error is still swallowed: the warehouse outage
# still reaches the server as "Response not awaited", and the real error only in our log.
app = FastAPI(lifespan=lifespan)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.state.sessionmaker() as session:
        try:
            yield session
        except HTTPException:
            raise
        except Exception:
            log.exception("Request failed")

# %% tags=["kata", "decoy:answer-500-yourself"]
# "Turn any error into a clean HTTP 500." It does raise, but a *new* exception: the endpoint's
# own 404 and 409 become 500 too, and the real error never reaches the server's error handling.
app = FastAPI(lifespan=lifespan)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.state.sessionmaker() as session:
        try:
            yield session
        except Exception:
            log.exception("Request failed")
            await session.rollback()
            raise HTTPException(status_code=500, detail="Internal server error")

# %% [markdown]
# The endpoints only use the dependencies above. Leave them as they are, but run this cell again
# after each change to the cell above: it registers the endpoints on the new `app`.
# Note where `place_order` fails: *after* it has inserted the order and taken the copies
# of the first book.

# %%
SessionDep = Annotated[AsyncSession, Depends(get_session)]
WarehouseDep = Annotated[Warehouse, Depends(get_warehouse)]


@app.get("/books/{book_id}")
async def read_book(book_id: int, session: SessionDep) -> BookOut:
    book = await session.get(Book, book_id)
    if book is None:
        raise HTTPException(status_code=404, detail="Book not found")
    return BookOut.model_validate(book)


@app.post("/orders", status_code=201)
async def place_order(order_in: OrderIn, session: SessionDep, warehouse: WarehouseDep) -> OrderOut:
    order = Order(user_id=order_in.user_id)
    session.add(order)
    await session.flush()  # INSERT the order now: its lines need its id
    for line in order_in.lines:
        book = await session.get(Book, line.book_id)
        if book is None:
            raise HTTPException(status_code=404, detail=f"No book {line.book_id}")
        if book.stock < line.quantity:
            raise HTTPException(status_code=409, detail=f"Only {book.stock} left of {book.title}")
        book.stock -= line.quantity
        session.add(OrderLine(order_id=order.id, book_id=book.id, quantity=line.quantity))
    await session.flush()
    await warehouse.reserve(order.id, order_in.lines)
    await session.commit()
    return OrderOut(id=order.id, user_id=order.user_id, lines=order_in.lines)

# %% [markdown]
# ## The evidence
#
# The next cell pretends the warehouse is down (a dependency override), then sends three requests
# that should each fail in its own way: a book that does not exist, an order whose second book
# (*Parable of the Sower*) is sold out, and an order the warehouse cannot reserve. For each, it
# shows what the client was sent, what the colleague's log line recorded, and what exception
# reached the server (under uvicorn, that is the traceback its error log would show).

# %% tags=["evidence"]
import logging.handlers

from bookshop.client import shop_client
from bookshop.db import database_url
from bookshop.observe import response_spy, run_sql


class WarehouseDown(Warehouse):
    async def reserve(self, order_id: int, lines: list[OrderLineIn]) -> None:
        raise RuntimeError("warehouse API timed out")


cases = {
    "GET /books/999 (no such book)": ("GET", "/books/999", None),
    "POST /orders (book 6 sold out)": ("POST", "/orders", {"user_id": 1, "lines": [{"book_id": 1}, {"book_id": 6}]}),
    "POST /orders (warehouse down)": ("POST", "/orders", {"user_id": 1, "lines": [{"book_id": 1}]}),
}
logged = logging.handlers.BufferingHandler(capacity=100)  # keeps the log records in `.buffer`
logging.getLogger().addHandler(logged)
app.dependency_overrides[get_warehouse] = WarehouseDown
sent = []
try:
    with shop_client(response_spy(app, sent), raise_server_exceptions=True) as client:
        for label, (method, url, payload) in cases.items():
            sent.clear()
            logged.buffer.clear()
            try:
                answer, raised = client.request(method, url, json=payload).json(), "nothing"
            except Exception as error:  # what a real server would put in its error log
                answer, raised = "", f"{type(error).__name__}: {'. '.join(str(error).split('. ')[:2])}"
            recorded = [type(record.exc_info[1]).__name__ for record in logged.buffer if record.exc_info]
            print(f"{label}\n   client got:    {sent[0][1]} {answer}")
            print(f"   log recorded:  {recorded}\n   server raised: {raised}")
finally:
    app.dependency_overrides.pop(get_warehouse, None)
    logging.getLogger().removeHandler(logged)

orders, stock = run_sql(database_url(), "SELECT (SELECT count(*) FROM orders), (SELECT stock FROM books WHERE id = 1)")[0]
print(f"orders in the database: {orders}; copies of book 1 left: {stock} (the seed has 4)")

# %% [markdown]
# With the starter, every request is answered 500. The log has the real errors (the 404, the
# 409, the `RuntimeError`), but the server saw a `FastAPIError: Response not awaited` each time,
# and its message points at exactly this bug. Nothing was written: closing the session rolled
# the failed orders back, so the database is not where this bug shows.
#
# ## The check
#
# Run it. Each failing test names what is wrong; fix the kata cell, run it again (and the
# endpoints cell below it), then re-run this cell until every test passes.

# %% tags=["check"]
%%ipytest
from checks.yield_errors import *

# %% [markdown]
# ## Hints
#
# Stuck? Each click opens one more level: a nudge, then the concept, then a sketch of
# the code. In a terminal, `kata hint yield-errors` opens the same levels.

# %% [markdown] tags=["hint"]
# ### Hint 1: a nudge
#
# Follow the `HTTPException(404)` that `read_book` raises. The endpoint runs while `get_session`
# is paused at `yield`. Where does the exception go next, and what does the `except Exception`
# block do with it after logging it?

# %% [markdown] tags=["hint"]
# ### Hint 2: the concept
#
# FastAPI runs a `yield` dependency like a context manager around the endpoint: when the
# endpoint raises, FastAPI throws that exception into the generator at the `yield`. If the
# generator catches it and ends normally, the exception is *gone*: FastAPI's exception handlers
# never see the `HTTPException`, no response is ever produced, and FastAPI raises
# `FastAPIError("Response not awaited...")` instead, which the server answers with a 500.
# Catching is fine (to log, to roll back); finishing the `except` block without re-raising is not.

# %% [markdown] tags=["hint"]
# ### Hint 3: a sketch
#
# ```python
# async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
#     async with request.state.sessionmaker() as session:
#         try:
#             yield session
#         except Exception:
#             log.exception(...)
#             ...  # undo the request's writes
#             ...  # and let the same exception continue
# ```
# Then run the endpoints cell again, and the evidence.

# %% [markdown]
# ## The walkthrough

# %% [markdown] tags=["walkthrough"]
# ### The fix, step by step
#
# 1. **See where the exception goes.** FastAPI enters `get_session` before the endpoint and keeps
#    it paused at `yield` until the request is done. If the endpoint raises, FastAPI throws the
#    exception into the generator at the `yield`, so *every* error the endpoint raises passes
#    through your `except`: a failed query, a `RuntimeError` from the warehouse, and the
#    `HTTPException(404)` that is meant to become the response.
# 2. **Swallowing ends the request without a response.** When the `except` block finishes
#    without raising, the `async with` around the endpoint ends as if nothing happened, but there
#    is no response to send. FastAPI 0.165 notices and raises `FastAPIError: Response not
#    awaited...`; the server answers 500 and reports *that* error. The 404, the 409 and the
#    warehouse's `RuntimeError` are lost (under uvicorn 0.54, its "Exception in ASGI application"
#    traceback named only the `FastAPIError`).
# 3. **Roll back, then `raise`.** A bare `raise` sends the same exception on: FastAPI turns an
#    `HTTPException` into its 404 or 409, and anything else reaches the server as itself, which
#    answers 500 and logs the real traceback. `await session.rollback()` before it undoes the
#    order the endpoint had already inserted.
# 4. **Know what `async with` already does.** Closing a session rolls back whatever transaction
#    it still has. Measured here: the starter, which never calls `rollback()`, leaves no order
#    behind either, and a SQLAlchemy `rollback` event fires once per failed request with or
#    without the explicit call. So the explicit rollback documents intent; the `raise` is the fix.
#    That is also why deleting the whole `try/except` (keeping `async with ... yield session`,
#    the form FastAPI's docs use) passes the check: it swallows nothing and still rolls back. You
#    lose only the colleague's log line, and uvicorn logs every unhandled error anyway.
#
# About that log line: with `log.exception` in place, a 404 or 409 is also logged as an error with
# a traceback, and under uvicorn a real failure appears twice (your line and the server's). If
# that is noise for you, drop the line; the check does not require it.
#
# Why not `except HTTPException: raise` before `except Exception`? The client errors come back,
# but every other exception is still swallowed: the warehouse outage still reaches the server as
# "Response not awaited". Why not `raise HTTPException(500)` from the `except`? It replaces every
# error, the endpoint's own 404 and 409 included, with a 500, and the real error never reaches
# the server's error handling.
#
# Read more: FastAPI, [Dependencies with yield and except](https://fastapi.tiangolo.com/tutorial/dependencies/dependencies-with-yield/#dependencies-with-yield-and-except);
# SQLAlchemy, [Closing a Session](https://docs.sqlalchemy.org/en/21/orm/session_basics.html#closing)
# and [Using asyncio](https://docs.sqlalchemy.org/en/21/orm/extensions/asyncio.html).
#
# ### What to remember
# - An endpoint's exceptions, `HTTPException` included, pass through every `yield` dependency
#   that is still open. An `except` there must end in `raise`.
# - "Response not awaited" from FastAPI means a `yield` dependency swallowed an exception: look
#   for an `except` without `raise`.
# - `async with sessionmaker() as session: yield session` already rolls back on close; add an
#   `except` only to do more (log, roll back explicitly), and re-raise.
