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
# - how one session shared by every dependency, and one commit at the end, before the answer,
#   make an order all-or-nothing, whichever of its writes the database refuses.
#
# Run the cells from the top (**Run → Run All Cells**), read the evidence, then make the check pass.

# %% tags=["setup"]
from checks import setup_notebook

setup_notebook()

# %% [markdown]
# ## The bookshop around the problem
#
# The models (`Book`, `Order`, `OrderLine`), the schemas (`OrderIn`, `OrderOut`) and the app's
# `lifespan` come from the workbook's `bookshop` package. The lifespan is the one "The engine
# belongs to the lifespan" ends with: it creates the engine at startup, puts a `sessionmaker` in
# every request's `request.state`, and disposes of the engine at shutdown. In the seeded shop, *Dune Messiah* (book 4) has 1 copy left and
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

# %% tags=["kata", "decoy:commit-for-the-id"]
# "One session, and the stock is taken before anything is saved. But the lines need the order's
# id, so commit the order first, then add its lines and commit again." Two commits are two
# transactions: when saving the lines fails, the order and its copies stay committed.
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


InventoryDep = Annotated[Inventory, Depends()]


@app.post("/orders", status_code=201)
async def place_order(order_in: OrderIn, session: SessionDep, inventory: InventoryDep) -> OrderOut:
    await inventory.reserve(order_in.lines)
    order = Order(user_id=order_in.user_id)
    session.add(order)
    await session.commit()  # the order has its id now
    for line in order_in.lines:
        session.add(OrderLine(order_id=order.id, book_id=line.book_id, quantity=line.quantity))
    await session.commit()
    return OrderOut(id=order.id, user_id=order.user_id, lines=order_in.lines)

# %% tags=["kata", "decoy:commit-in-the-dependency"]
# "One session, and the commit in one place for every endpoint: after the dependency's yield."
# The order is all-or-nothing now, but that COMMIT runs after the 201 has been sent: if the
# database refuses it, the customer has already been told the order was placed.
app = FastAPI(lifespan=lifespan)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.state.sessionmaker() as session:
        yield session
        await session.commit()


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


InventoryDep = Annotated[Inventory, Depends()]


@app.post("/orders", status_code=201)
async def place_order(order_in: OrderIn, session: SessionDep, inventory: InventoryDep) -> OrderOut:
    order = order_from(order_in)
    session.add(order)
    await inventory.reserve(order_in.lines)
    await session.flush()  # the id, for the answer; get_session commits
    return OrderOut.model_validate(order, from_attributes=True)

# %% tags=["kata", "alternative:one-transaction-block"]
# The same single transaction, written as a block: `session.begin()` commits when the block
# ends and rolls back if anything in it raises. The block ends before the return, so before
# the answer.
app = FastAPI(lifespan=lifespan)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.state.sessionmaker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


class Inventory:
    """The warehouse's side of an order: takes the copies off the shelf."""

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


InventoryDep = Annotated[Inventory, Depends()]


@app.post("/orders", status_code=201)
async def place_order(order_in: OrderIn, session: SessionDep, inventory: InventoryDep) -> OrderOut:
    async with session.begin():
        order = order_from(order_in)
        session.add(order)
        await inventory.reserve(order_in.lines)
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
# *Parable of the Sower*. Then Bob orders one copy of *Dune*, which is in stock. For each
# request it records the database connections checked out (each session gets one for its
# transaction), whether each transaction was committed or rolled back, and when the answer was
# sent; then it counts what the refused order left in the database.

# %% tags=["evidence"]
from bookshop.client import describe, shop_client
from bookshop.db import database_url
from bookshop.observe import engine_events, response_spy, run_sql


def order_rows() -> tuple[int, int]:
    return run_sql(database_url(), "SELECT (SELECT count(*) FROM orders), (SELECT count(*) FROM order_lines)")[0]


def steps(events) -> str:
    return " -> ".join(f"{entry[1]} sent" if entry[0] == "response-start" else entry[0] for entry in events)


run_sql(database_url(), "UPDATE books SET stock = 5 WHERE id = 3")  # Dune: same start on every run
alice = {"user_id": 1, "lines": [{"book_id": 4, "quantity": 1}, {"book_id": 6, "quantity": 1}]}
bob = {"user_id": 2, "lines": [{"book_id": 3, "quantity": 1}]}
with engine_events("connect", "commit", "rollback") as events, shop_client(response_spy(app, events)) as client:
    orders_before, lines_before = order_rows()
    events.clear()
    refused = client.post("/orders", json=alice)
    refused_steps = steps(events)
    orders_after, lines_after = order_rows()
    events.clear()
    placed = client.post("/orders", json=bob)
    placed_steps = steps(events)

stock = dict(run_sql(database_url(), "SELECT id, stock FROM books WHERE id IN (4, 6)"))
print(f"Alice: POST /orders -> {describe(refused)}")
print(f"   in the database: {refused_steps}")
print(f"   left behind: {orders_after - orders_before} order(s), {lines_after - lines_before} order line(s)")
print(f"   stock now: Dune Messiah {stock.get(4)}, Parable of the Sower {stock.get(6)}")
print(f"Bob:   POST /orders -> {describe(placed)}")
print(f"   in the database: {placed_steps}")

# %% [markdown]
# With the starter you should see the 409 Alice saw, two connections (one commit, one
# rollback), and one order with two lines left in the database: an order nobody paid for,
# for a copy the stock still counts as on the shelf. Run the cell again and one more appears.
# Bob's order, which succeeds, shows why: two connections, two COMMITs, one per session.
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
# Look at how `Inventory` asks for its session. Then count the `commit()` calls in
# `POST /orders` and ask which one runs first. What is in the database if the step after it
# raises `HTTPException(409)`, or if the database refuses the order's lines or the change of
# stock? And when does the last commit run: before the customer gets the 201, or after?

# %% [markdown] tags=["hint"]
# ### Hint 2: the concept
#
# A session holds one transaction at a time, and a transaction is the unit that is saved or
# undone as a whole. FastAPI caches a dependency's value for the whole request: every
# parameter that depends on `get_session` gets the *same* session, unless one of them says
# `use_cache=False`, which runs `get_session` again and opens a second session, with a
# transaction of its own. Two transactions commit separately, and so do two commits in one
# session: when a later step fails, what an earlier commit saved stays. Give the whole request
# one session, let the steps only change objects in it, and commit once, after the last step
# succeeded and before the endpoint returns (code after a dependency's `yield` runs after the
# answer has gone, as "Commit before you answer" showed). A step that raises then leaves
# nothing: closing an uncommitted session rolls its work back.
#
# Read: FastAPI, [Using the same dependency multiple times](https://fastapi.tiangolo.com/tutorial/dependencies/sub-dependencies/#using-the-same-dependency-multiple-times).

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
#     order = order_from(order_in)  # the order and its lines, in one object graph
#     session.add(order)
#     ...  # reserve the copies
#     await session.commit()  # once, last, before the return
#     ...
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
# 3. **Commit once, at the end, before the answer.** `place_order` adds the order (with its
#    lines: `order_from` builds them as one object graph, so SQLAlchemy inserts the order, gets
#    its id and inserts the lines in one flush), runs every step, and only then calls
#    `await session.commit()`: the order, its lines and the stock are written in one
#    transaction. If a step raises (`HTTPException(409)` for a sold-out book, or the database
#    refusing the order, a line or the stock change, as the check makes it do in turn), the
#    commit never runs; `get_session`'s `async with` closes the session and the transaction is
#    rolled back. Nothing is half-written. And because the commit is in the endpoint, a refused
#    commit becomes the answer, instead of arriving after a 201.
# 4. **The database still guards the stock.** `books.stock` has a `CHECK (stock >= 0)`
#    constraint, so a negative stock can never be saved. It is a last line of defence, not the
#    answer to the customer: on its own it turns a sold-out book into a 500 instead of a 409.
#
# `async with session.begin(): ...` around the steps is the same fix written as a block: it
# commits when the block ends and rolls back if it raises, and the check accepts it.
#
# Why not take the copies first and save the order after? A sold-out book then stops the
# order before it is saved, but there are still two commits: when saving the order fails
# after the stock was committed, the copies have left the shelf and no order holds them. Why
# not just remove `use_cache=False`? One session is necessary but not enough: each `commit()`
# ends a transaction, and the endpoint still commits the order before the stock step runs.
# Why not commit the order first "to get its id" for the lines? `flush()` gets the id without
# ending the transaction; a commit there leaves an order without its lines when saving them
# fails. Why not commit after `get_session`'s `yield`, once for every endpoint? The order is
# all-or-nothing then, but its COMMIT runs after the 201 has been sent. And a helper that
# opens `async with request.state.sessionmaker()` itself is a second session too, even with no
# `Depends` flag in sight.
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
# - Helpers change objects; the endpoint commits once, after every step succeeded and before
#   it returns: one place decides when the request's work is saved.
