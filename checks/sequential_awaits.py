"""Check: the book page calls the price and review services concurrently, and still fails loudly."""

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi import FastAPI

from bookshop.client import open_client
from bookshop.observe import MeetingPoint
from bookshop.prices import price_service, todays_prices
from bookshop.reviews import review_service, review_summaries
from bookshop.upstream import serve_all
from checks.harness import learner

__all__ = [
    "shop_upstream_servers",
    "shop_upstreams",
    "test_the_price_and_review_calls_are_in_flight_at_the_same_time",
    "test_the_book_page_shows_the_price_and_the_reviews",
    "test_a_failing_price_or_review_service_is_answered_502_not_hidden",
]

DUNE_ID, DUNE = 3, "9780441172719"


@dataclass
class _Upstreams:
    prices: FastAPI
    reviews: FastAPI


@pytest.fixture(scope="module")
def shop_upstream_servers() -> Iterator[_Upstreams]:
    """The two services, served by uvicorn on 127.0.0.1 once for the whole check."""
    upstreams = _Upstreams(price_service(), review_service())
    with serve_all(upstreams.prices, upstreams.reviews) as (prices_url, reviews_url):
        upstreams.prices.state.url, upstreams.reviews.state.url = prices_url, reviews_url
        yield upstreams


@pytest.fixture
def shop_upstreams(shop_upstream_servers, monkeypatch) -> _Upstreams:
    """The two services as new (today's data, no meeting point, no failure, no calls yet),
    and the bookshop's settings pointing at them for apps started during this test."""
    servers = shop_upstream_servers
    for app, answers in ((servers.prices, todays_prices()), (servers.reviews, review_summaries())):
        app.state.answers, app.state.meeting, app.state.fail_with, app.state.calls = answers, None, None, []
    monkeypatch.setenv("BOOKSHOP_PRICES_URL", shop_upstream_servers.prices.state.url)
    monkeypatch.setenv("BOOKSHOP_REVIEWS_URL", shop_upstream_servers.reviews.state.url)
    return shop_upstream_servers


@pytest.mark.anyio
async def test_the_price_and_review_calls_are_in_flight_at_the_same_time(kata_ns, shop_db, shop_upstreams):
    # Each service holds its answer until the other service's request has arrived: only two
    # calls in flight together can meet. A call made after the other answered never can.
    meeting = MeetingPoint(limit=0.5)  # working code meets in milliseconds; only sequential calls wait it out
    shop_upstreams.prices.state.meeting = shop_upstreams.reviews.state.meeting = meeting
    async with open_client(learner(kata_ns, "app")) as client:
        response = await client.get(f"/books/{DUNE_ID}/page")
    assert response.status_code == 200, (
        f"GET /books/{DUNE_ID}/page answered {response.status_code} {response.text[:120]}; the page "
        "must still be built (200) from the price and the review service."
    )
    names = {"prices": "price service", "reviews": "review service"}
    never = [name for service, name in names.items() if service not in meeting.spans()]
    assert not never, (
        f"GET /books/{DUNE_ID}/page never called the {' or the '.join(never)}: the page needs "
        f"the price from the price service and the rating from the review service.\n{meeting.timeline()}"
    )
    assert meeting.overlapped(), (
        "The book page called the price service and the review service one after the other: the "
        "second call started only after the first had answered, so the page waits for the sum of "
        f"both instead of the slower one. The two calls, as the services saw them:\n{meeting.timeline()}\n"
        "Neither call needs the other's result: start both, then wait for both, with "
        "`await asyncio.gather(upstreams.price(...), upstreams.reviews(...))`."
    )


@pytest.mark.anyio
async def test_the_book_page_shows_the_price_and_the_reviews(kata_ns, shop_db, shop_upstreams):
    # Numbers that only these services know: a page built without asking them cannot show them.
    shop_upstreams.prices.state.answers[DUNE] = {"isbn": DUNE, "price_cents": 777}
    shop_upstreams.reviews.state.answers[DUNE] = {"isbn": DUNE, "average": 3.9, "count": 4321}
    async with open_client(learner(kata_ns, "app")) as client:
        response = await client.get(f"/books/{DUNE_ID}/page")
        missing = await client.get("/books/999/page")
    expected = {"id": DUNE_ID, "title": "Dune", "price_cents": 777, "rating": 3.9, "review_count": 4321}
    assert response.status_code == 200 and response.json() == expected, (
        f"GET /books/{DUNE_ID}/page answered {response.status_code} {response.text[:160]}; expected "
        f"{expected}: the title from the database, the price from the price service, the rating "
        "and review count from the review service."
    )
    calls = {"prices": shop_upstreams.prices.state.calls, "reviews": shop_upstreams.reviews.state.calls}
    assert calls == {"prices": [DUNE], "reviews": [DUNE]}, (
        f"One book page asked the services for {calls}; it must ask each of them once, for the "
        "book's ISBN."
    )
    assert missing.status_code == 404, f"GET /books/999/page should answer 404, got {missing.status_code}."


@pytest.mark.anyio
async def test_a_failing_price_or_review_service_is_answered_502_not_hidden(kata_ns, shop_db, shop_upstreams):
    for broken, name in ((shop_upstreams.prices, "price service"), (shop_upstreams.reviews, "review service")):
        broken.state.fail_with = 503
        escaped = None
        async with open_client(learner(kata_ns, "app"), raise_server_exceptions=True) as client:
            try:
                response = await client.get(f"/books/{DUNE_ID}/page")
            except Exception as error:  # noqa: BLE001 - an error that escaped the app is what we look for
                escaped = error
        broken.state.fail_with = None
        if isinstance(escaped, BaseExceptionGroup):
            why = (
                " A task group wraps the `HTTPException(502)` raised in its task in an ExceptionGroup, "
                "and FastAPI does not look inside groups. Use `asyncio.gather`, which re-raises the first "
                "error as it is, or unwrap it: `except* HTTPException as group: raise group.exceptions[0]`."
            )
        else:
            why = " Let the `HTTPException(502)` that `upstreams.price` or `upstreams.reviews` raises propagate."
        assert escaped is None, (
            f"With the {name} answering 503, the book page's error escaped the app as "
            f"{type(escaped).__name__}: {escaped!r:.160}, and the client got a 500.{why}"
        )
        assert response.status_code == 502, (
            f"With the {name} answering 503, GET /books/{DUNE_ID}/page answered {response.status_code} "
            f"{response.text[:160]}. An upstream failure must reach the client as 502 Bad Gateway, not "
            f"be hidden behind made-up data (a page that fills in defaults while the {name} is down "
            "is wrong). Let the `HTTPException(502)` from `upstreams.price` or `upstreams.reviews` "
            "propagate: no `return_exceptions=True`, no `except` that fills in defaults."
        )
