"""Check: the session dependency lets every exception through (after rolling back), so an
endpoint's HTTPException keeps its status and an unexpected error reaches the server as itself."""

import pytest
from fastapi.exceptions import FastAPIError

from bookshop.client import open_client
from bookshop.observe import engine_events, run_sql
from checks.harness import learner

__all__ = [
    "test_a_missing_book_is_a_404_not_swallowed_into_a_500",
    "test_a_sold_out_order_is_a_409_not_swallowed_into_a_500",
    "test_an_unexpected_error_reaches_the_server_as_itself_not_as_response_not_awaited",
    "test_a_failed_order_is_rolled_back_and_leaves_no_rows",
    "test_books_and_orders_still_work_when_nothing_fails",
]

SOLD_OUT_ORDER = {"user_id": 1, "lines": [{"book_id": 1}, {"book_id": 6}]}  # book 6 has stock 0
ONE_COPY_OF_BOOK_1 = {"user_id": 1, "lines": [{"book_id": 1}]}


def _swallowed(status: int) -> str:
    return (
        f"it answered {status}. FastAPI throws the endpoint's HTTPException into get_session at "
        "its `yield`; the `except Exception` there must send that same exception on, or it never "
        "reaches FastAPI's handlers and the endpoint's answer is lost. End the block with `raise`."
    )


def _warehouse_down(kata_ns):
    """Override the learner's warehouse with one that fails; return the exception it raises."""
    boom = RuntimeError("warehouse API timed out (raised by the check)")

    class WarehouseDown:
        async def reserve(self, order_id, lines):
            raise boom

    app = learner(kata_ns, "app")
    app.dependency_overrides[learner(kata_ns, "get_warehouse")] = WarehouseDown  # the harness restores them
    return boom


@pytest.mark.anyio
async def test_a_missing_book_is_a_404_not_swallowed_into_a_500(kata_ns, shop_db):
    async with open_client(learner(kata_ns, "app")) as client:
        response = await client.get("/books/999")
    assert response.status_code == 404, f"GET /books/999 should answer the endpoint's 404, but {_swallowed(response.status_code)}"
    assert response.json().get("detail") == "Book not found", (
        f"GET /books/999 answered 404 with {response.text[:80]}, not the endpoint's own detail "
        "'Book not found'. Re-raise the same exception; do not replace it."
    )


@pytest.mark.anyio
async def test_a_sold_out_order_is_a_409_not_swallowed_into_a_500(kata_ns, shop_db):
    async with open_client(learner(kata_ns, "app")) as client:
        response = await client.post("/orders", json=SOLD_OUT_ORDER)
    assert response.status_code == 409, (
        f"An order for the sold-out Parable of the Sower should answer the endpoint's 409, but "
        f"{_swallowed(response.status_code)}"
    )
    assert "Parable of the Sower" in response.json().get("detail", ""), (
        f"The 409 should tell the customer which book is sold out; it said {response.text[:80]}. "
        "Re-raise the endpoint's own HTTPException; do not replace it."
    )


@pytest.mark.anyio
async def test_an_unexpected_error_reaches_the_server_as_itself_not_as_response_not_awaited(kata_ns, shop_db):
    boom = _warehouse_down(kata_ns)
    raised = None
    async with open_client(learner(kata_ns, "app"), raise_server_exceptions=True) as client:
        try:
            await client.post("/orders", json=ONE_COPY_OF_BOOK_1)
        except Exception as error:  # what a real server would report in its error log
            raised = error
    assert raised is not None, (
        "The warehouse raised RuntimeError, yet no error reached the server: something turned it "
        "into an ordinary response, so the server's error log and error handling never see it. "
        "Re-raise the original exception with a bare `raise`; do not raise a new HTTPException."
    )
    assert not isinstance(raised, FastAPIError), (
        f"The warehouse raised RuntimeError({str(boom)!r}), but the server saw FastAPIError: "
        f"{str(raised).split('.')[0]}. The `except Exception` in get_session swallowed the real "
        "error, so FastAPI found no response and reported that instead. Re-raise it (`raise`) "
        "after logging and rolling back."
    )
    assert raised is boom or raised.__cause__ is boom, (
        f"The warehouse raised RuntimeError({str(boom)!r}), but the server saw "
        f"{type(raised).__name__}: {str(raised)[:80]}. Something replaced the real error on its way "
        "out; re-raise the original exception with a bare `raise`."
    )


@pytest.mark.anyio
async def test_a_failed_order_is_rolled_back_and_leaves_no_rows(kata_ns, shop_db):
    # Passes on the starter too: closing the session rolls back. It guards against fixes that commit.
    _warehouse_down(kata_ns)
    with engine_events("commit", "rollback") as events:
        async with open_client(learner(kata_ns, "app")) as client:
            await client.post("/orders", json=SOLD_OUT_ORDER)  # fails after inserting and updating
            await client.post("/orders", json=ONE_COPY_OF_BOOK_1)  # fails in the warehouse call
    orders, lines, stock = run_sql(
        shop_db,
        "SELECT (SELECT count(*) FROM orders), (SELECT count(*) FROM order_lines), "
        "(SELECT stock FROM books WHERE id = 1)",
    )[0]
    assert (orders, lines, stock) == (0, 0, 4), (
        f"Two failed orders left {orders} order(s), {lines} order line(s) and {stock} of the 4 copies "
        "of book 1 in the database. A request that fails must roll its transaction back, never "
        "commit it: roll back in the `except`, and commit only in the endpoint, on success."
    )
    kinds = [kind for kind, _, _ in events]
    assert "commit" not in kinds and kinds.count("rollback") >= 2, (
        f"The database saw {kinds} for two failed orders; expected one ROLLBACK each and no COMMIT."
    )


@pytest.mark.anyio
async def test_books_and_orders_still_work_when_nothing_fails(kata_ns, shop_db):
    async with open_client(learner(kata_ns, "app")) as client:
        book = await client.get("/books/3")
        order = await client.post("/orders", json={"user_id": 2, "lines": [{"book_id": 3, "quantity": 2}]})
    assert book.status_code == 200 and book.json().get("title") == "Dune", (
        f"GET /books/3 should return Dune from the database, got {book.status_code} {book.text[:80]}"
    )
    assert order.status_code == 201, f"A valid order should answer 201, got {order.status_code} {order.text[:80]}"
    rows = run_sql(
        shop_db,
        "SELECT o.user_id, l.book_id, l.quantity, b.stock FROM orders o "
        "JOIN order_lines l ON l.order_id = o.id JOIN books b ON b.id = l.book_id",
    )
    assert rows == [(2, 3, 2, 3)], (
        f"After a successful order for 2 copies of Dune the database holds {rows}; expected the "
        "order, its line and 3 copies left. The endpoint's commit must still go through."
    )
