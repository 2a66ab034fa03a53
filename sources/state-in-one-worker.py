# %% [markdown]
# # State lives in the database, not in a worker
#
# **The story.** For the holiday rush, the bookshop's server was given a second worker
# (`uvicorn shop:app --workers 2`). Since then support gets messages like this one: "I put
# *Kindred* in my cart. On the next page the cart was empty. I reloaded, and Kindred was back.
# At the checkout the cart was empty again." Nobody on the team can reproduce it on a laptop,
# where the shop runs with one worker. Nothing in the cart's code has changed.
#
# **You will learn**
# - that every worker is a process with a memory of its own, so a module-level dict (or
#   `app.state`, or a cache) exists once per worker;
# - why the bug appears only with several workers, or several containers, and never on a laptop;
# - how to keep what every worker must see in the database they share, and read it on every
#   request.
#
# Run the cells from the top (**Run → Run All Cells**), read the evidence, then make the check pass.

# %% tags=["setup"]
from checks import setup_notebook

setup_notebook()

# %% [markdown]
# ## The bookshop around the problem
#
# The app uses the shop's lifespan from "The engine belongs to the lifespan": it creates the
# database engine at startup and hands every request a `sessionmaker` through `request.state`.
# `Book` and `CartItem` are tables of the shop's database (one `CartItem` row per book a
# customer has put in their cart: `id`, `user_id`, `book_id`). `CartOut` is what the cart
# endpoints answer, and `books_by_id` turns a list of book ids into the books, in the same order.

# %%
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bookshop.db import lifespan
from bookshop.models import Book, CartItem
from bookshop.schemas import BookOut


class CartOut(BaseModel):
    user_id: int
    books: list[BookOut]


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.state.sessionmaker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


async def books_by_id(session: AsyncSession, book_ids: list[int]) -> list[BookOut]:
    """The books with these ids, in the order of the ids (an id given twice gives the book twice)."""
    found = {book.id: book for book in await session.scalars(select(Book).where(Book.id.in_(book_ids)))}
    return [BookOut.model_validate(found[book_id]) for book_id in book_ids if book_id in found]

# %% [markdown]
# ## The code under review
#
# The cart endpoints. A customer is named by their user id (logging in comes in other katas).
# Read the cell with two copies of it running side by side in mind: what does each copy know?

# %% tags=["kata", "starter"]
app = FastAPI(lifespan=lifespan)

CARTS: dict[int, list[int]] = {}  # each customer's cart: the ids of the books in it, in order


@app.post("/carts/{user_id}/books/{book_id}", status_code=201)
async def add_to_cart(user_id: int, book_id: int, session: SessionDep) -> CartOut:
    if await session.get(Book, book_id) is None:
        raise HTTPException(status_code=404, detail="Book not found")
    CARTS.setdefault(user_id, []).append(book_id)
    return CartOut(user_id=user_id, books=await books_by_id(session, CARTS[user_id]))


@app.get("/carts/{user_id}")
async def read_cart(user_id: int, session: SessionDep) -> CartOut:
    return CartOut(user_id=user_id, books=await books_by_id(session, CARTS.get(user_id, [])))

# %% tags=["kata", "solution"]
app = FastAPI(lifespan=lifespan)


async def cart_of(user_id: int, session: AsyncSession) -> CartOut:
    # Read from the database on every request: whichever worker wrote the rows, this one sees them.
    book_ids = await session.scalars(
        select(CartItem.book_id).where(CartItem.user_id == user_id).order_by(CartItem.id)
    )
    return CartOut(user_id=user_id, books=await books_by_id(session, list(book_ids)))


@app.post("/carts/{user_id}/books/{book_id}", status_code=201)
async def add_to_cart(user_id: int, book_id: int, session: SessionDep) -> CartOut:
    if await session.get(Book, book_id) is None:
        raise HTTPException(status_code=404, detail="Book not found")
    session.add(CartItem(user_id=user_id, book_id=book_id))
    await session.commit()  # committed before the answer: every worker sees it from now on
    return await cart_of(user_id, session)


@app.get("/carts/{user_id}")
async def read_cart(user_id: int, session: SessionDep) -> CartOut:
    return await cart_of(user_id, session)

# %% tags=["kata", "decoy:app-state"]
# "A module-level global is the problem: keep the carts on the app, in its state." It is still
# one dict per process: each worker builds its own app, with its own state.
from contextlib import asynccontextmanager


@asynccontextmanager
async def carts_lifespan(app: FastAPI):
    async with lifespan(app) as state:
        app.state.carts = {}
        yield state


app = FastAPI(lifespan=carts_lifespan)


@app.post("/carts/{user_id}/books/{book_id}", status_code=201)
async def add_to_cart(user_id: int, book_id: int, request: Request, session: SessionDep) -> CartOut:
    if await session.get(Book, book_id) is None:
        raise HTTPException(status_code=404, detail="Book not found")
    request.app.state.carts.setdefault(user_id, []).append(book_id)
    return CartOut(user_id=user_id, books=await books_by_id(session, request.app.state.carts[user_id]))


@app.get("/carts/{user_id}")
async def read_cart(user_id: int, request: Request, session: SessionDep) -> CartOut:
    return CartOut(user_id=user_id, books=await books_by_id(session, request.app.state.carts.get(user_id, [])))

# %% tags=["kata", "decoy:a-lock-around-the-dict"]
# "Two workers change the carts at the same time: guard the dict with a lock." A lock orders
# the tasks of one process; the other worker has its own dict, and its own lock.
import asyncio

app = FastAPI(lifespan=lifespan)

CARTS: dict[int, list[int]] = {}
CARTS_LOCK = asyncio.Lock()


@app.post("/carts/{user_id}/books/{book_id}", status_code=201)
async def add_to_cart(user_id: int, book_id: int, session: SessionDep) -> CartOut:
    if await session.get(Book, book_id) is None:
        raise HTTPException(status_code=404, detail="Book not found")
    async with CARTS_LOCK:
        CARTS.setdefault(user_id, []).append(book_id)
        book_ids = list(CARTS[user_id])
    return CartOut(user_id=user_id, books=await books_by_id(session, book_ids))


@app.get("/carts/{user_id}")
async def read_cart(user_id: int, session: SessionDep) -> CartOut:
    async with CARTS_LOCK:
        book_ids = list(CARTS.get(user_id, []))
    return CartOut(user_id=user_id, books=await books_by_id(session, book_ids))

# %% tags=["kata", "decoy:cache-in-front-of-the-database"]
# "Store the carts in the database, and keep a copy in memory so that reading a cart costs no
# query." The copy is the worker's own: once it has read a cart, it never sees what the other
# worker adds.
app = FastAPI(lifespan=lifespan)

CARTS: dict[int, list[int]] = {}  # a copy of each cart this worker has read


@app.post("/carts/{user_id}/books/{book_id}", status_code=201)
async def add_to_cart(user_id: int, book_id: int, session: SessionDep) -> CartOut:
    if await session.get(Book, book_id) is None:
        raise HTTPException(status_code=404, detail="Book not found")
    session.add(CartItem(user_id=user_id, book_id=book_id))
    await session.commit()
    CARTS.pop(user_id, None)  # this worker's copy is out of date: read it again next time
    return await read_cart(user_id, session)


@app.get("/carts/{user_id}")
async def read_cart(user_id: int, session: SessionDep) -> CartOut:
    if user_id not in CARTS:
        book_ids = await session.scalars(
            select(CartItem.book_id).where(CartItem.user_id == user_id).order_by(CartItem.id)
        )
        CARTS[user_id] = list(book_ids)
    return CartOut(user_id=user_id, books=await books_by_id(session, CARTS[user_id]))

# %% tags=["kata", "decoy:a-file-next-to-the-app"]
# "Memory dies with the worker: write the carts to a file." The file is in the worker's own
# folder; another container (or another machine) has its own, and two workers writing it at
# once lose each other's changes.
import json
from pathlib import Path

app = FastAPI(lifespan=lifespan)

CARTS_FILE = Path("carts.json")


def load_carts() -> dict[str, list[int]]:
    return json.loads(CARTS_FILE.read_text()) if CARTS_FILE.exists() else {}


@app.post("/carts/{user_id}/books/{book_id}", status_code=201)
async def add_to_cart(user_id: int, book_id: int, session: SessionDep) -> CartOut:
    if await session.get(Book, book_id) is None:
        raise HTTPException(status_code=404, detail="Book not found")
    carts = load_carts()
    carts.setdefault(str(user_id), []).append(book_id)
    CARTS_FILE.write_text(json.dumps(carts))
    return CartOut(user_id=user_id, books=await books_by_id(session, carts[str(user_id)]))


@app.get("/carts/{user_id}")
async def read_cart(user_id: int, session: SessionDep) -> CartOut:
    return CartOut(user_id=user_id, books=await books_by_id(session, load_carts().get(str(user_id), [])))

# %% tags=["kata", "decoy:commit-after-the-answer"]
# "The carts go to the database, and the session commits once the endpoint is done, so no
# endpoint can forget it." The commit runs after the 201 has been sent: the customer's next page,
# on either worker, can come before the book is in the database.
app = FastAPI(lifespan=lifespan)


async def committing_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.state.sessionmaker() as session:
        yield session
        await session.commit()


CommittingSession = Annotated[AsyncSession, Depends(committing_session)]


@app.post("/carts/{user_id}/books/{book_id}", status_code=201)
async def add_to_cart(user_id: int, book_id: int, session: CommittingSession) -> CartOut:
    if await session.get(Book, book_id) is None:
        raise HTTPException(status_code=404, detail="Book not found")
    session.add(CartItem(user_id=user_id, book_id=book_id))
    await session.flush()
    return await read_cart(user_id, session)


@app.get("/carts/{user_id}")
async def read_cart(user_id: int, session: SessionDep) -> CartOut:
    book_ids = await session.scalars(
        select(CartItem.book_id).where(CartItem.user_id == user_id).order_by(CartItem.id)
    )
    return CartOut(user_id=user_id, books=await books_by_id(session, list(book_ids)))

# %% tags=["kata", "decoy:every-book-in-the-shop"]
# "Nothing stored, nothing to get out of step": every worker answers the same cart, the whole shop.
app = FastAPI(lifespan=lifespan)


@app.post("/carts/{user_id}/books/{book_id}", status_code=201)
async def add_to_cart(user_id: int, book_id: int, session: SessionDep) -> CartOut:
    if await session.get(Book, book_id) is None:
        raise HTTPException(status_code=404, detail="Book not found")
    return await read_cart(user_id, session)


@app.get("/carts/{user_id}")
async def read_cart(user_id: int, session: SessionDep) -> CartOut:
    books = await session.scalars(select(Book).order_by(Book.id))
    return CartOut(user_id=user_id, books=[BookOut.model_validate(book) for book in books])

# %% tags=["kata", "decoy:every-customers-rows"]
# The database, read on every request, but without the customer in the query: every cart is all carts.
app = FastAPI(lifespan=lifespan)


async def cart_of(user_id: int, session: AsyncSession) -> CartOut:
    book_ids = await session.scalars(select(CartItem.book_id).order_by(CartItem.id))
    return CartOut(user_id=user_id, books=await books_by_id(session, list(book_ids)))


@app.post("/carts/{user_id}/books/{book_id}", status_code=201)
async def add_to_cart(user_id: int, book_id: int, session: SessionDep) -> CartOut:
    if await session.get(Book, book_id) is None:
        raise HTTPException(status_code=404, detail="Book not found")
    session.add(CartItem(user_id=user_id, book_id=book_id))
    await session.commit()
    return await cart_of(user_id, session)


@app.get("/carts/{user_id}")
async def read_cart(user_id: int, session: SessionDep) -> CartOut:
    return await cart_of(user_id, session)

# %% tags=["kata", "decoy:stored-before-the-refusal"]
# "Save first, so nothing is lost": the row is committed before the book is looked up, and stays
# there when the answer is 404 (the cart hides it: books_by_id skips ids the shop does not have).
app = FastAPI(lifespan=lifespan)


async def cart_of(user_id: int, session: AsyncSession) -> CartOut:
    book_ids = await session.scalars(
        select(CartItem.book_id).where(CartItem.user_id == user_id).order_by(CartItem.id)
    )
    return CartOut(user_id=user_id, books=await books_by_id(session, list(book_ids)))


@app.post("/carts/{user_id}/books/{book_id}", status_code=201)
async def add_to_cart(user_id: int, book_id: int, session: SessionDep) -> CartOut:
    session.add(CartItem(user_id=user_id, book_id=book_id))
    await session.commit()
    if await session.get(Book, book_id) is None:
        raise HTTPException(status_code=404, detail="Book not found")
    return await cart_of(user_id, session)


@app.get("/carts/{user_id}")
async def read_cart(user_id: int, session: SessionDep) -> CartOut:
    return await cart_of(user_id, session)

# %% tags=["kata", "alternative:core-statements"]
# SQLAlchemy Core statements instead of ORM objects: the rows are the same, in the same database.
from sqlalchemy import insert

app = FastAPI(lifespan=lifespan)


@app.post("/carts/{user_id}/books/{book_id}", status_code=201)
async def add_to_cart(user_id: int, book_id: int, session: SessionDep) -> CartOut:
    if await session.get(Book, book_id) is None:
        raise HTTPException(status_code=404, detail="Book not found")
    await session.execute(insert(CartItem).values(user_id=user_id, book_id=book_id))
    await session.commit()
    return await read_cart(user_id, session)


@app.get("/carts/{user_id}")
async def read_cart(user_id: int, session: SessionDep) -> CartOut:
    rows = await session.execute(
        select(Book).join(CartItem, CartItem.book_id == Book.id)
        .where(CartItem.user_id == user_id).order_by(CartItem.id)
    )
    return CartOut(user_id=user_id, books=[BookOut.model_validate(book) for book in rows.scalars()])

# %% tags=["kata", "alternative:sql-text"]
# Plain SQL with bound parameters: the database is the one store both workers share.
from sqlalchemy import text

app = FastAPI(lifespan=lifespan)


@app.post("/carts/{user_id}/books/{book_id}", status_code=201)
async def add_to_cart(user_id: int, book_id: int, session: SessionDep) -> CartOut:
    if await session.get(Book, book_id) is None:
        raise HTTPException(status_code=404, detail="Book not found")
    await session.execute(text("INSERT INTO cart_items (user_id, book_id) VALUES (:user, :book)"),
                          {"user": user_id, "book": book_id})
    await session.commit()
    return await read_cart(user_id, session)


@app.get("/carts/{user_id}")
async def read_cart(user_id: int, session: SessionDep) -> CartOut:
    book_ids = await session.scalars(
        text("SELECT book_id FROM cart_items WHERE user_id = :user ORDER BY id"), {"user": user_id}
    )
    return CartOut(user_id=user_id, books=await books_by_id(session, list(book_ids)))

# %% [markdown]
# The shop's other endpoints only read books, so they are not shown.
#
# ## The evidence
#
# The next cell writes the notebook's code to `shop.py` and starts it twice, as two processes on
# two ports, each in a folder of its own, both on the same database: worker A and worker B. That
# is what `--workers 2` does on one port (or two containers behind a load balancer), except that
# here the cell, not the kernel, chooses which worker gets each request. Alice puts Dune in her
# cart through worker A, then looks at her cart through each worker.

# %% tags=["evidence"]
import tempfile
from pathlib import Path

import httpx

from bookshop.client import describe
from checks.state_in_one_worker import two_workers

with tempfile.TemporaryDirectory(prefix="workers-") as folder, two_workers(globals(), Path(folder)) as workers:
    if workers.problem:
        print(f"The workers could not start: {workers.problem}")
    for worker, method, path in [("A", "POST", "/carts/1/books/3"), ("B", "GET", "/carts/1"),
                                 ("A", "GET", "/carts/1"), ("B", "GET", "/carts/1")]:
        if worker in workers.urls:
            response = httpx.request(method, workers.urls[worker] + path, timeout=10)
            print(f"worker {worker}: {method:<4} {path:<17} -> {describe(response, 110)}")

# %% [markdown]
# With the starter, worker A answers with Dune in the cart and worker B with an empty cart, as
# often as you ask: each process has its own `CARTS`. With `--workers 2` the kernel hands each
# new connection to one worker or the other, so the cart seems to come and go; with one worker,
# on a laptop, there is only one `CARTS`, and the bug cannot show.
#
# ## The check
#
# Run it. Each failing test says what it observed and why that matters in production. Fix the
# kata cell, run it again, then re-run this cell until every test passes.

# %% tags=["check"]
%%ipytest
from checks.state_in_one_worker import *

# %% [markdown]
# ## Hints
#
# Stuck? Each click opens one more level: a nudge, then the concept, then a sketch of
# the code. In a terminal, `kata hint state-in-one-worker` opens the same levels.

# %% [markdown] tags=["hint"]
# ### Hint 1: a nudge
#
# Two workers are two Python processes that run the same code. After `POST` through worker A,
# where is Alice's cart, and which process can read that place? Which place could both read?

# %% [markdown] tags=["hint"]
# ### Hint 2: the concept
#
# Each worker process imports the module itself, so every module-level object, `app.state`,
# lock and cache exists once per worker. State that every worker must see goes into a store
# outside the processes that they all share: for the shop, its database. Write it there before
# answering, and read it from there on every request; a copy kept in a worker is out of date as
# soon as another worker writes.
#
# Read: FastAPI, [Server Workers](https://fastapi.tiangolo.com/deployment/server-workers/);
# the Twelve-Factor App, [Processes](https://12factor.net/processes).

# %% [markdown] tags=["hint"]
# ### Hint 3: a sketch
#
# ```python
# @app.post("/carts/{user_id}/books/{book_id}", status_code=201)
# async def add_to_cart(user_id: int, book_id: int, session: SessionDep) -> CartOut:
#     ...  # 404 for an unknown book, as before
#     session.add(CartItem(user_id=user_id, book_id=book_id))
#     await session.commit()
#     return await read_cart(user_id, session)
#
# @app.get("/carts/{user_id}")
# async def read_cart(user_id: int, session: SessionDep) -> CartOut:
#     book_ids = ...  # the book_id of this customer's CartItem rows, ordered by id
#     return CartOut(user_id=user_id, books=await books_by_id(session, list(book_ids)))
# ```
# Delete `CARTS`.

# %% [markdown]
# ## The walkthrough

# %% [markdown] tags=["walkthrough"]
# ### The fix, step by step
#
# 1. **Find the state.** `CARTS` is a module-level dict. `uvicorn --workers 2` starts two
#    processes, and each one imports `shop.py` on its own: two `CARTS`, each filled only by the
#    requests its worker happened to receive. The same holds for `app.state`, for a lock, and for
#    any cache in memory: all are per process. Two containers behind a load balancer behave the
#    same way, and so does one worker after a restart (every deploy empties all the carts).
# 2. **Move it to the shared store.** The database is outside the processes and all of them
#    talk to it. Adding a book inserts a `CartItem` row and commits it before answering (see
#    "Commit before you answer"); reading the cart selects the customer's rows, on every request.
# 3. **Do not keep a copy.** A copy in a worker is stale as soon as another worker writes. If
#    reading the cart ever becomes too slow, the answer is an index, or a shared cache (Redis,
#    say) with an explicit rule for invalidation, not a dict in each worker.
#
# Why did it never show on a laptop? One worker means one `CARTS`, so everything looked right.
# That is why a check for this runs two processes: run your own tests against two, too, when
# state is involved. And why did the check not use `--workers 2`? With it, the kernel chooses
# which worker accepts each new connection, often the same one many times in a row: a test
# would pass or fail by chance. Two ports let the test choose.
#
# What may stay in a worker: things that are the same in every worker and never change while it
# runs (settings, the engine, a client), built in the lifespan. What may not: anything a request
# writes and another request reads.
#
# Read more: FastAPI, [Server Workers](https://fastapi.tiangolo.com/deployment/server-workers/)
# and [Deployment concepts](https://fastapi.tiangolo.com/deployment/concepts/); the
# Twelve-Factor App, [Processes](https://12factor.net/processes).
#
# ### What to remember
# - Every worker, replica and restart is a fresh process with its own memory: module globals,
#   `app.state` and in-memory caches are never shared.
# - What one request writes and another reads lives in a shared store (the database), written
#   before the answer and read on every request.
# - Test state with two processes: one process hides the bug.
