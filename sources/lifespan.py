# %% [markdown]
# # The engine belongs to the lifespan
#
# **The story.** The bookshop's API has served customers for a year. Its database engine is
# created at the top of `main.py`, and a `@app.on_event("startup")` handler loads the
# *featured books* shown on the home page. Last week someone added a `lifespan` function to log
# startup and shutdown. Since then `/featured` answers **500**, the tests keep talking to the
# wrong database, and every deploy leaves connections open. Nobody changed the startup handler.
#
# **You will learn**
# - why `@app.on_event` handlers silently stop running once the app has a `lifespan=`;
# - why an engine built at import time ignores the configuration a test or a server sets later,
#   and is never closed;
# - how a lifespan creates the engine, shares it with requests through its *state*, and
#   disposes of it on shutdown.
#
# Run the cells from the top (**Run → Run All Cells**), read the evidence, then make the check pass.

# %% tags=["setup"]
from checks import setup_notebook

setup_notebook()

# %% [markdown]
# ## The bookshop around the problem
#
# The models (`Book`), the response schema (`BookOut`) and `database_url()` come from the
# workbook's `bookshop` package. `database_url()` reads the `BOOKSHOP_DATABASE_URL` setting
# *when it is called*; each check points it at a fresh copy of the shop's database.

# %%
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from bookshop.db import database_url
from bookshop.models import Book
from bookshop.schemas import BookOut


async def featured_books(session: AsyncSession) -> list[BookOut]:
    """The three best-stocked books: computed once at startup, shown on the home page."""
    books = await session.scalars(select(Book).where(Book.stock > 0).order_by(Book.stock.desc(), Book.id).limit(3))
    return [BookOut.model_validate(book) for book in books]

# %% [markdown]
# ## The code under review
#
# This is the cell you will change. Read it first: where is the engine created, when does
# `load_featured` run, and who ever closes the engine?

# %% tags=["kata", "starter"]
engine = create_async_engine(database_url())  # built when this cell runs: at import time
Session = async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def lifespan(app: FastAPI):
    print("bookshop: starting")
    yield
    print("bookshop: stopped")


app = FastAPI(lifespan=lifespan)


@app.on_event("startup")
async def load_featured() -> None:
    async with Session() as session:
        app.state.featured = await featured_books(session)


async def get_session() -> AsyncIterator[AsyncSession]:
    async with Session() as session:
        yield session


def get_featured(request: Request) -> list[BookOut]:
    return request.app.state.featured

# %% tags=["kata", "solution"]
@asynccontextmanager
async def lifespan(app: FastAPI):
    # Everything the app needs is built here, when the server starts, from the settings of
    # that moment, and torn down here when it stops, even if a request failed meanwhile.
    engine = create_async_engine(database_url())
    try:
        sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
        async with sessionmaker() as session:
            featured = await featured_books(session)
        # What the lifespan yields becomes `request.state` in every request.
        yield {"sessionmaker": sessionmaker, "featured": featured}
    finally:
        await engine.dispose()


app = FastAPI(lifespan=lifespan)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.state.sessionmaker() as session:
        yield session


def get_featured(request: Request) -> list[BookOut]:
    return request.state.featured

# %% tags=["kata", "decoy:drop-the-lifespan"]
# "The handler stopped running when the lifespan came: remove the lifespan." It runs again,
# but the engine is still built at import time and never disposed, on a deprecated API.
engine = create_async_engine(database_url())
Session = async_sessionmaker(engine, expire_on_commit=False)

app = FastAPI()


@app.on_event("startup")
async def load_featured() -> None:
    async with Session() as session:
        app.state.featured = await featured_books(session)


async def get_session() -> AsyncIterator[AsyncSession]:
    async with Session() as session:
        yield session


def get_featured(request: Request) -> list[BookOut]:
    return request.app.state.featured

# %% tags=["kata", "decoy:engine-per-request"]
# "Build the engine late, where it is used." Late enough to see the right URL, but every
# request now builds a pool of its own and none is ever disposed.
@asynccontextmanager
async def lifespan(app: FastAPI):
    engine = create_async_engine(database_url())
    async with async_sessionmaker(engine)() as session:
        featured = await featured_books(session)
    yield {"featured": featured}


app = FastAPI(lifespan=lifespan)


async def get_session() -> AsyncIterator[AsyncSession]:
    engine = create_async_engine(database_url())
    async with async_sessionmaker(engine, expire_on_commit=False)() as session:
        yield session


def get_featured(request: Request) -> list[BookOut]:
    return request.state.featured

# %% tags=["kata", "decoy:session-never-closed"]
# "The lifespan owns the engine; the dependency just hands out sessions." It hands them out and
# never closes them: each request keeps its connection until the garbage collector finds it.
@asynccontextmanager
async def lifespan(app: FastAPI):
    engine = create_async_engine(database_url())
    try:
        sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
        async with sessionmaker() as session:
            featured = await featured_books(session)
        yield {"sessionmaker": sessionmaker, "featured": featured}
    finally:
        await engine.dispose()


app = FastAPI(lifespan=lifespan)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    yield request.state.sessionmaker()


def get_featured(request: Request) -> list[BookOut]:
    return request.state.featured

# %% tags=["kata", "decoy:dispose-without-closing"]
# "Dispose of the engine at shutdown, but don't wait on connections that may hang: close=False."
# The engine reports itself disposed, yet close=False only forgets the pooled connections: every
# one of them stays open until the garbage collector happens to find it.
@asynccontextmanager
async def lifespan(app: FastAPI):
    engine = create_async_engine(database_url())
    sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
    async with sessionmaker() as session:
        featured = await featured_books(session)
    try:
        yield {"sessionmaker": sessionmaker, "featured": featured}
    finally:
        await engine.dispose(close=False)


app = FastAPI(lifespan=lifespan)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.state.sessionmaker() as session:
        yield session


def get_featured(request: Request) -> list[BookOut]:
    return request.state.featured

# %% tags=["kata", "decoy:dispose-the-sync-engine"]
# "Disposing is a synchronous thing: call the engine underneath directly." The disposal event
# fires, but the sync engine cannot wait for the async driver: each close fails (SQLAlchemy only
# logs it) and every connection stays open.
@asynccontextmanager
async def lifespan(app: FastAPI):
    engine = create_async_engine(database_url())
    sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
    async with sessionmaker() as session:
        featured = await featured_books(session)
    try:
        yield {"sessionmaker": sessionmaker, "featured": featured}
    finally:
        engine.sync_engine.dispose()


app = FastAPI(lifespan=lifespan)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.state.sessionmaker() as session:
        yield session


def get_featured(request: Request) -> list[BookOut]:
    return request.state.featured

# %% tags=["kata", "decoy:featured-cached-on-first-visit"]
# "Nothing at startup at all: compute the featured books on the first visit and keep them." They
# are kept in the process, not in this start of the app: the next start (a reload, the next test)
# shows the books of whatever database the first visit saw.
@asynccontextmanager
async def lifespan(app: FastAPI):
    engine = create_async_engine(database_url())
    try:
        yield {"sessionmaker": async_sessionmaker(engine, expire_on_commit=False)}
    finally:
        await engine.dispose()


app = FastAPI(lifespan=lifespan)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.state.sessionmaker() as session:
        yield session


featured_cache: list[BookOut] = []


async def get_featured(request: Request) -> list[BookOut]:
    if not featured_cache:
        async with request.state.sessionmaker() as session:
            featured_cache.extend(await featured_books(session))
    return featured_cache

# %% tags=["kata", "decoy:load-in-the-background"]
# "Don't hold up the startup: load the featured books in a task of their own." The app reports
# itself started at once, and the first visitors get an empty home page until the task is done;
# if it fails, nobody hears of it.
import asyncio


@asynccontextmanager
async def lifespan(app: FastAPI):
    engine = create_async_engine(database_url())
    sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
    app.state.featured = []

    async def load() -> None:
        async with sessionmaker() as session:
            app.state.featured = await featured_books(session)

    asyncio.create_task(load())
    try:
        yield {"sessionmaker": sessionmaker}
    finally:
        await engine.dispose()


app = FastAPI(lifespan=lifespan)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.state.sessionmaker() as session:
        yield session


def get_featured(request: Request) -> list[BookOut]:
    return request.app.state.featured

# %% tags=["kata", "alternative:wrap-the-shop-lifespan"]
# The workbook's own lifespan already builds and disposes of the engine: wrap it, and add the
# startup work on top, passing its state on.
from bookshop.db import lifespan as shop_lifespan


@asynccontextmanager
async def lifespan(app: FastAPI):
    async with shop_lifespan(app) as state:
        async with state["sessionmaker"]() as session:
            featured = await featured_books(session)
        yield {**state, "featured": featured}


app = FastAPI(lifespan=lifespan)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.state.sessionmaker() as session:
        yield session


def get_featured(request: Request) -> list[BookOut]:
    return request.state.featured

# %% tags=["kata", "alternative:app-state"]
# Resources on `app.state`, set in the lifespan: older code and many guides do this. It is
# created and disposed in the right place, which is what matters here (lifespan state, the
# solution's way, also keeps two apps in one process apart).
@asynccontextmanager
async def lifespan(app: FastAPI):
    app.state.engine = create_async_engine(database_url())
    app.state.sessionmaker = async_sessionmaker(app.state.engine, expire_on_commit=False)
    async with app.state.sessionmaker() as session:
        app.state.featured = await featured_books(session)
    yield
    await app.state.engine.dispose()


app = FastAPI(lifespan=lifespan)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessionmaker() as session:
        yield session


def get_featured(request: Request) -> list[BookOut]:
    return request.app.state.featured

# %% [markdown]
# The endpoints only use the dependencies above, so they stay as they are while you fix the
# cell above.

# %%
SessionDep = Annotated[AsyncSession, Depends(get_session)]


@app.get("/books/{book_id}")
async def read_book(book_id: int, session: SessionDep) -> BookOut:
    book = await session.get(Book, book_id)
    if book is None:
        raise HTTPException(status_code=404, detail="Book not found")
    return BookOut.model_validate(book)


@app.get("/featured")
async def featured(books: Annotated[list[BookOut], Depends(get_featured)]) -> list[BookOut]:
    return books

# %% [markdown]
# ## The evidence
#
# The next cell starts the app the way a server does (startup, requests, shutdown) and watches
# the database engines from outside. Look at three things: the status of `/featured`, the
# startup handlers FastAPI registered but never ran, and what the app's shutdown left behind:
# engines never disposed, and database connections still open (asked of the database driver
# itself, after the app has stopped).

# %% tags=["evidence"]
from bookshop.client import describe, shop_client
from bookshop.observe import database_connections, engine_events

with engine_events("connect", "disposed") as events, database_connections() as connections:
    with shop_client(app) as client:
        home = client.get("/featured")
        book = client.get("/books/3")

served = {engine for kind, engine, _ in events if kind == "connect"}
disposed = {engine for kind, engine, _ in events if kind == "disposed"}
print(f"GET /featured -> {describe(home)}")
print(f"GET /books/3  -> {describe(book)}")
print(f"on_event startup handlers registered: {[h.__name__ for h in app.router.on_startup]}")
print(f"engines that served requests: {len(served)}; disposed at shutdown: {len(served & disposed)}")
print(f"database connections used: {len(connections.used)}; still open after shutdown: {len(connections.still_open())}")

# %% [markdown]
# With the starter you should see `/featured` answer 500, `load_featured` registered but never
# run, and one engine never disposed, its connection still open. The app still serves
# `/books/3`, which is why this kind of bug ships: the first thing anyone tries still works.
#
# ## The check
#
# Run it. Each failing test says what it observed and why that matters in production. Fix the
# kata cell, run it again (and the endpoints cell below it), then re-run this cell until every
# test passes.

# %% tags=["check"]
%%ipytest
from checks.lifespan import *

# %% [markdown]
# ## Hints
#
# Stuck? Each click opens one more level: a nudge, then the concept, then a sketch of
# the code. In a terminal, `kata hint lifespan` opens the same levels.

# %% [markdown] tags=["hint"]
# ### Hint 1: a nudge
#
# Count the places in the kata cell that start or stop something. FastAPI runs only one of the
# two ways an app can do work at startup: which one, when both are there? And which line ever
# closes the engine?

# %% [markdown] tags=["hint"]
# ### Hint 2: the concept
#
# Once `FastAPI(lifespan=...)` is given, the `on_event` handlers are never called, and FastAPI
# says nothing at startup (only a `DeprecationWarning` when the decorator is applied). An engine
# built when the cell runs is built from whatever `database_url()` said at that moment, so a
# check, a test or a server that configures the database later is ignored. The lifespan is the
# one place for the app's lifetime: build what the app needs before its `yield`, hand it to
# requests through the state it yields, and tear it down after the `yield`.
#
# Read: FastAPI, [Lifespan Events](https://fastapi.tiangolo.com/advanced/events/); Starlette,
# [Lifespan state](https://www.starlette.io/lifespan/).

# %% [markdown] tags=["hint"]
# ### Hint 3: a sketch
#
# ```python
# @asynccontextmanager
# async def lifespan(app: FastAPI):
#     engine = create_async_engine(database_url())
#     try:
#         sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
#         ...  # load the featured books with a session from sessionmaker
#         yield {"sessionmaker": sessionmaker, "featured": ...}
#     finally:
#         await engine.dispose()
#
# async def get_session(request: Request):
#     async with request.state.sessionmaker() as session:
#         yield session
# ```
# Delete the module-level `engine` and `Session`, and the `on_event` handler.

# %% [markdown]
# ## The walkthrough

# %% [markdown] tags=["walkthrough"]
# ### The fix, step by step
#
# 1. **One place for the app's lifetime.** FastAPI (through Starlette) either runs your
#    `lifespan` or the legacy `on_event` handlers, never both. `on_event` is deprecated; the
#    lifespan is a single async context manager, so setup and teardown sit side by side and a
#    `try/finally` guarantees the teardown.
# 2. **Build resources at startup, not at import.** Importing a module should not open pools or
#    read configuration that may not be final yet. Inside the lifespan the engine is built from
#    the URL in force when the server (or the test) starts the app.
# 3. **Hand resources to requests through lifespan state.** The dict you `yield` is copied into
#    every request's `request.state`. Dependencies read it there, so tests and servers each get
#    their own engine, with no globals.
# 4. **Dispose on shutdown.** `await engine.dispose()` closes the pool's connections. With the
#    module-level engine nobody did, and each test run or reload leaked a pool. Await it on the
#    async engine itself: `engine.sync_engine.dispose()` reports a disposal but cannot wait for
#    the async driver, so each close fails (SQLAlchemy only logs it) and the connections stay
#    open; `dispose(close=False)` only forgets them. The check asks the driver, after shutdown,
#    whether each connection the app used is still open.
#
# 5. **Give every session back.** `async with sessionmaker() as session: yield session` closes
#    the session when the request is done, on success and on error, and closing returns its
#    connection to the pool. A dependency that only `yield`s `sessionmaker()` keeps each
#    connection until the garbage collector finds the session: under load, the pool runs dry.
#
# Why not keep `on_event` and drop the lifespan? It runs again, but the engine is still built at
# import and never closed, and you are building on an API that FastAPI keeps only for
# compatibility. Why not create the engine inside `get_session`? Then every request builds a
# new pool, and none of them is ever disposed.
#
# Why not compute the featured books on the first visit and keep them in a module-level list?
# That list belongs to the process, not to this start of the app: the next start (a reload, the
# next test, a start on another database) shows the books the first visit saw. The check starts
# the app twice, on two databases. Why not load them in a task of their own, "so that startup is
# not held up"? The app reports itself started before the list exists, the first visitors get an
# empty home page, and if the task fails nobody hears of it. Startup work that requests depend
# on is finished before the lifespan's `yield`.
#
# **One app, one lifespan, built up in layers.** The workbook's `bookshop.db.lifespan` is this
# fix, packaged: it builds the engine, yields `{"engine": ..., "sessionmaker": ...}`, and
# disposes of the engine on the way out. The next katas start from it. To add startup work of
# your own, wrap it and pass its state on:
#
# ```python
# @asynccontextmanager
# async def lifespan(app: FastAPI):
#     async with shop_lifespan(app) as state:          # the engine is built here...
#         featured = ...                                # ...your startup work uses it...
#         yield {**state, "featured": featured}         # ...requests get both...
#     # ...and leaving the `async with` disposes of the engine, after your own teardown.
# ```
#
# The section below the walkthrough runs exactly this, so you can see the layers at work.
#
# Read more: FastAPI, [Lifespan Events](https://fastapi.tiangolo.com/advanced/events/);
# Starlette, [Lifespan state](https://www.starlette.io/lifespan/); SQLAlchemy,
# [Using asyncio with engines](https://docs.sqlalchemy.org/en/21/orm/extensions/asyncio.html).
#
# ### What to remember
# - `FastAPI(lifespan=...)` and `@app.on_event` do not mix: with a lifespan, `on_event`
#   handlers are skipped without a word. Use the lifespan only.
# - Create engines, clients and caches in the lifespan, from the configuration in force at
#   startup; `yield` them as state; dispose of them after the `yield`.
# - Import time is for definitions, not connections.

# %% [markdown]
# ## Building on a lifespan you did not write
#
# Later katas start from the shop's own lifespan, `bookshop.db.lifespan`, and add their own
# startup work on top. The next cell shows how the layers behave: the outer lifespan wraps the
# shop's, adds a value to the state it passes on, and both teardowns run, innermost last.

# %% tags=["evidence"]
from bookshop.db import lifespan as shop_lifespan

layers = []


@asynccontextmanager
async def layered(app: FastAPI):
    async with shop_lifespan(app) as state:
        layers.append(f"the shop's lifespan yielded {sorted(state)}")
        yield {**state, "greeting": "hello from the outer layer"}
        layers.append("the outer layer tears down first")
    layers.append("then the shop's lifespan disposed of the engine")


demo = FastAPI(lifespan=layered)


@demo.get("/state")
async def state_seen(request: Request) -> dict:
    return {"greeting": request.state.greeting, "has_sessionmaker": hasattr(request.state, "sessionmaker")}


with engine_events("disposed") as disposals, shop_client(demo) as client:
    print(f"GET /state -> {describe(client.get('/state'))}")
print("\n".join(layers))
print(f"engines disposed: {len(disposals)}")
