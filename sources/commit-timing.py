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
# - why a look-up before inserting cannot replace the unique index when two saves arrive together.
#
# Run the cells from the top (**Run → Run All Cells**), read the evidence, then make the check pass.

# %% tags=["setup"]
from checks import setup_notebook

setup_notebook()

# %% [markdown]
# ## The bookshop around the problem
#
# The app uses the workbook's `lifespan`, the one "The engine belongs to the lifespan" ends
# with: it creates the engine at startup, hands every request a `sessionmaker` through
# `request.state`, and disposes of the engine at shutdown. `Book` is the table, whose
# `isbn` column is **unique**; `BookIn` is what a publisher sends and `BookOut` what the API
# answers, with the id the database assigned.

# %%
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request
from sqlalchemy import select
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

# %% tags=["kata", "decoy:check-then-insert"]
# "Commit in the endpoint, and look the ISBN up first: a duplicate gets its 409 before anything
# is written, so there is no IntegrityError left to catch." True one request at a time. Two
# saves of one new ISBN that arrive together both look, both find nothing, both insert, and the
# unique index refuses the second at its COMMIT: a 500, with nothing to turn it into a 409.
app = FastAPI(lifespan=lifespan)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.state.sessionmaker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


@app.post("/books", status_code=201)
async def create_book(book: BookIn, session: SessionDep) -> BookOut:
    if await session.scalar(select(Book.id).where(Book.isbn == book.isbn)) is not None:
        raise HTTPException(status_code=409, detail=f"A book with ISBN {book.isbn} already exists")
    row = Book(**book.model_dump())
    session.add(row)
    await session.commit()
    return BookOut.model_validate(row)

# %% tags=["kata", "alternative:check-then-insert-and-catch"]
# A look-up first, for a quick and friendly 409 in the common case, and the unique index still
# has the last word: two saves that arrive together both pass the look-up, and the one the
# index refuses gets its 409 too.
app = FastAPI(lifespan=lifespan)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.state.sessionmaker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


@app.post("/books", status_code=201)
async def create_book(book: BookIn, session: SessionDep) -> BookOut:
    conflict = HTTPException(status_code=409, detail=f"A book with ISBN {book.isbn} already exists")
    if await session.scalar(select(Book.id).where(Book.isbn == book.isbn)) is not None:
        raise conflict
    row = Book(**book.model_dump())
    session.add(row)
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise conflict
    return BookOut.model_validate(row)

# %% tags=["kata", "alternative:commit-in-a-helper"]
# The commit and its one expected failure live in a small helper the endpoints share; it runs
# inside the endpoint, so before the answer.
app = FastAPI(lifespan=lifespan)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.state.sessionmaker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


async def save(session: AsyncSession, row: Book, conflict: str) -> None:
    """Add ``row`` and commit it now; a unique index that says no becomes a 409 with ``conflict``."""
    session.add(row)
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise HTTPException(status_code=409, detail=conflict)


@app.post("/books", status_code=201)
async def create_book(book: BookIn, session: SessionDep) -> BookOut:
    row = Book(**book.model_dump())
    await save(session, row, f"A book with ISBN {book.isbn} already exists")
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
from bookshop.client import describe, shop_client
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
    print(f"{label:<34} -> {describe(response, 62)}")
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
# ## Two saves at once
#
# The publisher who clicked "Save" twice did not send the same book twice in a row: the two
# requests were in flight together. The next cell sends two at the same moment, and makes them
# overlap at the worst point every time: each request is held just before its
# `INSERT INTO books` until the other has reached its own (`StatementRendezvous`, one of the
# workbook's spies). So whatever a request does before it inserts, both have done it before
# either inserts. The check does the same.

# %% tags=["evidence"]
from bookshop.observe import StatementRendezvous

DAWN = {"isbn": "9780446603775", "title": "Dawn", "author_id": 3, "price_cents": 1099}
run_sql(database_url(), f"DELETE FROM books WHERE isbn = '{DAWN['isbn']}'")  # same start on every run

race = StatementRendezvous("INSERT INTO books")
with race, shop_client(race.app(app)) as client:
    answers = client.together(("POST", "/books", {"json": DAWN}), ("POST", "/books", {"json": DAWN}))
    raised = [f"{type(error).__name__}: {str(error).splitlines()[0][:80]}" for error in client.server_errors]
print("POST /books (Dawn), twice at the same moment:")
for response in answers:
    print(f"   -> {describe(response, 70)}")
print(f"what the two requests sent, in order: {', '.join(f'{who} {verb}' for who, verb in race.steps)}")
print(f"server raised: {'; '.join(raised) or 'nothing'}")
print("books with that ISBN now:", run_sql(database_url(), f"SELECT id, title FROM books WHERE isbn = '{DAWN['isbn']}'"))

# %% [markdown]
# With the starter, one save is answered 201 and the other 500: the unique index on `isbn`
# refused the second `INSERT`, and nothing turned that refusal into an answer the publisher
# understands. Fixed, one gets 201 and the other 409, and one Dawn is in the catalogue either way.
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
# after `COMMIT`? Then ask where in the code an exception can still change the status code, and
# which part of the system is sure to notice a duplicate ISBN, even when two saves arrive
# together.

# %% [markdown] tags=["hint"]
# ### Hint 2: the concept
#
# FastAPI runs the code after a dependency's `yield` when the request is over, and by default
# (`scope="request"`) that is *after* the response has been sent. By then the status line is
# on the wire: an exception there is raised on the server, and the client never hears of it.
# The COMMIT is the moment the database accepts the book or refuses it, so it belongs where a
# refusal can still become the answer: in the endpoint, before it returns. A duplicate ISBN is
# refused by the unique index with `sqlalchemy.exc.IntegrityError`; that one is the client's
# to fix, so it deserves a `409 Conflict`. A look-up before inserting cannot replace that: it
# sees only books already committed, so two saves that arrive together both pass it. Other
# failures (a locked database) are the server's: let them be a 500.
#
# Read: FastAPI, [Dependencies with yield](https://fastapi.tiangolo.com/tutorial/dependencies/dependencies-with-yield/);
# SQLAlchemy, [Session basics](https://docs.sqlalchemy.org/en/21/orm/session_basics.html).

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
#    async code: the attributes are expired and would need a query.) A small helper that
#    adds, commits and maps the error, called from the endpoint, is the same fix: what matters
#    is that it runs before the endpoint returns.
# 3. **Turn the duplicate into 409.** The unique index on `books.isbn` rejects the second
#    INSERT with `IntegrityError`. Catch exactly that, `await session.rollback()` (after a
#    failed flush the session refuses any further SQL with `PendingRollbackError` until it
#    is rolled back), and raise `HTTPException(status_code=409, ...)`.
# 4. **Let the index decide, also when saves arrive together.** The second evidence cell and
#    the check send the same new ISBN twice at once. SQLite lets one writer at a time: the
#    second `INSERT` waits for the first transaction to commit (up to its 5 s busy timeout),
#    then the unique index refuses it with `IntegrityError`, which your `except` turns into a
#    409. A `SELECT` for the ISBN before inserting is fine as a quick first answer in the common
#    case, but it cannot replace the `except`: both requests look before either inserts, both
#    find nothing, and without the `except` the refused one is a 500.
# 5. **Leave the dependency one job.** It opens the session and closes it; closing rolls back
#    anything not committed, so a request that failed halfway leaves no trace.
# 6. **Let the server's failures be 500.** A COMMIT refused because the database is locked
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
# request. And why not look the ISBN up with a SELECT instead of catching? See step 4: the
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
# - A look-up before a write does not replace the constraint: two requests can both pass it.
