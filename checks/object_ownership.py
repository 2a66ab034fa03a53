"""Check: an inventory of every route with an id in its path (walked from ``app.routes``), each tried
with every method it accepts. As another customer, with every parameter that names a user set to
the owner's id: a 404 (or 403), nothing of the owner's in the answer, nothing changed. Without a
token: a 401, nothing changed. The owner still reads and cancels their own orders."""

import sqlite3
from contextlib import closing

import pytest
from fastapi.routing import APIRoute

from bookshop.auth import bearer_header
from bookshop.client import open_client
from bookshop.observe import run_sql
from checks.feedback import expect, fail
from checks.harness import brief, json_of, learner

__all__ = [
    "kata_orders_of_alice_and_bob",
    "test_another_customer_reads_nothing_of_an_order_that_is_not_theirs",
    "test_another_customer_changes_nothing_on_an_order_that_is_not_theirs",
    "test_a_caller_without_a_token_gets_401_on_every_order_route",
    "test_the_owner_still_reads_and_cancels_their_own_orders",
]

ALICE, BOB = 1, 2
ALICES_ORDER, BOBS_ORDER, ALICES_OTHER_ORDER = 101, 102, 103
ORDERS = ("INSERT INTO orders (id, user_id) VALUES (101, 1), (102, 2), (103, 1)",
          "INSERT INTO order_lines (order_id, book_id, quantity) VALUES (101, 1, 2), (101, 5, 1), (102, 3, 1), (103, 8, 3)")
ALICES_DETAILS = ("alice@example.com", "Alice")
USER_WORDS = ("user", "owner", "customer", "account", "member")

OWNER_CONCEPT = ("Authentication says who the caller is; authorization, for each object, says whether that "
                 "caller may have it. Make the owner part of the query that loads the object, so that "
                 "someone else's is not found, and take the owner from the verified token. OWASP API1:2023 "
                 "Broken Object Level Authorization.")


def _write(url: str, *statements: str) -> None:
    """Run ``statements`` on the test's database file, without waiting for the disk: the file is a
    scratch copy that lives as long as the test (``run_sql`` is for reading)."""
    with closing(sqlite3.connect(url.split(":///", 1)[1])) as conn:
        conn.execute("PRAGMA synchronous = OFF")
        with conn:
            for statement in statements:
                conn.execute(statement)


@pytest.fixture(autouse=True)
def kata_orders_of_alice_and_bob(shop_db) -> None:
    _write(shop_db, *ORDERS)


def _orders(url: str) -> list[tuple]:
    return run_sql(url, "SELECT o.id, o.user_id, l.book_id, l.quantity FROM orders o "
                        "LEFT JOIN order_lines l ON l.order_id = o.id ORDER BY o.id, l.book_id")


def _fields(dependant) -> tuple[list, list]:
    """Every query and header parameter a route declares, its dependencies' included."""
    query, headers = list(dependant.query_params), list(dependant.header_params)
    for sub in dependant.dependencies:
        more_query, more_headers = _fields(sub)
        query += more_query
        headers += more_headers
    return query, headers


def _names_a_user(field) -> bool:
    return any(word in f"{field.name} {field.alias}".lower() for word in USER_WORDS)


def _inventory(app, *, reads: bool | None = None) -> list[tuple[str, str, dict, dict]]:
    """(method, url, query, headers) for every route with an id in its path and every method it
    accepts, the ids set to Alice's order and every parameter that names a user set to Alice's id:
    what an attacker who reads the API's documentation sends. ``reads``: GET only, or all but GET."""
    found = []
    for route in getattr(app, "routes", []):
        if not isinstance(route, APIRoute) or not route.param_convertors:
            continue
        url = route.path_format.format(**{name: ALICES_ORDER for name in route.param_convertors})
        query_fields, header_fields = _fields(route.dependant)
        query = {f.alias: str(ALICE) for f in query_fields if _names_a_user(f) or f.field_info.is_required()}
        headers = {f.alias: str(ALICE) for f in header_fields if _names_a_user(f)}
        for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
            if reads is None or (method == "GET") == reads:
                found.append((method, url, query, headers))
    return found


def _shown(method: str, url: str, query: dict) -> str:
    parameters = "&".join(f"{name}={value}" for name, value in query.items())
    return f"{method} {url}{'?' + parameters if parameters else ''}"


async def _send(client, request: tuple, token: dict) -> object:
    method, url, query, headers = request
    body = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
    return await client.request(method, url, params=query, headers={**headers, **token}, **body)


def _leaks(response) -> bool:
    return any(detail.lower() in response.text.lower() for detail in ALICES_DETAILS)


def _as_documented(requests: list) -> str:
    """What the check set, beyond the id, in the requests it lists."""
    named = sorted({name for _, _, query, headers in requests for name in (*query, *headers)})
    return (f" The check set {', '.join(named)} to Alice's id, {ALICE}, as anyone reading the API's "
            "documentation can." if named else "")


FROM_THE_CLIENT = "Where does the customer id the look-up compares with come from: the verified token, or the request?"
OWNER_NUDGE = "Each route receives the current customer: does the look-up of the order use it?"


def _nudge(requests: list) -> str:
    return FROM_THE_CLIENT if _as_documented(requests) else OWNER_NUDGE


def _no_routes() -> None:
    fail(
        "The check found no route with an id in its path in app.routes: it expected GET /orders/{order_id}, "
        "GET /orders/{order_id}/invoice and DELETE /orders/{order_id}.",
        "The order routes must still exist; the check tries each of them as another customer.",
    )


@pytest.mark.anyio
async def test_another_customer_reads_nothing_of_an_order_that_is_not_theirs(kata_ns, shop_db):
    app = learner(kata_ns, "app")
    requests = _inventory(app, reads=True)
    if not requests:
        _no_routes()
    async with open_client(app) as client:
        answers = [(request, await _send(client, request, bearer_header(BOB))) for request in requests]
    shown = [(request, response) for request, response in answers if response.is_success or _leaks(response)]
    expect(
        not shown,
        f"Bob, logged in as himself, asked for Alice's order {ALICES_ORDER}: "
        + "; ".join(f"{_shown(*request[:3])} answered {brief(response, 110)}" for request, response in shown) + "."
        + _as_documented([request for request, _ in shown]),
        "Any customer reads any other customer's orders and invoices, names and emails included, by "
        "changing a number in the URL or counting through them. The token proved who Bob is, not that "
        "the order is his.",
        nudge=_nudge([request for request, _ in shown]),
        concept=OWNER_CONCEPT,
    )
    other = [(request, response) for request, response in answers if response.status_code not in (403, 404)]
    expect(
        not other,
        f"Bob asked for Alice's order {ALICES_ORDER}: "
        + "; ".join(f"{_shown(*request[:3])} answered {brief(response, 90)}" for request, response in other)
        + ". The story asks for 404 (or 403).",
        "The front end shows 'order not found' for a 404; anything else is an error it cannot explain to "
        "the customer, and a 5xx reports an outage where there was only a wrong id.",
        nudge="What does a route answer when the order is not the caller's?",
    )


@pytest.mark.anyio
async def test_another_customer_changes_nothing_on_an_order_that_is_not_theirs(kata_ns, shop_db):
    app = learner(kata_ns, "app")
    requests = _inventory(app, reads=False)
    if not requests:
        fail(
            "The check found no route with an id in its path that changes an order (any method but GET) in "
            "app.routes: it expected DELETE /orders/{order_id}.",
            "Customers must still be able to cancel their orders.",
        )
    before = _orders(shop_db)
    async with open_client(app) as client:
        answers = [(request, await _send(client, request, bearer_header(BOB))) for request in requests]
    after = _orders(shop_db)
    listed = "; ".join(f"{_shown(*request[:3])} answered {brief(response, 80)}" for request, response in answers)
    if after != before:
        gone = sorted({row[0] for row in before} - {row[0] for row in after})
        what = (f"order {gone[0]} is gone from the database" if len(gone) == 1 else
                f"orders {', '.join(map(str, gone))} are gone from the database" if gone else
                "the orders in the database changed")
        refused = all(response.status_code in (403, 404) for _, response in answers)
        fail(
            f"Bob, logged in as himself, sent each route that changes an order the id of Alice's order "
            f"{ALICES_ORDER}: {listed}. Afterwards {what}."
            + (" The answer said the order was not his, after the change was made." if refused else "")
            + _as_documented([request for request, _ in answers]),
            "Any customer cancels any other customer's orders by changing a number in the URL. A refusal "
            "sent after the change undoes nothing: the owner finds the order gone.",
            nudge="When does each route compare the order's owner with the caller: before or after it "
                  "changes something?" if refused else _nudge([request for request, _ in answers]),
            concept=OWNER_CONCEPT,
        )
    other = [(request, response) for request, response in answers if response.status_code not in (403, 404)]
    expect(
        not other,
        f"Bob sent Alice's order {ALICES_ORDER} to the routes that change orders: "
        + "; ".join(f"{_shown(*request[:3])} answered {brief(response, 90)}" for request, response in other)
        + ". The story asks for 404 (or 403).",
        "A success status tells Bob his change went through; a 5xx reports an outage where there was only "
        "a wrong id.",
        nudge="What does a route answer when the order is not the caller's?",
    )


@pytest.mark.anyio
async def test_a_caller_without_a_token_gets_401_on_every_order_route(kata_ns, shop_db):
    app = learner(kata_ns, "app")
    requests = _inventory(app)
    if not requests:
        _no_routes()
    before = _orders(shop_db)
    async with open_client(app) as client:
        answers = [(request, await _send(client, request, {})) for request in requests]
    after = _orders(shop_db)
    other = [(request, response) for request, response in answers if response.status_code != 401]
    expect(
        not other and after == before,
        "Without a token, with the id of Alice's order: "
        + "; ".join(f"{_shown(*request[:3])} answered {brief(response, 90)}" for request, response in other)
        + ("" if after == before else "; and the orders in the database changed") + ".",
        "An order route is for the customer who owns the order; a caller who has not logged in is told "
        "to, with a 401, and nothing else.",
        nudge="Which routes still require the current customer?",
    )


@pytest.mark.anyio
async def test_the_owner_still_reads_and_cancels_their_own_orders(kata_ns, shop_db):
    alice, bob = bearer_header(ALICE), bearer_header(BOB)
    async with open_client(learner(kata_ns, "app")) as client:
        order = await client.get(f"/orders/{ALICES_ORDER}", headers=alice)
        invoice = await client.get(f"/orders/{ALICES_ORDER}/invoice", headers=alice)
        bobs = await client.get(f"/orders/{BOBS_ORDER}", headers=bob)
        missing = await client.get("/orders/999", headers=alice)
        cancelled = await client.delete(f"/orders/{ALICES_OTHER_ORDER}", headers=alice)
        after = await client.get(f"/orders/{ALICES_OTHER_ORDER}", headers=alice)
    body = json_of(order)
    expect(
        order.status_code == 200 and isinstance(body, dict) and body.get("id") == ALICES_ORDER
        and isinstance(body.get("lines"), list) and len(body["lines"]) == 2,
        f"Alice asked for her own order: GET /orders/{ALICES_ORDER} answered {brief(order, 120)}, not her order "
        "with its two lines.",
        "Customers must still see their own orders.",
        nudge="Does the look-up still find an order when the caller is its owner?",
    )
    bill = json_of(invoice)
    expect(
        invoice.status_code == 200 and isinstance(bill, dict) and bill.get("email") == ALICES_DETAILS[0]
        and isinstance(bill.get("total_cents"), int),
        f"Alice asked for her own invoice: GET /orders/{ALICES_ORDER}/invoice answered {brief(invoice, 120)}, not "
        "her invoice.",
        "Customers must still get their own invoices.",
    )
    body = json_of(bobs)
    expect(
        bobs.status_code == 200 and isinstance(body, dict) and body.get("id") == BOBS_ORDER,
        f"Bob asked for his own order: GET /orders/{BOBS_ORDER} answered {brief(bobs, 120)}, not his order.",
        "Every customer must see their own orders, not only the first one.",
    )
    expect(
        missing.status_code == 404,
        f"GET /orders/999, an order that does not exist, answered {brief(missing)}, not 404.",
        "A missing order is a 404 the front end can show.",
    )
    left = run_sql(shop_db, f"SELECT id FROM orders WHERE id = {ALICES_OTHER_ORDER}")
    lines = run_sql(shop_db, f"SELECT id FROM order_lines WHERE order_id = {ALICES_OTHER_ORDER}")
    expect(
        cancelled.is_success and not left and not lines and after.status_code == 404,
        f"Alice cancelled her own order {ALICES_OTHER_ORDER}: DELETE answered {brief(cancelled)}; afterwards the "
        f"database holds {len(left)} such order and {len(lines)} of its lines, and GET answered {brief(after)}.",
        "Customers must still be able to cancel their own orders, for good.",
        nudge="Does the cancellation still find the order when the caller is its owner?",
    )
