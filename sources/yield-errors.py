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
# - that FastAPI's own errors, a malformed body's 422 included, pass through the same `except`;
# - how to write a session dependency that lets every error go on unchanged and always gives its
#   connection back, and what its `async with` already does for you.
#
# Run the cells from the top (**Run → Run All Cells**), read the evidence, then make the check pass.

# %% tags=["setup"]
from checks import setup_notebook

setup_notebook()

# %% [markdown]
# ## The bookshop around the problem
#
# The models, the schemas and the app's `lifespan` come from the workbook's `bookshop` package.
# That lifespan is the one "The engine belongs to the lifespan" ends with: it builds the engine
# at startup, hands requests a `sessionmaker` through `request.state`, and disposes of the engine
# at shutdown.
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

# %% tags=["kata", "decoy:wrap-the-error"]
# "Let the HTTP errors through, and give every other failure a name of our own, keeping the
# original as its cause." The 404 and 409 come back, but the server now reports a generic
# RuntimeError for every failure, the warehouse's and FastAPI's own 422 alike.
app = FastAPI(lifespan=lifespan)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.state.sessionmaker() as session:
        try:
            yield session
        except HTTPException:
            raise
        except Exception as error:
            log.exception("Request failed")
            await session.rollback()
            raise RuntimeError("database failed") from error

# %% tags=["kata", "decoy:clean-500-for-the-rest"]
# "The endpoint's HTTP errors go on; anything else becomes a tidy 500 with a JSON body." But
# FastAPI's validation error is not an HTTPException: a malformed order gets a 500 instead of
# its 422, and a real failure never reaches the server's error handling.
app = FastAPI(lifespan=lifespan)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.state.sessionmaker() as session:
        try:
            yield session
        except HTTPException:
            raise
        except Exception:
            log.exception("Request failed")
            await session.rollback()
            raise HTTPException(status_code=500, detail="Internal server error")

# %% tags=["kata", "decoy:session-closed-only-on-success"]
# "Now that the except re-raises, the try does the cleanup: open the session, close it at the
# end." The end is reached only when the endpoint succeeded. A request that raises leaves the
# generator at the `raise`, the close never runs, and its connection stays out of the pool, with
# whatever it had locked.
app = FastAPI(lifespan=lifespan)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    session = request.state.sessionmaker()
    try:
        yield session
    except Exception:
        log.exception("Request failed")
        raise
    await session.close()

# %% tags=["kata", "decoy:catch-database-errors-only"]
# "Only database errors are this dependency's business: catch SQLAlchemyError and log it; the
# rest goes on." The 404, the 409 and the warehouse's errors do go on, but a database failure,
# a locked database say, is still swallowed: the server sees "Response not awaited" instead.
from sqlalchemy.exc import SQLAlchemyError

app = FastAPI(lifespan=lifespan)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.state.sessionmaker() as session:
        try:
            yield session
        except SQLAlchemyError:
            log.exception("Database error")

# %% tags=["kata", "decoy:catch-network-errors-only"]
# "Network trouble is what goes wrong in production: log connection errors and timeouts, let
# everything else through." The client errors come back, but a warehouse that refuses the
# connection or times out is swallowed, and the server reports FastAPI instead of the warehouse.
app = FastAPI(lifespan=lifespan)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.state.sessionmaker() as session:
        try:
            yield session
        except (ConnectionError, TimeoutError):
            log.exception("Upstream failed")

# %% tags=["kata", "alternative:no-try-except"]
# No except at all: the form FastAPI's docs use. Nothing is caught, so nothing is swallowed, and
# closing the session rolls back whatever the request did not commit. Only the log line is gone;
# the server logs every unhandled error anyway.
app = FastAPI(lifespan=lifespan)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.state.sessionmaker() as session:
        yield session

# %% tags=["kata", "alternative:log-and-reraise"]
# Log, then let the same exception go on. No explicit rollback: leaving the `async with` closes
# the session, and closing rolls back.
app = FastAPI(lifespan=lifespan)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.state.sessionmaker() as session:
        try:
            yield session
        except Exception:
            log.exception("Request failed")
            raise

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
# The next cell pretends the warehouse is down (a dependency override), then sends four requests
# that should each fail in its own way: a book that does not exist, an order whose second book
# (*Parable of the Sower*) is sold out, an order the warehouse cannot reserve, and an order whose
# `user_id` is not a number. For each, it shows what the client was sent, what the colleague's
# log line recorded, what exception reached the server (under uvicorn, that is the traceback its
# error log would show), and how many database connections the request left out of the pool.

# %% tags=["evidence"]
import logging.handlers

from bookshop.client import describe, shop_client
from bookshop.db import database_url
from bookshop.observe import pool_connections, run_sql


class WarehouseDown(Warehouse):
    async def reserve(self, order_id: int, lines: list[OrderLineIn]) -> None:
        raise RuntimeError("warehouse API timed out")


cases = {
    "GET /books/999 (no such book)": ("GET", "/books/999", None),
    "POST /orders (book 6 sold out)": ("POST", "/orders", {"user_id": 1, "lines": [{"book_id": 1}, {"book_id": 6}]}),
    "POST /orders (warehouse down)": ("POST", "/orders", {"user_id": 1, "lines": [{"book_id": 1}]}),
    "POST /orders (user_id 'alice')": ("POST", "/orders", {"user_id": "alice", "lines": [{"book_id": 1}]}),
}
logged = logging.handlers.BufferingHandler(capacity=100)  # keeps the log records in `.buffer`
logging.getLogger().addHandler(logged)
app.dependency_overrides[get_warehouse] = WarehouseDown
try:
    with shop_client(app) as client:
        for label, (method, url, payload) in cases.items():
            logged.buffer.clear()
            before = len(client.server_errors)
            with pool_connections() as pool:
                response = client.request(method, url, json=payload)
            raised = [f"{type(error).__name__}: {str(error).splitlines()[0][:70]}" for error in client.server_errors[before:]]
            recorded = [type(record.exc_info[1]).__name__ for record in logged.buffer if record.exc_info]
            print(f"{label}\n   client got:    {describe(response)}")
            print(f"   log recorded:  {recorded}\n   server raised: {'; '.join(raised) or 'nothing'}")
            print(f"   connections left out of the pool: {pool.out}")
finally:
    app.dependency_overrides.pop(get_warehouse, None)
    logging.getLogger().removeHandler(logged)

orders, stock = run_sql(database_url(), "SELECT (SELECT count(*) FROM orders), (SELECT stock FROM books WHERE id = 1)")[0]
print(f"orders in the database: {orders}; copies of book 1 left: {stock} (the seed has 4)")

# %% [markdown]
# With the starter, every request is answered 500, even the malformed one, which FastAPI should
# have refused with a 422 naming the bad field. The log has the real errors (the 404, the 409,
# the `RuntimeError`, FastAPI's `RequestValidationError`), but the server saw a
# `FastAPIError: Response not awaited` each time, and its message points at exactly this bug.
# No connection was left out, and nothing was written: the `async with` closed each session,
# and closing rolled the failed orders back, so the database is not where this bug shows.
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
# Follow the 404 that `read_book` raises. The endpoint runs while `get_session` is paused at
# `yield`. Where does that exception go next, and what does the `except Exception` block do with
# it after logging it? Then ask the same of the error FastAPI raises itself when a body does not
# validate, and ask which paths out of `get_session` close the session.

# %% [markdown] tags=["hint"]
# ### Hint 2: the concept
#
# FastAPI runs a `yield` dependency like a context manager around the endpoint: when the
# request fails, FastAPI throws the exception into the generator at the `yield`. That is every
# exception: the endpoint's `HTTPException`, a `RuntimeError` from the warehouse, and FastAPI's
# own `RequestValidationError`, raised after the dependencies were opened. If the generator
# catches it and ends normally, the exception is *gone*: no handler turns it into its 404, 409
# or 422, no response is produced, and FastAPI raises `FastAPIError("Response not awaited...")`,
# which the server answers with a 500. If the generator raises a *different* exception, that
# one replaces the original everywhere after it. Catching is fine (to log, to roll back), as long
# as the same exception leaves the block. And the session must be closed on every path out.
#
# Read: FastAPI, [Dependencies with yield and except](https://fastapi.tiangolo.com/tutorial/dependencies/dependencies-with-yield/#dependencies-with-yield-and-except).

# %% [markdown] tags=["hint"]
# ### Hint 3: a sketch
#
# ```python
# async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
#     async with request.state.sessionmaker() as session:  # closes it on every path
#         try:
#             yield session
#         except Exception:
#             log.exception(...)
#             ...  # undo the request's writes
#             ...  # and let the same exception continue: a bare raise
# ```
# Then run the endpoints cell again, and the evidence.

# %% [markdown]
# ## The walkthrough

# %% [markdown] tags=["walkthrough"]
# ### The fix, step by step
#
# 1. **See where the exception goes.** FastAPI enters `get_session` before the endpoint and keeps
#    it paused at `yield` until the request is done. If the request fails, FastAPI throws the
#    exception into the generator at the `yield`, so *every* error passes through your `except`:
#    a failed query, a `RuntimeError` from the warehouse, the `HTTPException(404)` that is meant
#    to become the response, and the `RequestValidationError` FastAPI raises itself when the body
#    does not validate (it checks the body after it has opened the dependencies, so `get_session`
#    is already waiting at its `yield`).
# 2. **Swallowing ends the request without a response.** When the `except` block finishes
#    without raising, the `async with` around the endpoint ends as if nothing happened, but there
#    is no response to send. FastAPI 0.165 notices and raises `FastAPIError: Response not
#    awaited...`; the server answers 500 and reports *that* error. The 404, the 409, the 422 and
#    the warehouse's `RuntimeError` are all lost.
# 3. **Roll back, then `raise`.** A bare `raise` sends the same exception on: FastAPI turns an
#    `HTTPException` into its 404 or 409 and a `RequestValidationError` into its 422, and anything
#    else reaches the server as itself, which answers 500 and logs the real traceback.
#    `await session.rollback()` before it undoes the order the endpoint had already inserted.
# 4. **Close on every path.** The `async with` closes the session whether the block ends
#    normally or by an exception, and closing gives the connection back to the pool. Replace it
#    with a `close()` after the `try` and the close runs only when the endpoint succeeded: every
#    failed request keeps its connection, with its write lock, until the garbage collector finds
#    it. The check counts the connections each request leaves out.
# 5. **Know what `async with` already does.** Closing a session rolls back whatever transaction
#    it still has. Measured here: the starter, which never calls `rollback()`, leaves no order
#    behind either, and the check sees a ROLLBACK for each failed request with or without the
#    explicit call. So the explicit rollback documents intent; the `raise` is the fix. That is
#    also why two shorter forms pass the check: `except Exception:` with the log line and a bare
#    `raise`, and no `try/except` at all (`async with ... as session: yield session`, the form
#    FastAPI's docs use). The second loses only the colleague's log line, and a server such as
#    uvicorn logs every unhandled error anyway.
#
# About that log line: with `log.exception` in place, a 404 or 409 is also logged as an error with
# a traceback, and a real failure appears twice (your line and the server's). If that is noise
# for you, drop the line; the check does not require it.
#
# Why not catch only the errors "this dependency is about", `except SQLAlchemyError:` or
# `except (ConnectionError, TimeoutError):`, and log them? Whatever that `except` catches is
# still swallowed: a locked database, or a warehouse that refuses the connection, reaches the
# server as "Response not awaited". The check raises several kinds in turn (a `RuntimeError`, a
# SQLAlchemy `OperationalError` from a locked database, a `ConnectionError`, a `TimeoutError`),
# and each must reach the server as itself. Narrowing the `except` changes *which* errors are
# lost, not whether; what fixes it is the `raise`.
#
# Why not `except HTTPException: raise` before `except Exception`? The client errors come back,
# but every other exception is still swallowed: the malformed order still gets a 500, and the
# warehouse outage still reaches the server as "Response not awaited". Why not
# `raise HTTPException(500)` from the `except`? It replaces every error, the endpoint's own 404
# and 409 and FastAPI's 422 included, with a 500, and the real error never reaches the server's
# error handling. Why not `raise RuntimeError("database failed") from error`? The cause is
# kept in the traceback, but the server, its reports and its alerts see one generic error for
# every failure, and the 422 becomes a 500 again.
#
# Read more: FastAPI, [Dependencies with yield and except](https://fastapi.tiangolo.com/tutorial/dependencies/dependencies-with-yield/#dependencies-with-yield-and-except)
# and [Handling errors](https://fastapi.tiangolo.com/tutorial/handling-errors/);
# SQLAlchemy, [Closing a Session](https://docs.sqlalchemy.org/en/21/orm/session_basics.html#closing)
# and [Using asyncio](https://docs.sqlalchemy.org/en/21/orm/extensions/asyncio.html).
#
# ### What to remember
# - Every exception of the request, `HTTPException` and FastAPI's validation errors included,
#   passes through every `yield` dependency that is still open. An `except` there must end in a
#   bare `raise`: the same exception, not a new one.
# - "Response not awaited" from FastAPI means a `yield` dependency swallowed an exception: look
#   for an `except` without `raise`.
# - Close the session on every path: keep the `async with`. It already rolls back on close; add
#   an `except` only to do more (log, roll back explicitly), and re-raise.
