"""Check: the engine is created, shared and disposed by the lifespan; no `on_event` handlers."""

import asyncio
from contextvars import ContextVar

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.util import await_only

from bookshop.client import open_client
from bookshop.db import DATABASE_URL_ENV, fresh_database
from bookshop.observe import database_connections, engine_events, pool_connections, run_sql
from checks.feedback import expect, fail
from checks.harness import brief, json_of, learner

__all__ = [
    "test_startup_work_runs_although_the_app_has_a_lifespan",
    "test_the_engine_reads_the_database_configured_at_startup_not_at_import",
    "test_the_engine_is_disposed_when_the_app_shuts_down",
    "test_every_database_connection_the_app_opened_is_closed_when_it_shuts_down",
    "test_no_deprecated_startup_or_shutdown_handlers_are_registered",
    "test_one_engine_serves_every_request",
    "test_every_request_gives_its_connection_back_to_the_pool",
    "test_books_are_still_read_from_the_database",
]


_in_request: ContextVar[bool] = ContextVar("kata_in_request", default=False)
HOLD_LIMIT = 1.0  # seconds: only work left running after startup, with no request after it, waits this out


class _LeftRunning:
    """Serves an app and watches it from outside. SQL the app sends after it has reported its
    startup complete, from neither a request nor its lifespan (a task left running on its own), is
    held until the app has answered its first request. Whether such work ends before the first
    visitor comes is then decided, the same way every time: it does not. Working code sends no
    such SQL, and is never held."""

    def __init__(self, app):
        self._app = app
        self._started = False
        self._lifespan_task = None
        self._answered = asyncio.Event()
        self.left_running: list[asyncio.Task] = []  # tasks the startup created, still running when it reported done

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            self._lifespan_task = asyncio.current_task()
            before = asyncio.all_tasks()

            async def lifespan_send(message):
                if message.get("type") == "lifespan.startup.complete":
                    self._started = True
                    self.left_running = [task for task in asyncio.all_tasks() - before if not task.done()]
                await send(message)

            return await self._app(scope, receive, lifespan_send)
        token = _in_request.set(True)

        async def answering(message):
            if message.get("type") == "http.response.start":
                self._answered.set()
            await send(message)

        try:
            await self._app(scope, receive, answering)
        finally:
            _in_request.reset(token)
            self._answered.set()

    def _before(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if not self._started or self._answered.is_set() or _in_request.get():
            return
        try:
            if asyncio.current_task() is self._lifespan_task:
                return
        except RuntimeError:  # no event loop in this thread: nothing of the app's
            return

        async def until_answered() -> None:
            try:
                await asyncio.wait_for(self._answered.wait(), HOLD_LIMIT)
            except TimeoutError:
                pass

        try:
            await_only(until_answered())
        except Exception:  # noqa: BLE001 - not in an async engine's greenlet: send it unheld
            pass

    def __enter__(self) -> "_LeftRunning":
        event.listen(Engine, "before_cursor_execute", self._before)
        return self

    def __exit__(self, *exc) -> None:
        event.remove(Engine, "before_cursor_execute", self._before)


async def _featured(app):
    """Start ``app``, ask for /featured once, stop it: the response, and how many tasks the app's
    startup had left running when it reported itself started."""
    with _LeftRunning(app) as watcher:
        async with open_client(watcher) as client:
            response = await client.get("/featured")
            # Let work the startup left running end before the app stops: stopped halfway through
            # a query, it can leave the database driver waiting forever. Working code leaves none.
            if watcher.left_running:
                await asyncio.wait(watcher.left_running, timeout=HOLD_LIMIT)
    return response, len(watcher.left_running)


def _titles(response) -> list:
    books = json_of(response)
    return [book.get("title") for book in books if isinstance(book, dict)] if isinstance(books, list) else []


FEATURED_CONCEPT = ("Work the app needs before it serves belongs to the lifespan, before its yield; what "
                    "it computes goes to requests through the state the lifespan yields, which belongs "
                    "to that one start of the app. Starlette docs: 'Lifespan state'.")


@pytest.mark.anyio
async def test_startup_work_runs_although_the_app_has_a_lifespan(kata_ns, shop_db, tmp_path, monkeypatch):
    # Restock Kindred in this test's database only: a list computed anywhere else is wrong.
    run_sql(shop_db, "UPDATE books SET stock = 99 WHERE title = 'Kindred'")
    app = learner(kata_ns, "app")
    response, left_running = await _featured(app)
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
    titles = _titles(response)
    if not titles:
        late = (" The app was still loading them, in a task left running on its own, after it had "
                "reported that it had started." if left_running else "")
        fail(
            f"GET /featured answered {brief(response)}: no featured books, although the database the "
            f"app was started with has books in stock.{late}",
            "The home page is empty for every visitor who comes before the featured books are loaded, "
            "and if loading them fails, nothing says so: the server reported a clean start." if left_running
            else "The home page greets every visitor without its featured books, and nothing says that "
                 "anything went wrong: the server reported a clean start.",
            nudge="Is loading the featured books finished before the app says it has started?",
            concept=FEATURED_CONCEPT,
        )
    expect(
        titles[:1] == ["Kindred"] and len(titles) == 3,
        f"GET /featured listed {titles}, but in the database the app was started with, Kindred has the "
        "most copies.",
        "The home page shows books computed from another database than the one the server serves.",
        nudge="When, and from which database, are the featured books computed?",
    )
    # A second start of the app, on another database: a list kept from the first start is wrong now.
    folder = tmp_path / "second-start"
    folder.mkdir()
    second = fresh_database(folder)
    monkeypatch.setenv(DATABASE_URL_ENV, second)
    run_sql(second, "UPDATE books SET stock = 99 WHERE title = 'Parable of the Sower'")
    again, _ = await _featured(app)
    titles_again = _titles(again)
    kept = (" It is the list of the first start: the featured books were computed once and kept "
            "from then, not computed for this start." if titles_again == titles else "")
    answered = f"listed {titles_again}" if again.status_code == 200 and titles_again else f"answered {brief(again)}"
    expect(
        again.status_code == 200 and titles_again[:1] == ["Parable of the Sower"] and len(titles_again) == 3,
        f"The check started the app a second time, on another database, where Parable of the Sower "
        f"has the most copies. GET /featured {answered}.{kept}",
        "Every start of the app (a deploy, a reload, each test) serves the database configured for "
        "it, and its home page must show that database's books. A list kept in the process outlives "
        "the app that computed it.",
        nudge="Where are the featured books kept, and does that place outlive one start of the app?",
        concept=FEATURED_CONCEPT,
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
    with engine_events("connect", "disposed") as events, database_connections() as connections:
        async with open_client(learner(kata_ns, "app")) as client:
            await client.get("/books/1")
    used = {engine for kind, engine, _ in events if kind == "connect"}
    disposed = {engine for kind, engine, _ in events if kind == "disposed"}
    expect(used, "No engine connected to the database while the app started and served GET /books/1.",
           "The book endpoint must still read from the database.")
    never = used - disposed
    if never:
        still_open = len(connections.still_open())
        left = (f" {still_open} database connection(s) the app had used were still open." if still_open
                else " None of its connections was left open (its pool keeps none between uses), but "
                     "nothing ended the engine itself.")
        fail(
            f"After the app shut down, {len(never)} engine(s) it had used, while starting or serving "
            f"requests, were never disposed.{left}",
            "Every restart, reload or test run leaks a pool of connections until the process exits; a "
            "database with a connection limit starts refusing clients." if still_open else
            "Shutdown is where the app ends what it started. An engine nobody disposes of is left to "
            "the garbage collector, and whether that leaks depends on how its pool is configured: with "
            "a pool that keeps its connections, every restart, reload or test run leaks them.",
            nudge="What runs when the app shuts down, and does anything there close the engine?",
            concept="An engine is a connection pool with a lifetime: it is built at startup and disposed "
                    "at shutdown, after the lifespan's yield (SQLAlchemy's AsyncEngine.dispose).",
        )


@pytest.mark.anyio
async def test_every_database_connection_the_app_opened_is_closed_when_it_shuts_down(kata_ns, shop_db):
    # Judged by the connections themselves, asked of the driver after the app stopped: an engine
    # can report itself disposed and still leave them open.
    with engine_events("disposed") as disposals, database_connections() as connections:
        async with open_client(learner(kata_ns, "app")) as client:
            for book_id in (1, 2):
                await client.get(f"/books/{book_id}")
    still_open = connections.still_open()
    despite = (", although the app's shutdown did dispose of an engine: that disposal closed none "
               "of them" if disposals and len(still_open) == len(connections.used) else
               ", although the app's shutdown did dispose of an engine" if disposals else "")
    expect(
        not still_open,
        f"After the app shut down, {len(still_open)} of the {len(connections.used)} database "
        f"connection(s) it had used were still open{despite}.",
        "Each connection left open keeps a file handle, and on a database server one of its limited "
        "connection slots, until the process exits: every restart, reload or test run adds more, "
        "until the database refuses new clients.",
        nudge="At shutdown, what closes the connections the engine's pool holds, and does that call "
              "finish closing them before the app stops?",
        concept="An async engine is ended by awaiting its own dispose, which closes every connection "
                "its pool holds. The sync engine's dispose cannot wait for an async driver to close, "
                "and dispose(close=False) only forgets the connections. SQLAlchemy docs: 'Engine "
                "Disposal'.",
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
