"""Check: the book is committed before the answer is sent, a duplicate ISBN is a 409 even when the
two requests arrive together, and a commit the database refuses is a 500."""

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import anyio
import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from bookshop.client import open_client
from bookshop.observe import StatementRendezvous, engine_events, response_spy, run_sql
from checks.feedback import expect, fail
from checks.harness import brief, json_of, learner

__all__ = [
    "test_the_book_is_committed_before_the_201_is_sent",
    "test_a_commit_the_database_refuses_is_not_answered_201",
    "test_a_duplicate_isbn_is_answered_409_conflict",
    "test_the_same_new_isbn_saved_twice_at_once_gets_one_201_and_one_409",
    "test_new_books_are_stored_and_returned_with_their_id",
]

LATHE = {"isbn": "9781416556961", "title": "The Lathe of Heaven", "author_id": 1, "price_cents": 1599, "stock": 3}
WILD_SEED = {"isbn": "9780446676977", "title": "Wild Seed", "author_id": 3, "price_cents": 1699, "stock": 2}
DAWN = {"isbn": "9780446603775", "title": "Dawn", "author_id": 3, "price_cents": 1099, "stock": 4}

COMMIT_CONCEPT = ("Code after a dependency's yield runs once the response has been sent (FastAPI's "
                  "default scope for yield dependencies since 0.118): a failure there cannot change "
                  "the answer. Commit where a refusal can still become the response. FastAPI docs: "
                  "'Dependencies with yield'.")
CONFLICT_CONCEPT = ("The unique index on books.isbn refuses a duplicate with SQLAlchemy's "
                    "IntegrityError, at the flush or the commit. It is the one failure the client "
                    "can fix: map it, and only it, to 409 Conflict. FastAPI docs: 'Handling Errors'.")


def _stored(url: str, isbn: str) -> list[tuple]:
    return run_sql(url, f"SELECT id, title FROM books WHERE isbn = '{isbn}'")


def _give_up_at_once(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout = 0")
    cursor.close()


@contextmanager
def _nightly_export(url: str) -> Iterator[None]:
    """Another connection reads the catalogue in an open transaction: SQLite cannot COMMIT a
    write until it ends. New connections give up at once instead of after 5 s, same error."""
    export = sqlite3.connect(url.split(":///", 1)[1], isolation_level=None)
    try:
        export.execute("BEGIN")
        export.execute("SELECT count(*) FROM books").fetchall()
        event.listen(Engine, "connect", _give_up_at_once)
        try:
            yield
        finally:
            event.remove(Engine, "connect", _give_up_at_once)
    finally:
        export.close()


@pytest.mark.anyio
async def test_the_book_is_committed_before_the_201_is_sent(kata_ns, shop_db):
    with engine_events("commit") as log:
        async with open_client(response_spy(learner(kata_ns, "app"), log)) as client:
            response = await client.post("/books", json=LATHE)
    expect(
        response.status_code == 201,
        f"POST /books with a new ISBN answered {brief(response)}, not 201 Created.",
        "Publishers must still be able to add books.",
    )
    order = [f"{status} sent" if kind == "response-start" else "COMMIT" for kind, status, *_ in log]
    expect(
        "COMMIT" in order,
        "No COMMIT ran while POST /books was handled: the book was never saved.",
        "Whatever a request writes is undone when its session closes without a commit: the "
        "publisher was told the book exists, and it does not.",
        nudge="Which line makes the book's INSERT permanent, and does it run?",
    )
    sent = order.index("201 sent") if "201 sent" in order else len(order)
    expect(
        "COMMIT" in order[:sent],
        f"The order of events was: {' -> '.join(order)}. The client was told the book exists "
        "before the database had accepted it.",
        "Until the COMMIT succeeds the database may still refuse the book (a lock held by another "
        "program, a full disk, a constraint checked at commit). Refused after the answer, the "
        "client keeps a 201 and an id for a book that does not exist, and nothing can tell it "
        "otherwise: the answer has left.",
        nudge="When does the code after get_session's yield run: before or after the response "
              "is sent?",
        concept=COMMIT_CONCEPT,
    )


@pytest.mark.anyio
async def test_a_commit_the_database_refuses_is_not_answered_201(kata_ns, shop_db):
    with _nightly_export(shop_db):
        async with open_client(learner(kata_ns, "app")) as client:
            response = await client.post("/books", json=WILD_SEED)
    stored = _stored(shop_db, WILD_SEED["isbn"])
    expect(
        not (response.is_success and not stored),
        f"While another program was reading the catalogue (SQLite cannot COMMIT meanwhile: "
        f"'database is locked'), POST /books answered {brief(response)}, and the database has no "
        "such book: the COMMIT was refused after the answer had gone.",
        "The publisher was told the book was created, with an id; it was never saved, and nothing "
        "will tell them. The book is simply missing from the catalogue the next morning.",
        nudge="Where in the request can a refused COMMIT still change the status code?",
        concept=COMMIT_CONCEPT,
    )
    expect(
        response.is_success or response.status_code >= 500,
        f"While another program was reading the catalogue, so that SQLite could not commit, "
        f"POST /books answered {brief(response)}: a locked database was reported as a problem "
        "with the request.",
        "A 4xx tells the client to change its request, and this one was fine: it only needs to be "
        "sent again later. A failure of the server is a 5xx, which clients, proxies and monitoring "
        "treat as one.",
        nudge="Which failures of the commit are the client's to fix, and which are the server's?",
        concept=CONFLICT_CONCEPT,
    )


@pytest.mark.anyio
async def test_a_duplicate_isbn_is_answered_409_conflict(kata_ns, shop_db):
    async with open_client(learner(kata_ns, "app")) as client:
        first = await client.post("/books", json=LATHE)
        again = await client.post("/books", json={**LATHE, "title": "The Lathe of Heaven, again"})
    expect(
        first.status_code == 201,
        f"POST /books with a new ISBN answered {brief(first)}, not 201 Created.",
        "Publishers must still be able to add books.",
    )
    expect(
        not again.is_success,
        f"Posting ISBN {LATHE['isbn']} a second time answered {brief(again)} as well: the client "
        "was told a second book with that ISBN was created.",
        "The unique index on books.isbn refuses the second book, so it was never saved; the "
        "publisher believes it was.",
        nudge="When does the database get the chance to refuse the second book: before or after "
              "the answer?",
        concept=COMMIT_CONCEPT,
    )
    expect(
        again.status_code == 409,
        f"Posting ISBN {LATHE['isbn']} a second time answered {brief(again)}. The unique index on "
        "books.isbn refused the book, and the client was not told that this ISBN already exists.",
        "A duplicate is the client's to fix (another ISBN, or the book is already there). A 500 "
        "says the server broke: the publisher retries, fails the same way, and calls support.",
        nudge="What does the database raise when the unique index refuses the INSERT, and does "
              "anything turn it into an answer?",
        concept=CONFLICT_CONCEPT,
    )
    stored = _stored(shop_db, LATHE["isbn"])
    body = json_of(first)
    first_id = body.get("id") if isinstance(body, dict) else None
    expect(
        stored == [(first_id, LATHE["title"])],
        f"After the refused duplicate the database holds {stored} for ISBN {LATHE['isbn']}, not only "
        "the first book, unchanged.",
        "A 409 must leave the database as it was.",
    )


@pytest.mark.anyio
async def test_the_same_new_isbn_saved_twice_at_once_gets_one_201_and_one_409(kata_ns, shop_db):
    # Two requests for one new ISBN, each held before its INSERT until the other reaches its own:
    # whatever either does first (a look-up, say), both have done it before either inserts.
    rendezvous = StatementRendezvous("INSERT INTO books", limit=1.0)
    with rendezvous:
        async with open_client(rendezvous.app(learner(kata_ns, "app"))) as client:
            answers: dict[int, object] = {}

            async def save(index: int) -> None:
                answers[index] = await client.post("/books", json=DAWN)

            async with anyio.create_task_group() as group:
                group.start_soon(save, 0)
                group.start_soon(save, 1)
    first, second = answers[0], answers[1]
    statuses = sorted((first.status_code, second.status_code))
    steps = [f"{label} {verb}" for label, verb in rendezvous.steps if verb in ("SELECT", "INSERT")]
    sequence = f" What they sent, in order: {', '.join(steps)}." if steps else ""
    expect(
        statuses != [201, 201],
        f"Two POST /books for the same new ISBN, sent at the same moment, were both answered 201.{sequence}",
        "Two books with one ISBN cannot both have been saved: one client holds an id for a book "
        "that does not exist.",
        nudge="When does the database get the chance to refuse the second book: before or after "
              "the answer?",
        concept=COMMIT_CONCEPT,
    )
    answered = " and ".join("201" if r.status_code == 201 else brief(r, 70) for r in (first, second))
    expect(
        statuses == [201, 409],
        f"Two POST /books for the same new ISBN, sent at the same moment (a double click on "
        f"'Save'), were answered {answered}.{sequence}",
        "A double click, a retry after a timeout, two colleagues saving the same book: duplicates "
        "arrive together in production. A look-up made before inserting sees only books already "
        "committed, so both requests pass it; the unique index still refuses one of them, and "
        "that refusal reaches the client as a server failure instead of 'this ISBN already exists'.",
        nudge="Which check sees every request, even two that arrive at once: a look-up in the code, "
              "or the database's unique index? And what happens when the index refuses?",
        concept=CONFLICT_CONCEPT,
    )
    stored = _stored(shop_db, DAWN["isbn"])
    expect(
        len(stored) == 1,
        f"After the two saves the database holds {len(stored)} book(s) with that ISBN, not one.",
        "One of the two saves must have gone through, and only one.",
    )


@pytest.mark.anyio
async def test_new_books_are_stored_and_returned_with_their_id(kata_ns, shop_db):
    async with open_client(learner(kata_ns, "app")) as client:
        responses = [await client.post("/books", json=book) for book in (LATHE, WILD_SEED)]
    ids = []
    for book, response in zip((LATHE, WILD_SEED), responses):
        expect(
            response.status_code == 201,
            f"POST /books with the new ISBN {book['isbn']} answered {brief(response)}, not 201 Created.",
            "A new book must be created; only a duplicate ISBN is a conflict.",
        )
        body = json_of(response)
        expect(
            isinstance(body, dict) and isinstance(body.get("id"), int) and body == {"id": body["id"], **book},
            f"POST /books answered {brief(response, 160)}, not the created book with the id the "
            "database assigned.",
            "The publisher needs the book as it was saved, with its id, to refer to it later.",
        )
        ids.append(body["id"])
    stored = [_stored(shop_db, book["isbn"]) for book in (LATHE, WILD_SEED)]
    found = {book["title"]: rows[0][0] if rows else "not stored" for book, rows in zip((LATHE, WILD_SEED), stored)}
    if not (stored == [[(ids[0], LATHE["title"])], [(ids[1], WILD_SEED["title"])]] and ids[0] != ids[1]):
        fail(
            f"The client was told the books were created with ids {ids}, but the database holds: {found}.",
            "A 201 with an id promises the book is in the catalogue.",
            nudge="Is every book the endpoint answers 201 for committed?",
        )
