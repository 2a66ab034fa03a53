"""Check: the session dependency lets every exception go on unchanged (after rolling back), so an
endpoint's HTTPException keeps its status, FastAPI's own validation errors keep their 422, an
unexpected error reaches the server as itself, and every session goes back to the pool."""

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi.exceptions import FastAPIError
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from bookshop.client import open_client
from bookshop.db import DATABASE_URL_ENV, fresh_database
from bookshop.observe import engine_events, pool_connections, run_sql
from checks.feedback import expect, fail
from checks.harness import brief, json_of, learner

__all__ = [
    "kata_no_waiting_for_locks",
    "test_a_missing_book_is_a_404_not_swallowed_into_a_500",
    "test_a_sold_out_order_is_a_409_not_swallowed_into_a_500",
    "test_a_malformed_order_is_answered_422_with_the_validation_detail",
    "test_an_unexpected_error_reaches_the_server_as_itself_not_as_response_not_awaited",
    "test_every_request_gives_its_connection_back_to_the_pool",
    "test_a_failed_order_is_rolled_back_and_leaves_no_rows",
    "test_books_and_orders_still_work_when_nothing_fails",
]

SOLD_OUT_ORDER = {"user_id": 1, "lines": [{"book_id": 1}, {"book_id": 6}]}  # book 6 has stock 0
ONE_COPY_OF_BOOK_1 = {"user_id": 1, "lines": [{"book_id": 1}]}
MALFORMED_ORDER = {"user_id": "alice", "lines": [{"book_id": 1}]}  # user_id must be a number

# Where FastAPI throws an endpoint's error: the same help for every swallowed or replaced error.
NUDGE = ("The endpoint runs while get_session is paused at its yield. When the endpoint raises, "
         "where does that exception go, and what does the except block do with it?")
CONCEPT = ("FastAPI throws an endpoint's exception into every yield dependency still open, at its "
           "yield. A dependency may catch it to log or roll back, but the request gets its answer "
           "only if that same exception leaves the dependency. FastAPI docs: 'Dependencies with "
           "yield and except'.")


def _give_up_at_once(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout = 0")
    cursor.close()


@pytest.fixture(autouse=True)
def kata_no_waiting_for_locks():
    """No test here writes from two requests at once, so nothing should ever wait for a lock.
    A session left open still holds its write lock: the next write then fails at once with
    'database is locked', instead of after SQLite's 5 s wait."""
    event.listen(Engine, "connect", _give_up_at_once)
    yield
    event.remove(Engine, "connect", _give_up_at_once)


def _warehouse_down(kata_ns, boom: Exception | None = None):
    """Override the learner's warehouse with one that fails; return the exception it raises."""
    boom = boom or RuntimeError("warehouse API timed out (raised by the check)")

    class WarehouseDown:
        async def reserve(self, order_id, lines):
            raise boom

    app = learner(kata_ns, "app")
    app.dependency_overrides[learner(kata_ns, "get_warehouse")] = WarehouseDown  # the harness restores them
    return boom


def _detail(response):
    body = json_of(response)
    return body.get("detail") if isinstance(body, dict) else None


@pytest.mark.anyio
async def test_a_missing_book_is_a_404_not_swallowed_into_a_500(kata_ns, shop_db):
    async with open_client(learner(kata_ns, "app")) as client:
        response = await client.get("/books/999")
    expect(
        response.status_code == 404,
        f"GET /books/999 answered {brief(response)}. The endpoint raised its 404 'Book not found', "
        "but the client never got it.",
        "A client that asks for a book that does not exist must be told so: a 500 says the server "
        "broke, so clients retry, monitoring pages someone, and the real answer is lost.",
        nudge=NUDGE,
        concept=CONCEPT,
    )
    expect(
        _detail(response) == "Book not found",
        f"GET /books/999 answered {brief(response)}, not the endpoint's own detail 'Book not found'.",
        "The detail is what the client shows or acts on; replacing the endpoint's error with another "
        "one loses it.",
        nudge="Does the exception that leaves get_session still carry what the endpoint said?",
    )


@pytest.mark.anyio
async def test_a_sold_out_order_is_a_409_not_swallowed_into_a_500(kata_ns, shop_db):
    async with open_client(learner(kata_ns, "app")) as client:
        response = await client.post("/orders", json=SOLD_OUT_ORDER)
    expect(
        response.status_code == 409,
        f"An order including the sold-out Parable of the Sower answered {brief(response)}. The "
        "endpoint raised its 409 'Only 0 left of Parable of the Sower', but the client never got it.",
        "The customer must learn which book is sold out to change the order; a 500 tells them only "
        "that the shop is broken.",
        nudge=NUDGE,
        concept=CONCEPT,
    )
    detail = _detail(response)
    expect(
        isinstance(detail, str) and "Parable of the Sower" in detail,
        f"The sold-out order answered {brief(response)}, without the endpoint's own detail naming "
        "the book.",
        "The detail is what tells the customer which book to remove from the order.",
        nudge="Does the exception that leaves get_session still carry what the endpoint said?",
    )


@pytest.mark.anyio
async def test_a_malformed_order_is_answered_422_with_the_validation_detail(kata_ns, shop_db):
    async with open_client(learner(kata_ns, "app")) as client:
        response = await client.post("/orders", json=MALFORMED_ORDER)
    detail = _detail(response)
    names_the_field = isinstance(detail, list) and any(
        isinstance(error, dict) and isinstance(error.get("loc"), list) and "user_id" in error["loc"] for error in detail
    )
    expect(
        response.status_code == 422 and names_the_field,
        f"POST /orders with user_id \"alice\" (not a number) answered {brief(response)}. FastAPI "
        "validates the body after it has opened the request's dependencies, and its 422 with the "
        "list of invalid fields never reached the client.",
        "A client that sends a malformed request must be told which field is wrong, with a 4xx it "
        "will not retry. A 500 blames the server for the client's mistake, and fills the error "
        "reports with requests nobody can fix on the server.",
        nudge="FastAPI's own validation error is an exception too, raised while get_session is "
              "already open. What does the except block turn it into?",
        concept=CONCEPT,
    )


@contextmanager
def _write_lock_held_elsewhere(url: str) -> Iterator[None]:
    """Another program holds the database's write lock: the app's next write fails at once (no
    waiting for locks here) with SQLAlchemy's OperationalError, 'database is locked'."""
    other = sqlite3.connect(url.split(":///", 1)[1], isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        yield
    finally:
        other.close()


# Unexpected errors of several kinds, from the two parts that fail in production. Each must reach
# the server as itself: an except that lets some kinds through and keeps others still swallows.
UNEXPECTED = (
    ("warehouse", RuntimeError, "warehouse API timed out (raised by the check)"),
    ("database", OperationalError, "database is locked"),
    ("warehouse", ConnectionError, "warehouse API refused the connection (raised by the check)"),
    ("warehouse", TimeoutError, "warehouse API did not answer in time (raised by the check)"),
)


@pytest.mark.anyio
async def test_an_unexpected_error_reaches_the_server_as_itself_not_as_response_not_awaited(
        kata_ns, shop_db, tmp_path, monkeypatch):
    app, get_warehouse = learner(kata_ns, "app"), learner(kata_ns, "get_warehouse")
    why = ("The server's error log, its error reports and its alerts are built from the exception "
           "that reaches it: they must name the part that failed, with its own message and "
           "traceback.")
    reached: list[str] = []
    for number, (part, kind, text) in enumerate(UNEXPECTED):
        # Each kind on a database and a start of the app of its own: nothing one case leaves
        # behind (a lock still held, say) decides the next.
        folder = tmp_path / f"unexpected-{number}"
        folder.mkdir()
        url = fresh_database(folder)
        monkeypatch.setenv(DATABASE_URL_ENV, url)
        raised = boom = None
        if part == "warehouse":
            boom = _warehouse_down(kata_ns, kind(text))
            what = f"The warehouse raised {kind.__name__}({text!r})"
        else:
            what = ("The database refused the order's first INSERT with SQLAlchemy's "
                    "OperationalError ('database is locked': another program held its write lock)")
        try:
            async with open_client(app, raise_server_exceptions=True) as client:
                try:
                    if part == "warehouse":
                        await client.post("/orders", json=ONE_COPY_OF_BOOK_1)
                    else:
                        with _write_lock_held_elsewhere(url):
                            await client.post("/orders", json=ONE_COPY_OF_BOOK_1)
                except Exception as error:  # what a real server would report in its error log
                    raised = error
        finally:
            app.dependency_overrides.pop(get_warehouse, None)
        itself = raised is boom if boom is not None else isinstance(raised, kind) and text in str(raised)
        if itself:
            reached.append(f"{'an' if kind.__name__[0] in 'AEIOU' else 'a'} {kind.__name__} from the {part}")
            continue
        passed = " and ".join(reached)
        others = (f" ({passed[:1].upper()}{passed[1:]} did reach the server as itself: the except block "
                  "lets some kinds of error through and keeps others.)" if reached else "")
        if raised is None:
            fail(
                f"{what}, and no error reached the server: the request ended as an ordinary "
                f"response.{others}",
                f"{why} An error turned into a response is invisible to the server's error handling.",
                nudge=NUDGE,
                concept=CONCEPT,
            )
        if isinstance(raised, FastAPIError):
            fail(
                f"{what}, but the server saw FastAPIError: {str(raised).split('.')[0]}. The real "
                "error was caught on its way out, and FastAPI, left with no response, reported that "
                f"instead.{others}",
                f"{why} 'Response not awaited' sends whoever reads the log looking for a bug in "
                "FastAPI.",
                nudge=NUDGE if not reached else "Which kinds of exception does the except block in "
                      "get_session catch, and what happens to one it catches?",
                concept=CONCEPT,
            )
        kept = (" The original error is only attached to it, as its cause."
                if boom is not None and boom in (raised.__cause__, raised.__context__) else "")
        fail(
            f"{what}, but the server saw another exception: {type(raised).__name__}: "
            f"{str(raised)[:100]}.{kept}",
            f"{why} A replacement hides which part failed behind one generic error: every failure "
            "of every request looks the same in the reports.",
            nudge="Which exception leaves get_session: the one the endpoint raised, or a new one?",
            concept=CONCEPT,
        )


@pytest.mark.anyio
async def test_every_request_gives_its_connection_back_to_the_pool(kata_ns, shop_db):
    app = learner(kata_ns, "app")
    get_warehouse = learner(kata_ns, "get_warehouse")
    cases = [
        ("GET /books/3", "GET", "/books/3", None, False),
        ("POST /orders, in stock", "POST", "/orders", {"user_id": 2, "lines": [{"book_id": 3}]}, False),
        ("GET /books/999", "GET", "/books/999", None, False),
        ("POST /orders with a sold-out book", "POST", "/orders", SOLD_OUT_ORDER, False),
        ("POST /orders while the warehouse is down", "POST", "/orders", ONE_COPY_OF_BOOK_1, True),
        ("POST /orders with a malformed body", "POST", "/orders", MALFORMED_ORDER, False),
    ]
    async with open_client(app) as client:
        for label, method, path, payload, warehouse_down in cases:
            if warehouse_down:
                _warehouse_down(kata_ns)
            with pool_connections() as pool:
                response = await client.request(method, path, json=payload)
            app.dependency_overrides.pop(get_warehouse, None)
            if pool.out:
                fail(
                    f"After {label} was answered {response.status_code}, {pool.out} database "
                    "connection(s) it took from the pool were still out: its session was never "
                    "closed.",
                    "A connection kept after its request is one fewer for the next, and it still "
                    "holds what its transaction locked: under load the pool runs dry, requests "
                    "wait, then fail with a timeout or 'database is locked'.",
                    nudge="On which paths through get_session is the session closed: when the "
                          "endpoint succeeds, when it raises, or both?",
                    concept="A session must be closed on every path out of the dependency, an "
                            "exception included; a context manager (or a finally) does that. "
                            "SQLAlchemy docs: 'Closing' in Session Basics.",
                )


@pytest.mark.anyio
async def test_a_failed_order_is_rolled_back_and_leaves_no_rows(kata_ns, shop_db):
    # Passes on the starter too: closing the session rolls back. It guards against fixes that commit.
    _warehouse_down(kata_ns)
    failing = (("the sold-out order", SOLD_OUT_ORDER),  # fails after inserting and updating
               ("the order the warehouse failed", ONE_COPY_OF_BOOK_1))  # fails in the warehouse call
    ends = []
    with engine_events("commit", "rollback") as events:
        async with open_client(learner(kata_ns, "app")) as client:
            for label, payload in failing:
                seen, errors_before = len(events), len(client.server_errors)
                with pool_connections() as pool:
                    await client.post("/orders", json=payload)
                ends.append((label, [kind for kind, _, _ in events[seen:]], pool.out,
                             client.server_errors[errors_before:]))
    orders, lines, stock = run_sql(
        shop_db,
        "SELECT (SELECT count(*) FROM orders), (SELECT count(*) FROM order_lines), "
        "(SELECT stock FROM books WHERE id = 1)",
    )[0]
    expect(
        (orders, lines, stock) == (0, 0, 4),
        f"Two failed orders left {orders} order(s), {lines} order line(s) and {stock} of the 4 copies "
        "of book 1 in the database.",
        "A request that fails must leave nothing behind: an order nobody was told about gets packed "
        "and shipped, and its copies are gone from the stock.",
        nudge="On the way out of a failed request, is anything committed?",
    )
    committed = [label for label, kinds, _, _ in ends if "commit" in kinds]
    rolled_back = [label for label, kinds, _, _ in ends if "rollback" in kinds and "commit" not in kinds]
    if not committed and len(rolled_back) == len(ends):
        return
    told = []
    for label, kinds, out, _ in ends:
        if "commit" in kinds:
            told.append(f"{label} was committed")
        elif "rollback" in kinds:
            told.append(f"{label} was rolled back")
        else:
            kept = (": its session was never closed, so its connection stayed out of the pool with the "
                    "transaction still open" if out else "")
            told.append(f"{label} was never ended{kept}")
    (first, _, first_out, _), (_, _, _, second_errors) = ends
    locked = first_out and any("database is locked" in str(error) for error in second_errors)
    blocked = (" The second order could not even write: the database answered 'database is locked', "
               "because the first order's connection, left open, still held the write lock." if locked else "")
    fail(
        f"Of the two failed orders, {len(rolled_back)} ended in a ROLLBACK: {'; '.join(told)}.{blocked}",
        "A committed failure keeps the failed request's writes for good." if committed else
        "A transaction nobody ends keeps its writes pending and its locks held until the garbage "
        "collector happens to close the connection: meanwhile nobody else can write, and every "
        "order after it fails.",
        nudge="On the way out of a failed request, is anything committed?" if committed else
              "On which paths through get_session is the session closed: when the endpoint succeeds, "
              "when it raises, or both?",
        concept="Closing a session ends its transaction with a ROLLBACK and gives the connection back; "
                "a context manager (or a finally) closes it on every path out of the dependency. "
                "SQLAlchemy docs: 'Closing' in Session Basics.",
    )


@pytest.mark.anyio
async def test_books_and_orders_still_work_when_nothing_fails(kata_ns, shop_db):
    async with open_client(learner(kata_ns, "app")) as client:
        book = await client.get("/books/3")
        order = await client.post("/orders", json={"user_id": 2, "lines": [{"book_id": 3, "quantity": 2}]})
    body = json_of(book)
    expect(
        book.status_code == 200 and isinstance(body, dict) and body.get("title") == "Dune",
        f"GET /books/3 answered {brief(book)}, not the book Dune.",
        "The catalogue must keep working while the error handling changes.",
    )
    expect(
        order.status_code == 201,
        f"A valid order for 2 copies of Dune answered {brief(order)}, not 201 Created.",
        "Orders that nothing goes wrong with must still be placed.",
    )
    rows = run_sql(
        shop_db,
        "SELECT o.user_id, l.book_id, l.quantity, b.stock FROM orders o "
        "JOIN order_lines l ON l.order_id = o.id JOIN books b ON b.id = l.book_id",
    )
    expect(
        rows == [(2, 3, 2, 3)],
        f"After a successful order for 2 copies of Dune (5 in stock) the database holds {rows} "
        "(user, book, quantity, stock left), not the order with 3 copies left.",
        "A 201 promises the order was saved: the endpoint's commit must still go through.",
    )
