"""Check: one `POST /orders` uses one session and one transaction, committed once, before the
answer; an order refused at any step (a sold-out book, or the database saying no to the order,
its lines or the stock) writes nothing."""

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from bookshop.client import SERVER_ERRORS, open_client
from bookshop.db import DATABASE_URL_ENV, fresh_database
from bookshop.observe import engine_events, response_spy, run_sql
from checks.feedback import expect, fail
from checks.harness import brief, json_of, learner

__all__ = [
    "test_placing_an_order_uses_one_session_not_two",
    "test_a_refused_order_leaves_no_order_rows_behind",
    "test_an_order_the_database_refuses_at_any_step_leaves_nothing_behind",
    "test_a_placed_order_is_committed_once_before_the_201_is_sent",
    "test_an_order_in_stock_is_saved_with_its_lines_and_takes_the_copies",
    "test_ordering_more_copies_than_the_shop_has_is_refused",
]

# In the seeded shop: Dune (3) has 5 copies, Dune Messiah (4) has 1, Parable of the Sower (6) none.
SEEDED_STOCK = {1: 4, 3: 5, 4: 1, 6: 0}

# Where the database can say no while an order is saved, and how the check makes it say no.
REFUSALS = {
    "the new order row": "CREATE TRIGGER refuse BEFORE INSERT ON orders "
                         "BEGIN SELECT RAISE(ABORT, 'the orders table refuses new rows'); END",
    "the order's lines": "CREATE TRIGGER refuse BEFORE INSERT ON order_lines "
                         "BEGIN SELECT RAISE(ABORT, 'the order_lines table refuses new rows'); END",
    "the change of stock": "CREATE TRIGGER refuse BEFORE UPDATE OF stock ON books "
                           "BEGIN SELECT RAISE(ABORT, 'the books table refuses stock changes'); END",
}

ONE_TRANSACTION = ("A transaction is saved or undone as a whole, and a session holds one at a time. "
                   "FastAPI runs a dependency once per request and hands its value to every "
                   "parameter that asks for it, unless one opts out. Do every step in the request's "
                   "one session and commit once, after the last step. FastAPI docs: 'Using the same "
                   "dependency multiple times'; SQLAlchemy docs: 'When do I construct a Session, "
                   "when do I commit it, and when do I close it?'.")


@contextmanager
def _sessions_that_touch_the_database() -> Iterator[list[Session]]:
    """Every ORM session that begins a transaction meanwhile, once per transaction it begins.

    The list keeps the sessions alive, so two sessions can never share an ``id()``.
    """
    began: list[Session] = []

    def after_begin(session, transaction, connection):
        began.append(session)

    event.listen(Session, "after_begin", after_begin)
    try:
        yield began
    finally:
        event.remove(Session, "after_begin", after_begin)


def _stock(url: str, *book_ids: int) -> dict[int, int]:
    ids = ", ".join(str(book_id) for book_id in book_ids)
    return dict(run_sql(url, f"SELECT id, stock FROM books WHERE id IN ({ids})"))


def _order_rows(url: str) -> tuple[int, int]:
    return run_sql(url, "SELECT (SELECT count(*) FROM orders), (SELECT count(*) FROM order_lines)")[0]


def _order(*lines: tuple[int, int], user_id: int = 1) -> dict:
    return {"user_id": user_id, "lines": [{"book_id": book, "quantity": quantity} for book, quantity in lines]}


@pytest.mark.anyio
async def test_placing_an_order_uses_one_session_not_two(kata_ns, shop_db):
    async with open_client(learner(kata_ns, "app")) as client:
        with _sessions_that_touch_the_database() as began:
            response = await client.post("/orders", json=_order((3, 1)))
    expect(
        response.status_code == 201,
        f"POST /orders for one copy of Dune (5 in stock) answered {brief(response)}, not 201 Created.",
        "An order in stock must still be placed.",
    )
    sessions = len({id(session) for session in began})
    expect(
        sessions == 1,
        f"One POST /orders did its work in {sessions} database sessions, so in {sessions} separate "
        "transactions, each committed or rolled back on its own.",
        "One order is one unit of work: the order, its lines and the copies taken off the shelf. "
        "Split over two transactions, a failure between them keeps half of it: an order with no "
        "copies set aside, or copies gone for no order.",
        nudge="How many times does get_session run for one POST /orders, and which parameter "
              "asks for the second session?",
        concept=ONE_TRANSACTION,
    )


@pytest.mark.anyio
async def test_a_refused_order_leaves_no_order_rows_behind(kata_ns, shop_db):
    # The last Dune Messiah, plus a Parable of the Sower, which is sold out: the order must be refused.
    async with open_client(learner(kata_ns, "app")) as client:
        response = await client.post("/orders", json=_order((4, 1), (6, 1)))
    backstop = (" The database's own rule that stock never goes below 0 refused it, which is a last "
                "line of defence, not an answer the customer can act on." if response.status_code == 500 else "")
    expect(
        response.status_code == 409,
        f"An order with a sold-out book (Parable of the Sower) answered {brief(response)}, not 409 "
        f"Conflict.{backstop}",
        "The customer must learn that a book is sold out, to change the order.",
        nudge="Does the stock step still refuse a book that is sold out, before taking copies?",
    )
    orders, lines = _order_rows(shop_db)
    expect(
        (orders, lines) == (0, 0),
        f"POST /orders answered 409, yet it left {orders} order row(s) and {lines} order line(s) in "
        "the database: the order had been committed before the stock step refused it.",
        "The warehouse packs every order in the table: the customer was told no, and gets a "
        "parcel anyway, with copies the stock still counts as on the shelf.",
        nudge="When is the order committed, and has the stock step run by then?",
        concept=ONE_TRANSACTION,
    )
    stock = _stock(shop_db, 4, 6)
    expect(
        stock == {4: 1, 6: 0},
        f"The refused order changed the stock to {stock}; it was {{4: 1, 6: 0}}.",
        "Copies taken off the shelf for an order that does not exist can never be sold.",
        nudge="Is a change of stock committed before another step fails?",
        concept=ONE_TRANSACTION,
    )


@pytest.mark.anyio
async def test_an_order_the_database_refuses_at_any_step_leaves_nothing_behind(kata_ns, tmp_path, monkeypatch):
    # The database says no to one write of the order in turn, as a full disk or a broken constraint
    # would. Whichever write it refuses, the order must be all or nothing.
    app = learner(kata_ns, "app")
    for number, (write, trigger) in enumerate(REFUSALS.items()):
        folder = tmp_path / f"refused-{number}"
        folder.mkdir()
        url = fresh_database(folder)
        monkeypatch.setenv(DATABASE_URL_ENV, url)
        run_sql(url, trigger)
        SERVER_ERRORS.clear()  # a failure below shows what the server raised for this case only
        async with open_client(app) as client:
            response = await client.post("/orders", json=_order((3, 2)))
        orders, lines = _order_rows(url)
        stock = _stock(url, 3)[3]
        left = [f"{orders} order row(s)", f"{lines} order line(s)"] if orders or lines else []
        if stock != SEEDED_STOCK[3]:
            left.append(f"Dune's stock at {stock} instead of {SEEDED_STOCK[3]}")
        left_text = ", ".join(left[:-1]) + f" and {left[-1]}" if len(left) > 1 else "".join(left)
        case = f"The check made the database refuse {write} while an order for 2 copies of Dune was saved."
        if response.status_code == 201:
            fail(
                f"{case} POST /orders still answered {brief(response)}"
                f"{', and left ' + left_text if left else ''}.",
                "A 201 promises the order is saved: the customer waits for a parcel that is never "
                "packed, or one that is packed without its copies being counted.",
                nudge="Does the answer wait until the database has accepted every write of the order?",
                concept=ONE_TRANSACTION,
            )
        if left:
            fail(
                f"{case} POST /orders answered {response.status_code}, and left {left_text}: part of "
                "the order had been committed before that write failed.",
                "Half an order is worse than none: an order the warehouse packs with no copies set "
                "aside for it, or copies gone from the shelf that no order holds, which nobody can "
                "sell again.",
                nudge="How many transactions does one order use, and which of them had committed "
                      "when the refused write ran?",
                concept=ONE_TRANSACTION,
            )


@pytest.mark.anyio
async def test_a_placed_order_is_committed_once_before_the_201_is_sent(kata_ns, shop_db):
    with engine_events("commit") as log:
        async with open_client(response_spy(learner(kata_ns, "app"), log)) as client:
            log.clear()  # only what this request does
            response = await client.post("/orders", json=_order((3, 1)))
    steps = [f"{entry[1]} sent" if entry[0] == "response-start" else "COMMIT" for entry in log]
    expect(
        response.status_code == 201,
        f"POST /orders for one copy of Dune (5 in stock) answered {brief(response)}, not 201 Created.",
        "An order in stock must still be placed.",
    )
    commits = steps.count("COMMIT")
    expect(
        commits == 1,
        f"One successful POST /orders sent {commits} COMMIT(s): {' -> '.join(steps)}.",
        "Each COMMIT makes part of the order permanent on its own; whatever fails between two "
        "of them, the part committed first stays."
        if commits > 1 else "Nothing the request wrote was made permanent: the order is lost.",
        nudge="Count the commits one order goes through. Which one is the last step?",
        concept=ONE_TRANSACTION,
    )
    expect(
        steps.index("COMMIT") < steps.index("201 sent"),
        f"The order of events was: {' -> '.join(steps)}. The customer was told the order was placed "
        "before the database had accepted it.",
        "Until the COMMIT succeeds, the database may still refuse the order; refused after the "
        "answer, the customer keeps a 201 for an order that does not exist. The same trap as in "
        "'Commit before you answer'.",
        nudge="When does code after a dependency's yield run: before or after the response?",
        concept="Code after a yield dependency's yield runs once the response has been sent "
                "(FastAPI's default scope since 0.118). Commit in the endpoint, before it returns.",
    )


@pytest.mark.anyio
async def test_an_order_in_stock_is_saved_with_its_lines_and_takes_the_copies(kata_ns, shop_db):
    async with open_client(learner(kata_ns, "app")) as client:
        response = await client.post("/orders", json=_order((3, 2), (4, 1), user_id=2))
    expect(
        response.status_code == 201,
        f"POST /orders for 2 Dune and the last Dune Messiah, all in stock, answered {brief(response)}, "
        "not 201 Created.",
        "An order in stock must still be placed.",
    )
    body = json_of(response)
    order_id = body.get("id") if isinstance(body, dict) else None
    saved = run_sql(shop_db, "SELECT id, user_id FROM orders")
    expect(
        saved == [(order_id, 2)],
        f"After the 201 the database holds the orders {saved} (id, user), and the response said "
        f"{brief(response, 120)}.",
        "The order must be saved, for user 2, under the id the customer was given.",
    )
    lines = sorted(run_sql(shop_db, "SELECT book_id, quantity FROM order_lines"))
    expect(
        lines == [(3, 2), (4, 1)],
        f"The order's lines were saved as {lines} (book, quantity), not [(3, 2), (4, 1)].",
        "The warehouse packs from the order lines.",
    )
    stock = _stock(shop_db, 3, 4)
    expect(
        stock == {3: 3, 4: 0},
        f"After the order the stock is {stock}, not {{3: 3, 4: 0}}.",
        "Placing an order takes its copies off the shelf, in the same transaction as the order.",
    )


@pytest.mark.anyio
async def test_ordering_more_copies_than_the_shop_has_is_refused(kata_ns, shop_db):
    async with open_client(learner(kata_ns, "app")) as client:
        response = await client.post("/orders", json=_order((1, 5)))
    expect(
        response.status_code == 409,
        f"Ordering 5 copies of The Left Hand of Darkness (4 in stock) answered {brief(response)}, not "
        "409 Conflict.",
        "The customer must learn that there are not enough copies; the shop cannot promise them.",
    )
    stock = _stock(shop_db, 1)[1]
    expect(
        stock == SEEDED_STOCK[1],
        f"The refused order changed the stock from {SEEDED_STOCK[1]} to {stock}.",
        "A refused order takes nothing off the shelf.",
    )
