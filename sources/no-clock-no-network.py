# %% [markdown]
# # No clock, no network, no sleeping
#
# **The story.** A book's page shows today's price, which the shop asks of the distributor's
# price service. That service is often busy: the shop asks again after a short pause (up to
# three attempts in all), and it keeps each price for ten minutes so as not to ask for every
# page. Two things went wrong this month, and the tests were green both times.
#
# 1. On Black Friday the price service was slow to come back, and a change meant to "retry
#    faster" removed the pause between attempts: the shop asked three times within a few
#    milliseconds, then gave up, and added its own load to a service already on its knees.
# 2. A refactor of the cache lost the ten minutes: every page asked the service again, and the
#    distributor throttled the shop.
#
# A third change sits in review: "retry until the service answers", with no limit. Nobody can
# tell from the tests whether it is safe. And the tests themselves are a problem: they start the
# real price service on a port of the machine, wait out the shop's real pauses, and sleep to let
# a price grow old. CI runs them in a container where ports are scarce, and on a busy runner a
# sleep that was long enough on a laptop no longer is.
#
# This is a testing kata: **the shop below is right, and the code you change is its tests.** The
# shop was written to be tested: it reads the time and waits through a `Clock`, and it reaches
# the price service through a dependency. The check runs your tests against the shop as written
# (they must pass, in either order) and against hidden versions of the shop that each have one
# bug (your tests must fail on every one, and fail fast), and it watches them: a test of yours
# that sleeps, or opens a network connection, fails the check.
#
# **You will learn**
# - why a test that sleeps is slow on every run and still flaky, and why one that calls a real
#   service tests the network as much as the code;
# - how a clock the app receives, instead of reading the system's, lets a test move time: ten
#   minutes go by in no time at all, and the pauses are counted, not waited;
# - how `httpx.MockTransport` stands in for a service inside the test process, with the answers
#   the test chooses, in the order it chooses;
# - why a stand-in that refuses one call too many turns a retry loop without end into a failing
#   test, instead of a CI job that hangs until it is killed.
#
# Run the cells from the top (**Run → Run All Cells**), read the evidence, then make the check pass.

# %% tags=["setup"]
from checks import setup_notebook

setup_notebook()

# %% [markdown]
# ## The shop under test
#
# `GET /books/{book_id}` shows a book with today's price. The price comes from the distributor's
# price service, `GET /prices/{isbn}` on the server whose address the shop reads from the
# `BOOKSHOP_PRICES_URL` setting when it starts (`prices_url()`), through one `httpx.AsyncClient`
# for the whole app, as "One HTTP client for the whole app" built it. The service answers
# `{"isbn": ..., "price_cents": ...}`, or a `5xx` when it is busy.
#
# Everything the shop does with time goes through the `Clock` it gets from `get_clock`: what time
# it is (`now`), and waiting (`sleep`). The client for the price service comes from `get_prices`.
# Both are dependencies. Book 3 is Dune, ISBN 9780441172719. This cell is right: leave it as it is.

# %% tags=["app"]
import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Annotated

import httpx
from fastapi import Depends, FastAPI, HTTPException, Request
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from bookshop.db import lifespan as shop_lifespan
from bookshop.models import Book
from bookshop.prices import prices_url

ATTEMPTS = 3  # the first call, and two more
FIRST_PAUSE = 0.25  # seconds before the second attempt; doubled before each next one
PRICE_KEPT = timedelta(minutes=10)  # how long the shop shows a price before it asks again


class Clock:
    """The shop's time: what time it is, and waiting. Nothing in the shop reads the time otherwise."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def get_clock() -> Clock:
    return Clock()


@asynccontextmanager
async def lifespan(app: FastAPI):
    async with shop_lifespan(app) as state, httpx.AsyncClient(base_url=prices_url(), timeout=2.0) as prices:
        yield {**state, "prices": prices, "kept": {}}  # kept: the prices shown lately, by ISBN


app = FastAPI(lifespan=lifespan)


def get_prices(request: Request) -> httpx.AsyncClient:
    return request.state.prices


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.state.sessionmaker() as session:
        yield session


class PricedBook(BaseModel):
    id: int
    title: str
    price_cents: int


async def todays_price(prices: httpx.AsyncClient, clock: Clock, isbn: str) -> int:
    """Ask the price service; when it is busy (5xx) or unreachable, pause, then ask again."""
    pause = FIRST_PAUSE
    for attempt in range(1, ATTEMPTS + 1):
        try:
            response = await prices.get(f"/prices/{isbn}")
        except httpx.TransportError:
            response = None
        if response is not None and response.status_code < 500:
            if response.status_code != 200:
                raise HTTPException(502, detail=f"The price service answered {response.status_code}")
            return response.json()["price_cents"]
        if attempt < ATTEMPTS:
            await clock.sleep(pause)
            pause *= 2
    raise HTTPException(503, detail="The price service is not answering: try again in a minute")


@app.get("/books/{book_id}")
async def book_page(
    book_id: int,
    request: Request,
    session: Annotated[AsyncSession, Depends(get_session)],
    prices: Annotated[httpx.AsyncClient, Depends(get_prices)],
    clock: Annotated[Clock, Depends(get_clock)],
) -> PricedBook:
    book = await session.get(Book, book_id)
    if book is None:
        raise HTTPException(404, detail="Book not found")
    price, until = request.state.kept.get(book.isbn, (None, None))
    if price is None or clock.now() >= until:
        price = await todays_price(prices, clock, book.isbn)
        request.state.kept[book.isbn] = (price, clock.now() + PRICE_KEPT)
    return PricedBook(id=book.id, title=book.title, price_cents=price)

# %% [markdown]
# ## The tests under review
#
# These are the shop's tests. This is the cell you will change: read it first. What does each
# test wait for, and what does it talk to? Which of the shop's promises (the pauses, the limit of
# three attempts, the ten minutes) does no test hold it to?

# %% tags=["kata", "starter"]
import asyncio
from datetime import timedelta

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI, HTTPException

from bookshop.prices import prices_at
from bookshop.upstream import serve


@pytest.fixture
def prices() -> FastAPI:
    """The distributor's price service, as the tests run it: busy for its first `busy_for` calls."""
    service = FastAPI()
    service.state.calls, service.state.busy_for, service.state.price = 0, 0, 899

    @service.get("/prices/{isbn}")
    def price(isbn: str) -> dict:
        service.state.calls += 1
        if service.state.calls <= service.state.busy_for:
            raise HTTPException(503, detail="busy")
        return {"isbn": isbn, "price_cents": service.state.price}

    return service


@pytest.fixture
async def client(prices):
    with serve(prices) as url, prices_at(url):  # the service on a port of this machine
        async with LifespanManager(app) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://shop.test") as client:
                yield client


@pytest.mark.anyio
async def test_the_book_page_shows_todays_price(client):
    response = await client.get("/books/3")
    assert response.status_code == 200
    assert response.json() == {"id": 3, "title": "Dune", "price_cents": 899}


@pytest.mark.anyio
async def test_a_busy_price_service_is_asked_again(client, prices):
    prices.state.busy_for = 1
    response = await client.get("/books/3")  # the shop waits its pause, for real, then asks again
    assert response.json()["price_cents"] == 899
    assert prices.state.calls == 2


@pytest.mark.anyio
async def test_an_old_price_is_asked_for_again(client, prices, monkeypatch):
    # Ten minutes is too long to wait in a test: make it a tenth of a second, and wait that out.
    monkeypatch.setitem(globals(), "PRICE_KEPT", timedelta(seconds=0.1))
    assert (await client.get("/books/3")).json()["price_cents"] == 899
    prices.state.price = 999
    await asyncio.sleep(0.15)
    assert (await client.get("/books/3")).json()["price_cents"] == 999

# %% tags=["kata", "solution"]
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from asgi_lifespan import LifespanManager

from bookshop.prices import PRICES_URL_ENV


class StoppedClock:
    """The shop's clock in a test: time moves only when the test moves it, or a pause is asked for."""

    def __init__(self):
        self.time = datetime(2025, 11, 28, 9, 0, tzinfo=UTC)
        self.pauses: list[float] = []

    def now(self) -> datetime:
        return self.time

    async def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)  # counted, not waited
        self.time += timedelta(seconds=seconds)


class PriceService:
    """Stands in for the distributor's service: gives the answers it was handed, in turn, and
    fails the test if the shop asks once more than the test expected."""

    def __init__(self):
        self.answers: list = []
        self.calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if not self.answers:
            raise AssertionError(f"the shop asked the price service a {self.calls}th time")
        answer = self.answers.pop(0)
        if answer == "unreachable":
            raise httpx.ConnectError("connection refused", request=request)
        if answer == "busy":
            return httpx.Response(503, json={"detail": "busy"})
        return httpx.Response(200, json={"isbn": request.url.path.rsplit("/", 1)[-1], "price_cents": answer})


@pytest.fixture
def clock():
    return StoppedClock()


@pytest.fixture
def prices():
    return PriceService()


@pytest.fixture
async def client(clock, prices, monkeypatch):
    monkeypatch.setenv(PRICES_URL_ENV, "http://prices.test")  # read at startup; nothing is ever sent there
    stand_in = httpx.AsyncClient(transport=httpx.MockTransport(prices), base_url="http://prices.test")
    app.dependency_overrides[get_clock] = lambda: clock
    app.dependency_overrides[get_prices] = lambda: stand_in
    try:
        async with LifespanManager(app) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://shop.test") as client:
                yield client
    finally:
        app.dependency_overrides.clear()
        await stand_in.aclose()


@pytest.mark.anyio
async def test_the_book_page_shows_todays_price(client, prices):
    prices.answers = [899]
    response = await client.get("/books/3")
    assert response.status_code == 200
    assert response.json() == {"id": 3, "title": "Dune", "price_cents": 899}


@pytest.mark.anyio
async def test_a_busy_price_service_is_asked_again(client, prices, clock):
    prices.answers = ["busy", "unreachable", 899]
    assert (await client.get("/books/3")).json()["price_cents"] == 899
    assert prices.calls == 3
    assert clock.pauses == [0.25, 0.5]


@pytest.mark.anyio
async def test_the_shop_gives_up_after_three_attempts(client, prices):
    prices.answers = ["busy", "busy", "busy"]  # a fourth call fails the test: no waiting for a hang
    assert (await client.get("/books/3")).status_code == 503
    assert prices.calls == 3


@pytest.mark.anyio
async def test_a_price_is_kept_for_ten_minutes(client, prices, clock):
    prices.answers = [899]  # a second call would fail the test
    assert (await client.get("/books/3")).json()["price_cents"] == 899
    clock.time += timedelta(minutes=9)
    assert (await client.get("/books/3")).json()["price_cents"] == 899


@pytest.mark.anyio
async def test_an_old_price_is_asked_for_again(client, prices, clock):
    prices.answers = [899, 999]
    assert (await client.get("/books/3")).json()["price_cents"] == 899
    clock.time += timedelta(minutes=11)
    assert (await client.get("/books/3")).json()["price_cents"] == 999

# %% tags=["kata", "decoy:real-service-shorter-waits"]
# "The waits are the problem, not the service: shrink them." The tests are faster, and they still
# sleep (less) and still need a server on a port of the machine.
import asyncio
from datetime import timedelta

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI, HTTPException

from bookshop.prices import prices_at
from bookshop.upstream import serve


@pytest.fixture
def prices() -> FastAPI:
    service = FastAPI()
    service.state.calls, service.state.busy_for, service.state.price = 0, 0, 899

    @service.get("/prices/{isbn}")
    def price(isbn: str) -> dict:
        service.state.calls += 1
        if service.state.calls <= service.state.busy_for:
            raise HTTPException(503, detail="busy")
        return {"isbn": isbn, "price_cents": service.state.price}

    return service


@pytest.fixture
async def client(prices, monkeypatch):
    monkeypatch.setitem(globals(), "FIRST_PAUSE", 0.01)
    with serve(prices) as url, prices_at(url):
        async with LifespanManager(app) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://shop.test") as client:
                yield client


@pytest.mark.anyio
async def test_the_shop_gives_up_after_three_attempts(client, prices):
    prices.state.busy_for = 5
    assert (await client.get("/books/3")).status_code == 503
    assert prices.state.calls == 3


@pytest.mark.anyio
async def test_a_price_is_kept(client, prices):
    assert (await client.get("/books/3")).json()["price_cents"] == 899
    prices.state.price = 999
    assert (await client.get("/books/3")).json()["price_cents"] == 899


@pytest.mark.anyio
async def test_an_old_price_is_asked_for_again(client, prices, monkeypatch):
    monkeypatch.setitem(globals(), "PRICE_KEPT", timedelta(seconds=0.01))
    assert (await client.get("/books/3")).json()["price_cents"] == 899
    prices.state.price = 999
    await asyncio.sleep(0.02)
    assert (await client.get("/books/3")).json()["price_cents"] == 999

# %% tags=["kata", "decoy:a-clock-that-only-tells-the-time"]
# "The clock is for the ten minutes: stand in for now(), keep the rest of the real clock." The
# pauses between attempts are still the real clock's: each retry test waits them out.
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from asgi_lifespan import LifespanManager

from bookshop.prices import PRICES_URL_ENV


class MovableClock(Clock):
    def __init__(self):
        self.time = datetime(2025, 11, 28, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.time


class PriceService:
    def __init__(self):
        self.answers: list = []
        self.calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        answer = self.answers.pop(0)
        if answer == "busy":
            return httpx.Response(503, json={"detail": "busy"})
        return httpx.Response(200, json={"isbn": "9780441172719", "price_cents": answer})


@pytest.fixture
def clock():
    return MovableClock()


@pytest.fixture
def prices():
    return PriceService()


@pytest.fixture
async def client(clock, prices, monkeypatch):
    monkeypatch.setenv(PRICES_URL_ENV, "http://prices.test")
    stand_in = httpx.AsyncClient(transport=httpx.MockTransport(prices), base_url="http://prices.test")
    app.dependency_overrides[get_clock] = lambda: clock
    app.dependency_overrides[get_prices] = lambda: stand_in
    try:
        async with LifespanManager(app) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://shop.test") as client:
                yield client
    finally:
        app.dependency_overrides.clear()


@pytest.mark.anyio
async def test_a_busy_price_service_is_asked_again(client, prices):
    prices.answers = ["busy", 899]
    assert (await client.get("/books/3")).json()["price_cents"] == 899
    assert prices.calls == 2


@pytest.mark.anyio
async def test_a_price_is_kept_for_ten_minutes_then_asked_again(client, prices, clock):
    prices.answers = [899, 999]
    assert (await client.get("/books/3")).json()["price_cents"] == 899
    clock.time += timedelta(minutes=9)
    assert (await client.get("/books/3")).json()["price_cents"] == 899
    clock.time += timedelta(minutes=2)
    assert (await client.get("/books/3")).json()["price_cents"] == 999

# %% tags=["kata", "decoy:a-stand-in-that-never-runs-out"]
# "A service that is down answers 503, every time it is asked." Every time: a shop that asks
# without end is answered without end, and the test never finishes.
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from asgi_lifespan import LifespanManager

from bookshop.prices import PRICES_URL_ENV


class StoppedClock:
    def __init__(self):
        self.time = datetime(2025, 11, 28, 9, 0, tzinfo=UTC)
        self.pauses: list[float] = []

    def now(self) -> datetime:
        return self.time

    async def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.time += timedelta(seconds=seconds)


class PriceService:
    def __init__(self):
        self.answers: list = []
        self.down = False
        self.calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if self.down:
            return httpx.Response(503, json={"detail": "busy"})
        answer = self.answers.pop(0)
        if answer == "busy":
            return httpx.Response(503, json={"detail": "busy"})
        return httpx.Response(200, json={"isbn": "9780441172719", "price_cents": answer})


@pytest.fixture
def clock():
    return StoppedClock()


@pytest.fixture
def prices():
    return PriceService()


@pytest.fixture
async def client(clock, prices, monkeypatch):
    monkeypatch.setenv(PRICES_URL_ENV, "http://prices.test")
    stand_in = httpx.AsyncClient(transport=httpx.MockTransport(prices), base_url="http://prices.test")
    app.dependency_overrides[get_clock] = lambda: clock
    app.dependency_overrides[get_prices] = lambda: stand_in
    try:
        async with LifespanManager(app) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://shop.test") as client:
                yield client
    finally:
        app.dependency_overrides.clear()


@pytest.mark.anyio
async def test_a_busy_price_service_is_asked_again_after_a_pause(client, prices, clock):
    prices.answers = ["busy", "busy", 899]
    assert (await client.get("/books/3")).json()["price_cents"] == 899
    assert clock.pauses == [0.25, 0.5]


@pytest.mark.anyio
async def test_a_service_that_stays_down_gets_a_503(client, prices):
    prices.down = True
    assert (await client.get("/books/3")).status_code == 503


@pytest.mark.anyio
async def test_a_price_is_kept_for_ten_minutes_then_asked_again(client, prices, clock):
    prices.answers = [899, 999]
    assert (await client.get("/books/3")).json()["price_cents"] == 899
    clock.time += timedelta(minutes=9)
    assert (await client.get("/books/3")).json()["price_cents"] == 899
    clock.time += timedelta(minutes=2)
    assert (await client.get("/books/3")).json()["price_cents"] == 999

# %% tags=["kata", "decoy:only-the-old-price"]
# "The bug to catch is a price kept too long: move the clock past ten minutes and look." A shop
# that keeps nothing at all shows the new price then too: the ten minutes themselves are untested.
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from asgi_lifespan import LifespanManager

from bookshop.prices import PRICES_URL_ENV


class StoppedClock:
    def __init__(self):
        self.time = datetime(2025, 11, 28, 9, 0, tzinfo=UTC)
        self.pauses: list[float] = []

    def now(self) -> datetime:
        return self.time

    async def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.time += timedelta(seconds=seconds)


class PriceService:
    def __init__(self):
        self.answers: list = []
        self.calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if not self.answers:
            raise AssertionError(f"the shop asked the price service a {self.calls}th time")
        answer = self.answers.pop(0)
        if answer == "busy":
            return httpx.Response(503, json={"detail": "busy"})
        return httpx.Response(200, json={"isbn": "9780441172719", "price_cents": answer})


@pytest.fixture
def clock():
    return StoppedClock()


@pytest.fixture
def prices():
    return PriceService()


@pytest.fixture
async def client(clock, prices, monkeypatch):
    monkeypatch.setenv(PRICES_URL_ENV, "http://prices.test")
    stand_in = httpx.AsyncClient(transport=httpx.MockTransport(prices), base_url="http://prices.test")
    app.dependency_overrides[get_clock] = lambda: clock
    app.dependency_overrides[get_prices] = lambda: stand_in
    try:
        async with LifespanManager(app) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://shop.test") as client:
                yield client
    finally:
        app.dependency_overrides.clear()


@pytest.mark.anyio
async def test_a_busy_price_service_is_asked_again_after_a_pause(client, prices, clock):
    prices.answers = ["busy", "busy", 899]
    assert (await client.get("/books/3")).json()["price_cents"] == 899
    assert clock.pauses == [0.25, 0.5]


@pytest.mark.anyio
async def test_the_shop_gives_up_after_three_attempts(client, prices):
    prices.answers = ["busy", "busy", "busy"]
    assert (await client.get("/books/3")).status_code == 503


@pytest.mark.anyio
async def test_an_old_price_is_asked_for_again(client, prices, clock):
    prices.answers = [899, 999]
    assert (await client.get("/books/3")).json()["price_cents"] == 899
    clock.time += timedelta(minutes=11)
    assert (await client.get("/books/3")).json()["price_cents"] == 999

# %% tags=["kata", "decoy:pauses-not-counted"]
# "A retry test checks that the price arrives in the end." It arrives just as well when the shop
# asks three times in a row without a pause: the pauses are what spares a struggling service.
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from asgi_lifespan import LifespanManager

from bookshop.prices import PRICES_URL_ENV


class StoppedClock:
    def __init__(self):
        self.time = datetime(2025, 11, 28, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.time

    async def sleep(self, seconds: float) -> None:
        self.time += timedelta(seconds=seconds)


class PriceService:
    def __init__(self):
        self.answers: list = []
        self.calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if not self.answers:
            raise AssertionError(f"the shop asked the price service a {self.calls}th time")
        answer = self.answers.pop(0)
        if answer == "busy":
            return httpx.Response(503, json={"detail": "busy"})
        return httpx.Response(200, json={"isbn": "9780441172719", "price_cents": answer})


@pytest.fixture
def clock():
    return StoppedClock()


@pytest.fixture
def prices():
    return PriceService()


@pytest.fixture
async def client(clock, prices, monkeypatch):
    monkeypatch.setenv(PRICES_URL_ENV, "http://prices.test")
    stand_in = httpx.AsyncClient(transport=httpx.MockTransport(prices), base_url="http://prices.test")
    app.dependency_overrides[get_clock] = lambda: clock
    app.dependency_overrides[get_prices] = lambda: stand_in
    try:
        async with LifespanManager(app) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://shop.test") as client:
                yield client
    finally:
        app.dependency_overrides.clear()


@pytest.mark.anyio
async def test_a_busy_price_service_is_asked_again(client, prices):
    prices.answers = ["busy", "busy", 899]
    assert (await client.get("/books/3")).json()["price_cents"] == 899
    assert prices.calls == 3


@pytest.mark.anyio
async def test_the_shop_gives_up_after_three_attempts(client, prices):
    prices.answers = ["busy", "busy", "busy"]
    assert (await client.get("/books/3")).status_code == 503


@pytest.mark.anyio
async def test_a_price_is_kept_for_ten_minutes_then_asked_again(client, prices, clock):
    prices.answers = [899, 999]
    assert (await client.get("/books/3")).json()["price_cents"] == 899
    clock.time += timedelta(minutes=9)
    assert (await client.get("/books/3")).json()["price_cents"] == 899
    clock.time += timedelta(minutes=2)
    assert (await client.get("/books/3")).json()["price_cents"] == 999

# %% tags=["kata", "alternative:test-client"]
# Starlette's TestClient, entered with `with` so that the shop's lifespan runs; plain `def` tests.
# The stand-ins are the same: the shop runs them on the TestClient's event loop.
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi.testclient import TestClient

from bookshop.prices import PRICES_URL_ENV


class StoppedClock:
    def __init__(self):
        self.time = datetime(2025, 11, 28, 9, 0, tzinfo=UTC)
        self.pauses: list[float] = []

    def now(self) -> datetime:
        return self.time

    async def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.time += timedelta(seconds=seconds)


@pytest.fixture
def clock():
    return StoppedClock()


@pytest.fixture
def answers():
    return []


@pytest.fixture
def calls():
    return []


@pytest.fixture
def client(clock, answers, calls, monkeypatch):
    def price_service(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        assert answers, "the shop asked the price service once too often"
        status, cents = answers.pop(0)
        return httpx.Response(status, json={"price_cents": cents} if status == 200 else {"detail": "busy"})

    monkeypatch.setenv(PRICES_URL_ENV, "http://prices.test")
    app.dependency_overrides[get_clock] = lambda: clock
    app.dependency_overrides[get_prices] = lambda: httpx.AsyncClient(
        transport=httpx.MockTransport(price_service), base_url="http://prices.test")
    try:
        with TestClient(app) as client:
            yield client
    finally:
        app.dependency_overrides.clear()


def test_todays_price(client, answers):
    answers.append((200, 899))
    assert client.get("/books/3").json() == {"id": 3, "title": "Dune", "price_cents": 899}


def test_retried_after_growing_pauses(client, answers, calls, clock):
    answers.extend([(503, None), (502, None), (200, 1299)])
    assert client.get("/books/3").json()["price_cents"] == 1299
    assert len(calls) == 3 and clock.pauses == [0.25, 0.5]


def test_three_attempts_then_503(client, answers, calls):
    answers.extend([(503, None)] * 3)
    assert client.get("/books/3").status_code == 503
    assert len(calls) == 3


def test_ten_minutes(client, answers, clock):
    answers.extend([(200, 899), (200, 999)])
    assert client.get("/books/3").json()["price_cents"] == 899
    clock.time += timedelta(minutes=10) - timedelta(seconds=1)
    assert client.get("/books/3").json()["price_cents"] == 899
    clock.time += timedelta(seconds=2)
    assert client.get("/books/3").json()["price_cents"] == 999

# %% tags=["kata", "alternative:a-price-client-of-our-own"]
# No httpx stand-in at all: `get_prices` is overridden with a small object that has the one method
# the shop calls, `get`, and answers from a script; the clock is a class of the test's own.
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from asgi_lifespan import LifespanManager

from bookshop.prices import PRICES_URL_ENV


class ScriptedPrices:
    def __init__(self):
        self.script: list = []
        self.asked: list[str] = []

    async def get(self, path: str) -> httpx.Response:
        self.asked.append(path)
        if len(self.asked) > 5:
            pytest.fail("the shop keeps asking the price service")
        step = self.script.pop(0) if self.script else 503
        if isinstance(step, Exception):
            raise step
        return httpx.Response(step) if isinstance(step, int) else httpx.Response(200, json={"price_cents": step["cents"]})


class TestClock:
    __test__ = False  # a helper, not a test class

    def __init__(self):
        self.at = datetime(2030, 1, 1, tzinfo=UTC)
        self.waited = 0.0

    def now(self):
        return self.at

    async def sleep(self, seconds):
        self.waited += seconds
        self.at += timedelta(seconds=seconds)


@pytest.fixture
def prices():
    return ScriptedPrices()


@pytest.fixture
def clock():
    return TestClock()


@pytest.fixture
async def client(prices, clock, monkeypatch):
    monkeypatch.setenv(PRICES_URL_ENV, "http://unused.invalid")
    app.dependency_overrides.update({get_prices: lambda: prices, get_clock: lambda: clock})
    try:
        async with LifespanManager(app) as manager:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://shop.test") as c:
                yield c
    finally:
        app.dependency_overrides.clear()


@pytest.mark.anyio
async def test_a_price_after_two_failures(client, prices, clock):
    prices.script = [503, httpx.ConnectTimeout("slow"), {"cents": 750}]
    assert (await client.get("/books/3")).json()["price_cents"] == 750
    assert len(prices.asked) == 3 and clock.waited == 0.75


@pytest.mark.anyio
async def test_no_fourth_attempt(client, prices):
    prices.script = [503, 503, 503]
    assert (await client.get("/books/3")).status_code == 503
    assert len(prices.asked) == 3


@pytest.mark.anyio
async def test_the_price_is_kept_ten_minutes(client, prices, clock):
    prices.script = [{"cents": 100}, {"cents": 200}]
    seen = []
    for minutes in (0, 5, 5):  # at 0, 5 and 10 minutes
        clock.at += timedelta(minutes=minutes)
        seen.append((await client.get("/books/3")).json()["price_cents"])
    assert seen == [100, 100, 200]

# %% tags=["kata", "alternative:scenarios-in-a-table"]
# The retry behaviour as a table of scenarios: what the service answers, what the shop shows,
# how many calls and which pauses.
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from asgi_lifespan import LifespanManager

from bookshop.prices import PRICES_URL_ENV


class StoppedClock:
    def __init__(self):
        self.time = datetime(2025, 11, 28, 9, 0, tzinfo=UTC)
        self.pauses: list[float] = []

    def now(self) -> datetime:
        return self.time

    async def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.time += timedelta(seconds=seconds)


def stand_in(answers: list, calls: list) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) > len(answers):
            raise AssertionError("one call too many")
        answer = answers[len(calls) - 1]
        if answer is None:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, json={"price_cents": answer}) if answer > 99 else httpx.Response(500 + answer)

    return httpx.MockTransport(handle)


@pytest.fixture
def clock():
    return StoppedClock()


@pytest.fixture
def open_shop(clock, monkeypatch):
    monkeypatch.setenv(PRICES_URL_ENV, "http://prices.test")
    app.dependency_overrides[get_clock] = lambda: clock

    def opened(answers: list, calls: list):
        app.dependency_overrides[get_prices] = lambda: httpx.AsyncClient(transport=stand_in(answers, calls),
                                                                          base_url="http://prices.test")
        return LifespanManager(app)

    yield opened
    app.dependency_overrides.clear()


@pytest.mark.anyio
@pytest.mark.parametrize(("answers", "status", "calls", "pauses"), [
    ([899], 200, 1, []),
    ([3, 899], 200, 2, [0.25]),            # 503, then a price
    ([None, 2, 899], 200, 3, [0.25, 0.5]),  # unreachable, 502, then a price
    ([3, 3, 3], 503, 3, [0.25, 0.5]),      # busy three times: no fourth call
])
async def test_the_price_service_is_retried(open_shop, clock, answers, status, calls, pauses):
    made: list = []
    async with open_shop(answers, made) as manager:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://s") as client:
            response = await client.get("/books/3")
    assert (response.status_code, len(made), clock.pauses) == (status, calls, pauses)


@pytest.mark.anyio
async def test_a_price_is_shown_for_ten_minutes(open_shop, clock):
    async with open_shop([899, 999], []) as manager:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://s") as client:
            first = (await client.get("/books/3")).json()["price_cents"]
            clock.time += timedelta(minutes=9, seconds=59)
            kept = (await client.get("/books/3")).json()["price_cents"]
            clock.time += timedelta(minutes=1)
            renewed = (await client.get("/books/3")).json()["price_cents"]
    assert (first, kept, renewed) == (899, 899, 999)

# %% [markdown]
# ## The evidence
#
# The next cell does what the tests under review do: it starts the distributor's service on a
# port of this machine (busy for every call, this time) and asks the shop for Dune's page, with
# the shop's own clock. It measures how long the answer took, and counts the calls.

# %% tags=["evidence"]
import time

from bookshop.client import describe, shop_client
from bookshop.prices import price_service as distributors_service
from bookshop.prices import prices_at
from bookshop.upstream import serve

service = distributors_service()
service.state.fail_with = 503  # busy, for every call
with serve(service) as url, prices_at(url), shop_client(app) as shop:
    started = time.perf_counter()
    page = shop.get("/books/3")
    took = time.perf_counter() - started
print(f"price service at {url}, busy for every call")
print(f"GET /books/3 -> {describe(page)}")
print(f"answered after {took:.2f} s of real time, after {len(service.state.calls)} calls over TCP")
print(f"a test that waits out a kept price waits {PRICE_KEPT.total_seconds():.0f} s")

# %% [markdown]
# Most of that time is the shop's own pauses, spent for real: a suite of retry tests pays it in
# every test, on every run. And what happens between those calls (whether the shop paused at all,
# how long) is nowhere in the answer: a test that only reads the answer cannot tell. The ten
# minutes cannot be waited out at all, so the tests under review shrink them and sleep instead.
#
# ## The check
#
# Run it. It runs your tests in processes of its own: against the shop as written (in the order
# you wrote them, then reversed), then against versions of the shop that each have one bug, and
# it notes every sleep of your tests and every network connection they open. Change the kata
# cell, run it, then run the check again.

# %% tags=["check"]
%%ipytest
from checks.no_clock_no_network import *

# %% [markdown]
# ## Hints
#
# Stuck? Each click opens one more level: a nudge, then the concept, then a sketch of
# the code. In a terminal, `kata hint no-clock-no-network` opens the same levels.

# %% [markdown] tags=["hint"]
# ### Hint 1: a nudge
#
# The shop asks two things of the outside world: the time (and to wait), and the price service.
# Where does it get each of them, and could a test hand it something else there? If a test could
# decide what time it is, what would "ten minutes later" cost? And if the test chose each answer
# of the price service, what should happen on a call it did not expect?

# %% [markdown] tags=["hint"]
# ### Hint 2: the concept
#
# Both are dependencies (`get_clock`, `get_prices`), and FastAPI lets a test replace a dependency
# with `app.dependency_overrides[...]` (undo it when the test ends). A *fake clock* is an object
# with the same two methods: `now()` returns a time the test sets and moves, `sleep()` records
# the pause and moves the time instead of waiting. `httpx.MockTransport(handler)` is a transport
# that calls your function for each request, in the test process: give an `httpx.AsyncClient`
# that transport, and the handler decides every answer (a `503`, a price, or raise
# `httpx.ConnectError`). Let the handler fail the test when it is called once more than the test
# expects: a shop that retries for ever then fails at once instead of hanging. Then assert what
# only the stand-ins can see: the number of calls and the pauses.
#
# Read: FastAPI, [Testing Dependencies with
# Overrides](https://fastapi.tiangolo.com/advanced/testing-dependencies/); httpx, [Mock
# transports](https://www.python-httpx.org/advanced/transports/#mock-transports).

# %% [markdown] tags=["hint"]
# ### Hint 3: a sketch
#
# ```python
# class StoppedClock:
#     def __init__(self):
#         self.time, self.pauses = datetime(2025, 1, 1, tzinfo=UTC), []
#     def now(self):
#         return self.time
#     async def sleep(self, seconds):
#         self.pauses.append(seconds)
#         self.time += timedelta(seconds=seconds)
#
# @pytest.fixture
# async def client(clock, prices, monkeypatch):
#     monkeypatch.setenv(PRICES_URL_ENV, "http://prices.test")  # read at startup, never called
#     stand_in = httpx.AsyncClient(transport=httpx.MockTransport(prices), base_url="http://prices.test")
#     app.dependency_overrides[get_clock] = lambda: clock
#     app.dependency_overrides[get_prices] = lambda: stand_in
#     ...  # LifespanManager + ASGITransport, as before; clear the overrides after the yield
# ```
# `prices` is a callable that pops the next answer from a list and raises `AssertionError` when
# the list is empty. Tests: busy then a price (`calls == 3`, `pauses == [0.25, 0.5]`); busy three
# times (`503`, `calls == 3`); a price at 0, 9 and 11 minutes (`clock.time += timedelta(...)`).

# %% [markdown]
# ## The walkthrough

# %% [markdown] tags=["walkthrough"]
# ### The fix, step by step
#
# 1. **A clock the test controls.** The shop asks its `Clock` for the time and for every pause.
#    A stopped clock answers a time the test sets, and a pause only moves that time forward and
#    notes it: ten minutes pass in one line (`clock.time += timedelta(minutes=11)`), and the
#    retry's pauses become a list the test can assert (`[0.25, 0.5]`). Nothing sleeps.
# 2. **A price service inside the test.** `httpx.MockTransport` calls a function of the test for
#    each request the shop's client makes: the test scripts the answers (busy, unreachable, a
#    price) and counts the calls. No port, no server, no network; the shop's own retry code runs
#    exactly as in production, on real `httpx` responses and exceptions.
# 3. **Swap them in where the shop gets them.** Both come from dependencies, so the fixture sets
#    `app.dependency_overrides` for `get_clock` and `get_prices`, starts the shop with its
#    lifespan, and clears the overrides afterwards. The lifespan still reads
#    `BOOKSHOP_PRICES_URL`, so the fixture gives it an address that nothing ever calls.
# 4. **Assert what only the stand-ins see.** The calls (three, never four) and the pauses (there,
#    and growing) are the shop's promises to the price service: the page alone cannot show them.
#    And the ten minutes are tested from both sides: still the old price before, the new one after.
# 5. **Fail fast.** The stand-in raises when it is called once too often. A shop that retries for
#    ever then fails the test at its fourth call; a stand-in that answers `503` for ever would
#    keep such a shop busy until CI kills the job, and say nothing about why.
#
# Why not shrink the waits? A shorter sleep is still a sleep, still a guess on a busy runner, and
# the real service still needs a port. Why not stand in for `now()` only? The pauses then still
# pass in real time. Why not assert only the price that arrives in the end? A shop that asks three
# times in a row without a pause shows it too.
#
# Read more: FastAPI, [Testing Dependencies with
# Overrides](https://fastapi.tiangolo.com/advanced/testing-dependencies/); httpx,
# [Transports](https://www.python-httpx.org/advanced/transports/).
#
# ### What to remember
# - Code that reads the time or waits gets a clock it is given; a test gives it one that moves
#   only when told. Ten minutes, or a backoff, cost nothing.
# - A service the code calls is stood in for inside the test process (`httpx.MockTransport`, or an
#   override of the client): the test chooses each answer and counts the calls.
# - A stand-in refuses calls the test did not expect, so that a loop without end fails at once.
