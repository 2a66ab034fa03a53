"""Check: the engine is created, shared and disposed by the lifespan; no `on_event` handlers."""

import pytest

from bookshop.client import open_client
from bookshop.observe import engine_events, pool_connections, run_sql
from checks.feedback import expect, fail
from checks.harness import brief, json_of, learner

__all__ = [
    "test_startup_work_runs_although_the_app_has_a_lifespan",
    "test_the_engine_reads_the_database_configured_at_startup_not_at_import",
    "test_the_engine_is_disposed_when_the_app_shuts_down",
    "test_no_deprecated_startup_or_shutdown_handlers_are_registered",
    "test_one_engine_serves_every_request",
    "test_every_request_gives_its_connection_back_to_the_pool",
    "test_books_are_still_read_from_the_database",
]


@pytest.mark.anyio
async def test_startup_work_runs_although_the_app_has_a_lifespan(kata_ns, shop_db):
    # Restock Kindred in this test's database only: a list computed anywhere else is wrong.
    run_sql(shop_db, "UPDATE books SET stock = 99 WHERE title = 'Kindred'")
    app = learner(kata_ns, "app")
    async with open_client(app) as client:
        response = await client.get("/featured")
    handlers = [h.__name__ for h in app.router.on_startup]
    never_ran = f" The startup handler{'s' if len(handlers) > 1 else ''} {', '.join(handlers)} is registered, yet the featured books were never loaded." if handlers else ""
    expect(
        response.status_code == 200,
        f"GET /featured answered {brief(response)}.{never_ran}",
        "The home page fails for every visitor while the server reports a clean start: nothing at "
        "startup says that work was skipped, so the first sign is customers' errors.",
        nudge="The app now has a lifespan and an on_event handler. Does FastAPI run both?",
        concept="Starlette runs either the lifespan or the legacy startup/shutdown handlers, never both. "
                "Look up FastAPI's 'Lifespan Events' page.",
    )
    books = json_of(response)
    titles = [book.get("title") for book in books if isinstance(book, dict)] if isinstance(books, list) else []
    expect(
        titles[:1] == ["Kindred"] and len(titles) == 3,
        f"GET /featured listed {titles}, but in the database the app was started with, Kindred has the "
        "most copies.",
        "The home page shows books computed from some other database than the one the server serves.",
        nudge="When, and from which database, are the featured books computed?",
    )


@pytest.mark.anyio
async def test_the_engine_reads_the_database_configured_at_startup_not_at_import(kata_ns, shop_db):
    run_sql(
        shop_db,
        "INSERT INTO books (id, isbn, title, author_id, price_cents, stock) "
        "VALUES (100, '9780000000100', 'A Book Only This Test Has', 1, 500, 1)",
    )
    async with open_client(learner(kata_ns, "app")) as client:
        response = await client.get("/books/100")
    expect(
        response.status_code == 200,
        f"The check configured a fresh database, started the app, and asked for a book only that "
        f"database has: GET /books/100 answered {response.status_code}. The app serves the database "
        "it was given when its cell ran, not the one configured when it started.",
        "Tests, staging and production configure the database before they start the app. An app that "
        "fixed its database earlier serves the wrong data, and tests write into the developer's database.",
        nudge="Which line decides the database URL, and when does that line run?",
        concept="Import time (when a module or a cell runs) is for definitions; resources are built at "
                "startup, in the lifespan.",
    )


@pytest.mark.anyio
async def test_the_engine_is_disposed_when_the_app_shuts_down(kata_ns, shop_db):
    with engine_events("connect", "disposed") as events:
        async with open_client(learner(kata_ns, "app")) as client:
            await client.get("/books/1")
    served = {engine for kind, engine, _ in events if kind == "connect"}
    disposed = {engine for kind, engine, _ in events if kind == "disposed"}
    expect(served, "No engine connected while serving GET /books/1.",
           "The book endpoint must still read from the database.")
    expect(
        served <= disposed,
        f"After the app shut down, {len(served - disposed)} engine(s) that had served requests were "
        "never disposed: their pooled connections were still open.",
        "Every restart, reload or test run leaks a pool of connections until the process exits; a "
        "database with a connection limit starts refusing clients.",
        nudge="What runs when the app shuts down, and does anything there close the engine?",
        concept="An engine is a connection pool with a lifetime: it is built at startup and disposed "
                "at shutdown, after the lifespan's yield (SQLAlchemy's AsyncEngine.dispose).",
    )


def test_no_deprecated_startup_or_shutdown_handlers_are_registered(kata_ns):
    app = learner(kata_ns, "app")
    handlers = [h.__name__ for h in (*app.router.on_startup, *app.router.on_shutdown)]
    expect(
        not handlers,
        f"The app registers on_event handlers: {', '.join(handlers)}.",
        "on_event is deprecated, and FastAPI skips those handlers without a word whenever the app has a "
        "lifespan: startup work there can silently stop running.",
        nudge="Where else can work that must happen at startup go?",
    )


@pytest.mark.anyio
async def test_one_engine_serves_every_request(kata_ns, shop_db):
    with engine_events("connect") as events:
        async with open_client(learner(kata_ns, "app")) as client:
            for book_id in (1, 2, 3):
                await client.get(f"/books/{book_id}")
    engines = {engine for _, engine, _ in events}
    expect(
        len(engines) == 1,
        f"{len(engines)} engines served three requests.",
        "An engine is a pool of connections: one per request means a new connection, and a pool "
        "nobody closes, for every request.",
        nudge="How many times does the code that builds the engine run?",
    )


@pytest.mark.anyio
async def test_every_request_gives_its_connection_back_to_the_pool(kata_ns, shop_db):
    async with open_client(learner(kata_ns, "app")) as client:
        for path in ("/books/3", "/books/999"):
            with pool_connections() as pool:
                response = await client.get(path)
            if pool.out:
                fail(
                    f"After GET {path} was answered {response.status_code}, {pool.out} database "
                    "connection(s) it took from the pool were still out.",
                    "A connection kept after its request is one fewer for the next: under load the pool "
                    "runs dry and requests wait, then fail with a timeout.",
                    nudge="Who closes the session that get_session hands out, on every path?",
                )


@pytest.mark.anyio
async def test_books_are_still_read_from_the_database(kata_ns, shop_db):
    async with open_client(learner(kata_ns, "app")) as client:
        found = await client.get("/books/3")
        missing = await client.get("/books/999")
    book = json_of(found)
    expect(
        found.status_code == 200 and isinstance(book, dict) and book.get("title") == "Dune",
        f"GET /books/3 answered {brief(found)}, not the book Dune.",
        "The catalogue must keep working while the startup changes.",
    )
    expect(missing.status_code == 404, f"GET /books/999 answered {missing.status_code}, not 404.",
           "A book that does not exist is a 404 the client can act on.")
