"""Two services the book page calls over HTTP: today's prices, and the review site's summaries.

``price_service()`` and ``review_service()`` are the upstreams: small ASGI apps to run with
``bookshop.upstream.serve``. ``UpstreamSettings`` is where the bookshop finds them (the
``BOOKSHOP_PRICES_URL`` and ``BOOKSHOP_REVIEWS_URL`` settings); ``upstreams_at`` sets both for
a block. ``MeetingPoint`` makes the two services wait for each other, which only two calls in
flight at the same time can satisfy; its ``timeline()`` draws the two calls from the order of
what happened, without a clock.
"""

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import FastAPI, HTTPException, Request
from pydantic import BaseModel
from pydantic_settings import BaseSettings, SettingsConfigDict

from bookshop.db import seed_rows
from bookshop.models import Book
from bookshop.upstream import environment

SERVICES = ("prices", "reviews")


class UpstreamSettings(BaseSettings):
    """BOOKSHOP_PRICES_URL and BOOKSHOP_REVIEWS_URL, e.g. http://127.0.0.1:40123."""

    model_config = SettingsConfigDict(env_prefix="BOOKSHOP_")

    prices_url: str
    reviews_url: str


@contextmanager
def upstreams_at(prices_url: str, reviews_url: str) -> Iterator[None]:
    """Point the bookshop's upstream settings at these two URLs for the duration of the block."""
    with environment(BOOKSHOP_PRICES_URL=prices_url, BOOKSHOP_REVIEWS_URL=reviews_url):
        yield


class Price(BaseModel):
    isbn: str
    price_cents: int


class ReviewSummary(BaseModel):
    isbn: str
    average: float
    count: int


class BookPage(BaseModel):
    id: int
    title: str
    price_cents: int
    rating: float
    review_count: int


class MeetingPoint:
    """Each service holds its answer until the other service's request has arrived too.

    Two calls in flight at the same time meet at once. A call made only after the other one
    answered can never be met: the first service waits ``limit`` seconds, gives up, answers.
    ``events`` records, in order: ``(service, "arrives" | "gives up waiting" | "answers")``.
    """

    def __init__(self, limit: float = 1.0):
        self.limit = limit
        self.events: list[tuple[str, str]] = []
        self._arrived = {service: threading.Event() for service in SERVICES}
        self._lock = threading.Lock()

    def _record(self, service: str, what: str) -> None:
        with self._lock:
            self.events.append((service, what))

    def arrive(self, service: str) -> None:
        self._record(service, "arrives")
        self._arrived[service].set()
        (other,) = (name for name in SERVICES if name != service)
        if not self._arrived[other].wait(self.limit):
            self._record(service, "gives up waiting")

    def answer(self, service: str) -> None:
        self._record(service, "answers")

    def spans(self) -> dict[str, tuple[int, int]]:
        """Each service's call as (first step, last step); consecutive arrivals share a step,
        and so do consecutive answers, so two calls in flight together get the same span."""
        step, previous, spans = -1, None, {}
        for service, what in list(self.events):
            if what not in ("arrives", "answers"):
                continue
            if what != previous:
                step, previous = step + 1, what
            start, end = spans.get(service, (step, step))
            spans[service] = (start, step) if what == "answers" else (step, end)
        return spans

    def overlapped(self) -> bool:
        """Both calls were in flight at the same time: both arrived before either answered."""
        spans = self.spans()
        return all(service in spans for service in SERVICES) and spans["prices"][0] == spans["reviews"][0]

    def timeline(self) -> str:
        spans, width = self.spans(), 12
        lines = []
        for service in SERVICES:
            if service not in spans:
                lines.append(f"  {service:<8} (never called)")
                continue
            start, end = spans[service]
            lines.append(f"  {service:<8} {' ' * width * start}[{'=' * (width * (end - start) - 2)}]")
        if self.overlapped():
            lines.append("  overlapping: both calls were in flight at the same time")
        else:
            lines.append("  queued: one call started only after the other had answered")
        for service, what in list(self.events):
            if what == "gives up waiting":
                lines.append(f"  ({service} waited for the other call while it was in flight; none came)")
        return "\n".join(lines)


def _service(title: str, name: str, path: str, answers: dict[str, dict], meeting: MeetingPoint | None) -> FastAPI:
    """An upstream app. ``app.state`` holds what a test may change between requests:
    ``answers`` (by ISBN), ``meeting`` (a MeetingPoint or None), ``fail_with`` (a status code
    to answer every request with, or None) and ``calls`` (the ISBNs asked for, in order)."""
    upstream = FastAPI(title=title)
    upstream.state.answers = answers
    upstream.state.meeting = meeting
    upstream.state.fail_with = None
    upstream.state.calls = []

    # A plain `def`: the meeting point waits on a threading.Event, in a worker thread.
    @upstream.get(f"/{path}/{{isbn}}")
    def answer(isbn: str, request: Request) -> dict:
        state = request.app.state
        state.calls.append(isbn)
        if state.meeting is not None:
            state.meeting.arrive(name)
        try:
            if state.fail_with is not None:
                raise HTTPException(status_code=state.fail_with, detail=f"The {title} is down")
            if isbn not in state.answers:
                raise HTTPException(status_code=404, detail=f"The {title} knows no ISBN {isbn}")
            return state.answers[isbn]
        finally:
            if state.meeting is not None:
                state.meeting.answer(name)

    return upstream


def todays_prices() -> dict[str, dict]:
    """Every seeded book at its catalogue price, except Dune, on offer this week."""
    prices = {book["isbn"]: book["price_cents"] for book in seed_rows(Book)}
    prices["9780441172719"] = 899
    return {isbn: {"isbn": isbn, "price_cents": cents} for isbn, cents in prices.items()}


def review_summaries() -> dict[str, dict]:
    """The review site's summary of every seeded book."""
    ratings = [(4.4, 212), (4.3, 158), (4.6, 1893), (4.1, 402), (4.5, 377), (4.4, 291), (4.5, 240), (4.6, 188)]
    return {
        book["isbn"]: {"isbn": book["isbn"], "average": average, "count": count}
        for book, (average, count) in zip(seed_rows(Book), ratings, strict=True)
    }


def price_service(meeting: MeetingPoint | None = None) -> FastAPI:
    """``GET /prices/{isbn}`` answers ``{"isbn": ..., "price_cents": ...}``, or 404."""
    return _service("price service", "prices", "prices", todays_prices(), meeting)


def review_service(meeting: MeetingPoint | None = None) -> FastAPI:
    """``GET /reviews/{isbn}`` answers ``{"isbn": ..., "average": ..., "count": ...}``, or 404."""
    return _service("review service", "reviews", "reviews", review_summaries(), meeting)
