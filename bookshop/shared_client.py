"""The distributor's price service, which the bookshop calls over HTTP, and a spy on httpx clients.

``price_service()`` is the upstream: a small ASGI app to run with ``bookshop.upstream.serve``. It
writes down the TCP port of the connection each request arrived on, so the number of distinct
ports is the number of connections the bookshop opened. ``prices_url()`` is where the bookshop
finds it: the ``BOOKSHOP_PRICES_URL`` setting, read when it is called (not at import).
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from weakref import WeakKeyDictionary

import httpx
from fastapi import FastAPI, HTTPException, Request

from bookshop.db import seed_rows
from bookshop.models import Book
from bookshop.upstream import environment, service_url

PRICES_URL_ENV = "BOOKSHOP_PRICES_URL"


def prices_url() -> str:
    """The price service's base URL, e.g. ``http://127.0.0.1:40123``."""
    return service_url(PRICES_URL_ENV, "price service")


@contextmanager
def prices_at(url: str) -> Iterator[str]:
    """Point ``prices_url()`` at ``url`` for the duration of the block."""
    with environment(**{PRICES_URL_ENV: url}):
        yield url


def todays_prices() -> dict[str, int]:
    """The distributor's list: every seeded book, 5% under the shop's catalogue price."""
    return {book["isbn"]: book["price_cents"] * 95 // 100 for book in seed_rows(Book)}


def price_service(prices: dict[str, int] | None = None) -> FastAPI:
    """The upstream: ``GET /prices/{isbn}`` answers ``{"isbn": ..., "price_cents": ...}`` or 404.

    ``app.state.client_ports`` gets the client port of every request, in order: requests that
    arrive on one kept-alive connection share a port; a new connection has a new one.
    """
    upstream = FastAPI(title="Distributor price service")
    upstream.state.prices = todays_prices() if prices is None else dict(prices)
    upstream.state.client_ports = []

    @upstream.get("/prices/{isbn}")
    async def price(isbn: str, request: Request) -> dict:
        upstream.state.client_ports.append(request.client.port)
        if isbn not in upstream.state.prices:
            raise HTTPException(status_code=404, detail="No price for this ISBN")
        return {"isbn": isbn, "price_cents": upstream.state.prices[isbn]}

    return upstream


@dataclass
class ClientLog:
    """What ``http_clients`` saw: the clients built, their arguments, and who called the upstream."""

    built: WeakKeyDictionary = field(default_factory=WeakKeyDictionary)  # client -> its keyword arguments
    callers: list[httpx.AsyncClient] = field(default_factory=list)  # each client that called, once

    def arguments(self, client: httpx.AsyncClient) -> dict | None:
        """The keyword arguments ``client`` was built with, or None if it was built earlier."""
        return self.built.get(client)


@contextmanager
def http_clients(upstream_url: str) -> Iterator[ClientLog]:
    """Record every ``httpx.AsyncClient`` that sends a request to ``upstream_url`` meanwhile.

    The log keeps those clients alive, so ``is_closed`` can be read after the app stopped.
    """
    log = ClientLog()
    original_init, original_send = httpx.AsyncClient.__init__, httpx.AsyncClient.send

    def spying_init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        log.built[self] = kwargs

    async def spying_send(self, request, *args, **kwargs):
        if str(request.url).startswith(upstream_url) and not any(c is self for c in log.callers):
            log.callers.append(self)
        return await original_send(self, request, *args, **kwargs)

    httpx.AsyncClient.__init__, httpx.AsyncClient.send = spying_init, spying_send
    try:
        yield log
    finally:
        httpx.AsyncClient.__init__, httpx.AsyncClient.send = original_init, original_send
