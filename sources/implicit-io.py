# %% [markdown]
# # No implicit I/O in the async ORM
#
# **The story.** The shop is adding an authors page: `GET /authors` lists every author with
# their books, and `POST /authors` lets staff add an author, answering the author as saved.
# Both endpoints look finished: the query runs, the commit succeeds. Yet both answer `500`,
# and the server log shows `MissingGreenlet: greenlet_spawn has not been called`, raised from
# inside FastAPI, after the endpoint had returned. The colleague who found a fix for the list
# ("load each author's books before returning") got the page working on their laptop; on the
# staging copy of the catalogue, with its thousands of authors, the page takes seconds.
#
# **You will learn**
# - why, under asyncio, SQLAlchemy refuses to load a relationship (or an expired attribute) when
#   you merely read it, and why the error surfaces in FastAPI's serialisation;
# - why a commit expires what the session loaded, and what `expire_on_commit=False` changes;
# - what the *N+1 query problem* is, and how an eager loader fetches a relationship for every row
#   in a fixed number of statements;
# - how to make implicit loading an error you see in development.
#
# Run the cells from the top (**Run → Run All Cells**), read the evidence, then make the check pass.

# %% tags=["setup"]
from checks import setup_notebook

setup_notebook()

# %% [markdown]
# ## The bookshop around the problem
#
# `bookshop.models.Author` has a relationship `Author.books` (and `Book.author` the other way),
# loaded the default way: *lazily*, the first time the attribute is read. The answer of the
# authors page nests each author's books, so building it reads `author.books` for every author.
# `database_url()` is the shop's database, read when the app starts.

# %%
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from bookshop.db import database_url
from bookshop.models import Author, Book


class BookSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str


class AuthorOut(BaseModel):
    """An author as the authors page shows it: with their books."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    books: list[BookSummary]


class AuthorIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)

# %% [markdown]
# ## The code under review
#
# Two cells, both under review. The first sets up the app, its sessions, and adding an author.
# Read it first: after `session.commit()`, what does the session still know about `author`?

# %% tags=["kata", "starter"]
@asynccontextmanager
async def lifespan(app: FastAPI):
    engine = create_async_engine(database_url())
    try:
        yield {"sessionmaker": async_sessionmaker(engine)}
    finally:
        await engine.dispose()


app = FastAPI(lifespan=lifespan)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.state.sessionmaker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


@app.post("/authors", status_code=201, response_model=AuthorOut)
async def add_author(new: AuthorIn, session: SessionDep):
    author = Author(name=new.name)
    session.add(author)
    await session.commit()
    return author

# %% tags=["kata", "solution"]
@asynccontextmanager
async def lifespan(app: FastAPI):
    engine = create_async_engine(database_url())
    try:
        # After a commit, objects keep the values they had: reading them needs no query.
        yield {"sessionmaker": async_sessionmaker(engine, expire_on_commit=False)}
    finally:
        await engine.dispose()


app = FastAPI(lifespan=lifespan)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.state.sessionmaker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


@app.post("/authors", status_code=201, response_model=AuthorOut)
async def add_author(new: AuthorIn, session: SessionDep):
    # A new author has no books: say so, and there is nothing left to load.
    author = Author(name=new.name, books=[])
    session.add(author)
    await session.commit()
    return author

# %% tags=["kata", "decoy:expire-on-commit-only"]
# "The commit expired the author: keep its values after the commit, and it can be read."
# Its id and name can. But its books were never loaded in the first place (a new object's
# collection is loaded on first read, like any other), so reading them is still a query.
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


SessionDep = Annotated[AsyncSession, Depends(get_session)]


@app.post("/authors", status_code=201, response_model=AuthorOut)
async def add_author(new: AuthorIn, session: SessionDep):
    author = Author(name=new.name)
    session.add(author)
    await session.commit()
    return author

# %% tags=["kata", "decoy:refresh-after-commit"]
# "The commit expired the author: refresh it." A refresh reloads its columns, in an awaited
# query. Relationships are not among what a plain refresh loads, so the books still are not.
@asynccontextmanager
async def lifespan(app: FastAPI):
    engine = create_async_engine(database_url())
    try:
        yield {"sessionmaker": async_sessionmaker(engine)}
    finally:
        await engine.dispose()


app = FastAPI(lifespan=lifespan)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.state.sessionmaker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


@app.post("/authors", status_code=201, response_model=AuthorOut)
async def add_author(new: AuthorIn, session: SessionDep):
    author = Author(name=new.name)
    session.add(author)
    await session.commit()
    await session.refresh(author)
    return author

# %% tags=["kata", "alternative:refresh-what-the-answer-reads"]
# Keep the default sessionmaker, and after the commit load, in one awaited call, every
# attribute the answer reads: the columns and the books.
@asynccontextmanager
async def lifespan(app: FastAPI):
    engine = create_async_engine(database_url())
    try:
        yield {"sessionmaker": async_sessionmaker(engine)}
    finally:
        await engine.dispose()


app = FastAPI(lifespan=lifespan)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.state.sessionmaker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


@app.post("/authors", status_code=201, response_model=AuthorOut)
async def add_author(new: AuthorIn, session: SessionDep):
    author = Author(name=new.name)
    session.add(author)
    await session.commit()
    await session.refresh(author, ["id", "name", "books"])
    return author

# %% tags=["kata", "alternative:the-shop-lifespan"]
# The shop's own lifespan (from "The engine belongs to the lifespan") already builds its
# sessionmaker with `expire_on_commit=False`; the answer is built from known values.
from bookshop.db import lifespan as shop_lifespan

app = FastAPI(lifespan=shop_lifespan)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.state.sessionmaker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


@app.post("/authors", status_code=201, response_model=AuthorOut)
async def add_author(new: AuthorIn, session: SessionDep):
    author = Author(name=new.name)
    session.add(author)
    await session.commit()
    return AuthorOut(id=author.id, name=author.name, books=[])

# %% [markdown]
# The second cell is the authors page. Read it: which attributes will FastAPI read from each
# author when it builds the answer, and which of them did the query load?

# %% tags=["kata", "starter"]
@app.get("/authors", response_model=list[AuthorOut])
async def list_authors(session: SessionDep):
    authors = await session.scalars(select(Author).order_by(Author.id))
    return authors.all()

# %% tags=["kata", "solution"]
from sqlalchemy.orm import selectinload


@app.get("/authors", response_model=list[AuthorOut])
async def list_authors(session: SessionDep):
    # The books of every author come with the query: one more statement
    # (SELECT ... FROM books WHERE author_id IN (...)), however many authors there are.
    statement = select(Author).options(selectinload(Author.books)).order_by(Author.id)
    authors = await session.scalars(statement)
    return authors.all()

# %% tags=["kata", "decoy:refresh-in-a-loop"]
# "The books were not loaded, so load them, with an awaited refresh." It works, and costs a
# query for every author (two, in fact): the N+1 query problem.
@app.get("/authors", response_model=list[AuthorOut])
async def list_authors(session: SessionDep):
    authors = (await session.scalars(select(Author).order_by(Author.id))).all()
    for author in authors:
        await session.refresh(author, ["books"])
    return authors

# %% tags=["kata", "decoy:awaitable-attrs-in-a-loop"]
# "SQLAlchemy's docs say: await the attribute." `awaitable_attrs` makes the lazy load an
# explicit await, which is allowed, and it still is one query per author.
@app.get("/authors", response_model=list[AuthorOut])
async def list_authors(session: SessionDep):
    authors = (await session.scalars(select(Author).order_by(Author.id))).all()
    for author in authors:
        await author.awaitable_attrs.books
    return authors

# %% tags=["kata", "decoy:lazy-load-in-run-sync"]
# "Lazy loading works in synchronous code: run the loading there." `run_sync` allows it, so the
# error is gone, and every author still costs a query of its own.
def authors_with_books(sync_session):
    authors = sync_session.scalars(select(Author).order_by(Author.id)).all()
    for author in authors:
        author.books  # a lazy load, allowed here
    return authors


@app.get("/authors", response_model=list[AuthorOut])
async def list_authors(session: SessionDep):
    return await session.run_sync(authors_with_books)

# %% tags=["kata", "decoy:join-the-books"]
# "Join the books into the query and tell SQLAlchemy the join fills `author.books`." One
# statement, every book loaded. But an inner join keeps only the authors who have a book: an
# author added this morning, with none yet, disappears from the page.
from sqlalchemy.orm import contains_eager


@app.get("/authors", response_model=list[AuthorOut])
async def list_authors(session: SessionDep):
    statement = select(Author).join(Author.books).options(contains_eager(Author.books)).order_by(Author.id)
    authors = await session.scalars(statement)
    return authors.unique().all()

# %% tags=["kata", "alternative:joinedload"]
# One statement: authors LEFT OUTER JOIN books. The rows repeat each author once per book,
# so the result must be made unique (SQLAlchemy refuses otherwise).
from sqlalchemy.orm import joinedload


@app.get("/authors", response_model=list[AuthorOut])
async def list_authors(session: SessionDep):
    statement = select(Author).options(joinedload(Author.books)).order_by(Author.id)
    authors = await session.scalars(statement)
    return authors.unique().all()

# %% tags=["kata", "alternative:group-by-hand"]
# Two plain queries, grouped in Python: no relationship is read at all.
@app.get("/authors", response_model=list[AuthorOut])
async def list_authors(session: SessionDep):
    authors = (await session.scalars(select(Author).order_by(Author.id))).all()
    books = (await session.scalars(select(Book).order_by(Book.id))).all()
    by_author: dict[int, list[BookSummary]] = {author.id: [] for author in authors}
    for book in books:
        by_author.setdefault(book.author_id, []).append(BookSummary.model_validate(book))
    return [AuthorOut(id=author.id, name=author.name, books=by_author[author.id]) for author in authors]

# %% [markdown]
# ## The evidence
#
# The next cell asks for the authors page with the 4 authors of the shop, adds 50 more (each
# with a book), and asks again, counting the SQL statements each request sent
# (`engine_events("sql")`, one of the workbook's spies). Then it adds an author. Under each
# failure it prints what the server raised. At the end it removes what it added.

# %% tags=["evidence"]
import re
import warnings

from bookshop.client import describe, shop_client
from bookshop.observe import engine_events, run_sql


def cleanup() -> None:  # the same start on every run: the 4 authors of the seed, nothing more
    run_sql(database_url(), "DELETE FROM books WHERE author_id > 4", "DELETE FROM authors WHERE id > 4")


def add_authors(count: int) -> None:
    run_sql(database_url(), *(statement for n in range(1, count + 1) for statement in (
        f"INSERT INTO authors (id, name) VALUES ({100 + n}, 'Author {n}')",
        f"INSERT INTO books (id, isbn, title, author_id, price_cents, stock) "
        f"VALUES ({1000 + n}, '{9790000000000 + n}', 'The Book of Author {n}', {100 + n}, 999, 1)")))


def raised(client, before: int) -> str:
    for error in client.server_errors[before:]:
        text = str(error)
        found = re.search(r"\((sqlalchemy\.exc\.\w+)\) ([^\n\\\"]+)", text)
        where = re.findall(r"'loc': \(([^)]*)\)", text)
        cause = f"{found.group(1)}: {found.group(2)}" if found else text.splitlines()[0][:100]
        return f"        server raised {type(error).__name__} at {where[0] if where else '?'}: {cause}"
    return ""


cleanup()
# A refused lazy load leaves an unawaited coroutine behind, and Python warns about it when it is
# collected: the same failure again, so the warning is kept out of this table.
print(f"{'authors in the shop':>20} | GET /authors answered | SQL statements sent")
with warnings.catch_warnings(), shop_client(app) as client:
    warnings.filterwarnings("ignore", "coroutine .* was never awaited", RuntimeWarning)
    for count in (4, 54):
        if count == 54:
            add_authors(50)
        before = len(client.server_errors)
        with engine_events("sql") as log:
            page = client.get("/authors")
        print(f"{count:>20} | {page.status_code:<21} | {len(log)}")
        if error := raised(client, before):
            print(error)
    before = len(client.server_errors)
    added = client.post("/authors", json={"name": "N. K. Jemisin"})
    print(f"\nPOST /authors -> {describe(added)}")
    if error := raised(client, before):
        print(error)
cleanup()

# %% [markdown]
# With the starter, both requests to the authors page answer 500 after a single statement: the
# query for the authors ran, and the books were never asked for. FastAPI, building the JSON,
# read `books` from the first author; SQLAlchemy would have had to run a query right there,
# inside a plain attribute access, and under asyncio it cannot, so it raised `MissingGreenlet`
# ("Was IO attempted in an unexpected place?"), which FastAPI reports as a
# `ResponseValidationError`. The new author is saved (the commit succeeded), but the commit
# also *expired* it, so even its `id` and `name` need a query to be read: 500 again.
#
# ## The check
#
# Run it. Each failing test says what it observed and why that matters in production. Fix the
# kata cells, run them again (and the cells under them), then re-run this cell until every
# test passes.

# %% tags=["check"]
%%ipytest
from checks.implicit_io import *

# %% [markdown]
# ## Hints
#
# Stuck? Each click opens one more level: a nudge, then the concept, then a sketch of
# the code. In a terminal, `kata hint implicit-io` opens the same levels.

# %% [markdown] tags=["hint"]
# ### Hint 1: a nudge
#
# The error is raised while FastAPI reads attributes, after your code has returned: at that
# point nothing can `await`. So whatever the answer reads must already be in memory when the
# endpoint returns. For the list: how could *one* query bring the books of every author at
# once? For the new author: what did the commit do to the values the session held, and what
# are its books?

# %% [markdown] tags=["hint"]
# ### Hint 2: the concept
#
# SQLAlchemy's asyncio extension does no I/O behind an attribute access: a lazy relationship
# or an expired column read outside an `await` raises `MissingGreenlet`. Two things cause it
# here. *Lazy loading*: `Author.books` is loaded on first read, unless the query says to load
# it eagerly, with a *loader option* such as `selectinload` (one extra `SELECT ... WHERE
# author_id IN (...)` for all the authors) or `joinedload` (a `JOIN` in the same statement).
# Loading it in a loop, whichever way, is the *N+1 query problem*. *Expiry*: by default a
# commit expires every object in the session (`expire_on_commit=True`), so reading anything
# afterwards means a query; a sessionmaker made with `expire_on_commit=False` keeps the values.
#
# Read: SQLAlchemy, [Asynchronous I/O: preventing implicit IO](https://docs.sqlalchemy.org/en/21/orm/extensions/asyncio.html#preventing-implicit-io-when-using-asyncsession)
# and [Relationship Loading Techniques](https://docs.sqlalchemy.org/en/21/orm/queryguide/relationships.html).

# %% [markdown] tags=["hint"]
# ### Hint 3: a sketch
#
# ```python
# yield {"sessionmaker": async_sessionmaker(engine, expire_on_commit=False)}
# ...
# author = Author(name=new.name, books=[])   # a new author has no books
#
# from sqlalchemy.orm import selectinload
# statement = select(Author).options(selectinload(Author.books)).order_by(Author.id)
# ```

# %% [markdown]
# ## The walkthrough

# %% [markdown] tags=["walkthrough"]
# ### The fix, step by step
#
# 1. **Load the relationship with the query.** `select(Author).options(selectinload(Author.books))`
#    sends the authors' query, then one `SELECT ... FROM books WHERE books.author_id IN (...)`
#    for all of them, and fills every `author.books` before the endpoint returns: two
#    statements for 4 authors and for 54. `joinedload(Author.books)` does it in one statement
#    with a `LEFT OUTER JOIN` (call `.unique()` on the result: each author comes back once per
#    book); `selectinload` is the usual choice for collections.
# 2. **Keep values after the commit.** A sessionmaker made with `expire_on_commit=False` (as the
#    shop's lifespan does) leaves the committed objects as they were, so the answer can be built
#    from them. With the default, reload what the answer reads in one awaited call:
#    `await session.refresh(author, ["id", "name", "books"])`.
# 3. **Say what a new object's collections hold.** A collection you never set is loaded on first
#    read, even on a new object. A new author has no books: `Author(name=..., books=[])`.
#
# Why not `await session.refresh(author, ["books"])` or `await author.awaitable_attrs.books` in a
# loop over the authors? Each is allowed, because it is awaited, and each is a query per author:
# the evidence counts them. `run_sync` with a lazy load inside is the same loop, moved to
# synchronous code. Why not `select(Author).join(Author.books)` with `contains_eager`? One
# statement, but an inner join keeps only the authors who have a book: a new author vanishes
# from the page (`joinedload` uses an outer join for exactly that reason). Why not a plain
# `await session.refresh(author)` after the commit? A refresh reloads the columns, not the
# relationships you did not name.
#
# **Make implicit loads loud.** `lazy="raise"` on a relationship, or the `raiseload("*")`
# option on a query, turns every load you did not ask for into an immediate
# `InvalidRequestError`, in synchronous code as well as async, in development as in
# production, instead of an N+1 that nobody notices or a `MissingGreenlet` far from its cause.
# The section below the walkthrough shows it.
#
# Read more: SQLAlchemy, [Asynchronous I/O (asyncio)](https://docs.sqlalchemy.org/en/21/orm/extensions/asyncio.html),
# [Relationship Loading Techniques](https://docs.sqlalchemy.org/en/21/orm/queryguide/relationships.html),
# [Session basics: committing](https://docs.sqlalchemy.org/en/21/orm/session_basics.html#committing);
# FastAPI, [SQL (Relational) Databases](https://fastapi.tiangolo.com/tutorial/sql-databases/).
#
# ### What to remember
# - Under async SQLAlchemy, nothing may load behind an attribute access: what the answer reads
#   must be loaded before the endpoint returns.
# - Load relationships in the query (`selectinload`, `joinedload`), never one row at a time.
# - Count the statements a request sends, with more rows than a test usually has: N+1 hides in
#   small databases.
# - `expire_on_commit=False` for sessions whose objects are read after the commit.
# - `raiseload("*")` / `lazy="raise"` make any load you did not ask for an error you see.

# %% [markdown]
# ## Making implicit loads an error you see
#
# The next cell loads one author with the `raiseload("*")` option, then reads its books: once
# in async code, once in synchronous code through `run_sync`, where a lazy load would otherwise
# simply run a query. Both times the read raises at once, naming the attribute.

# %% tags=["evidence"]
from sqlalchemy.orm import raiseload

LOUD = select(Author).options(raiseload("*")).order_by(Author.id).limit(1)


def read_books_in_sync_code(sync_session):
    return sync_session.scalars(LOUD).first().books


engine = create_async_engine(database_url())
try:
    async with async_sessionmaker(engine)() as session:
        for where, read in (("in async code", None), ("in sync code (run_sync)", read_books_in_sync_code)):
            try:
                if read is None:
                    (await session.scalars(LOUD)).first().books
                else:
                    await session.run_sync(read)
            except Exception as error:
                print(f"author.books, {where}: {type(error).__name__}: {error}")
finally:
    await engine.dispose()
