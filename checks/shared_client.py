"""Check: one httpx client, built in the lifespan, serves every request and is closed on shutdown."""

import socket
from collections.abc import Iterator
from contextlib import AsyncExitStack

import httpx
import pytest
from fastapi import FastAPI

from bookshop.client import open_client
from bookshop.observe import ClientLog, http_clients
from bookshop.prices import PRICES_URL_ENV, price_service, todays_prices
from bookshop.upstream import serve
from checks.harness import learner

__all__ = [
    "shop_price_server",
    "shop_price_service",
    "test_sequential_price_lookups_share_one_connection_not_a_client_per_request",
    "test_the_price_client_is_closed_when_the_app_shuts_down",
    "test_the_price_client_has_a_timeout_you_chose_and_none_is_unlimited",
    "test_the_price_in_the_response_comes_from_the_price_service",
    "test_a_price_service_outage_is_answered_502_and_the_shop_still_starts",
]

DUNE_ISBN, KINDRED_ISBN = "9780441172719", "9780807083697"  # books 3 and 5 in the seeded shop
LOOKUPS = 3


@pytest.fixture(scope="module")
def shop_price_server() -> Iterator[tuple[FastAPI, str]]:
    """The distributor's price service on a real port, for the whole check (stopping costs ~0.2 s)."""
    upstream = price_service()
    with serve(upstream) as url:
        yield upstream, url


@pytest.fixture
def shop_price_service(shop_price_server, monkeypatch) -> tuple[FastAPI, str]:
    """The price service with today's prices and no requests seen; apps started now call it."""
    upstream, url = shop_price_server
    upstream.state.answers = todays_prices()
    upstream.state.client_ports = []
    monkeypatch.setenv(PRICES_URL_ENV, url)
    return upstream, url


async def _look_up_prices(app, log: ClientLog, times: int = LOOKUPS) -> list[httpx.Response]:
    async with open_client(app) as client:
        responses = [await client.get("/books/3/price") for _ in range(times)]
    statuses = [r.status_code for r in responses]
    assert statuses == [200] * times, (
        f"GET /books/3/price answered {statuses}: the price lookup itself is broken. Does the "
        "client call the price service this app was started with (read `prices_url()` at "
        "startup, not in a client cached from an earlier start)? Make it answer 200 first."
    )
    assert log.callers, (
        "No httpx.AsyncClient called the price service: the price must be fetched from it, "
        "with an httpx.AsyncClient."
    )
    return responses


@pytest.mark.anyio
async def test_sequential_price_lookups_share_one_connection_not_a_client_per_request(
    kata_ns, shop_db, shop_price_service
):
    upstream, url = shop_price_service
    with http_clients(url) as log:
        await _look_up_prices(learner(kata_ns, "app"), log)
    connections = len(set(upstream.state.client_ports))
    assert connections == 1, (
        f"{LOOKUPS} price lookups, one after the other, opened {connections} TCP connections to the "
        f"price service and built {len(log.callers)} httpx clients. A client per request is a new "
        "connection pool each time: a new TCP (and, in production, TLS) handshake per request, no "
        "keep-alive, and no limit across requests. Build ONE httpx.AsyncClient in the lifespan, "
        "yield it as state, and reach it from `request.state` in every request."
    )


@pytest.mark.anyio
async def test_the_price_client_is_closed_when_the_app_shuts_down(kata_ns, shop_db, shop_price_service):
    # Every client that called any service on this machine: one cached from an earlier start
    # of the app may still be calling the price service of that time.
    with http_clients("http://127.0.0.1:") as log:
        async with open_client(learner(kata_ns, "app")) as client:
            await client.get("/books/3/price")
    still_open = [client for client in log.callers if not client.is_closed]
    assert not still_open, (
        f"{len(still_open)} httpx client(s) that called the price service were still open after "
        "the app shut down: their connections are left for the garbage collector or the process "
        "exit to close. Close the client in the lifespan, after the `yield` (`async with httpx.AsyncClient(...) as client:` "
        "around the `yield`, or `await client.aclose()` in a `finally`)."
    )
    assert log.callers, "No httpx.AsyncClient called the price service: the price must be fetched from it."


@pytest.mark.anyio
async def test_the_price_client_has_a_timeout_you_chose_and_none_is_unlimited(
    kata_ns, shop_db, shop_price_service
):
    _, url = shop_price_service
    with http_clients(url) as log:
        await _look_up_prices(learner(kata_ns, "app"), log, times=1)
    for client in log.callers:
        unlimited = [phase for phase, limit in client.timeout.as_dict().items() if limit is None]
        assert not unlimited, (
            f"The price client waits forever for: {', '.join(unlimited)} (timeout {client.timeout}). "
            "A price service that hangs then holds the request, and its connection, until someone "
            "gives up. Give every phase a bound: e.g. `timeout=httpx.Timeout(3.0, connect=1.0)`."
        )
        arguments = log.arguments(client)
        assert arguments is None or "timeout" in arguments, (
            "The price client was built without `timeout=`, so it runs on httpx's default: 5 s "
            "each to connect, to read, to write and to wait for a free connection. Nobody chose "
            "that budget and nobody reading the code can see it. Pass the one this lookup should "
            "have, e.g. `timeout=httpx.Timeout(3.0, connect=1.0)` (and `limits=` for the pool)."
        )


@pytest.mark.anyio
async def test_the_price_in_the_response_comes_from_the_price_service(kata_ns, shop_db, shop_price_service):
    upstream, _ = shop_price_service
    upstream.state.answers.update({isbn: {"isbn": isbn, "price_cents": cents} for isbn, cents in ((DUNE_ISBN, 1234), (KINDRED_ISBN, 777))})  # prices only this test has
    async with open_client(learner(kata_ns, "app")) as client:
        dune = await client.get("/books/3/price")
        kindred = await client.get("/books/5/price")
        missing = await client.get("/books/999/price")
    assert dune.status_code == 200 and dune.json().get("price_cents") == 1234, (
        f"GET /books/3/price should give the price service's price for Dune (1234), got "
        f"{dune.status_code} {dune.text[:100]}. The price must come from the price service."
    )
    assert dune.json().get("title") == "Dune", f"GET /books/3/price should name Dune, got {dune.text[:100]}"
    assert kindred.status_code == 200 and kindred.json().get("price_cents") == 777, (
        f"GET /books/5/price should give the price service's price for Kindred (777), got "
        f"{kindred.status_code} {kindred.text[:100]}."
    )
    assert missing.status_code == 404, f"GET /books/999/price should answer 404, got {missing.status_code}"


@pytest.mark.anyio
async def test_a_price_service_outage_is_answered_502_and_the_shop_still_starts(kata_ns, shop_db, monkeypatch):
    # A port that is bound but not listening: every connection to it is refused at once.
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        monkeypatch.setenv(PRICES_URL_ENV, f"http://127.0.0.1:{closed.getsockname()[1]}")
        async with AsyncExitStack() as stack:
            try:
                client = await stack.enter_async_context(open_client(learner(kata_ns, "app")))
            except Exception as error:  # noqa: BLE001 - any startup failure is the finding
                pytest.fail(
                    f"The app did not start while the price service was down ({type(error).__name__}: "
                    f"{error}). Building an httpx client opens no connection: do not call the price "
                    "service at startup, or the whole shop goes down with it.",
                    pytrace=False,
                )
            price = await client.get("/books/3/price")
            book = await client.get("/books/3")
    assert price.status_code == 502, (
        f"With the price service down, GET /books/3/price answered {price.status_code} "
        f"{price.text[:100]}; it should answer 502 (`fetch_price` turns httpx errors into 502)."
    )
    assert book.status_code == 200, (
        f"With the price service down, GET /books/3 answered {book.status_code}: the catalogue "
        "does not need the price service and should still answer 200."
    )
