"""Check: the engine is created, shared and disposed by the lifespan; no `on_event` handlers."""

import pytest

from bookshop.client import open_client
from bookshop.observe import engine_events, run_sql
from checks.harness import learner

__all__ = [
    "test_startup_work_runs_although_the_app_has_a_lifespan",
    "test_engine_reads_the_database_configured_at_startup_not_at_import",
    "test_engine_is_disposed_when_the_app_shuts_down",
    "test_no_deprecated_on_event_handlers_are_registered",
    "test_one_engine_serves_every_request",
    "test_books_are_still_read_from_the_database",
]


@pytest.mark.anyio
async def test_startup_work_runs_although_the_app_has_a_lifespan(kata_ns, shop_db):
    # Restock Kindred in this test's database only: a list computed anywhere else is wrong.
    run_sql(shop_db, "UPDATE books SET stock = 99 WHERE title = 'Kindred'")
    async with open_client(learner(kata_ns, "app")) as client:
        response = await client.get("/featured")
    assert response.status_code == 200, (
        f"GET /featured answered {response.status_code}: the startup work that loads the featured "
        "books never ran. With `FastAPI(lifespan=...)`, `@app.on_event('startup')` handlers are "
        "skipped silently: do the startup work inside the lifespan and yield it as state."
    )
    titles = [book["title"] for book in response.json()]
    assert titles[:1] == ["Kindred"] and len(titles) == 3, (
        f"/featured listed {titles}, but in the database the app was started with, Kindred has "
        "the most copies. Compute the featured books at startup from that database."
    )


@pytest.mark.anyio
async def test_engine_reads_the_database_configured_at_startup_not_at_import(kata_ns, shop_db):
    run_sql(
        shop_db,
        "INSERT INTO books (id, isbn, title, author_id, price_cents, stock) "
        "VALUES (100, '9780000000100', 'A Book Only This Test Has', 1, 500, 1)",
    )
    async with open_client(learner(kata_ns, "app")) as client:
        response = await client.get("/books/100")
    assert response.status_code == 200, (
        f"GET /books/100 answered {response.status_code}: the app is serving a database other "
        "than the one configured when it started. An engine created at import time keeps the "
        "URL it saw then; create it inside the lifespan."
    )


@pytest.mark.anyio
async def test_engine_is_disposed_when_the_app_shuts_down(kata_ns, shop_db):
    with engine_events("connect", "disposed") as events:
        async with open_client(learner(kata_ns, "app")) as client:
            await client.get("/books/1")
    served = {engine for kind, engine, _ in events if kind == "connect"}
    disposed = {engine for kind, engine, _ in events if kind == "disposed"}
    assert served, "No engine connected while serving GET /books/1: does the endpoint still query the database?"
    assert served <= disposed, (
        f"{len(served - disposed)} engine(s) that served requests were still open after shutdown. "
        "Dispose of the engine after the lifespan's `yield` (`await engine.dispose()`)."
    )


def test_no_deprecated_on_event_handlers_are_registered(kata_ns):
    app = learner(kata_ns, "app")
    handlers = [h.__name__ for h in (*app.router.on_startup, *app.router.on_shutdown)]
    assert not handlers, (
        f"The app still registers on_event handlers: {handlers}. `@app.on_event` is deprecated, "
        "and it is skipped whenever a lifespan is set. Move that work into the lifespan."
    )


@pytest.mark.anyio
async def test_one_engine_serves_every_request(kata_ns, shop_db):
    with engine_events("connect") as events:
        async with open_client(learner(kata_ns, "app")) as client:
            for book_id in (1, 2, 3):
                await client.get(f"/books/{book_id}")
    engines = {engine for _, engine, _ in events}
    assert len(engines) == 1, (
        f"{len(engines)} engines served three requests. An engine is a connection pool: build "
        "one per app, in the lifespan, and share it; do not build one per request."
    )


@pytest.mark.anyio
async def test_books_are_still_read_from_the_database(kata_ns, shop_db):
    async with open_client(learner(kata_ns, "app")) as client:
        found = await client.get("/books/3")
        missing = await client.get("/books/999")
    assert found.status_code == 200 and found.json()["title"] == "Dune", (
        f"GET /books/3 should return Dune from the database, got {found.status_code} {found.text[:80]}"
    )
    assert missing.status_code == 404, f"GET /books/999 should answer 404, got {missing.status_code}"
