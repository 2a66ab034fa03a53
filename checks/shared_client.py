"""Check: one httpx client, built in the lifespan, serves every request, gives up on a hung price
service, caps its connections, and is closed on shutdown."""

import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass

import anyio
import anyio.to_thread
import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import _DefaultLifespan

from bookshop.client import open_client
from bookshop.observe import ClientLog, MeetingPoint, clock_runs_out, http_clients
from bookshop.prices import PRICES_URL_ENV, price_service, todays_prices
from bookshop.upstream import environment, serve
from checks.feedback import expect, fail
from checks.harness import brief, json_of, learner

__all__ = [
    "shop_price_server",
    "shop_price_lookups",
    "shop_price_service",
    "test_sequential_price_lookups_share_one_connection_not_a_client_per_request",
    "test_the_price_client_is_closed_when_the_app_shuts_down",
    "test_the_price_client_has_a_timeout_you_chose_and_none_is_unlimited",
    "test_a_price_service_that_hangs_is_answered_502_once_the_timeout_runs_out",
    "test_the_price_client_caps_the_connections_it_opens",
    "test_the_price_in_the_response_comes_from_the_price_service",
    "test_a_price_service_outage_is_answered_502_and_the_shop_still_starts",
]

DUNE_ISBN, KINDRED_ISBN = "9780441172719", "9780807083697"  # books 3 and 5 in the seeded shop
LOOKUPS = 2
LOCAL = "http://127.0.0.1:"  # every service the check starts, and any an earlier start used
HOLD_LIMIT = 0.3  # a held price service gives up after this: only a lookup with no timeout waits it out
# The budgets the story states: what the distributor allows, and how long the page may wait.
ALLOWED_CONNECTIONS = 10  # connections from the shop to the price service at once
PAGE_BUDGET = 5.0  # seconds a price lookup may wait for any one step
SAFETY = 5.0  # never reached by working code: it only keeps a broken one from hanging the check
LIFESPAN = ("Build what the app needs in its lifespan, as in 'The engine belongs to the lifespan': each "
            "start builds its own and closes it after the yield. Read HTTPX's 'Clients' and FastAPI's "
            "'Lifespan Events'.")


def _closed_port() -> socket.socket:
    """A port that is bound but not listening: every connection to it is refused at once."""
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    return closed


async def _an_earlier_start(app) -> None:
    """Start the app once and look a price up, against a price service that is down."""
    with _closed_port() as closed, environment(**{PRICES_URL_ENV: f"http://127.0.0.1:{closed.getsockname()[1]}"}):
        try:
            async with open_client(app) as client:
                await client.get("/books/3/price")
        except Exception:  # noqa: BLE001 - only what the app keeps afterwards matters
            pass


@pytest.fixture(scope="module")
def shop_price_server(request) -> Iterator[tuple[FastAPI, str]]:
    """The distributor's price service on a real port, for the whole check (stopping costs ~0.2 s).

    Every start of an app follows an earlier one: the evidence cell, another test, a server's
    reload. So the check first starts the app once itself: whatever the app keeps from one start
    to the next (a cached client) is then the same here as in a notebook that ran the evidence.
    """
    app = vars(request.module).get("app")
    if isinstance(app, FastAPI):
        anyio.run(_an_earlier_start, app)
    upstream = price_service()
    with serve(upstream) as url:
        yield upstream, url


@dataclass
class _Lookups:
    """One start of the app, LOOKUPS price lookups one after the other, then shutdown."""

    log: ClientLog
    responses: list[httpx.Response]
    ports: list[int]  # the client port of each request the price service received


@pytest.fixture(scope="module")
def shop_price_lookups(shop_price_server, request) -> _Lookups:
    """Several tests judge the same run: which clients it used, how, and what became of them."""
    upstream, url = shop_price_server
    upstream.state.client_ports = []
    app = vars(request.module).get("app")
    responses: list[httpx.Response] = []

    async def look_up() -> None:
        async with open_client(app) as client:
            for _ in range(LOOKUPS):
                responses.append(await client.get("/books/3/price"))

    with environment(**{PRICES_URL_ENV: url}), http_clients(LOCAL) as log:
        if isinstance(app, FastAPI):
            anyio.run(look_up)
    return _Lookups(log, responses, list(upstream.state.client_ports))


@pytest.fixture
def shop_price_service(shop_price_server, monkeypatch) -> tuple[FastAPI, str]:
    """The price service with today's prices and no requests seen; apps started now call it."""
    upstream, url = shop_price_server
    upstream.state.answers = todays_prices()
    upstream.state.client_ports = []
    upstream.state.calls = []
    upstream.state.fail_with = None
    upstream.state.meeting = None
    monkeypatch.setenv(PRICES_URL_ENV, url)
    return upstream, url


def _handlers_run(app) -> None:
    """No on_event handler sits beside a lifespan, where FastAPI never runs it."""
    if not isinstance(app, FastAPI):
        return
    handlers = [h.__name__ for h in (*app.router.on_startup, *app.router.on_shutdown)]
    expect(
        not handlers or isinstance(app.router.lifespan_context, _DefaultLifespan),
        f"The app registers on_event handlers ({', '.join(handlers)}) and also has a lifespan. FastAPI "
        "runs only the lifespan: those handlers never run, at startup or at shutdown.",
        "Whatever they were to build is never built and whatever they were to close is never closed, and "
        "nothing at startup says so: the first sign is the requests that need it failing.",
        nudge="Which of the two ways of running code at startup does FastAPI use when an app has both?",
        concept="With a lifespan, on_event handlers are skipped without a word, as in 'The engine belongs "
                "to the lifespan': build the client in the lifespan, before its yield, and close it after. "
                + LIFESPAN,
    )


def _built_by_this_start(log: ClientLog) -> None:
    """No client kept from an earlier start served this one (``log`` watched the whole start)."""
    kept = [client for client in log.callers if log.arguments(client) is None]
    expect(
        not kept,
        "The price lookups of this start of the app went through an httpx client that was built "
        "before the app started: one kept from an earlier start, with that start's settings.",
        "A client kept in a cache or a module variable belongs to no app: nothing closes it, it keeps "
        "the price service's address from the first start, and its connections belong to the event "
        "loop that opened them. A server that reloads, or tests that start the app twice, inherit it.",
        nudge="Where does the client live between two starts of the app? Who builds it, and who closes it?",
        concept=LIFESPAN,
    )


def _looked_up(kata_ns, lookups: _Lookups) -> _Lookups:
    """The shared run, once it is known to have worked with a client this start built."""
    _handlers_run(learner(kata_ns, "app"))
    _built_by_this_start(lookups.log)
    broken = [r for r in lookups.responses if r.status_code != 200]
    expect(
        lookups.responses and not broken,
        f"GET /books/3/price answered {brief(broken[0]) if broken else 'nothing'} with the price service up.",
        "The price lookup itself must work before how it connects can be judged.",
        nudge="Which address does the client call, and when was it read?",
    )
    expect(
        lookups.log.callers,
        "GET /books/3/price answered without any httpx.AsyncClient calling the price service.",
        "The price on the page must be today's price from the distributor, fetched with an httpx client.",
    )
    return lookups


def _clients(count: int) -> str:
    return f"{count} httpx client{'s' if count != 1 else ''}"


def test_sequential_price_lookups_share_one_connection_not_a_client_per_request(kata_ns, shop_price_lookups):
    lookups = _looked_up(kata_ns, shop_price_lookups)
    connections = len(set(lookups.ports))
    if connections > 1 and (len(lookups.log.callers) == 1 or len(lookups.log.pools) == 1):
        fail(
            f"{LOOKUPS} price lookups, one after the other, went through one connection pool "
            f"({_clients(len(lookups.log.callers))}), yet each opened a TCP connection of its own: "
            f"{connections} connections. No connection was kept alive for the next lookup.",
            "Keep-alive is what a shared client is for: without it every lookup pays a new TCP handshake "
            "(and a TLS one, against an https service), and the distributor sees one new connection per "
            "page view, the very thing it is about to rate-limit.",
            nudge="What does your client do with a connection once a lookup has its answer? Which setting "
                  "or header decides that?",
            concept="An httpx pool keeps a number of idle connections alive for a while after each response "
                    "(its keep-alive limits), unless told not to; a 'Connection: close' header closes each "
                    "one after its response. Read HTTPX's 'Resource limits'.",
        )
    expect(
        connections == 1,
        f"{LOOKUPS} price lookups, one after the other, opened {connections} TCP connections to the price "
        f"service, through {_clients(len(lookups.log.callers))}.",
        "Each client is a connection pool of its own: one per request means a new TCP handshake (and "
        "a TLS one, against an https service) for every lookup, no connection kept alive between "
        "requests, and no cap on how many the shop opens at once. The distributor sees one new "
        "connection per page view.",
        nudge="Where is the client built, and how often does that line run: once per app, or once per "
              "request? Is an httpx client more like the database engine or the database session?",
        concept="An httpx.AsyncClient is a connection pool, like an engine: one for the whole app, shared "
                "by every request. " + LIFESPAN,
    )


def test_the_price_client_is_closed_when_the_app_shuts_down(kata_ns, shop_price_lookups):
    lookups = _looked_up(kata_ns, shop_price_lookups)
    still_open = [client for client in lookups.log.callers if not client.is_closed]
    connections = lookups.log.open_connections()
    expect(
        not connections,
        f"After the app shut down, {connections} connection(s) to the price service were still open, in "
        f"{_clients(len(still_open))} nobody closed.",
        "Those connections stay open until the garbage collector or the process exit gets to them, with "
        "a ResourceWarning: every restart, reload or test run leaks connections to the distributor.",
        nudge="What runs when the app stops, and does anything there close the client, or the pool it uses?",
        concept="A client built in the lifespan is closed after its yield, also when the app failed: a "
                "context manager around the yield, or a finally. Read HTTPX's 'Clients' and FastAPI's "
                "'Lifespan Events'.",
    )


PHASES = {"connect": "connecting", "read": "waiting for the answer", "write": "sending",
          "pool": "waiting for a free connection"}


def test_the_price_client_has_a_timeout_you_chose_and_none_is_unlimited(kata_ns, shop_price_lookups):
    log = _looked_up(kata_ns, shop_price_lookups).log
    for client in log.callers:
        limits = client.timeout.as_dict()
        unlimited = [PHASES.get(phase, phase) for phase, limit in limits.items() if limit is None]
        expect(
            not unlimited,
            f"The price client waits without any limit for: {', '.join(unlimited)}.",
            "A price service that hangs then holds the page view, and its connection, for as long as it "
            "hangs: under load every connection and every customer ends up waiting.",
            nudge="How long may a price lookup take before the shop gives up on it? Where does the "
                  "client say so?",
            concept="httpx applies a timeout to each phase of a request: connecting, sending, waiting for "
                    "the answer, waiting for a pooled connection. Read HTTPX's 'Timeouts'.",
        )
        over = [f"{PHASES.get(phase, phase)} {limit:g} s" for phase, limit in limits.items() if limit > PAGE_BUDGET]
        expect(
            not over,
            f"The price client may wait longer than the page's budget of {PAGE_BUDGET:g} seconds: "
            f"{', '.join(over)}.",
            "A page that waits longer than its budget for a price keeps the customer, and a connection, "
            "waiting past the point where the shop should have answered 502: under load those waits pile up.",
            nudge="How long may the page wait for any one step of a price lookup, according to the story? "
                  "What does your client allow?",
            concept="Each phase of an httpx request has its own timeout: write the budget you can afford "
                    "where the client is built. Read HTTPX's 'Timeouts'.",
        )
        arguments = log.arguments(client)
        expect(
            arguments is None or "timeout" in arguments,
            "The price client was built with no timeout of its own: it runs on httpx's default, "
            "5 seconds for each phase (connecting, sending, waiting for the answer, waiting for a free "
            "connection).",
            "Nobody chose that budget and nobody reading the code can see it: a lookup may keep a page "
            "waiting several times 5 seconds before the shop answers 502, and the next change of "
            "httpx's default changes the shop.",
            nudge="What does your client do when the price service takes 10 seconds to answer? Where in "
                  "the code can a reader see that?",
            concept="The budget of a price lookup is a decision: write it where the client is built, and "
                    "the size of its pool with it. Read HTTPX's 'Timeouts' and 'Resource limits'.",
        )


@pytest.mark.anyio
async def test_a_price_service_that_hangs_is_answered_502_once_the_timeout_runs_out(
    kata_ns, shop_db, shop_price_service
):
    upstream, url = shop_price_service
    app = learner(kata_ns, "app")
    _handlers_run(app)
    meeting = MeetingPoint(0, isbn=DUNE_ISBN, hold="prices", hold_limit=HOLD_LIMIT)
    result: dict = {}
    done = threading.Event()
    moved_on = False
    try:
        with http_clients(LOCAL) as log, meeting.watching_app(prices=url):
            async with open_client(app) as client, anyio.create_task_group() as tg:
                # Only the lookup's own request is held: whatever the app asked while it started is done.
                upstream.state.meeting = meeting

                async def look_up() -> None:
                    try:
                        result["price"] = await client.get("/books/3/price")
                    finally:
                        done.set()

                tg.start_soon(look_up)
                with anyio.move_on_after(SAFETY):
                    while not done.is_set() and not meeting.held.is_set():
                        await anyio.sleep(0.001)  # polls; decides nothing
                if not done.is_set():
                    moved_on = True
                    with clock_runs_out():
                        await anyio.to_thread.run_sync(done.wait, SAFETY)
                meeting.release()
    finally:
        meeting.release()
        upstream.state.meeting = None
    _built_by_this_start(log)
    response = result.get("price")
    expect(response is not None, "GET /books/3/price got no answer at all while the price service hung.",
           "A request that never answers holds its connection and the customer forever.")
    expect(moved_on, f"GET /books/3/price answered {brief(response)} without ever reaching the price service.",
           "The price on the page must be today's price from the distributor.")
    expect(
        not meeting.gave_up_holding,
        "The price service did not answer, and the check moved the app's clock on by hours at a time, "
        "yet GET /books/3/price waited until the price service itself gave up holding its answer "
        f"({brief(response)}).",
        "Nothing in the lookup ever gives up on a hung price service: each page view waits for as long "
        "as the service hangs, holding a connection, until the customers give up instead.",
        nudge="Which timeout applies to the request that fetch_price makes? Can anything on the way "
              "switch it off?",
        concept="A timeout passed with one request replaces the client's own for that request: the "
                "client's budget protects only the requests that keep it. Read HTTPX's 'Timeouts'.",
    )
    expect(
        response.status_code == 502,
        f"The price service did not answer in time: GET /books/3/price answered {brief(response)}.",
        "A price service that does not answer in time is a 502 Bad Gateway the client can act on.",
        nudge="What does fetch_price do with the error a timed-out request raises?",
    )


def _cap(pool) -> str:
    """httpcore stores "no cap" as ``sys.maxsize``."""
    return "any number of" if pool._max_connections >= sys.maxsize else f"{pool._max_connections}"


def test_the_price_client_caps_the_connections_it_opens(kata_ns, shop_price_lookups):
    lookups = _looked_up(kata_ns, shop_price_lookups)
    pools = lookups.log.pools
    expect(
        pools,
        f"The price lookups went through {_clients(len(lookups.log.callers))}, but through no connection "
        "pool the check can find: it looks for the httpcore connection pool that carries each request "
        "(what an httpx transport uses, however many transports wrap it), and none carried these.",
        "Without a pool the check can see, it cannot tell how many connections the shop may open to the "
        "distributor, and it does not pass what it cannot see.",
        nudge="Which transport carries your client's requests, and does it use httpx's own connection pool?",
        concept="httpx.AsyncHTTPTransport owns the connection pool; a transport of your own should wrap "
                "one. Read HTTPX's 'Transports' and 'Resource limits'.",
    )
    caps = [pool._max_connections for pool in pools]
    expect(
        sum(caps) <= ALLOWED_CONNECTIONS,
        f"The pool{'s' if len(pools) != 1 else ''} that carried the price lookups may open "
        f"{' + '.join(_cap(pool) for pool in pools)} connections to the price service at once; the "
        f"distributor allows the shop {ALLOWED_CONNECTIONS}.",
        "When the price service slows down, lookups pile up, and each opens another connection to "
        "the distributor, who is about to rate-limit the shop for exactly that. A cap within what the "
        "distributor allows makes extra lookups wait for a free connection, and fail with a clear "
        "timeout, instead.",
        nudge="How many connections may your client open to the price service at once? Where is that "
              "decided, and what does the story say the distributor allows?",
        concept="An httpx client's pool has limits: how many connections at most, and how many kept "
                "alive between requests. Read HTTPX's 'Resource limits'.",
    )


@pytest.mark.anyio
async def test_the_price_in_the_response_comes_from_the_price_service(kata_ns, shop_db, shop_price_service):
    upstream, _ = shop_price_service
    upstream.state.answers.update({isbn: {"isbn": isbn, "price_cents": cents}
                                   for isbn, cents in ((DUNE_ISBN, 1234), (KINDRED_ISBN, 777))})  # this test's only
    _handlers_run(learner(kata_ns, "app"))
    with http_clients(LOCAL) as log:
        async with open_client(learner(kata_ns, "app")) as client:
            dune = await client.get("/books/3/price")
            kindred = await client.get("/books/5/price")
            missing = await client.get("/books/999/price")
    _built_by_this_start(log)
    for response, title, cents in ((dune, "Dune", 1234), (kindred, "Kindred", 777)):
        body = json_of(response)
        expect(
            response.status_code == 200 and isinstance(body, dict) and body.get("price_cents") == cents
            and body.get("title") == title,
            f"GET /books/{3 if title == 'Dune' else 5}/price answered {brief(response)}; the price service "
            f"says {title} costs {cents} today.",
            "The page must show the distributor's price of the day, for the book asked about.",
            nudge="Which service does the client call, for which ISBN?",
        )
    expect(missing.status_code == 404, f"GET /books/999/price answered {brief(missing)}, not 404.",
           "A book that does not exist is a 404 the client can act on.")


@pytest.mark.anyio
async def test_a_price_service_outage_is_answered_502_and_the_shop_still_starts(kata_ns, shop_db, monkeypatch):
    _handlers_run(learner(kata_ns, "app"))
    with _closed_port() as closed:
        monkeypatch.setenv(PRICES_URL_ENV, f"http://127.0.0.1:{closed.getsockname()[1]}")
        not_started = ""
        with http_clients(LOCAL) as log:
            async with AsyncExitStack() as stack:
                try:
                    client = await stack.enter_async_context(open_client(learner(kata_ns, "app")))
                except Exception as error:  # noqa: BLE001 - any startup failure is the finding
                    not_started = f"{type(error).__name__}: {str(error)[:160]}"
                if not not_started:
                    price = await client.get("/books/3/price")
                    book = await client.get("/books/3")
    # Failed here, not in the except block: the finding carries no chain of the app's errors.
    expect(
        not not_started,
        f"With the price service down, the app did not start: {not_started}",
        "The whole shop, catalogue included, goes down with the distributor's price "
        "service. Building a client opens no connection; calling the service at startup does.",
        nudge="What does the app do with the price service while it starts?",
    )
    _built_by_this_start(log)
    expect(
        price.status_code == 502,
        f"With the price service down, GET /books/3/price answered {brief(price)}.",
        "A price service that is down is a 502 Bad Gateway the client can act on; fetch_price turns "
        "httpx's errors into one.",
        nudge="Which client does the lookup use, and which address does it call?",
    )
    expect(book.status_code == 200, f"With the price service down, GET /books/3 answered {brief(book)}.",
           "The catalogue does not need the price service and must keep answering.")
