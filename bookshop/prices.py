"""The distributor's price service: today's price of every book, over HTTP.

``price_service()`` is the upstream, an app to run with ``bookshop.upstream.serve`` (see
``lookup_service`` for what its ``app.state`` lets a check change and records). The bookshop
finds it at ``prices_url()``: the ``BOOKSHOP_PRICES_URL`` setting, read when it is called.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import FastAPI
from pydantic import BaseModel

from bookshop.db import seed_rows
from bookshop.models import Book
from bookshop.upstream import environment, lookup_service, service_url

PRICES_URL_ENV = "BOOKSHOP_PRICES_URL"
DUNE = "9780441172719"


class Price(BaseModel):
    isbn: str
    price_cents: int


def prices_url() -> str:
    """The price service's base URL, e.g. ``http://127.0.0.1:40123``."""
    return service_url(PRICES_URL_ENV, "price service")


@contextmanager
def prices_at(url: str) -> Iterator[str]:
    """Point ``prices_url()`` at ``url`` for the duration of the block."""
    with environment(**{PRICES_URL_ENV: url}):
        yield url


def todays_prices() -> dict[str, dict]:
    """Every seeded book at its catalogue price, except Dune, on offer this week."""
    prices = {book["isbn"]: book["price_cents"] for book in seed_rows(Book)}
    prices[DUNE] = 899
    return {isbn: {"isbn": isbn, "price_cents": cents} for isbn, cents in prices.items()}


def price_service() -> FastAPI:
    """``GET /prices/{isbn}`` answers ``{"isbn": ..., "price_cents": ...}``, or 404."""
    return lookup_service("price service", "prices", todays_prices())
