"""Check: one `POST /orders` uses one session and one transaction; a refused order writes nothing."""

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from bookshop.client import open_client
from bookshop.observe import run_sql
from checks.harness import learner

__all__ = [
    "test_placing_an_order_uses_one_session_not_two",
    "test_a_refused_order_leaves_no_order_rows_behind",
    "test_an_order_that_cannot_be_saved_takes_no_stock",
    "test_an_order_in_stock_is_saved_with_its_lines_and_takes_the_copies",
    "test_ordering_more_copies_than_the_shop_has_is_refused",
]

# In the seeded shop: Dune (3) has 5 copies, Dune Messiah (4) has 1, Parable of the Sower (6) none.
SEEDED_STOCK = {1: 4, 3: 5, 4: 1, 6: 0}


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
    assert response.status_code == 201, (
        f"POST /orders for one copy of Dune (5 in stock) answered {response.status_code} "
        f"{response.text[:120]}: an order in stock must still be placed, with 201."
    )
    sessions = len({id(session) for session in began})
    assert sessions == 1, (
        f"One POST /orders did its work in {sessions} database sessions, so in {sessions} separate "
        "transactions that commit or roll back independently. `Depends(get_session, use_cache=False)` "
        "(or a helper that calls the sessionmaker itself) opens a second one. Declare "
        "`SessionDep = Annotated[AsyncSession, Depends(get_session)]` once and use it in every "
        "dependency: FastAPI runs `get_session` once per request and shares its session."
    )


@pytest.mark.anyio
async def test_a_refused_order_leaves_no_order_rows_behind(kata_ns, shop_db):
    # The last Dune Messiah, plus a Parable of the Sower, which is sold out: the order must be refused.
    async with open_client(learner(kata_ns, "app")) as client:
        response = await client.post("/orders", json=_order((4, 1), (6, 1)))
    # A learner who drops the stock check and lets CHECK (stock >= 0) refuse the row gets a 500.
    why = (
        " The database's CHECK (stock >= 0) is a last line of defence, not an answer to the "
        "customer: check the stock and raise HTTPException(409)."
        if response.status_code == 500
        else ""
    )
    assert response.status_code == 409, (
        f"An order with a sold-out book (Parable of the Sower) answered {response.status_code} "
        f"{response.text[:120]}; it must be refused with 409 Conflict.{why}"
    )
    orders, lines = _order_rows(shop_db)
    assert (orders, lines) == (0, 0), (
        f"POST /orders answered 409, yet it left {orders} order row(s) and {lines} order line(s) "
        "in the database: the order was committed before the stock step failed. Do every step "
        "in the request's one session and commit once, at the end, after every step succeeded; "
        "a step that raises then leaves nothing behind."
    )
    stock = _stock(shop_db, 4, 6)
    assert stock == {4: 1, 6: 0}, (
        f"The refused order changed the stock to {stock} (it was {{4: 1, 6: 0}}): a stock change "
        "was committed before another step failed. Commit once, at the end."
    )


@pytest.mark.anyio
async def test_an_order_that_cannot_be_saved_takes_no_stock(kata_ns, shop_db):
    # The orders table refuses new rows, as a full disk or a broken constraint would.
    run_sql(
        shop_db,
        "CREATE TRIGGER orders_refused BEFORE INSERT ON orders "
        "BEGIN SELECT RAISE(ABORT, 'the orders table refuses new rows'); END",
    )
    async with open_client(learner(kata_ns, "app")) as client:
        response = await client.post("/orders", json=_order((3, 2)))
    assert response.status_code != 201, (
        f"POST /orders answered 201 although the database refused to save the order "
        f"({response.text[:120]}): do not report success for an order that was not saved."
    )
    stock = _stock(shop_db, 3)[3]
    assert stock == SEEDED_STOCK[3], (
        f"Saving the order failed (POST /orders answered {response.status_code}; the check made the "
        f"orders table refuse new rows), but Dune's stock "
        f"went from {SEEDED_STOCK[3]} to {stock}: the copies were committed in a transaction of their "
        "own, so they left the shelf with no order holding them. Taking stock first does not help "
        "while there are two commits; use the request's one session and commit once, at the end."
    )


@pytest.mark.anyio
async def test_an_order_in_stock_is_saved_with_its_lines_and_takes_the_copies(kata_ns, shop_db):
    async with open_client(learner(kata_ns, "app")) as client:
        response = await client.post("/orders", json=_order((3, 2), (4, 1), user_id=2))
    assert response.status_code == 201, (
        f"POST /orders for 2 Dune and the last Dune Messiah, all in stock, answered "
        f"{response.status_code} {response.text[:120]}; expected 201 Created."
    )
    body = response.json()
    order_id = body.get("id") if isinstance(body, dict) else None
    saved = run_sql(shop_db, "SELECT id, user_id FROM orders")
    assert saved == [(order_id, 2)], (
        f"After a 201 the database holds the orders {saved}, and the response said {body}: "
        "the order must be saved, for user 2, with the id the response returns."
    )
    lines = sorted(run_sql(shop_db, "SELECT book_id, quantity FROM order_lines"))
    assert lines == [(3, 2), (4, 1)], f"The order's lines were saved as {lines}; expected [(3, 2), (4, 1)]."
    stock = _stock(shop_db, 3, 4)
    assert stock == {3: 3, 4: 0}, (
        f"After the order, the stock is {stock}; expected {{3: 3, 4: 0}}: placing an order must "
        "take the copies off the shelf, in the same transaction as the order."
    )


@pytest.mark.anyio
async def test_ordering_more_copies_than_the_shop_has_is_refused(kata_ns, shop_db):
    async with open_client(learner(kata_ns, "app")) as client:
        response = await client.post("/orders", json=_order((1, 5)))
    assert response.status_code == 409, (
        f"Ordering 5 copies of The Left Hand of Darkness (4 in stock) answered {response.status_code} "
        f"{response.text[:120]}; expected 409 Conflict. Keep checking the stock before taking copies."
    )
    stock = _stock(shop_db, 1)[1]
    assert stock == SEEDED_STOCK[1], f"A refused order changed the stock from {SEEDED_STOCK[1]} to {stock}."
