# %% [markdown]
# # Commit before you answer
#
# **The story.** Publishers add books to the shop through `POST /books`. Two complaints arrived
# this week. A publisher got `201 Created`, with an id, for *Wild Seed*, and the next
# morning the book was not in the catalogue; every missing book was created between 2:00 and
# 2:30, while the nightly export runs. Another publisher clicked "Save" twice and got a bare
# `500 Internal Server Error` instead of "this ISBN already exists". The server reports
# `database is locked` errors for requests that were answered 201. The session dependency
# commits after its `yield`, a pattern found in many codebases, "so no endpoint can forget to
# commit".
#
# **You will learn**
# - when the code after `yield` in a dependency runs: after the response has been sent;
# - why a COMMIT there can fail while the client keeps its `201`;
# - how to commit in the endpoint and answer a duplicate with `409 Conflict`.
#
# Run the cells from the top (**Run → Run All Cells**), read the evidence, then make the check pass.

# %% tags=["setup"]
from checks import setup_notebook

setup_notebook()

# %% [markdown]
# ## The bookshop around the problem
#
# The app uses the workbook's `lifespan` (kata 1's fix): it creates the engine at startup and
# hands every request a `sessionmaker` through `request.state`. `Book` is the table, whose
# `isbn` column is **unique**; `BookIn` is what a publisher sends and `BookOut` what the API
# answers, with the id the database assigned.

# %%
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bookshop.db import lifespan
from bookshop.models import Book
from bookshop.schemas import BookIn, BookOut

# %% [markdown]
# ## The code under review
#
# This is the cell you will change. Read it first: which line writes the book for good, and
# when does that line run?

# %% tags=["kata", "starter"]
app = FastAPI(lifespan=lifespan)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.state.sessionmaker() as session:
        yield session
        await session.commit()  # one commit per request, so no endpoint can forget it


SessionDep = Annotated[AsyncSession, Depends(get_session)]


@app.post("/books", status_code=201)
async def create_book(book: BookIn, session: SessionDep) -> BookOut:
    row = Book(**book.model_dump())
    session.add(row)
    await session.flush()  # sends the INSERT, so the database assigns the id
    return BookOut.model_validate(row)

# %% tags=["kata", "solution"]
app = FastAPI(lifespan=lifespan)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    # Opens and closes the session, nothing more. Closing it rolls back whatever the
    # endpoint did not commit, so a failed request leaves nothing behind.
    async with request.state.sessionmaker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


@app.post("/books", status_code=201)
async def create_book(book: BookIn, session: SessionDep) -> BookOut:
    row = Book(**book.model_dump())
    session.add(row)
    try:
        # The INSERT and the COMMIT both happen here, before the answer is written: if the
        # database refuses either, the client gets an error instead of a 201.
        await session.commit()
    except IntegrityError:
        # The unique index on books.isbn said no: the one failure the client can fix.
        await session.rollback()
        raise HTTPException(status_code=409, detail=f"A book with ISBN {book.isbn} already exists")
    return BookOut.model_validate(row)

# %% tags=["kata", "decoy:scope-function"]
# "FastAPI has a switch for this": with `scope="function"` the code after `yield` runs before
# the response is sent, so the COMMIT comes first and a refused commit becomes a 500. Half
# right: the duplicate ISBN still fails in the endpoint's flush, unmapped, and gets a 500.
app = FastAPI(lifespan=lifespan)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.state.sessionmaker() as session:
        yield session
        await session.commit()


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


@app.post("/books", status_code=201)
async def create_book(book: BookIn, session: SessionDep) -> BookOut:
    row = Book(**book.model_dump())
    session.add(row)
    await session.flush()
    return BookOut.model_validate(row)

# %% tags=["kata", "decoy:map-in-the-dependency"]
# "The dependency owns the session, so it should own its errors." The duplicate now gets its
# 409, because its flush fails inside the endpoint, before the response. But the COMMIT still
# runs after the 201 has gone out, and nothing it raises can reach the client.
app = FastAPI(lifespan=lifespan)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.state.sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except IntegrityError:
            await session.rollback()
            raise HTTPException(status_code=409, detail="A book with this ISBN already exists")


SessionDep = Annotated[AsyncSession, Depends(get_session)]


@app.post("/books", status_code=201)
async def create_book(book: BookIn, session: SessionDep) -> BookOut:
    row = Book(**book.model_dump())
    session.add(row)
    await session.flush()
    return BookOut.model_validate(row)

# %% tags=["kata", "decoy:catch-everything"]
# "Commit in the endpoint, and whatever goes wrong, say 409." The timing is fixed, but a
# locked database is not a conflict with the request: the client is told to change a book
# that was fine, instead of being told the server failed and it may try again.
app = FastAPI(lifespan=lifespan)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.state.sessionmaker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


@app.post("/books", status_code=201)
async def create_book(book: BookIn, session: SessionDep) -> BookOut:
    row = Book(**book.model_dump())
    session.add(row)
    try:
        await session.commit()
    except Exception:
        await session.rollback()
        raise HTTPException(status_code=409, detail="Could not create the book")
    return BookOut.model_validate(row)

# %% [markdown]
# ## The nightly export
#
# Every night another program exports the catalogue: it reads `books` inside one long
# transaction. While it reads, SQLite (in the default `delete` journal mode this database
# uses) still lets the API run an `INSERT`, but not `COMMIT` it: the COMMIT waits for the
# reader (Python's `sqlite3` waits 5 seconds by default), then fails with
# `database is locked`. The helper below plays the export. So that the notebook does not
# wait those 5 seconds, connections opened while it runs give up at once, with the same error.

# %%
import sqlite3
from contextlib import contextmanager

from sqlalchemy import event
from sqlalchemy.engine import Engine

from bookshop.db import database_url


def _give_up_at_once(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout = 0")
    cursor.close()


@contextmanager
def nightly_export():
    """Hold the catalogue open for reading, as the export does, while the block runs."""
    export = sqlite3.connect(database_url().split(":///", 1)[1], isolation_level=None)
    export.execute("BEGIN")
    export.execute("SELECT * FROM books").fetchall()
    event.listen(Engine, "connect", _give_up_at_once)
    try:
        yield
    finally:
        event.remove(Engine, "connect", _give_up_at_once)
        export.close()

# %% [markdown]
# ## The evidence
#
# The next cell posts a new book, posts it again, then posts another one while the export
# runs. Under each answer it prints what happened, in order: the SQL the app sent, `COMMIT`
# (the moment the app asks the database to commit; the database may still refuse),
# `ROLLBACK`, and the moment the response started (`201 sent`). Errors the server raises
# after it has answered stay on the server, as with a real server: the client sees only what
# was sent.

# %% tags=["evidence"]
from bookshop.client import shop_client
from bookshop.observe import engine_events, response_spy, run_sql

LATHE = {"isbn": "9781416556961", "title": "The Lathe of Heaven", "author_id": 1, "price_cents": 1599}
WILD_SEED = {"isbn": "9780446676977", "title": "Wild Seed", "author_id": 3, "price_cents": 1699}
NEW_ISBNS = f"('{LATHE['isbn']}', '{WILD_SEED['isbn']}')"
run_sql(database_url(), f"DELETE FROM books WHERE isbn IN {NEW_ISBNS}")  # same start on every run


def post(client, log, label, book):
    log.clear()
    before = len(client.server_errors)
    response = client.post("/books", json=book)
    steps = [
        f"{entry[1]} sent" if entry[0] == "response-start"
        else entry[2].split()[0] if entry[0] == "sql"  # the SQL verb: INSERT
        else entry[0].upper()  # COMMIT, ROLLBACK
        for entry in log
    ]
    print(f"{label:<34} -> {response.status_code} {response.text[:58]}")
    print(f"{'':>8}{' -> '.join(steps)}")
    for error in client.server_errors[before:]:  # what a real server would write to its error log
        print(f"{'':>8}server raised {type(error).__name__}: {str(error).splitlines()[0][:90]}")


with engine_events("sql", "commit", "rollback") as log, shop_client(response_spy(app, log)) as client:
    post(client, log, "POST /books", LATHE)
    post(client, log, "POST /books (the same ISBN again)", LATHE)

with nightly_export(), engine_events("sql", "commit", "rollback") as log, shop_client(response_spy(app, log)) as client:
    post(client, log, "POST /books while the export runs", WILD_SEED)

print("books in the database now:", run_sql(database_url(), f"SELECT id, title FROM books WHERE isbn IN {NEW_ISBNS}"))

# %% [markdown]
# With the starter, every `201 sent` comes *before* its `COMMIT`. The duplicate is answered
# 500. And the book posted during the export was answered 201 *with an id*, but it is not in
# the database: its COMMIT was refused after the client had its answer. Once the kata is
# fixed, each `COMMIT` comes before the answer, the duplicate gets a 409, and the book posted
# during the export gets a 500: its publisher knows it was not created and can try again.
#
# ## The check
#
# Run it. Each failing test names what is wrong; fix the kata cell, run it again, then re-run
# this cell until every test passes.

# %% tags=["check"]
%%ipytest
from checks.commit_timing import *

# %% [markdown]
# ## Hints
#
# Stuck? Each click opens one more level: a nudge, then the concept, then a sketch of
# the code. In a terminal, `kata hint commit-timing` opens the same levels.

# %% [markdown] tags=["hint"]
# ### Hint 1: a nudge
#
# Look at the last line of `get_session`, and at the evidence: is `201 sent` printed before or
# after `COMMIT`? Then ask where in the code an exception can still change the status code.

# %% [markdown] tags=["hint"]
# ### Hint 2: the concept
#
# FastAPI runs the code after a dependency's `yield` when the request is over, and by default
# (`scope="request"`) that is *after* the response has been sent. By then the status line is
# on the wire: an exception there is raised on the server, and the client never hears of it.
# The COMMIT is the moment the database accepts the book or refuses it, so it belongs where a
# refusal can still become the answer: in the endpoint, before it returns. A duplicate ISBN is
# refused by the unique index with `sqlalchemy.exc.IntegrityError`; that one is the client's
# to fix, so it deserves a `409 Conflict`. Other failures (a locked database) are the
# server's: let them be a 500.

# %% [markdown] tags=["hint"]
# ### Hint 3: a sketch
#
# ```python
# async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
#     async with request.state.sessionmaker() as session:
#         yield session  # nothing after the yield
#
# @app.post("/books", status_code=201)
# async def create_book(book: BookIn, session: SessionDep) -> BookOut:
#     row = Book(**book.model_dump())
#     session.add(row)
#     try:
#         ...  # commit here
#     except IntegrityError:
#         ...  # roll back, then raise HTTPException(status_code=409, ...)
#     return BookOut.model_validate(row)
# ```

# %% [markdown]
# ## The walkthrough

# %% [markdown] tags=["walkthrough"]
# ### The fix, step by step
#
# 1. **Know when the exit code runs.** Since FastAPI 0.118 (see its release notes), the code
#    after `yield` in a dependency with the default `scope="request"` runs after the response
#    has been sent. The evidence shows it: `201 sent -> COMMIT`. Whatever fails there is too
#    late to change the answer: with the export holding the database, the COMMIT failed with
#    `database is locked`, the client kept a 201 and an id, and the book did not exist.
# 2. **Commit in the endpoint.** `await session.commit()` before `return` flushes the INSERT
#    and commits it while an exception can still become the response. The shop's
#    sessionmaker is built with `expire_on_commit=False`, so `row` keeps its values, id
#    included, after the commit and `BookOut.model_validate(row)` needs no further query.
#    (With the default `expire_on_commit=True`, reading `row` after the commit fails in
#    async code: the attributes are expired and would need a query.)
# 3. **Turn the duplicate into 409.** The unique index on `books.isbn` rejects the second
#    INSERT with `IntegrityError`. Catch exactly that, `await session.rollback()` (after a
#    failed flush the session refuses any further SQL with `PendingRollbackError` until it
#    is rolled back), and raise `HTTPException(status_code=409, ...)`.
# 4. **Leave the dependency one job.** It opens the session and closes it; closing rolls back
#    anything not committed, so a request that failed halfway leaves no trace.
# 5. **Let the server's failures be 500.** A COMMIT refused because the database is locked
#    now answers 500: the client knows the book was not created and can try again.
#
# Why not `Depends(get_session, scope="function")`? It does move the exit code before the
# response (the COMMIT then runs first, and a refused commit becomes a 500), but the
# duplicate still fails in the endpoint's flush with nobody to map it: 500, not 409. Together
# with an `except IntegrityError` in the dependency that raises the 409, it is a working
# alternative; the commit is then simply further from the code that decides what to answer.
# Why not catch `IntegrityError` in the dependency and keep the default scope? The duplicate
# gets its 409 (its flush fails before the response), but the COMMIT still runs after the
# 201. Why not `except Exception` and 409? A locked database is not a conflict with the
# request. And why not look the ISBN up with a SELECT before inserting? Two requests for the
# same ISBN arriving together both find nothing and both insert; one of them then fails on
# the unique index anyway (with the SELECT-first version and no `except`, a 500). The
# constraint is the only check that sees every request, so rely on it and map its error.
#
# Read more: FastAPI, [Dependencies with yield](https://fastapi.tiangolo.com/tutorial/dependencies/dependencies-with-yield/)
# and the [0.118.0 release notes](https://fastapi.tiangolo.com/release-notes/#01180);
# SQLAlchemy, [Session basics](https://docs.sqlalchemy.org/en/21/orm/session_basics.html) and
# [asyncio](https://docs.sqlalchemy.org/en/21/orm/extensions/asyncio.html); SQLite,
# [File locking](https://www.sqlite.org/lockingv3.html).
#
# ### What to remember
# - Code after `yield` in a dependency runs after the response has been sent (default
#   `scope="request"`): put nothing there that can fail in a way the client must know about.
# - Commit in the endpoint, before returning; the dependency only opens and closes the session.
# - Map the errors the client can fix (`IntegrityError` → 409) and let the rest be a 500.
