# %% [markdown]
# # Overrides that do not leak
#
# **The story.** At the start of the season the carrier's new rates were typed into the shop
# with one zero too many: free delivery from **300.00** instead of 30.00. For two weeks customers
# paid 4.99 on baskets that should have shipped free, and the test called
# `test_a_basket_from_30_ships_free` passed on every run of CI. Then someone ran the suite in
# the reverse order, and a test that had always passed failed: a small basket was charged 2.50
# of delivery, a price the carrier never asked. The free-delivery test had never run against the
# carrier's rates at all: it ran against the stand-in another test had put in place and never
# taken away. Reading the suite again, we found one more gap: no test tries a basket worth
# exactly the threshold. No combination of the shop's books costs 30.00, so "free from 30.00"
# has never been tested at 30.00.
#
# As in "Tests that start the shop as production does", **the shop below is right, and the code
# you change is its tests.** The check runs your tests against the shop as written (they must
# pass, in either order), against hidden versions of the shop that each have one bug (your tests
# must fail on every one), and once more on a shop where everything fails, to see what each test
# leaves behind.
#
# **You will learn**
# - that `app.dependency_overrides` is one dictionary on the app, shared by every test that uses
#   the app, and an override stays until something removes it;
# - how a stand-in that outlives its test makes later tests test the stand-in, and the verdict
#   depend on the order;
# - how a pytest fixture (or `monkeypatch`) puts a stand-in in place for one test and takes it
#   away after, whether the test passed or failed;
# - when a stand-in is worth having: for the cases the real dependency cannot produce.
#
# Run the cells from the top (**Run → Run All Cells**), read the evidence, then make the check pass.

# %% tags=["setup"]
from checks import setup_notebook

setup_notebook()

# %% [markdown]
# ## The shop under test
#
# `POST /basket/quote` prices a basket before checkout: the books, the delivery and the total.
# Delivery follows the carrier's rates, which the route gets from the dependency
# `delivery_rates`: this season 4.99, free from 30.00 of books. The rates are a dependency so
# that the route does not hard-code them, and so that a test can put a stand-in in their place.
# This cell is right: leave it as it is.
#
# Each run of your tests gets a fresh copy of the shop's database: Dune (book 3) costs 10.99,
# Dune Messiah (book 4) 9.99, Exhalation (book 8) 18.00. No combination of the shop's books costs
# exactly 30.00.

# %% tags=["app"]
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from bookshop.db import lifespan
from bookshop.models import Book
from bookshop.schemas import OrderLineIn

app = FastAPI(lifespan=lifespan)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.state.sessionmaker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


@dataclass(frozen=True)
class DeliveryRates:
    fee_cents: int  # what delivery costs
    free_from_cents: int  # from this much of books, delivery is free


def delivery_rates() -> DeliveryRates:
    """The carrier's rates this season: 4.99, free from 30.00 of books."""
    return DeliveryRates(fee_cents=499, free_from_cents=3000)


RatesDep = Annotated[DeliveryRates, Depends(delivery_rates)]


class Basket(BaseModel):
    lines: list[OrderLineIn] = Field(min_length=1)


class Quote(BaseModel):
    books_cents: int
    delivery_cents: int
    total_cents: int


@app.post("/basket/quote")
async def quote(basket: Basket, session: SessionDep, rates: RatesDep) -> Quote:
    books = 0
    for line in basket.lines:
        book = await session.get(Book, line.book_id)
        if book is None:
            raise HTTPException(status_code=404, detail=f"Book {line.book_id} not found")
        books += book.price_cents * line.quantity
    delivery = 0 if books >= rates.free_from_cents else rates.fee_cents
    return Quote(books_cents=books, delivery_cents=delivery, total_cents=books + delivery)

# %% [markdown]
# ## The tests under review
#
# These are the quote's tests as they ran all season. This is the cell you will change: read it
# first. Which rates does each test run against, and where is the stand-in taken away?

# %% tags=["kata", "starter"]
import httpx
import pytest
from asgi_lifespan import LifespanManager


@pytest.fixture
async def client():
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://shop.test") as client:
            yield client


def basket(*lines):
    return {"lines": [{"book_id": book_id, "quantity": quantity} for book_id, quantity in lines]}


@pytest.mark.anyio
async def test_a_small_basket_pays_delivery(client):
    response = await client.post("/basket/quote", json=basket((3, 1)))
    assert response.json() == {"books_cents": 1099, "delivery_cents": 499, "total_cents": 1598}


@pytest.mark.anyio
async def test_the_total_adds_the_delivery_fee(client):
    # The carrier changes its rates every season: pin them, so that this test does not change.
    app.dependency_overrides[delivery_rates] = lambda: DeliveryRates(fee_cents=250, free_from_cents=2000)
    response = await client.post("/basket/quote", json=basket((4, 1)))
    assert response.json() == {"books_cents": 999, "delivery_cents": 250, "total_cents": 1249}


@pytest.mark.anyio
async def test_a_basket_from_30_ships_free(client):
    response = await client.post("/basket/quote", json=basket((3, 3)))
    assert response.json() == {"books_cents": 3297, "delivery_cents": 0, "total_cents": 3297}

# %% tags=["kata", "solution"]
import httpx
import pytest
from asgi_lifespan import LifespanManager


@pytest.fixture
async def client():
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://shop.test") as client:
            yield client


@pytest.fixture
def overrides():
    """The app's overrides, for this test only: what was there before comes back after the
    test, whether it passed or failed."""
    saved = dict(app.dependency_overrides)
    yield app.dependency_overrides
    app.dependency_overrides.clear()
    app.dependency_overrides.update(saved)


def basket(*lines):
    return {"lines": [{"book_id": book_id, "quantity": quantity} for book_id, quantity in lines]}


# The carrier's real rates: these tests take no stand-in, so they run the real dependency.
@pytest.mark.anyio
async def test_a_small_basket_pays_delivery(client):
    response = await client.post("/basket/quote", json=basket((3, 1)))
    assert response.json() == {"books_cents": 1099, "delivery_cents": 499, "total_cents": 1598}


@pytest.mark.anyio
async def test_a_basket_from_30_ships_free(client):
    response = await client.post("/basket/quote", json=basket((3, 3)))
    assert response.json() == {"books_cents": 3297, "delivery_cents": 0, "total_cents": 3297}


# Stand-in rates, for what the real ones cannot show: a threshold no basket of the shop reaches.
@pytest.mark.anyio
async def test_the_total_adds_the_delivery_fee(client, overrides):
    overrides[delivery_rates] = lambda: DeliveryRates(fee_cents=250, free_from_cents=2198)
    response = await client.post("/basket/quote", json=basket((4, 1)))
    assert response.json() == {"books_cents": 999, "delivery_cents": 250, "total_cents": 1249}


@pytest.mark.anyio
async def test_a_basket_worth_exactly_the_threshold_ships_free(client, overrides):
    overrides[delivery_rates] = lambda: DeliveryRates(fee_cents=250, free_from_cents=2198)
    response = await client.post("/basket/quote", json=basket((3, 2)))
    assert response.json() == {"books_cents": 2198, "delivery_cents": 0, "total_cents": 2198}

# %% tags=["kata", "decoy:clear-at-the-end-of-the-test"]
# "Each test takes its stand-in away when it is done." When it passes: a failing assert jumps
# over the last line, and every test after it runs on the stand-in.
import httpx
import pytest
from asgi_lifespan import LifespanManager


@pytest.fixture
async def client():
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://shop.test") as client:
            yield client


def basket(*lines):
    return {"lines": [{"book_id": book_id, "quantity": quantity} for book_id, quantity in lines]}


@pytest.mark.anyio
async def test_a_small_basket_pays_delivery(client):
    response = await client.post("/basket/quote", json=basket((3, 1)))
    assert response.json() == {"books_cents": 1099, "delivery_cents": 499, "total_cents": 1598}


@pytest.mark.anyio
async def test_a_basket_from_30_ships_free(client):
    response = await client.post("/basket/quote", json=basket((3, 3)))
    assert response.json() == {"books_cents": 3297, "delivery_cents": 0, "total_cents": 3297}


@pytest.mark.anyio
async def test_the_total_adds_the_delivery_fee(client):
    app.dependency_overrides[delivery_rates] = lambda: DeliveryRates(fee_cents=250, free_from_cents=2198)
    response = await client.post("/basket/quote", json=basket((4, 1)))
    assert response.json() == {"books_cents": 999, "delivery_cents": 250, "total_cents": 1249}
    app.dependency_overrides.clear()


@pytest.mark.anyio
async def test_a_basket_worth_exactly_the_threshold_ships_free(client):
    app.dependency_overrides[delivery_rates] = lambda: DeliveryRates(fee_cents=250, free_from_cents=2198)
    response = await client.post("/basket/quote", json=basket((3, 2)))
    assert response.json() == {"books_cents": 2198, "delivery_cents": 0, "total_cents": 2198}
    app.dependency_overrides.clear()

# %% tags=["kata", "decoy:clear-at-the-start"]
# "Every test starts from a clean app: nothing can reach it." The last stand-in still stays on the
# app after the suite, for the next test file; and a test that forgets the first line inherits it.
import httpx
import pytest
from asgi_lifespan import LifespanManager


@pytest.fixture
async def client():
    app.dependency_overrides.clear()
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://shop.test") as client:
            yield client


def basket(*lines):
    return {"lines": [{"book_id": book_id, "quantity": quantity} for book_id, quantity in lines]}


@pytest.mark.anyio
async def test_a_small_basket_pays_delivery(client):
    response = await client.post("/basket/quote", json=basket((3, 1)))
    assert response.json() == {"books_cents": 1099, "delivery_cents": 499, "total_cents": 1598}


@pytest.mark.anyio
async def test_a_basket_from_30_ships_free(client):
    response = await client.post("/basket/quote", json=basket((3, 3)))
    assert response.json() == {"books_cents": 3297, "delivery_cents": 0, "total_cents": 3297}


@pytest.mark.anyio
async def test_the_total_adds_the_delivery_fee(client):
    app.dependency_overrides[delivery_rates] = lambda: DeliveryRates(fee_cents=250, free_from_cents=2198)
    response = await client.post("/basket/quote", json=basket((4, 1)))
    assert response.json() == {"books_cents": 999, "delivery_cents": 250, "total_cents": 1249}


@pytest.mark.anyio
async def test_a_basket_worth_exactly_the_threshold_ships_free(client):
    app.dependency_overrides[delivery_rates] = lambda: DeliveryRates(fee_cents=250, free_from_cents=2198)
    response = await client.post("/basket/quote", json=basket((3, 2)))
    assert response.json() == {"books_cents": 2198, "delivery_cents": 0, "total_cents": 2198}

# %% tags=["kata", "decoy:stand-in-everywhere"]
# "Every test's client pins the rates, with the carrier's numbers copied in, and puts the app back
# after: nothing leaks." Nothing leaks, and nothing runs the carrier's real rates either: a typo
# in them ships.
import httpx
import pytest
from asgi_lifespan import LifespanManager


@pytest.fixture
async def client():
    saved = dict(app.dependency_overrides)
    app.dependency_overrides[delivery_rates] = lambda: DeliveryRates(fee_cents=499, free_from_cents=3000)
    try:
        async with LifespanManager(app) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://shop.test") as client:
                yield client
    finally:
        app.dependency_overrides.clear()
        app.dependency_overrides.update(saved)


def basket(*lines):
    return {"lines": [{"book_id": book_id, "quantity": quantity} for book_id, quantity in lines]}


@pytest.mark.anyio
async def test_a_small_basket_pays_delivery(client):
    response = await client.post("/basket/quote", json=basket((3, 1)))
    assert response.json() == {"books_cents": 1099, "delivery_cents": 499, "total_cents": 1598}


@pytest.mark.anyio
async def test_a_basket_from_30_ships_free(client):
    response = await client.post("/basket/quote", json=basket((3, 3)))
    assert response.json() == {"books_cents": 3297, "delivery_cents": 0, "total_cents": 3297}


@pytest.mark.anyio
async def test_a_basket_worth_exactly_the_threshold_ships_free(client):
    app.dependency_overrides[delivery_rates] = lambda: DeliveryRates(fee_cents=250, free_from_cents=2198)
    response = await client.post("/basket/quote", json=basket((3, 2)))
    assert response.json() == {"books_cents": 2198, "delivery_cents": 0, "total_cents": 2198}

# %% tags=["kata", "decoy:override-the-type"]
# "Override what the route asks for: the DeliveryRates it receives." Overrides are looked up by
# the dependency's callable, the one in Depends(...): this key matches nothing, and the stand-in
# never stands in.
import httpx
import pytest
from asgi_lifespan import LifespanManager


@pytest.fixture
async def client():
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://shop.test") as client:
            yield client


@pytest.fixture
def pinned_rates():
    saved = dict(app.dependency_overrides)
    app.dependency_overrides[DeliveryRates] = lambda: DeliveryRates(fee_cents=250, free_from_cents=2198)
    yield
    app.dependency_overrides.clear()
    app.dependency_overrides.update(saved)


def basket(*lines):
    return {"lines": [{"book_id": book_id, "quantity": quantity} for book_id, quantity in lines]}


@pytest.mark.anyio
async def test_a_small_basket_pays_delivery(client):
    response = await client.post("/basket/quote", json=basket((3, 1)))
    assert response.json() == {"books_cents": 1099, "delivery_cents": 499, "total_cents": 1598}


@pytest.mark.anyio
async def test_a_basket_from_30_ships_free(client):
    response = await client.post("/basket/quote", json=basket((3, 3)))
    assert response.json() == {"books_cents": 3297, "delivery_cents": 0, "total_cents": 3297}


@pytest.mark.anyio
async def test_a_basket_worth_exactly_the_threshold_ships_free(client, pinned_rates):
    response = await client.post("/basket/quote", json=basket((3, 2)))
    assert response.json() == {"books_cents": 2198, "delivery_cents": 0, "total_cents": 2198}

# %% tags=["kata", "decoy:one-stand-in-per-module"]
# "Starting the stand-in once is enough: a module-wide fixture, removed when the module ends."
# From the first test that asks for it to the end of the module, every test gets the stand-in,
# asked for or not.
import httpx
import pytest
from asgi_lifespan import LifespanManager


@pytest.fixture(scope="module")
def pinned_rates():
    saved = dict(app.dependency_overrides)
    app.dependency_overrides[delivery_rates] = lambda: DeliveryRates(fee_cents=250, free_from_cents=2198)
    yield
    app.dependency_overrides.clear()
    app.dependency_overrides.update(saved)


@pytest.fixture
async def client():
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://shop.test") as client:
            yield client


def basket(*lines):
    return {"lines": [{"book_id": book_id, "quantity": quantity} for book_id, quantity in lines]}


@pytest.mark.anyio
async def test_a_small_basket_pays_delivery(client):
    response = await client.post("/basket/quote", json=basket((3, 1)))
    assert response.json() == {"books_cents": 1099, "delivery_cents": 499, "total_cents": 1598}


@pytest.mark.anyio
async def test_a_basket_from_30_ships_free(client):
    response = await client.post("/basket/quote", json=basket((3, 3)))
    assert response.json() == {"books_cents": 3297, "delivery_cents": 0, "total_cents": 3297}


@pytest.mark.anyio
async def test_the_total_adds_the_delivery_fee(client, pinned_rates):
    response = await client.post("/basket/quote", json=basket((4, 1)))
    assert response.json() == {"books_cents": 999, "delivery_cents": 250, "total_cents": 1249}


@pytest.mark.anyio
async def test_a_basket_worth_exactly_the_threshold_ships_free(client, pinned_rates):
    response = await client.post("/basket/quote", json=basket((3, 2)))
    assert response.json() == {"books_cents": 2198, "delivery_cents": 0, "total_cents": 2198}

# %% tags=["kata", "alternative:monkeypatch"]
# pytest's monkeypatch sets the key in the dictionary and removes it at teardown, passed or
# failed, as it does for attributes and environment variables.
import httpx
import pytest
from asgi_lifespan import LifespanManager

PINNED = DeliveryRates(fee_cents=250, free_from_cents=2198)


@pytest.fixture
async def client():
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://shop.test") as client:
            yield client


@pytest.fixture
def pinned_rates(monkeypatch):
    monkeypatch.setitem(app.dependency_overrides, delivery_rates, lambda: PINNED)


def basket(*lines):
    return {"lines": [{"book_id": book_id, "quantity": quantity} for book_id, quantity in lines]}


@pytest.mark.anyio
async def test_a_small_basket_pays_delivery(client):
    response = await client.post("/basket/quote", json=basket((3, 1)))
    assert response.json() == {"books_cents": 1099, "delivery_cents": 499, "total_cents": 1598}


@pytest.mark.anyio
async def test_a_basket_from_30_ships_free(client):
    response = await client.post("/basket/quote", json=basket((3, 3)))
    assert response.json() == {"books_cents": 3297, "delivery_cents": 0, "total_cents": 3297}


@pytest.mark.anyio
@pytest.mark.parametrize(("book_id", "quantity", "quote"), [
    (4, 1, {"books_cents": 999, "delivery_cents": 250, "total_cents": 1249}),
    (3, 2, {"books_cents": 2198, "delivery_cents": 0, "total_cents": 2198}),
])
async def test_pinned_rates_are_applied(client, pinned_rates, book_id, quantity, quote):
    response = await client.post("/basket/quote", json=basket((book_id, quantity)))
    assert response.json() == quote

# %% tags=["kata", "alternative:a-context-manager"]
# A context manager of the tests' own: the stand-in lives inside the `with` block, and `finally`
# puts back what was there, even when the block raises. TestClient, entered so the lifespan runs.
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient


@contextmanager
def standing_in(dependency, stand_in):
    missing = object()
    previous = app.dependency_overrides.get(dependency, missing)
    app.dependency_overrides[dependency] = stand_in
    try:
        yield
    finally:
        if previous is missing:
            del app.dependency_overrides[dependency]
        else:
            app.dependency_overrides[dependency] = previous


@pytest.fixture
def client():
    with TestClient(app) as client:
        yield client


def quote(client, book_id, quantity):
    return client.post("/basket/quote", json={"lines": [{"book_id": book_id, "quantity": quantity}]}).json()


def test_the_carriers_rates(client):
    assert quote(client, 3, 1) == {"books_cents": 1099, "delivery_cents": 499, "total_cents": 1598}
    assert quote(client, 3, 3) == {"books_cents": 3297, "delivery_cents": 0, "total_cents": 3297}


def test_stand_in_rates(client):
    with standing_in(delivery_rates, lambda: DeliveryRates(fee_cents=250, free_from_cents=2198)):
        assert quote(client, 4, 1) == {"books_cents": 999, "delivery_cents": 250, "total_cents": 1249}
        assert quote(client, 3, 2) == {"books_cents": 2198, "delivery_cents": 0, "total_cents": 2198}

# %% [markdown]
# ## The evidence
#
# The next cell plays two tests by hand, one after the other, as pytest would: the first puts a
# stand-in in place, as `test_the_total_adds_the_delivery_fee` does; the second starts the app
# again with a new client, as the next test's fixture does. Look at the delivery each one gets
# for the same basket, and at the app's overrides in between.

# %% tags=["evidence"]
from bookshop.client import describe, shop_client

one_dune = {"lines": [{"book_id": 3, "quantity": 1}]}
try:
    with shop_client(app) as shop:
        print("first test, before the stand-in: ", describe(shop.post("/basket/quote", json=one_dune)))
        app.dependency_overrides[delivery_rates] = lambda: DeliveryRates(fee_cents=250, free_from_cents=2000)
        print("first test, with the stand-in:   ", describe(shop.post("/basket/quote", json=one_dune)))
    print("the first test has ended; stand-ins still on the app for:",
          [getattr(dependency, "__name__", dependency) for dependency in app.dependency_overrides])
    with shop_client(app) as shop:
        print("second test, new client, restarted app:", describe(shop.post("/basket/quote", json=one_dune)))
finally:
    app.dependency_overrides.pop(delivery_rates, None)  # the evidence leaves the app as it found it

# %% [markdown]
# The second test never asked for a stand-in and got one: `dependency_overrides` is a plain
# dictionary on the `app` object, and neither a new client nor a restarted lifespan resets it.
# Whichever test runs after the one that set it inherits it, so the verdict depends on the order.
#
# ## The check
#
# Run it. It runs your tests in processes of its own: against the shop as written (forwards and
# backwards), against versions of the shop that each have one bug, and on a shop that answers
# 503 to everything. Change the kata cell, run it, then run the check again.

# %% tags=["check"]
%%ipytest
from checks.overrides_restored import *

# %% [markdown]
# ## Hints
#
# Stuck? Each click opens one more level: a nudge, then the concept, then a sketch of
# the code. In a terminal, `kata hint overrides-that-do-not-leak` opens the same levels.

# %% [markdown] tags=["hint"]
# ### Hint 1: a nudge
#
# Run the tests in your head in the reverse order: which rates does each one get? Then: where
# is the stand-in taken away, and what if the assert above that place fails? Which part of a
# pytest test runs after the test, whatever its outcome? And which of the shop's cases can the
# carrier's real rates never produce?

# %% [markdown] tags=["hint"]
# ### Hint 2: the concept
#
# `app.dependency_overrides` maps a dependency (the callable in `Depends(...)`) to its stand-in,
# for every request the app serves, until the entry is removed. Give each stand-in the lifetime
# of one test: a pytest fixture sets it, `yield`s, and removes it after the `yield` (teardown
# runs whether the test passed or failed); `monkeypatch.setitem(app.dependency_overrides, ...)`
# does the same in one line. The tests of the real rates take no stand-in at all; the stand-in
# is for what the real rates cannot show, such as a basket worth exactly the threshold.
#
# Read: FastAPI, [Testing Dependencies with Overrides](https://fastapi.tiangolo.com/advanced/testing-dependencies/);
# pytest, [teardown in yield fixtures](https://docs.pytest.org/en/stable/how-to/fixtures.html#yield-fixtures-recommended)
# and [monkeypatch](https://docs.pytest.org/en/stable/how-to/monkeypatch.html).

# %% [markdown] tags=["hint"]
# ### Hint 3: a sketch
#
# ```python
# @pytest.fixture
# def overrides():
#     saved = dict(app.dependency_overrides)
#     yield app.dependency_overrides
#     ...  # put back exactly what was saved
#
# @pytest.mark.anyio
# async def test_a_basket_worth_exactly_the_threshold_ships_free(client, overrides):
#     overrides[delivery_rates] = lambda: DeliveryRates(fee_cents=250, free_from_cents=2198)
#     response = await client.post("/basket/quote", json=basket((3, 2)))  # 2 × 10.99
#     ...
# ```
# And the tests of the carrier's rates use no stand-in.

# %% [markdown]
# ## The walkthrough

# %% [markdown] tags=["walkthrough"]
# ### The fix, step by step
#
# 1. **Give every stand-in the lifetime of one test.** The `overrides` fixture saves the app's
#    overrides, hands the dictionary to the test, and after the `yield` puts back exactly what
#    was there. pytest runs that teardown when the test ends, passed, failed or errored, so no
#    test can leave a stand-in behind. `monkeypatch.setitem(app.dependency_overrides,
#    delivery_rates, ...)` does the same for one key.
# 2. **Let the tests of the real rates run the real rates.** They ask for no stand-in. Since
#    nothing else can leave one behind, they run `delivery_rates` as production does, in any
#    order, and a typo in the carrier's numbers fails them.
# 3. **Use the stand-in for what the real dependency cannot show.** No basket of the shop's
#    books costs exactly 30.00, so only rates of the test's choosing can check that a basket
#    worth exactly the threshold ships free. That is what a stand-in is for; pinning numbers the
#    real rates already give only hides them.
#
# Why not clear the overrides on the test's last line? A failed assert never reaches that line:
# the stand-in stays for every test after the failure, which then fail (or pass) for a reason
# that has nothing to do with them. Why not clear them at the start of every test? The last
# stand-in then stays on the app after the suite (other test files use the same `app`), and one
# test that forgets the first line inherits it. Why not a stand-in for every test? Then no test
# runs the real dependency. Why not `dependency_overrides[DeliveryRates]`? Overrides are looked
# up by the callable given to `Depends`, here `delivery_rates`; any other key is ignored.
#
# Read more: FastAPI, [Testing Dependencies with Overrides](https://fastapi.tiangolo.com/advanced/testing-dependencies/);
# pytest, [yield fixtures](https://docs.pytest.org/en/stable/how-to/fixtures.html#yield-fixtures-recommended),
# [monkeypatch](https://docs.pytest.org/en/stable/how-to/monkeypatch.html).
#
# ### What to remember
# - `app.dependency_overrides` belongs to the app, not to a test: whatever a test puts there
#   stays until something takes it away.
# - Put stand-ins in place in a fixture that restores after `yield` (or with `monkeypatch`):
#   teardown runs whether the test passed or failed.
# - A test that should exercise the real dependency must not be able to inherit a stand-in;
#   running the suite in another order (the pytest-randomly plugin shuffles it on every run)
#   finds the tests that do.
# - Stand-ins are for the cases the real dependency cannot produce, not for every test.
