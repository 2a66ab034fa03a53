# %% [markdown]
# # One request, one session
#
# **The story.** On Monday morning Alice tried to buy the last copy of *Dune Messiah* together
# with *Parable of the Sower*, which is sold out. The site told her **409: out of stock**, so she
# gave up. On Tuesday the warehouse found her order in the `orders` table and packed
# *Dune Messiah*, the copy the stock still listed as on the shelf, which Bob had bought in
# the meantime. The checkout code has a tidy design: the endpoint saves the order, and an
# `Inventory` dependency, with a database session of its own, takes the copies off the shelf.
# That second session is the bug.
#
# **You will learn**
# - that FastAPI runs a dependency once per request and hands the same value to everyone who
#   asks for it, and that `Depends(..., use_cache=False)` quietly opens a second session;
# - why two sessions mean two transactions, so one request can commit half of its work;
# - how one `SessionDep` shared by every dependency, and one commit at the end, make an order
#   all-or-nothing.
#
# Run the cells from the top (**Run → Run All Cells**), read the evidence, then make the check pass.

# %% tags=["setup"]
from checks import setup_notebook

setup_notebook()

# %% [markdown]
# ## The bookshop around the problem
#
# The models (`Book`, `Order`, `OrderLine`), the schemas (`OrderIn`, `OrderOut`) and the app's
# `lifespan` come from the workbook's `bookshop` package. The lifespan is the one kata 1 built:
# it creates the engine at startup and puts a `sessionmaker` in every request's
# `request.state`. In the seeded shop, *Dune Messiah* (book 4) has 1 copy left and
# *Parable of the Sower* (book 6) has none.

# %%
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request
from sqlalchemy.ext.asyncio import AsyncSession

from bookshop.db import lifespan
from bookshop.models import Book, Order, OrderLine
from bookshop.schemas import BookOut, OrderIn, OrderLineIn, OrderOut


def order_from(order_in: OrderIn) -> Order:
    """The order row and its order lines, ready to be added to a session."""
    lines = [OrderLine(book_id=line.book_id, quantity=line.quantity) for line in order_in.lines]
    return Order(user_id=order_in.user_id, lines=lines)

# %% [markdown]
# ## The code under review
#
# This is the cell you will change. Count the sessions: how many does one `POST /orders`
# open, and how many times does it commit?

# %% tags=["kata", "starter"]
app = FastAPI(lifespan=lifespan)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.state.sessionmaker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


class Inventory:
    """The warehouse's side of an order: takes the copies off the shelf."""

    # "The warehouse keeps its own books": a session of its own, committed on its own.
    def __init__(self, session: Annotated[AsyncSession, Depends(get_session, use_cache=False)]):
        self.session = session

    async def reserve(self, lines: list[OrderLineIn]) -> None:
        for line in lines:
            book = await self.session.get(Book, line.book_id)
            if book is None:
                raise HTTPException(status_code=404, detail=f"Book {line.book_id} not found")
            if book.stock < line.quantity:
                raise HTTPException(status_code=409, detail=f"Only {book.stock} left of {book.title!r}")
            book.stock -= line.quantity
        await self.session.commit()


InventoryDep = Annotated[Inventory, Depends()]


@app.post("/orders", status_code=201)
async def place_order(order_in: OrderIn, session: SessionDep, inventory: InventoryDep) -> OrderOut:
    order = order_from(order_in)
    session.add(order)
    await session.commit()  # the order is saved for good here...
    await inventory.reserve(order_in.lines)  # ...before we know the books are in stock
    return OrderOut.model_validate(order, from_attributes=True)

# %% tags=["kata", "solution"]
app = FastAPI(lifespan=lifespan)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.state.sessionmaker() as session:
        yield session


# The one way to ask for a session. FastAPI runs `get_session` once per request and gives its
# session to every endpoint and dependency that declares `SessionDep`.
SessionDep = Annotated[AsyncSession, Depends(get_session)]


class Inventory:
    """The warehouse's side of an order: takes the copies off the shelf."""

    def __init__(self, session: SessionDep):
        self.session = session  # the request's session, the same one the endpoint has

    async def reserve(self, lines: list[OrderLineIn]) -> None:
        for line in lines:
            book = await self.session.get(Book, line.book_id)
            if book is None:
                raise HTTPException(status_code=404, detail=f"Book {line.book_id} not found")
            if book.stock < line.quantity:
                raise HTTPException(status_code=409, detail=f"Only {book.stock} left of {book.title!r}")
            book.stock -= line.quantity
        # No commit: the endpoint owns the transaction and commits once, at the end.


InventoryDep = Annotated[Inventory, Depends()]


@app.post("/orders", status_code=201)
async def place_order(order_in: OrderIn, session: SessionDep, inventory: InventoryDep) -> OrderOut:
    order = order_from(order_in)
    session.add(order)
    await inventory.reserve(order_in.lines)
    # Every step succeeded: save the order and the stock together. If a step raised instead,
    # `get_session` closes the session and everything since it opened is rolled back.
    await session.commit()
    return OrderOut.model_validate(order, from_attributes=True)

# %% tags=["kata", "decoy:reserve-first"]
# "Take the copies first and save the order after: a sold-out book then stops the order before
# anything is written." It does, for that case. But there are still two sessions and two
# commits: when saving the order fails after the stock was committed, the copies are gone
# from the shelf and no order holds them.
app = FastAPI(lifespan=lifespan)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.state.sessionmaker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


class Inventory:
    def __init__(self, session: Annotated[AsyncSession, Depends(get_session, use_cache=False)]):
        self.session = session

    async def reserve(self, lines: list[OrderLineIn]) -> None:
        for line in lines:
            book = await self.session.get(Book, line.book_id)
            if book is None:
                raise HTTPException(status_code=404, detail=f"Book {line.book_id} not found")
            if book.stock < line.quantity:
                raise HTTPException(status_code=409, detail=f"Only {book.stock} left of {book.title!r}")
            book.stock -= line.quantity
        await self.session.commit()


InventoryDep = Annotated[Inventory, Depends()]


@app.post("/orders", status_code=201)
async def place_order(order_in: OrderIn, session: SessionDep, inventory: InventoryDep) -> OrderOut:
    await inventory.reserve(order_in.lines)
    order = order_from(order_in)
    session.add(order)
    await session.commit()
    return OrderOut.model_validate(order, from_attributes=True)

# %% tags=["kata", "decoy:one-session-two-commits"]
# "`use_cache=False` was the bug: drop it and both share one session." They do share it now,
# but the endpoint still commits the order before the stock step runs. One session can run
# several transactions one after the other; each commit ends one, and a later failure cannot
# take back what an earlier commit saved.
app = FastAPI(lifespan=lifespan)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.state.sessionmaker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


class Inventory:
    def __init__(self, session: SessionDep):
        self.session = session

    async def reserve(self, lines: list[OrderLineIn]) -> None:
        for line in lines:
            book = await self.session.get(Book, line.book_id)
            if book is None:
                raise HTTPException(status_code=404, detail=f"Book {line.book_id} not found")
            if book.stock < line.quantity:
                raise HTTPException(status_code=409, detail=f"Only {book.stock} left of {book.title!r}")
            book.stock -= line.quantity
        await self.session.commit()


InventoryDep = Annotated[Inventory, Depends()]


@app.post("/orders", status_code=201)
async def place_order(order_in: OrderIn, session: SessionDep, inventory: InventoryDep) -> OrderOut:
    order = order_from(order_in)
    session.add(order)
    await session.commit()
    await inventory.reserve(order_in.lines)
    return OrderOut.model_validate(order, from_attributes=True)

# %% tags=["kata", "decoy:inventory-opens-its-own-session"]
# "No more `use_cache=False`, and the endpoint commits once, at the end." But the warehouse
# still wants "a short transaction of its own", so it opens a session straight from the
# sessionmaker. No `Depends` flag shows it, yet it is a second session: its commit lands
# before the order's, and stays when saving the order fails.
app = FastAPI(lifespan=lifespan)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.state.sessionmaker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


class Inventory:
    def __init__(self, request: Request):
        self.sessionmaker = request.state.sessionmaker

    async def reserve(self, lines: list[OrderLineIn]) -> None:
        async with self.sessionmaker() as session:
            for line in lines:
                book = await session.get(Book, line.book_id)
                if book is None:
                    raise HTTPException(status_code=404, detail=f"Book {line.book_id} not found")
                if book.stock < line.quantity:
                    raise HTTPException(status_code=409, detail=f"Only {book.stock} left of {book.title!r}")
                book.stock -= line.quantity
            await session.commit()


InventoryDep = Annotated[Inventory, Depends()]


@app.post("/orders", status_code=201)
async def place_order(order_in: OrderIn, session: SessionDep, inventory: InventoryDep) -> OrderOut:
    order = order_from(order_in)
    session.add(order)
    await inventory.reserve(order_in.lines)
    await session.commit()
    return OrderOut.model_validate(order, from_attributes=True)

# %% [markdown]
# The endpoint below only uses `SessionDep`, so it stays as it is while you fix the cell above.

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
# The next cell replays Alice's order: the last *Dune Messiah* plus a sold-out
# *Parable of the Sower*. It records the database connections the request checked out (each
# session gets one for its transaction) and whether each transaction was committed or rolled
# back, then counts what the refused order left in the database.

# %% tags=["evidence"]
from bookshop.client import shop_client
from bookshop.db import database_url
from bookshop.observe import engine_events, run_sql


def order_rows() -> tuple[int, int]:
    return run_sql(database_url(), "SELECT (SELECT count(*) FROM orders), (SELECT count(*) FROM order_lines)")[0]


alice = {"user_id": 1, "lines": [{"book_id": 4, "quantity": 1}, {"book_id": 6, "quantity": 1}]}
with shop_client(app) as client:
    orders_before, lines_before = order_rows()
    with engine_events("connect", "commit", "rollback") as events:
        response = client.post("/orders", json=alice)
    orders_after, lines_after = order_rows()
    stock = {book_id: client.get(f"/books/{book_id}").json()["stock"] for book_id in (4, 6)}

print(f"POST /orders -> {response.status_code}  {response.json()}")
print(f"what the request did in the database: {' -> '.join(kind for kind, _, _ in events)}")
print(f"connections (one per transaction): {sum(kind == 'connect' for kind, _, _ in events)}")
print(f"left behind by the refused order: {orders_after - orders_before} order(s), {lines_after - lines_before} order line(s)")
print(f"stock now: Dune Messiah {stock[4]}, Parable of the Sower {stock[6]}")

# %% [markdown]
# With the starter you should see the 409 Alice saw, two connections (one commit, one
# rollback), and one order with two lines left in the database: an order nobody paid for,
# for a copy the stock still counts as on the shelf. Run the cell again and one more appears.
#
# ## The check
#
# Run it. Each failing test names what is wrong; fix the kata cell, run it again (and the
# endpoint cell below it), then re-run this cell until every test passes.

# %% tags=["check"]
%%ipytest
from checks.one_session import *

# %% [markdown]
# ## Hints
#
# Stuck? Each click opens one more level: a nudge, then the concept, then a sketch of
# the code. In a terminal, `kata hint one-session` opens the same levels.

# %% [markdown] tags=["hint"]
# ### Hint 1: a nudge
#
# Look at how `Inventory` asks for its session: `Depends(get_session, use_cache=False)`. Then
# count the `commit()` calls in `POST /orders`, and ask which one runs first. What is in the
# database if the second step raises `HTTPException(409)`?

# %% [markdown] tags=["hint"]
# ### Hint 2: the concept
#
# A session holds one transaction at a time, and a transaction is the unit that is saved or
# undone as a whole. FastAPI caches a dependency's value for the whole request: every
# parameter that depends on `get_session` gets the *same* session, unless one of them says
# `use_cache=False`, which runs `get_session` again and opens a second session, with a
# transaction of its own. Two transactions commit separately, so when the second step fails,
# the first one's commit stays. Give the whole request one session, let the steps only change
# objects in it, and commit once, after the last step succeeded. A step that raises then
# leaves nothing: closing an uncommitted session rolls its work back.

# %% [markdown] tags=["hint"]
# ### Hint 3: a sketch
#
# ```python
# SessionDep = Annotated[AsyncSession, Depends(get_session)]  # the only way to get a session
#
# class Inventory:
#     def __init__(self, session: SessionDep): ...
#     async def reserve(self, lines): ...  # change book.stock; no commit here
#
# @app.post("/orders", status_code=201)
# async def place_order(order_in: OrderIn, session: SessionDep, inventory: InventoryDep) -> OrderOut:
#     session.add(order_from(order_in))
#     ...  # reserve the copies
#     await session.commit()  # once, last
# ```

# %% [markdown]
# ## The walkthrough

# %% [markdown] tags=["walkthrough"]
# ### The fix, step by step
#
# 1. **One session per request.** FastAPI solves each request's dependencies once and caches
#    every value: `place_order` and `Inventory` both declaring `SessionDep` receive the very
#    same `AsyncSession`. `use_cache=False` turns that off for one declaration, so
#    `get_session` runs twice and the request has two sessions. Declaring the same function
#    with a different `scope=` does the same. Define `SessionDep` once and use it everywhere.
# 2. **Steps change objects; they do not commit.** `Inventory.reserve` lowers `book.stock` on
#    objects the request's session tracks and returns. It no longer decides when the work is
#    saved, so it can be reused by any endpoint that has a bigger transaction around it.
# 3. **Commit once, at the end.** `place_order` adds the order, runs every step, and only then
#    calls `await session.commit()`: the order, its lines and the stock are written in one
#    transaction. If a step raises (`HTTPException(409)` for a sold-out book, or the database
#    refusing a row), the commit never runs; `get_session`'s `async with` closes the session
#    and the transaction is rolled back. Nothing is half-written.
# 4. **The database still guards the stock.** `books.stock` has a `CHECK (stock >= 0)`
#    constraint, so a negative stock can never be saved. It is a last line of defence, not the
#    answer to the customer: on its own it turns a sold-out book into a 500 instead of a 409.
#
# Why not take the copies first and save the order after? A sold-out book then stops the
# order before it is saved, but there are still two commits: when saving the order fails
# after the stock was committed, the copies have left the shelf and no order holds them. Why
# not just remove `use_cache=False`? One session is necessary but not enough: each `commit()`
# ends a transaction, and the endpoint still commits the order before the stock step runs.
# And a helper that opens `async with request.state.sessionmaker()` itself is a second
# session too, even with no `Depends` flag in sight.
#
# Read more: FastAPI, [Using the same dependency multiple times](https://fastapi.tiangolo.com/tutorial/dependencies/sub-dependencies/#using-the-same-dependency-multiple-times)
# and [Dependencies with yield](https://fastapi.tiangolo.com/tutorial/dependencies/dependencies-with-yield/);
# SQLAlchemy, [When do I construct a Session, when do I commit it, and when do I close it?](https://docs.sqlalchemy.org/en/21/orm/session_basics.html#when-do-i-construct-a-session-when-do-i-commit-it-and-when-do-i-close-it).
#
# ### What to remember
# - One request, one session: declare `SessionDep = Annotated[AsyncSession, Depends(get_session)]`
#   once and let FastAPI's per-request cache hand the same session to every dependency.
# - `use_cache=False`, a different `scope=`, or a helper calling the sessionmaker itself each
#   give the request a second session, and a second transaction.
# - Prefer helpers that change objects and an endpoint that commits once, after every step
#   succeeded: then one place decides when the request's work is saved.
