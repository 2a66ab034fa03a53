"""Check: the book is committed before the answer is sent, and a duplicate ISBN is a 409."""

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from bookshop.client import open_client
from bookshop.observe import engine_events, response_spy, run_sql
from checks.harness import learner

__all__ = [
    "test_the_book_is_committed_before_the_201_is_sent",
    "test_a_commit_the_database_refuses_is_not_answered_201",
    "test_a_duplicate_isbn_is_answered_409_conflict",
    "test_new_books_are_stored_and_returned_with_their_id",
]

LATHE = {"isbn": "9781416556961", "title": "The Lathe of Heaven", "author_id": 1, "price_cents": 1599, "stock": 3}
WILD_SEED = {"isbn": "9780446676977", "title": "Wild Seed", "author_id": 3, "price_cents": 1699, "stock": 2}


def _stored(url: str, isbn: str) -> list[tuple]:
    return run_sql(url, f"SELECT id, title FROM books WHERE isbn = '{isbn}'")


def _short(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _body(response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


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
    assert response.status_code == 201, (
        f"POST /books with a new ISBN answered {response.status_code} {response.text[:80]}, not "
        "201 Created: the endpoint must still create books."
    )
    order = [f"{status} sent" if kind == "response-start" else "COMMIT" for kind, status, *_ in log]
    assert "COMMIT" in order, (
        "No COMMIT ran while POST /books was handled, so the book was never saved. Commit in "
        "the endpoint, before it returns."
    )
    assert "COMMIT" in order[: order.index("201 sent")], (
        f"The order was: {' -> '.join(order)}. The 201 left before any COMMIT, so the client was "
        "told the book exists before the database had accepted it. Code after `yield` in a "
        "dependency runs after the response has been sent, and nothing that happens there can "
        "change the answer. Commit in the endpoint, before it returns."
    )


@pytest.mark.anyio
async def test_a_commit_the_database_refuses_is_not_answered_201(kata_ns, shop_db):
    with _nightly_export(shop_db):
        async with open_client(learner(kata_ns, "app")) as client:
            response = await client.post("/books", json=WILD_SEED)
    stored = _stored(shop_db, WILD_SEED["isbn"])
    assert not (response.is_success and not stored), (
        f"While another connection was reading the database (SQLite cannot COMMIT meanwhile: "
        f"'database is locked'), the client got {response.status_code} {_short(response.text)} "
        "and the database has no such book: the answer did not wait for the COMMIT, so a "
        f"refused commit could not change it. Commit in the endpoint, so "
        "that a refused commit becomes an error response."
    )
    assert response.is_success or response.status_code >= 500, (
        f"While another connection was reading the database, so that SQLite could not commit, "
        f"POST /books answered {response.status_code} {_short(response.text)}. A locked database "
        "is the server's failure, not a mistake in the request: let it be a 500. Map only "
        "`IntegrityError` (a duplicate ISBN) to 409; do not catch every exception."
    )


@pytest.mark.anyio
async def test_a_duplicate_isbn_is_answered_409_conflict(kata_ns, shop_db):
    async with open_client(learner(kata_ns, "app")) as client:
        first = await client.post("/books", json=LATHE)
        again = await client.post("/books", json={**LATHE, "title": "The Lathe of Heaven, again"})
    assert first.status_code == 201, (
        f"POST /books with a new ISBN answered {first.status_code} {first.text[:80]}, not 201 Created."
    )
    assert not again.is_success, (
        f"Posting ISBN {LATHE['isbn']} a second time answered {again.status_code} as well: the "
        "client was told a second book with that ISBN was created. Commit in the endpoint, so "
        "that the unique index on books.isbn can refuse it before the answer, and answer 409."
    )
    assert again.status_code == 409, (
        f"Posting ISBN {LATHE['isbn']} a second time answered {again.status_code} "
        f"{_short(again.text)}. The unique index on books.isbn refused "
        "the INSERT, and nothing turned that IntegrityError into an answer the client can act "
        "on: a duplicate is a conflict (409), not a server failure."
    )
    stored = _stored(shop_db, LATHE["isbn"])
    assert stored == [(_body(first).get("id"), LATHE["title"])], (
        f"After the refused duplicate the database holds {stored} for ISBN {LATHE['isbn']}; "
        "expected only the first book, unchanged. A 409 must leave the database as it was."
    )


@pytest.mark.anyio
async def test_new_books_are_stored_and_returned_with_their_id(kata_ns, shop_db):
    async with open_client(learner(kata_ns, "app")) as client:
        responses = [await client.post("/books", json=book) for book in (LATHE, WILD_SEED)]
    ids = []
    for book, response in zip((LATHE, WILD_SEED), responses):
        assert response.status_code == 201, (
            f"POST /books with the new ISBN {book['isbn']} answered {response.status_code} "
            f"{response.text[:80]}. A new book must be created and answered 201 Created; only a "
            "duplicate ISBN is a conflict."
        )
        body = _body(response)
        assert isinstance(body.get("id"), int) and body == {"id": body["id"], **book}, (
            f"POST /books answered {body}; expected the created book: {book} plus the id the "
            "database assigned."
        )
        ids.append(body["id"])
    stored = [_stored(shop_db, book["isbn"]) for book in (LATHE, WILD_SEED)]
    found = {book["title"]: rows[0][0] if rows else "not stored" for book, rows in zip((LATHE, WILD_SEED), stored)}
    assert stored == [[(ids[0], LATHE["title"])], [(ids[1], WILD_SEED["title"])]] and ids[0] != ids[1], (
        f"The client was told the books were created with ids {ids}, but in the database: "
        f"{found}. Commit them before answering."
    )
