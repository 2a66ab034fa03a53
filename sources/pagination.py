# %% [markdown]
# # Bounded pages in a stable order
#
# **The story.** The mobile app has a "New arrivals" screen: the books the shop added most
# recently, newest first, a few at a time. It calls `GET /books/new?limit=10` and gets
# `{"books": [...], "next": "<URL of the next page>"}`; when the reader scrolls to the end it
# simply calls the `next` URL, until `next` is `null`. That is the whole contract: the app never
# builds a URL itself, it follows `next`. The API promises pages of at most 100 books; a larger
# `limit` is refused with `422`.
#
# Three reports came in the same week. The screen opens on *The Left Hand of Darkness*, the
# shop's oldest book. A reader who scrolled while the staff withdrew a book never saw
# *Dune Messiah* at all. And the database team found `?limit=1000000` in the logs: one call, the
# whole table. A colleague's first fix sorted the query newest first; the next day a tester who
# scrolled while a book was being added saw one book twice.
#
# **You will learn**
# - why a query without `ORDER BY` has no order you can rely on, and why the order of a page
#   needs a key that is unique;
# - why an offset (`skip the first 20`) counts rows that can move between two requests, and how
#   a cursor (`the books older than the last one you saw`) cannot skip or repeat one;
# - how to bound a query parameter so that FastAPI refuses what the API does not serve.
#
# Run the cells from the top (**Run → Run All Cells**), read the evidence, then make the check pass.

# %% tags=["setup"]
from checks import setup_notebook

setup_notebook()

# %% [markdown]
# ## The bookshop around the problem
#
# The app uses the workbook's `lifespan`, the one "The engine belongs to the lifespan" ends
# with: it creates the engine at startup and hands every request a `sessionmaker` through
# `request.state`. The shop numbers its books as they arrive, so **a higher `id` is a newer
# book**; `Book.added_on` is the day the book arrived, which the app shows under each title.
# Several books often arrive on the same day. In the seeded shop:
#
# | id | title | added_on |
# | --- | --- | --- |
# | 8, 7 | *Exhalation*, *Stories of Your Life and Others* | 2025-11-18 |
# | 6, 5 | *Parable of the Sower*, *Kindred* | 2025-11-04 |
# | 4 | *Dune Messiah* | 2025-10-21 |
# | 3, 2 | *Dune*, *The Dispossessed* | 2025-10-07 |
# | 1 | *The Left Hand of Darkness* | 2025-09-02 |
#
# `NewBook` is one entry of the screen and `NewArrivals` one page of it.

# %%
from collections.abc import AsyncIterator
from datetime import date
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bookshop.db import lifespan
from bookshop.models import Book


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.state.sessionmaker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


class NewBook(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    added_on: date


class NewArrivals(BaseModel):
    books: list[NewBook]
    next: str | None  # the URL of the next page; None on the last one

# %% [markdown]
# ## The code under review
#
# This is the cell you will change. Read it first: in which order does the query return the
# books, how does the next page know where to start, and what is the largest page it serves?

# %% tags=["kata", "starter"]
app = FastAPI(lifespan=lifespan)


@app.get("/books/new")
async def new_arrivals(request: Request, session: SessionDep, limit: int = 20, offset: int = 0) -> NewArrivals:
    rows = await session.scalars(select(Book).offset(offset).limit(limit))
    books = [NewBook.model_validate(row) for row in rows]
    following = request.url.include_query_params(limit=limit, offset=offset + limit)
    return NewArrivals(books=books, next=str(following) if len(books) == limit else None)

# %% tags=["kata", "solution"]
app = FastAPI(lifespan=lifespan)


@app.get("/books/new")
async def new_arrivals(
    request: Request,
    session: SessionDep,
    # FastAPI refuses anything outside 1..100 with a 422, before the endpoint runs.
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    # The cursor: the id of the last book the client has seen. None on the first page.
    before: Annotated[int | None, Query(ge=1)] = None,
) -> NewArrivals:
    # A total order on a unique key: newest first, and no two books ever tie.
    query = select(Book).order_by(Book.id.desc())
    if before is not None:
        # Keyset: "the books older than the last one you saw". A book added or removed
        # meanwhile cannot move the start of the next page.
        query = query.where(Book.id < before)
    rows = list(await session.scalars(query.limit(limit + 1)))  # one more: is there a next page?
    books = [NewBook.model_validate(row) for row in rows[:limit]]
    following = None
    if len(rows) > limit:
        following = str(request.url.include_query_params(limit=limit, before=books[-1].id))
    return NewArrivals(books=books, next=following)

# %% tags=["kata", "decoy:order-by-with-offset"]
# "The order was the bug: sort newest first, and cap the limit." The order is right now, and so
# is the cap, but the next page still starts "after the first N rows". A book added at the top
# while a reader scrolls pushes every row down by one: the last book of a page comes back at
# the top of the next. A book removed pulls them up: one is never shown.
app = FastAPI(lifespan=lifespan)


@app.get("/books/new")
async def new_arrivals(
    request: Request,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> NewArrivals:
    query = select(Book).order_by(Book.id.desc()).offset(offset).limit(limit)
    books = [NewBook.model_validate(row) for row in await session.scalars(query)]
    following = request.url.include_query_params(limit=limit, offset=offset + limit)
    return NewArrivals(books=books, next=str(following) if len(books) == limit else None)

# %% tags=["kata", "decoy:silent-cap"]
# "Nobody needs more than 100: serve 100 when they ask for more." The database is safe, but the
# client asked for a million and got 100 without a word. The API promises a 422: a client that
# relies on the page size it asked for cannot tell it was cut.
app = FastAPI(lifespan=lifespan)


@app.get("/books/new")
async def new_arrivals(request: Request, session: SessionDep, limit: int = 20, before: int | None = None) -> NewArrivals:
    limit = max(1, min(limit, 100))
    query = select(Book).order_by(Book.id.desc())
    if before is not None:
        query = query.where(Book.id < before)
    rows = list(await session.scalars(query.limit(limit + 1)))
    books = [NewBook.model_validate(row) for row in rows[:limit]]
    following = None
    if len(rows) > limit:
        following = str(request.url.include_query_params(limit=limit, before=books[-1].id))
    return NewArrivals(books=books, next=following)

# %% tags=["kata", "decoy:cursor-on-the-arrival-day"]
# "Newest first means by arrival day, and the cursor is the day of the last book seen." The
# day is not unique: the next page asks for the books that arrived *before* that day, and the
# books that arrived on the same day as the last one shown, but did not fit on the page, are
# never shown.
app = FastAPI(lifespan=lifespan)


@app.get("/books/new")
async def new_arrivals(
    request: Request,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    before: date | None = None,
) -> NewArrivals:
    query = select(Book).order_by(Book.added_on.desc())
    if before is not None:
        query = query.where(Book.added_on < before)
    rows = list(await session.scalars(query.limit(limit + 1)))
    books = [NewBook.model_validate(row) for row in rows[:limit]]
    following = None
    if len(rows) > limit:
        following = str(request.url.include_query_params(limit=limit, before=books[-1].added_on.isoformat()))
    return NewArrivals(books=books, next=following)

# %% tags=["kata", "decoy:cursor-without-an-order"]
# "A cursor instead of an offset: the next page starts after the last id seen." Without an
# ORDER BY, SQLite walks the table in its own order, which here is the oldest first: the screen
# of new arrivals opens on the oldest book in the shop.
app = FastAPI(lifespan=lifespan)


@app.get("/books/new")
async def new_arrivals(
    request: Request,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    after: int = 0,
) -> NewArrivals:
    rows = list(await session.scalars(select(Book).where(Book.id > after).limit(limit + 1)))
    books = [NewBook.model_validate(row) for row in rows[:limit]]
    following = None
    if len(rows) > limit:
        following = str(request.url.include_query_params(limit=limit, after=books[-1].id))
    return NewArrivals(books=books, next=following)

# %% tags=["kata", "alternative:opaque-cursor"]
# The cursor is a token the client cannot read or edit by hand: base64 of the last id seen. The
# server may change what is inside later (a second sort key, say) without changing the API.
import base64
import binascii

app = FastAPI(lifespan=lifespan)


def encode_cursor(book_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{book_id}".encode()).decode()


def decode_cursor(cursor: str) -> int:
    try:
        kind, _, value = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        if kind == "id":
            return int(value)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise HTTPException(status_code=422, detail="This cursor is not one this API gave out")


@app.get("/books/new")
async def new_arrivals(
    request: Request,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: str | None = None,
) -> NewArrivals:
    query = select(Book).order_by(Book.id.desc()).limit(limit + 1)
    if cursor is not None:
        query = query.where(Book.id < decode_cursor(cursor))
    rows = list(await session.scalars(query))
    books = [NewBook.model_validate(row) for row in rows[:limit]]
    following = None
    if len(rows) > limit:
        following = str(request.url.include_query_params(limit=limit, cursor=encode_cursor(books[-1].id)))
    return NewArrivals(books=books, next=following)

# %% tags=["kata", "alternative:arrival-day-and-id"]
# Sort by what the screen shows, the arrival day, and break ties with the id: the pair is
# unique, so the order is total, and the cursor carries both halves of the last book seen.
from sqlalchemy import tuple_

app = FastAPI(lifespan=lifespan)


@app.get("/books/new")
async def new_arrivals(
    request: Request,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    before_day: date | None = None,
    before_id: int | None = None,
) -> NewArrivals:
    query = select(Book).order_by(Book.added_on.desc(), Book.id.desc())
    if before_day is not None and before_id is not None:
        query = query.where(tuple_(Book.added_on, Book.id) < (before_day, before_id))
    rows = list(await session.scalars(query.limit(limit + 1)))
    books = [NewBook.model_validate(row) for row in rows[:limit]]
    following = None
    if len(rows) > limit:
        last = books[-1]
        following = str(request.url.include_query_params(
            limit=limit, before_day=last.added_on.isoformat(), before_id=last.id))
    return NewArrivals(books=books, next=following)

# %% tags=["kata", "alternative:full-page-means-more"]
# No look-ahead row: a full page is taken to mean there may be more. When the catalogue ends
# exactly on a page boundary, the client follows one more `next` and gets an empty last page
# whose `next` is null. One request more, now and then; nothing skipped or repeated.
app = FastAPI(lifespan=lifespan)


@app.get("/books/new")
async def new_arrivals(
    request: Request,
    session: SessionDep,
    limit: int = Query(default=20, ge=1, le=100),
    before_id: int | None = Query(default=None, ge=1),
) -> NewArrivals:
    query = select(Book).order_by(Book.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(Book.id < before_id)
    books = [NewBook.model_validate(row) for row in await session.scalars(query)]
    following = None
    if len(books) == limit:
        following = str(request.url.include_query_params(limit=limit, before_id=books[-1].id))
    return NewArrivals(books=books, next=following)

# %% [markdown]
# ## The evidence
#
# The next cell scrolls through the screen as the app does, three books a page, following
# `next`, three times: on a quiet day, while the staff add a book after the first page, and
# while they withdraw one (a book the reader has already seen) after the first page. Under each
# scroll it prints the ids of every page, then what the reader saw twice and what they never
# saw. Then it asks for pages far larger than the API promises.

# %% tags=["evidence"]
import sqlite3

from bookshop.client import describe, shop_client
from bookshop.db import database_url, seed_rows
from bookshop.observe import run_sql

NEWEST_FIRST = [8, 7, 6, 5, 4, 3, 2, 1]


def reset_catalogue():
    """The seeded catalogue again, whatever an earlier scroll added or withdrew."""
    rows = seed_rows(Book)
    with sqlite3.connect(database_url().split(":///", 1)[1]) as db:
        db.execute("DELETE FROM books")
        db.executemany(f"INSERT INTO books ({', '.join(rows[0])}) VALUES ({', '.join('?' * len(rows[0]))})",
                       [tuple(row.values()) for row in rows])


def body_of(response):
    try:
        return response.json()
    except ValueError:
        return None


def scroll(client, between_pages=None, limit=3):
    """Follow `next` from the first page, as the app does; the ids of each page."""
    reset_catalogue()
    url, pages = f"/books/new?limit={limit}", []
    while url and len(pages) < 10:
        response = client.get(url)
        body = body_of(response)
        if response.status_code != 200 or not isinstance(body, dict) or not isinstance(body.get("books"), list):
            print(f"  GET {url} -> {describe(response)}")
            break
        pages.append([book.get("id") for book in body["books"] if isinstance(book, dict)])
        if len(pages) == 1 and between_pages:
            between_pages(pages[0])
        url = body.get("next")
    return pages


def report(label, pages, expected):
    seen = [book_id for page in pages for book_id in page]
    twice = sorted({book_id for book_id in seen if seen.count(book_id) > 1})
    never = [book_id for book_id in expected if book_id not in seen]
    print(f"{label}\n  pages: {' | '.join(str(page) for page in pages)}")
    print(f"  seen twice: {twice or 'none'}; never seen: {never or 'none'}")


def add_a_book(first_page):
    run_sql(database_url(), "INSERT INTO books (id, isbn, title, author_id, price_cents, stock, added_on) "
                            "VALUES (100, '9780765326355', 'The Way of Kings', 2, 1299, 5, '2026-01-15')")


withdrawn = []


def withdraw_the_first_book_shown(first_page):
    if first_page:
        withdrawn.append(first_page[0])
        run_sql(database_url(), f"DELETE FROM books WHERE id = {int(first_page[0])}")


with shop_client(app) as client:
    report(f"A quiet day (newest first is {NEWEST_FIRST}):", scroll(client), NEWEST_FIRST)
    report("Book 100 is added after the first page:", scroll(client, add_a_book), NEWEST_FIRST)
    pages = scroll(client, withdraw_the_first_book_shown)
    report(f"The first book shown, {withdrawn[-1] if withdrawn else None}, is withdrawn after the first page:",
           pages, [book_id for book_id in NEWEST_FIRST if book_id not in withdrawn])
    reset_catalogue()
    for limit in (1_000_000, 101, 0):
        response = client.get(f"/books/new?limit={limit}")
        body = body_of(response)
        books = body.get("books") if isinstance(body, dict) else None
        shown = f"{response.status_code}, {len(books)} books" if isinstance(books, list) else describe(response, 60)
        print(f"GET /books/new?limit={limit} -> {shown}")

# Newest first, but counted from the top: two pages of three, with a book added in between.
reset_catalogue()
page_1 = run_sql(database_url(), "SELECT id FROM books ORDER BY id DESC LIMIT 3 OFFSET 0")
add_a_book(page_1)
page_2 = run_sql(database_url(), "SELECT id FROM books ORDER BY id DESC LIMIT 3 OFFSET 3")
print(f"ORDER BY id DESC with OFFSET, book 100 added between the pages: "
      f"{[row[0] for row in page_1]} | {[row[0] for row in page_2]}")
reset_catalogue()

# %% [markdown]
# With the starter, the quiet scroll starts from book 1, the oldest: without `ORDER BY`, SQLite
# returns the rows in its own order, here the order they were stored in. The added book lands at
# the end of that order, so nothing repeats yet; but withdrawing book 1 pulls book 4 onto the
# first page after the reader has left it, and *Dune Messiah* is never seen. The last line shows
# the colleague's fix: sorted newest first and still counted from the top, the added book pushes
# book 6 from the end of page 1 to the start of page 2. And the million-book page is served.
#
# ## The check
#
# Run it. Each failing test says what it saw and why it matters in production. Fix the kata
# cell, run it again, then re-run this cell until every test passes.

# %% tags=["check"]
%%ipytest
from checks.pagination import *

# %% [markdown]
# ## Hints
#
# Stuck? Each click opens one more level: a nudge, then the concept, then a sketch of
# the code. In a terminal, `kata hint pagination` opens the same levels.

# %% [markdown] tags=["hint"]
# ### Hint 1: a nudge
#
# Three questions, one per report. In which order does the database return rows when the
# query does not say? When the next page says "skip the first 3 rows", are they still the same
# 3 rows as a moment ago? And who decides what a `limit` of a million means: the endpoint's
# code, or its signature?

# %% [markdown] tags=["hint"]
# ### Hint 2: the concept
#
# - **Order.** SQL promises no order without `ORDER BY`. Sort on something **unique** (here the
#   id, which also means "newest": ids grow as books arrive), or end the sort with it as a tie
#   breaker; otherwise rows that tie can come back in any order, and a cursor on a key that
#   ties cannot say where a page ended.
# - **Keyset pagination** (also called cursor or seek pagination). Instead of an offset, the
#   next page starts *after the last row the client saw*: `WHERE id < :last_id ORDER BY id
#   DESC`. Rows added or removed elsewhere do not move that starting point. `next` carries the
#   cursor, so the client never computes anything.
# - **Bounds.** `Query(ge=..., le=...)` makes FastAPI validate the parameter and answer 422 with
#   a precise error, and the bounds appear in the OpenAPI docs.
#
# Read: FastAPI, [Query parameters and string validations](https://fastapi.tiangolo.com/tutorial/query-params-str-validations/)
# and [numeric validations](https://fastapi.tiangolo.com/tutorial/path-params-numeric-validations/);
# SQLite, [SELECT: the ORDER BY clause](https://www.sqlite.org/lang_select.html#the_order_by_clause);
# Markus Winand, [We need tool support for keyset pagination](https://use-the-index-luke.com/no-offset).

# %% [markdown] tags=["hint"]
# ### Hint 3: a sketch
#
# ```python
# @app.get("/books/new")
# async def new_arrivals(
#     request: Request,
#     session: SessionDep,
#     limit: Annotated[int, Query(ge=1, le=100)] = 20,
#     before: int | None = None,  # the id of the last book the client saw
# ) -> NewArrivals:
#     query = select(Book).order_by(Book.id.desc())
#     if before is not None:
#         query = query.where(...)  # only the books older than that one
#     rows = ...  # fetch limit + 1 rows: the extra one says whether there is a next page
#     ...
#     following = str(request.url.include_query_params(limit=limit, before=...)) if ... else None
#     return NewArrivals(books=..., next=following)
# ```

# %% [markdown]
# ## The walkthrough

# %% [markdown] tags=["walkthrough"]
# ### The fix, step by step
#
# 1. **Say the order, on a unique key.** `select(Book)` alone has no order: SQLite happens to
#    walk the table by rowid, oldest first, and another database (or SQLite with another index)
#    walks it differently. `order_by(Book.id.desc())` is "newest first", and because ids are
#    unique, no two books can swap places between two requests.
# 2. **Start the next page after the last book seen.** An offset is a count of rows, and rows
#    move: a book added at the top pushes the last book of page 1 to the top of page 2 (seen
#    twice); a book removed from page 1 pulls the first book of page 2 onto page 1, after the
#    reader left it (never seen). `WHERE id < :before` names a place in the order instead of a
#    count, so nothing that happens elsewhere in the table moves it.
# 3. **Put the cursor in `next`.** The client follows `next` and nothing else. The cursor can be
#    plain (`?before=5`) or opaque (base64 of whatever the server needs): opaque cursors let you
#    change the sort later without breaking clients.
# 4. **Know when to stop.** Fetch `limit + 1` rows: if the extra one exists there is a next page;
#    otherwise `next` is null. (Without it, a full last page makes the client ask once more and
#    get an empty page: harmless, one request wasted.)
# 5. **Bound the page size in the signature.** `Query(ge=1, le=100)` makes FastAPI answer
#    `422` with the reason, before your code runs, and documents the bounds in OpenAPI.
#
# Why not keep the offset, now that the order is right? Because the order being right does not
# stop rows from moving, as the evidence shows. Why not `min(limit, 100)`? The client asked for
# something the API does not serve and was not told: a 422 says so. Why not sort by `added_on`,
# which is what the screen shows? Because books share a day: a cursor "before this day" skips
# the rest of that day, and a sort on the day alone can return tied books in a different order
# each time. Sort by `(added_on, id)` and keep both in the cursor, or by `id` alone, which here
# gives the same order.
#
# Keyset pagination costs something: the client cannot jump to "page 7", only follow `next`.
# For an endless feed that is what the app does anyway. And it is cheaper for the database: with
# an index on the sort key (here the primary key), it seeks straight to the cursor, where an
# offset makes it walk past every row it skips. The cell after the walkthrough shows SQLite's
# plan for both.
#
# Read more: FastAPI, [Query parameters and string validations](https://fastapi.tiangolo.com/tutorial/query-params-str-validations/);
# SQLAlchemy, [ORDER BY](https://docs.sqlalchemy.org/en/21/tutorial/data_select.html#order-by);
# Markus Winand, [Paging through results](https://use-the-index-luke.com/sql/partial-results/fetch-next-page).
#
# ### What to remember
# - No `ORDER BY`, no order. Sort on a unique key, or end the sort with one.
# - Page with a cursor (the last key seen), not an offset, whenever rows can be added or removed
#   while someone reads.
# - Put the cursor in a `next` link; return `null` on the last page.
# - Bound every size a client chooses, in the signature (`Query(ge=..., le=...)`): 422, not a
#   silent cap.

# %% [markdown]
# ## What the database does with an offset and with a cursor
#
# `EXPLAIN QUERY PLAN` asks SQLite how it would run a query, without running it. The page 5,000
# pages deep, by offset and by cursor:

# %% tags=["evidence"]
by_offset = "SELECT id, title FROM books ORDER BY id DESC LIMIT 20 OFFSET 100000"
by_cursor = "SELECT id, title FROM books WHERE id < 100000 ORDER BY id DESC LIMIT 20"
for label, query in (("offset", by_offset), ("cursor", by_cursor)):
    plan = [row[-1] for row in run_sql(database_url(), f"EXPLAIN QUERY PLAN {query}")]
    print(f"{label}: {query}\n    plan: {'; '.join(plan)}")

# %% [markdown]
# By offset, SQLite scans the table from the newest row and counts 100,000 rows before it keeps
# any; by cursor, it searches the primary key for the first id below the cursor and reads 20.
