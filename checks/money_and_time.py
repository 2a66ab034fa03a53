"""Check: quotes are exact to the cent, VAT rounds a half cent up, amounts are strings with two
decimals; an order's time is the real UTC instant, answered with its offset and stored in UTC, even
when the server's clock is on another time zone; the recent orders are listed at their instants."""

import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

import pytest

from bookshop.client import local_time_zone, open_client
from bookshop.observe import run_sql
from checks.feedback import expect, fail
from checks.harness import brief, json_of, learner

__all__ = [
    "test_a_quote_lists_each_book_asked_for_with_its_quantity",
    "test_a_quote_adds_up_to_the_cent",
    "test_vat_is_rounded_to_the_cent_a_half_cent_up",
    "test_every_amount_is_a_string_with_two_decimals",
    "test_a_placed_order_answers_the_utc_instant_with_its_offset",
    "test_an_order_is_stored_in_utc",
    "test_recent_orders_are_listed_at_their_instants",
]

BOOKS = ("INSERT INTO books (id, isbn, title, author_id, price_cents, stock) VALUES "
         "(200, '9990000000200', 'Bookmark', 1, 10, 100), "
         "(201, '9990000000201', 'The Word for World Is Forest', 1, 875, 10), "
         "(202, '9990000000202', 'Always Coming Home', 1, 625, 10), "
         "(203, '9990000000203', 'The Complete Orsinia', 1, 1000, 10)")
AMOUNT = re.compile(r"^-?\d+\.\d{2}$")
SERVER_ZONE = "America/Los_Angeles"

MONEY_CONCEPT = ("A binary float cannot hold most decimal fractions, and round() rounds a half to the "
                 "even digit. Python's decimal module computes exactly in base ten and rounds with the "
                 "rule you name. Python docs: 'decimal'.")
TIME_CONCEPT = ("An aware datetime carries its offset; a naive one is a wall-clock reading with no "
                "zone. SQLite keeps no offset, even in a timezone=True column: store UTC and attach "
                "UTC when reading, at the column (a SQLAlchemy TypeDecorator) or in the code. Python "
                "docs: 'Aware and naive objects'; SQLAlchemy docs: 'Augmenting existing types'.")


def _amount(value) -> Decimal | None:
    """The amount a JSON value says, exactly as written (a float's full digits), or None."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    try:
        return Decimal(value if isinstance(value, str) else repr(value))
    except InvalidOperation:
        return None


async def _quote(client, lines: list[tuple[int, int]]) -> dict:
    basket = {"lines": [{"book_id": book_id, "quantity": quantity} for book_id, quantity in lines]}
    response = await client.post("/basket/quote", json=basket)
    body = json_of(response)
    if response.status_code != 200 or not isinstance(body, dict) or not isinstance(body.get("lines"), list):
        fail(
            f"POST /basket/quote for {basket['lines']} answered {brief(response, 160)}, not a quote "
            '{"lines": [...], "subtotal": ..., "vat": ..., "total": ...}.',
            "The checkout takes the quote as it is: without one, nobody can buy anything.",
            nudge="Does quote_basket still answer a Quote for every basket?",
        )
    return body


def _said(body: dict, *names: str) -> str:
    return ", ".join(f"{name} {body.get(name)!r}" for name in names)


@pytest.mark.anyio
async def test_a_quote_lists_each_book_asked_for_with_its_quantity(kata_ns, shop_db):
    run_sql(shop_db, BOOKS)
    async with open_client(learner(kata_ns, "app")) as client:
        quote = await _quote(client, [(203, 1), (200, 3)])
    listed = [(line.get("book_id"), line.get("quantity")) if isinstance(line, dict) else line for line in quote["lines"]]
    expect(
        listed == [(203, 1), (200, 3)],
        f"POST /basket/quote for one of book 203 and three of book 200 listed {listed!r} "
        "(book, quantity), not those two lines in that order.",
        "The quote must list what the customer asked for, as the basket shows it.",
    )


@pytest.mark.anyio
async def test_a_quote_adds_up_to_the_cent(kata_ns, shop_db):
    run_sql(shop_db, BOOKS)
    async with open_client(learner(kata_ns, "app")) as client:
        quote = await _quote(client, [(200, 3)])
    line = quote["lines"][0] if quote["lines"] and isinstance(quote["lines"][0], dict) else {}
    expect(
        line.get("book_id") == 200 and line.get("quantity") == 3,
        f"POST /basket/quote for 3 of book 200 listed the line {line!r}, not book 200, quantity 3.",
        "The quote must list what the customer asked for.",
    )
    wanted = {"unit_price": "0.10", "amount": "0.30"}
    got = {name: _amount(line.get(name)) for name in wanted}
    totals = {"subtotal": "0.30", "vat": "0.03", "total": "0.33"}
    got_totals = {name: _amount(quote.get(name)) for name in totals}
    wrong = [f"{name} {line.get(name)!r}" for name, value in wanted.items() if got[name] != Decimal(value)]
    wrong += [f"{name} {quote.get(name)!r}" for name, value in totals.items() if got_totals[name] != Decimal(value)]
    expect(
        not wrong,
        f"For 3 bookmarks at 0.10, the quote said {', '.join(wrong)}; to the cent, the line is 0.30, the "
        "subtotal 0.30, VAT at 10% 0.03 and the total 0.33.",
        "An amount that is not a whole number of cents is refused by the checkout, and one cent off is an "
        "invoice that does not match the payment: the accountant has to find out why, by hand.",
        nudge="Which type holds the prices after price_cents is divided by 100, and can it hold 0.10?",
        concept=MONEY_CONCEPT,
    )


@pytest.mark.anyio
async def test_vat_is_rounded_to_the_cent_a_half_cent_up(kata_ns, shop_db):
    run_sql(shop_db, BOOKS)
    cases = ((201, 3, "26.25", "2.63", "28.88", "2.625"), (202, 1, "6.25", "0.63", "6.88", "0.625"))
    wrong = []
    async with open_client(learner(kata_ns, "app")) as client:
        for book_id, quantity, subtotal, vat, total, exact in cases:
            quote = await _quote(client, [(book_id, quantity)])
            if (_amount(quote.get("vat")), _amount(quote.get("total"))) != (Decimal(vat), Decimal(total)):
                wrong.append(f"on a subtotal of {subtotal}, VAT {quote.get('vat')!r} and total "
                             f"{quote.get('total')!r} (VAT is {exact} exactly: {vat}, total {total})")
    expect(
        not wrong,
        f"VAT at 10%, rounded to the cent with a half cent going up, as the accountant's rule says. The "
        f"quote gave, {'; '.join(wrong)}.",
        "The tax office applies its rounding rule, and the shop's books must match it cent for cent; a "
        "quote that rounds otherwise disagrees with the invoice on every amount that ends in a half cent.",
        nudge="What does round() do with a half, and with a float that is a hair below it?",
        concept=MONEY_CONCEPT,
    )


@pytest.mark.anyio
async def test_every_amount_is_a_string_with_two_decimals(kata_ns, shop_db):
    run_sql(shop_db, BOOKS)
    async with open_client(learner(kata_ns, "app")) as client:
        quote = await _quote(client, [(203, 1), (200, 3)])
    amounts = [(f"lines[{index}].{name}", line.get(name) if isinstance(line, dict) else None)
               for index, line in enumerate(quote["lines"]) for name in ("unit_price", "amount")]
    amounts += [(name, quote.get(name)) for name in ("subtotal", "vat", "total")]
    wrong = [f"{where} {value!r}" for where, value in amounts if not (isinstance(value, str) and AMOUNT.match(value))]
    expect(
        not wrong,
        f"For a book at 10.00 and 3 bookmarks at 0.10, these amounts are not strings with two decimals: "
        f"{', '.join(wrong)}.",
        "The checkout reads amounts as strings with two decimals, as its contract says. A JSON number is "
        "read back as a float by most clients, with the same errors; and '10' or '2.6250' is not an "
        "amount in cents.",
        nudge="What does the response model say the amounts are, and how many places do they keep?",
        concept=MONEY_CONCEPT + " Pydantic 2 writes a Decimal field into JSON as a string, with the "
                                "places the Decimal has.",
    )


def _moment(value) -> datetime | None:
    """A datetime from an ISO 8601 string (with or without an offset), or None."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%H:%M:%S UTC")


def _when(before: datetime, after: datetime) -> str:
    """``at 21:28:31 UTC`` or ``between 21:28:31 UTC and 21:28:32 UTC``."""
    low, high = _utc(before), _utc(after)
    return f"at {low}" if low == high else f"between {low} and {high}"


async def _place_order(client) -> tuple[dict, datetime, datetime]:
    before = datetime.now(UTC).replace(microsecond=0)  # a time stored to the second is allowed
    response = await client.post("/orders", json={"user_id": 1})
    after = datetime.now(UTC)
    body = json_of(response)
    if response.status_code != 201 or not isinstance(body, dict) or not isinstance(body.get("id"), int):
        fail(
            f"POST /orders answered {brief(response, 160)}, not 201 with the order placed.",
            "Customers must still be able to place orders.",
            nudge="Does place_order still store the order and answer it?",
        )
    return body, before, after


@pytest.mark.anyio
async def test_a_placed_order_answers_the_utc_instant_with_its_offset(kata_ns, shop_db):
    with local_time_zone(SERVER_ZONE):
        async with open_client(learner(kata_ns, "app")) as client:
            order, before, after = await _place_order(client)
    placed = _moment(order.get("placed_at"))
    expect(
        placed is not None,
        f"POST /orders answered placed_at {order.get('placed_at')!r}, not an ISO 8601 date and time.",
        "The app shows when the order was placed.",
    )
    expect(
        placed.tzinfo is not None,
        f"With the server's clock on Los Angeles time, an order placed {_when(before, after)} was answered with placed_at {order['placed_at']!r}: no offset, so nothing says in "
        "which time zone that is.",
        "Every client reads a time without an offset as its own local time: the phone in Los Angeles shows "
        "a time written on a UTC server hours off, and a server whose zone changes (a move, a "
        "container, daylight saving) changes what every stored time means.",
        nudge="What is missing from the value datetime.now() returns, and how do you ask for an aware one?",
        concept=TIME_CONCEPT,
    )
    expect(
        before <= placed <= after,
        f"With the server's clock on Los Angeles time, an order placed {_when(before, after)} was answered with placed_at {order['placed_at']!r}, which is {_utc(placed)}.",
        "The time the customer sees for an order is hours off the moment they placed it.",
        nudge="Which clock does the endpoint read, and is the offset it attaches the one that clock is on?",
        concept=TIME_CONCEPT,
    )


def _stored(url: str, order_id: int) -> object:
    rows = run_sql(url, f"SELECT created_at FROM orders WHERE id = {int(order_id)}")
    return rows[0][0] if rows else None


def _as_stored_utc(value) -> datetime | None:
    """A stored value read the way the shop reads its orders table: naive means UTC."""
    moment = _moment(value)
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@pytest.mark.anyio
async def test_an_order_is_stored_in_utc(kata_ns, shop_db):
    with local_time_zone(SERVER_ZONE):
        async with open_client(learner(kata_ns, "app")) as client:
            order, before, after = await _place_order(client)
    raw = _stored(shop_db, order["id"])
    stored = _as_stored_utc(raw)
    expect(
        stored is not None and before <= stored <= after,
        f"With the server's clock on Los Angeles time, an order placed {_when(before, after)} was stored in the orders table as {raw!r}"
        + (f": read as UTC, as every other time in that table is, that is {_utc(stored)}." if stored else "."),
        "The orders table holds times without an offset, all in UTC. A time written in the server's own "
        "zone cannot be told apart from the others: reports, the recent orders and every other program "
        "that reads the table put this order hours away from when it happened.",
        nudge="What does the database keep of the datetime the endpoint stores: its wall-clock digits, "
              "its offset, or both?",
        concept=TIME_CONCEPT,
    )


@pytest.mark.anyio
async def test_recent_orders_are_listed_at_their_instants(kata_ns, shop_db):
    # Two orders written earlier by other parts of the shop, in UTC as the table keeps them:
    run_sql(shop_db, "INSERT INTO orders (id, user_id, created_at) VALUES "
                     "(901, 2, datetime('now', '-1 hour')), (902, 2, datetime('now', '-3 days'))")
    hour_ago = _as_stored_utc(_stored(shop_db, 901))
    with local_time_zone(SERVER_ZONE):
        async with open_client(learner(kata_ns, "app")) as client:
            order, before, after = await _place_order(client)
            response = await client.get("/orders/recent")
    listed = json_of(response)
    expect(
        response.status_code == 200 and isinstance(listed, list),
        f"GET /orders/recent answered {brief(response)}, not the list of the orders of the last 24 hours.",
        "The staff follow the day's orders on that page: it is down for every order, not just one.",
        nudge="What does recent_orders compare the orders' times with, and what do the times read back "
              "from the database look like?",
        concept=TIME_CONCEPT,
    )
    by_id = {entry["id"]: entry for entry in listed if isinstance(entry, dict) and isinstance(entry.get("id"), int)}
    expect(
        902 not in by_id,
        f"GET /orders/recent listed order 902, placed three days ago ({by_id.get(902, {}).get('placed_at')!r}).",
        "The page shows the orders of the last 24 hours.",
        nudge="How does recent_orders decide what is recent?",
    )
    for order_id, low, high, what in ((order["id"], before, after, "just placed"),
                                      (901, hour_ago, hour_ago, "placed an hour earlier")):
        entry = by_id.get(order_id)
        expect(
            entry is not None,
            f"GET /orders/recent did not list order {order_id}, {what}: it listed {sorted(by_id, key=str)}.",
            "An order of the last 24 hours is missing from the staff's page.",
            nudge="How does recent_orders decide what is recent, and on which clock?",
            concept=TIME_CONCEPT,
        )
        placed = _moment(entry.get("placed_at"))
        expect(
            placed is not None and placed.tzinfo is not None and low <= placed <= high,
            f"GET /orders/recent listed order {order_id}, {what} ({_when(low, high)}), with placed_at {entry.get('placed_at')!r}"
            + (f", which is {_utc(placed)}." if placed is not None and placed.tzinfo is not None else
               ": no offset, so nothing says which time zone that is." if placed is not None else "."),
            "The staff see each order at the moment it was placed, wherever their screen is; a time off by "
            "the server's offset, or without an offset, puts orders hours away from when they happened.",
            nudge="What does a value read back from the orders table carry, and what does the code attach "
                  "to it?",
            concept=TIME_CONCEPT,
        )
