# %% [markdown]
# # One HTTP client for the whole app
#
# **The story.** Each book page now shows today's price from the distributor, fetched live from
# the distributor's price service. The code was written the way the team writes database code:
# a `get_prices` dependency with `yield` opens a fresh `httpx.AsyncClient` for each request and
# closes it when the request is done. Tidy, tested, green. Then the distributor's operations team
# wrote in: the bookshop opens a new connection for every single price it asks for, one TCP (and
# TLS) handshake per page view, and they are about to rate-limit it. Their terms allow the shop
# **at most 10 connections at a time**. The page has a budget of its own: no step of a price
# lookup (connecting, sending, waiting for the answer, waiting for a free connection) may take
# more than **5 seconds**; past that, the page answers 502 without a price.
#
# **You will learn**
# - why an `httpx.AsyncClient` is a *connection pool*, like a database engine, and what building
#   one per request costs: a new connection each time, no keep-alive, no limit across requests;
# - how to build one client in the lifespan, share it with every request through lifespan state,
#   and close it on shutdown;
# - what httpx does when you give it no timeout (it has one: 5 s), why you should say which one
#   you want anyway, and why the pool needs a cap within what the service allows;
# - what keep-alive is, and the settings that quietly switch it off.
#
# Run the cells from the top (**Run → Run All Cells**), read the evidence, then make the check pass.

# %% tags=["setup"]
from checks import setup_notebook

setup_notebook()

# %% [markdown]
# ## The bookshop around the problem
#
# The `Book` model and the database lifespan (`shop_lifespan`, which creates the engine and
# yields a `sessionmaker` into each request's state) come from the workbook's `bookshop`
# package, as in "The engine belongs to the lifespan". `prices_url()` reads the `BOOKSHOP_PRICES_URL` setting, the price
# service's address, when it is called. `fetch_price` asks the price service for one book's
# price with the client it is given, and turns any httpx error (refused, timed out, 5xx, 404)
# into a **502 Bad Gateway**.

# %%
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import httpx
from fastapi import Depends, FastAPI, HTTPException, Request
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from bookshop.db import lifespan as shop_lifespan
from bookshop.models import Book
from bookshop.schemas import BookOut
from bookshop.prices import prices_url


class LivePrice(BaseModel):
    book_id: int
    title: str
    price_cents: int


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.state.sessionmaker() as session:
        yield session


async def get_book(book_id: int, session: Annotated[AsyncSession, Depends(get_session)]) -> Book:
    book = await session.get(Book, book_id)
    if book is None:
        raise HTTPException(status_code=404, detail="Book not found")
    return book


BookDep = Annotated[Book, Depends(get_book)]


async def fetch_price(prices: httpx.AsyncClient, book: Book) -> LivePrice:
    """Today's price of ``book`` from the price service, or a 502 if the service failed us."""
    try:
        response = await prices.get(f"/prices/{book.isbn}")
        response.raise_for_status()
    except httpx.HTTPError as error:
        raise HTTPException(status_code=502, detail="The price service did not answer") from error
    return LivePrice(book_id=book.id, title=book.title, price_cents=response.json()["price_cents"])

# %% [markdown]
# ## The code under review
#
# This is the cell you will change. `get_prices` looks like the `get_session` dependency of
# "The engine belongs to the lifespan", and that is the trouble: how many clients does the app build for a hundred page
# views, and how many connections does each of them open?

# %% tags=["kata", "starter"]
app = FastAPI(lifespan=shop_lifespan)


async def get_prices() -> AsyncIterator[httpx.AsyncClient]:
    # "One per request, closed when the request is done, just like the database session."
    async with httpx.AsyncClient(base_url=prices_url()) as client:
        yield client

# %% tags=["kata", "solution"]
@asynccontextmanager
async def lifespan(app: FastAPI):
    # The shop's own lifespan (the engine) and the price client start and stop together.
    # `async with` closes the client when the app stops, even if startup failed half-way.
    async with shop_lifespan(app) as shop, httpx.AsyncClient(
        base_url=prices_url(),  # read at startup, from the configuration of that moment
        timeout=httpx.Timeout(3.0, connect=1.0),  # the budget a price lookup gets, in writing
        limits=httpx.Limits(max_connections=10, max_keepalive_connections=10),  # what the distributor allows
    ) as prices:
        yield {**shop, "prices": prices}  # every request finds it at `request.state.prices`


app = FastAPI(lifespan=lifespan)


async def get_prices(request: Request) -> httpx.AsyncClient:
    # `async def`, although it awaits nothing: a plain `def` dependency would be run in a
    # worker thread for every request ("Slow reports must not starve the health check").
    return request.state.prices

# %% tags=["kata", "decoy:cached-client"]
# "Cache it, like `get_settings()`: one client for the whole process." One client, yes, but it
# belongs to no app: nobody ever closes it, it keeps the URL it saw on the first request, and
# its pooled connections stay tied to the event loop that opened them. Tests that start the
# app twice, or a server that reloads, inherit a stale client.
import functools

app = FastAPI(lifespan=shop_lifespan)


@functools.cache
def get_prices() -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=prices_url(),
        timeout=httpx.Timeout(3.0, connect=1.0),
        limits=httpx.Limits(max_connections=10, max_keepalive_connections=10),
    )

# %% tags=["kata", "decoy:never-closed"]
# "Build it in the lifespan and put it in the state." Right place, but it is never closed: the
# app stops and the client's connections are left to the garbage collector (which closes the
# sockets with a `ResourceWarning: unclosed transport`, whenever it runs) or the process exit.
@asynccontextmanager
async def lifespan(app: FastAPI):
    async with shop_lifespan(app) as shop:
        prices = httpx.AsyncClient(
            base_url=prices_url(),
            timeout=httpx.Timeout(3.0, connect=1.0),
            limits=httpx.Limits(max_connections=10, max_keepalive_connections=10),
        )
        yield {**shop, "prices": prices}


app = FastAPI(lifespan=lifespan)


async def get_prices(request: Request) -> httpx.AsyncClient:
    return request.state.prices

# %% tags=["kata", "decoy:timeout-none"]
# "While we are at it: some lookups took longer than 5 s under load and failed, so no timeouts."
# One shared client, closed on shutdown, but `timeout=None` lets a hung price service hold
# every request (and every pooled connection) for as long as it likes.
@asynccontextmanager
async def lifespan(app: FastAPI):
    async with shop_lifespan(app) as shop, httpx.AsyncClient(
        base_url=prices_url(),
        timeout=None,
        limits=httpx.Limits(max_connections=10, max_keepalive_connections=10),
    ) as prices:
        yield {**shop, "prices": prices}


app = FastAPI(lifespan=lifespan)


async def get_prices(request: Request) -> httpx.AsyncClient:
    return request.state.prices

# %% tags=["kata", "decoy:lazy-client"]
# "Build the client on the first request and keep it: one client, late enough to read the right
# address, and no lifespan to write." One client, but it belongs to no app: nothing ever closes
# it, and the next start of the app (a reload, the next test) inherits it, with the old address.
app = FastAPI(lifespan=shop_lifespan)
price_client: httpx.AsyncClient | None = None


async def get_prices() -> httpx.AsyncClient:
    global price_client
    if price_client is None:
        price_client = httpx.AsyncClient(
            base_url=prices_url(),
            timeout=httpx.Timeout(3.0, connect=1.0),
            limits=httpx.Limits(max_connections=10, max_keepalive_connections=10),
        )
    return price_client

# %% tags=["kata", "decoy:no-timeout-per-lookup"]
# "The client keeps its timeout; only price lookups, which were the slow ones, get none." The
# timeout given with a request replaces the client's: a hung price service now holds every page
# view for as long as it hangs, and the client's careful budget protects nothing.
@asynccontextmanager
async def lifespan(app: FastAPI):
    async with shop_lifespan(app) as shop, httpx.AsyncClient(
        base_url=prices_url(),
        timeout=httpx.Timeout(3.0, connect=1.0),
        limits=httpx.Limits(max_connections=10, max_keepalive_connections=10),
    ) as prices:
        yield {**shop, "prices": prices}


app = FastAPI(lifespan=lifespan)


async def get_prices(request: Request) -> httpx.AsyncClient:
    return request.state.prices


async def fetch_price(prices: httpx.AsyncClient, book: Book) -> LivePrice:
    try:
        response = await prices.get(f"/prices/{book.isbn}", timeout=None)
        response.raise_for_status()
    except httpx.HTTPError as error:
        raise HTTPException(status_code=502, detail="The price service did not answer") from error
    return LivePrice(book_id=book.id, title=book.title, price_cents=response.json()["price_cents"])

# %% tags=["kata", "decoy:limits-removed"]
# "One shared client, but no lookup should ever wait for a free connection: lift the limits."
# Under load, each lookup that finds every connection busy opens one more, with no end: exactly
# what the distributor is about to rate-limit.
@asynccontextmanager
async def lifespan(app: FastAPI):
    async with shop_lifespan(app) as shop, httpx.AsyncClient(
        base_url=prices_url(),
        timeout=httpx.Timeout(3.0, connect=1.0),
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=None),
    ) as prices:
        yield {**shop, "prices": prices}


app = FastAPI(lifespan=lifespan)


async def get_prices(request: Request) -> httpx.AsyncClient:
    return request.state.prices

# %% tags=["kata", "decoy:keepalive-off"]
# "One shared client, but no idle sockets lying around between lookups: keep none alive." One
# client, and still one new connection (and handshake) per lookup: with no connection kept alive,
# the pool has nothing to reuse, and the distributor sees exactly what it complained about.
@asynccontextmanager
async def lifespan(app: FastAPI):
    async with shop_lifespan(app) as shop, httpx.AsyncClient(
        base_url=prices_url(),
        timeout=httpx.Timeout(3.0, connect=1.0),
        limits=httpx.Limits(max_connections=10, max_keepalive_connections=0),
    ) as prices:
        yield {**shop, "prices": prices}


app = FastAPI(lifespan=lifespan)


async def get_prices(request: Request) -> httpx.AsyncClient:
    return request.state.prices

# %% tags=["kata", "decoy:hour-timeout"]
# "Lookups failed at 5 s under load: give them an hour, that is still a timeout." It is, and a
# hung price service now holds each page view for an hour, far past what the page can afford.
@asynccontextmanager
async def lifespan(app: FastAPI):
    async with shop_lifespan(app) as shop, httpx.AsyncClient(
        base_url=prices_url(),
        timeout=3600,
        limits=httpx.Limits(max_connections=10, max_keepalive_connections=10),
    ) as prices:
        yield {**shop, "prices": prices}


app = FastAPI(lifespan=lifespan)


async def get_prices(request: Request) -> httpx.AsyncClient:
    return request.state.prices

# %% tags=["kata", "decoy:huge-cap"]
# "A cap, as the walkthrough says, but a generous one: no customer should wait for a connection."
# A cap of 100 000 is no cap: under load the shop opens ten thousand times what the distributor allows.
@asynccontextmanager
async def lifespan(app: FastAPI):
    async with shop_lifespan(app) as shop, httpx.AsyncClient(
        base_url=prices_url(),
        timeout=httpx.Timeout(3.0, connect=1.0),
        limits=httpx.Limits(max_connections=100_000),
    ) as prices:
        yield {**shop, "prices": prices}


app = FastAPI(lifespan=lifespan)


async def get_prices(request: Request) -> httpx.AsyncClient:
    return request.state.prices

# %% tags=["kata", "decoy:retrying-transport"]
# "Retry a lookup whose connection failed, with a transport that wraps httpx's, and never make a
# customer wait for a free connection." The wrapper hides the pool from a quick look, not from the
# distributor: the transport inside has no cap at all.
class RetryingTransport(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport, retries: int = 2):
        self.inner, self.retries = inner, retries

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        for attempt in range(self.retries + 1):
            try:
                return await self.inner.handle_async_request(request)
            except httpx.ConnectError:
                if attempt == self.retries:
                    raise

    async def aclose(self) -> None:
        await self.inner.aclose()


@asynccontextmanager
async def lifespan(app: FastAPI):
    transport = RetryingTransport(httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=None)))
    async with shop_lifespan(app) as shop, httpx.AsyncClient(
        base_url=prices_url(), timeout=httpx.Timeout(3.0, connect=1.0), transport=transport
    ) as prices:
        yield {**shop, "prices": prices}


app = FastAPI(lifespan=lifespan)


async def get_prices(request: Request) -> httpx.AsyncClient:
    return request.state.prices

# %% tags=["kata", "decoy:on-event-beside-the-lifespan"]
# "Open the client at startup and close it at shutdown, as the guides show." The app keeps the
# shop's lifespan, and with a lifespan FastAPI never runs `on_event` handlers: there is no client.
app = FastAPI(lifespan=shop_lifespan)


@app.on_event("startup")
async def open_prices() -> None:
    app.state.prices = httpx.AsyncClient(base_url=prices_url(), timeout=httpx.Timeout(3.0, connect=1.0))


@app.on_event("shutdown")
async def close_prices() -> None:
    await app.state.prices.aclose()


async def get_prices(request: Request) -> httpx.AsyncClient:
    return request.app.state.prices

# %% tags=["kata", "decoy:startup-ping"]
# "Warm the pool up at startup, and fail fast if the distributor is misconfigured." The shop now
# cannot start while the price service is down: the catalogue goes down with the distributor.
@asynccontextmanager
async def lifespan(app: FastAPI):
    async with shop_lifespan(app) as shop, httpx.AsyncClient(
        base_url=prices_url(),
        timeout=httpx.Timeout(3.0, connect=1.0),
        limits=httpx.Limits(max_connections=10, max_keepalive_connections=10),
    ) as prices:
        (await prices.get("/prices/9780441172719")).raise_for_status()
        yield {**shop, "prices": prices}


app = FastAPI(lifespan=lifespan)


async def get_prices(request: Request) -> httpx.AsyncClient:
    return request.state.prices

# %% tags=["kata", "alternative:app-state"]
# The client on `app.state`, built and closed by the lifespan: older code and many guides do
# this, and it is built and closed in the right place.
@asynccontextmanager
async def lifespan(app: FastAPI):
    async with shop_lifespan(app) as shop:
        app.state.prices = httpx.AsyncClient(
            base_url=prices_url(),
            timeout=httpx.Timeout(3.0, connect=1.0),
            limits=httpx.Limits(max_connections=10, max_keepalive_connections=10),
        )
        try:
            yield shop
        finally:
            await app.state.prices.aclose()


app = FastAPI(lifespan=lifespan)


async def get_prices(request: Request) -> httpx.AsyncClient:
    return request.app.state.prices

# %% tags=["kata", "alternative:aclose-in-finally"]
# The same client in lifespan state, closed in a `finally` instead of by `async with`, with the
# whole budget: 5 seconds per step, and the 10 connections the distributor allows.
@asynccontextmanager
async def lifespan(app: FastAPI):
    async with shop_lifespan(app) as shop:
        prices = httpx.AsyncClient(base_url=prices_url(), timeout=5.0, limits=httpx.Limits(max_connections=10))
        try:
            yield {**shop, "prices": prices}
        finally:
            await prices.aclose()


app = FastAPI(lifespan=lifespan)


async def get_prices(request: Request) -> httpx.AsyncClient:
    return request.state.prices

# %% tags=["kata", "alternative:shared-transport"]
# The pool is the transport: build *it* once in the lifespan and close it there, and give each
# request a light client over it (a client given a transport builds no pool, and without proxy
# settings in the environment no SSL context, of its own). Connections are reused across
# requests, capped, and closed when the app stops; the per-request clients are not closed,
# since closing one would close the shared transport.
@asynccontextmanager
async def lifespan(app: FastAPI):
    async with shop_lifespan(app) as shop, httpx.AsyncHTTPTransport(
        limits=httpx.Limits(max_connections=10)
    ) as transport:
        yield {**shop, "price_transport": transport, "prices_url": prices_url()}


app = FastAPI(lifespan=lifespan)


async def get_prices(request: Request) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=request.state.prices_url, transport=request.state.price_transport, timeout=httpx.Timeout(3.0)
    )

# %% [markdown]
# The endpoints only use `get_prices` and `get_book`, so they stay as they are while you fix the
# cell above.

# %%
PricesDep = Annotated[httpx.AsyncClient, Depends(get_prices)]


@app.get("/books/{book_id}/price")
async def live_price(book: BookDep, prices: PricesDep) -> LivePrice:
    return await fetch_price(prices, book)


@app.get("/books/{book_id}")
async def read_book(book: BookDep) -> BookOut:
    return BookOut.model_validate(book)

# %% [markdown]
# ## The evidence
#
# The next cell starts the distributor's price service on a real port of this machine (a small
# app served by uvicorn, from `bookshop.prices`), points the shop at it, and asks for
# Dune's price five times, one request after the other. The price service writes down the
# client port of every request it receives: requests on the same TCP connection share a port,
# a new connection has a new one. A spy also counts the `httpx.AsyncClient`s that called the
# price service and, once the shop has stopped, how many of them are still open.

# %% tags=["evidence"]
from bookshop.client import describe, shop_client
from bookshop.observe import http_clients
from bookshop.prices import price_service, prices_at
from bookshop.upstream import serve

distributor = price_service()
ports = distributor.state.client_ports  # one entry per request the price service received
with serve(distributor) as url, prices_at(url), http_clients(url) as clients:
    with shop_client(app) as client:
        for _ in range(5):
            seen = len(ports)
            response = client.get("/books/3/price")
            if len(ports) == seen:
                how = "the price service never saw this request"
            else:
                connection = list(dict.fromkeys(ports)).index(ports[-1]) + 1
                how = f"connection #{connection}, " + ("opened for it" if ports.count(ports[-1]) == 1 else "kept alive, reused")
            print(f"GET /books/3/price -> {describe(response)}   ({how})")

print(f"\n5 lookups -> {len(set(ports))} TCP connection(s) to the price service, "
      f"through {len(clients.callers)} httpx client(s)")
print(f"clients still open after the shop stopped: {sum(not c.is_closed for c in clients.callers)}")
for c in clients.callers[:1]:
    chosen = "chosen in the code" if "timeout" in (clients.arguments(c) or {}) else "httpx's default, chosen by nobody"
    print(f"the client's timeout: {c.timeout} ({chosen})")

# %% [markdown]
# With the starter you should see five lookups, five connections, each *opened for it*, and
# five clients, all closed (the `async with` did its job). Every lookup paid for a new pool and
# a new TCP handshake; against an `https://` service each would also pay a TLS handshake. And
# the timeout is httpx's default, which nobody in the code decided on.
#
# ## The check
#
# Run it. Each failing test names what is wrong; fix the kata cell, run it again (and the
# endpoints cell below it), then re-run this cell until every test passes.

# %% tags=["check"]
%%ipytest
from checks.shared_client import *

# %% [markdown]
# ## Hints
#
# Stuck? Each click opens one more level: a nudge, then the concept, then a sketch of
# the code. In a terminal, `kata hint shared-client` opens the same levels.

# %% [markdown] tags=["hint"]
# ### Hint 1: a nudge
#
# Where is `httpx.AsyncClient(...)` called, and how often does that line run: once per app, or
# once per request? In "The engine belongs to the lifespan", where was the database *engine*
# built, and where the *session*? Which of the two is an httpx client like? And once there is
# one client: who closes it, how long may a lookup take, and how many connections may it open
# (the story gives both numbers)?

# %% [markdown] tags=["hint"]
# ### Hint 2: the concept
#
# An `httpx.AsyncClient` owns a connection pool: it keeps connections open after a response
# (keep-alive) so the next request to the same service skips the TCP and TLS handshakes, and it
# caps how many connections it opens (`limits=`). None of that helps if the client lives for
# one request: its pool starts empty and is thrown away. Building a client is not free either:
# it loads the CA certificates into a new SSL context, even for an `http://` URL. So it is like
# the engine, not like the session: build it once in the lifespan, `yield` it as state, close
# it after the `yield`. Building it opens no connection, so the app still starts when the price
# service is down. Keeping a client in a cache or a module variable instead gives one client per
# *process*: nothing closes it, and the next start of the app inherits it. Then write down its
# budget: httpx has a default timeout (5 s for each phase), but the budget of a price lookup is
# a decision, and `timeout=None`, on the client or on a single request (which overrides the
# client's), removes it altogether, and a timeout of an hour is one only in name: the story gives
# each step 5 seconds. Likewise the pool's `limits=`: a cap on connections, within the 10 the
# distributor allows, makes extra lookups wait for a free one instead of opening more; keeping no
# connection alive (`max_keepalive_connections=0`, `keepalive_expiry=0`, a `Connection: close`
# header) throws away what the shared pool is for.
#
# Read: HTTPX, [Clients](https://www.python-httpx.org/advanced/clients/),
# [Timeouts](https://www.python-httpx.org/advanced/timeouts/) and
# [Resource limits](https://www.python-httpx.org/advanced/resource-limits/).

# %% [markdown] tags=["hint"]
# ### Hint 3: a sketch
#
# ```python
# @asynccontextmanager
# async def lifespan(app: FastAPI):
#     async with shop_lifespan(app) as shop, httpx.AsyncClient(
#         base_url=prices_url(), timeout=..., limits=...,
#     ) as prices:
#         yield {**shop, ...}
#
# app = FastAPI(lifespan=lifespan)
#
# async def get_prices(request: Request) -> httpx.AsyncClient:
#     return request.state...
# ```

# %% [markdown]
# ## The walkthrough

# %% [markdown] tags=["walkthrough"]
# ### The fix, step by step
#
# 1. **A client is a pool, so it lives as long as the app.** Build the `httpx.AsyncClient` in
#    the lifespan, next to the engine: `async with shop_lifespan(app) as shop,
#    httpx.AsyncClient(...) as prices:` starts both and, when the app stops, closes the client
#    and then disposes of the engine, in that order, even if something failed.
# 2. **Share it through lifespan state.** `yield {**shop, "prices": prices}` keeps what the
#    shop's lifespan provided (the `sessionmaker`) and adds the client; every request finds it
#    at `request.state.prices`. `get_prices` becomes a one-line `async def` that returns it, so
#    the endpoint does not change and a test can still override `get_prices`.
# 3. **Close it on shutdown.** The `async with` around the `yield` calls `aclose()`, which
#    closes the pooled connections when the app stops. A client nobody closes leaves them to
#    the garbage collector (asyncio then warns `ResourceWarning: unclosed transport`) or, if
#    something still holds the client, to the process exit.
# 4. **Say what you can afford.** Without `timeout=`, httpx 0.28 gives every request 5 s to
#    connect, 5 s per read, 5 s per write and 5 s to wait for a free pooled connection. That is
#    a real timeout (unlike many clients, httpx has one by default), but it is invisible in the
#    code and it is nobody's decision. `httpx.Timeout(3.0, connect=1.0)` states the budget of a
#    price lookup, and it holds only if no request overrides it: a `timeout=None` passed to
#    one `get(...)` replaces the client's budget for that request, and a hung price service
#    then holds the page for as long as it hangs (the check holds the price service's answer
#    and moves the app's clock on by hours: the lookup must give up with a 502). Likewise
#    `limits=`: without it a shared client allows 100 connections and keeps 20 alive;
#    `httpx.Limits(max_connections=None)` removes the cap, and per-request clients have no
#    shared cap at all (six concurrent requests through six clients limited to 2 connections
#    each opened six connections). The budgets come from outside the code: the distributor
#    allows 10 connections, the page gives each step of a lookup 5 seconds. A cap of 100 000 or
#    a timeout of an hour is written down, and still bounds nothing anyone can afford. The check
#    reads the cap from the connection pool that actually carried the lookups, so a transport
#    that wraps another one does not hide it.
# 5. **Keep connections alive.** Reuse is the point of the shared pool: after a response, the
#    connection goes back to the pool for the next lookup. `max_keepalive_connections=0`,
#    `keepalive_expiry=0` or a `Connection: close` header each close it instead, and one shared
#    client then opens a new connection per lookup, like a client per request.
# 6. **Read the URL at startup.** `prices_url()` is called in the lifespan, so a test or a
#    server that sets `BOOKSHOP_PRICES_URL` before starting the app is obeyed. Build the client
#    there, but do not call the service: a lookup at startup makes the whole shop fail to
#    start whenever the distributor is down.
#
# The pool, strictly, is the transport: one `httpx.AsyncHTTPTransport` built and closed in the
# lifespan, with a light `AsyncClient(transport=...)` per request, reuses and caps connections
# just as well (the client adds the base URL and the timeout). What must live as long as the
# app is the pool, whoever holds it.
#
# Why not cache the client with `@functools.cache`, like settings, or build it on the first
# request into a module variable? Either gives one client per *process*, not per app: nothing
# closes it, it keeps the URL of the first start, and its connections belong to the event loop
# that opened them. The check starts the app once before its tests, as a reload or the
# evidence cell would, so such a client shows up as one built before the app started. Why not build it in the lifespan and
# let the garbage collector clean up? httpx does not close a client when it is collected: its
# sockets are closed some time later, one by one, with a `ResourceWarning`; the lifespan knows
# exactly when the app stops. And `timeout=None` is not a fix for slow answers: it trades a clear 502 for
# requests that wait as long as the price service hangs. Why not open the client in an
# `@app.on_event("startup")` handler? This app has a lifespan (the shop's), and FastAPI then
# never runs `on_event` handlers: there is no client at all ("The engine belongs to the lifespan").
#
# Read more: HTTPX, [Clients](https://www.python-httpx.org/advanced/clients/),
# [Timeouts](https://www.python-httpx.org/advanced/timeouts/) and
# [Resource limits](https://www.python-httpx.org/advanced/resource-limits/); FastAPI,
# [Lifespan Events](https://fastapi.tiangolo.com/advanced/events/); Starlette,
# [Lifespan state](https://www.starlette.io/lifespan/).
#
# ### What to remember
# - An `httpx.AsyncClient` is a connection pool, like an engine: one per app, built in the
#   lifespan, shared through `request.state`, closed after the `yield`.
# - A client per request means a connection (and a TLS handshake) per request, no keep-alive,
#   and no limit on how many connections the app opens.
# - Give the client an explicit `timeout=` and `limits=`, within the budgets you were given;
#   never `timeout=None`, on the client or on one request, for a call that sits in a request.
# - Keep-alive is what the pool is for: do not switch it off.
# - A client in a cache or a module variable outlives the app: keep it in the lifespan.
