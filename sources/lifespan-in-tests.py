# %% [markdown]
# # Tests that start the shop as production does
#
# **The story.** Last Tuesday a refactor of the shop's startup went out on a green CI run, and
# every page that reads the database answered **500** until it was rolled back. The tests had
# passed all along: they bring their own database session and send requests straight to the
# app, so the shop's startup, the code that broke, never runs in any test. A colleague who
# tried to "just use the real app" in the tests copied `httpx.AsyncClient(app=app)` from an
# old guide and got a `TypeError`.
#
# This kata is the other way round from the earlier ones: **the shop below is right, and the
# code you change is its tests.** The check grades your tests by the bugs they catch: it runs
# them against the shop as written (they must pass, in any order), and against hidden versions
# of the shop that each have one bug a broken startup could ship (your tests must fail on every
# one).
#
# **You will learn**
# - why `httpx.AsyncClient(app=...)` is gone (httpx 0.28) and why `ASGITransport` alone never
#   runs the app's lifespan;
# - how a test client that runs the lifespan (`asgi_lifespan.LifespanManager`, or
#   `with TestClient(app)`) tests the startup that production runs;
# - why overriding the database session in every test hides the bugs of the real one;
# - how to assert what the customer sees, so that a wrong page fails a test.
#
# Run the cells from the top (**Run → Run All Cells**), read the evidence, then make the check pass.

# %% tags=["setup"]
from checks import setup_notebook

setup_notebook()

# %% [markdown]
# ## The shop under test
#
# The shop's own startup builds on `bookshop.db.lifespan` (the engine and a `sessionmaker`, as
# "The engine belongs to the lifespan" built them) and loads the three best-stocked books for the
# home page. This cell is right: leave it as it is. Each run of your tests gets a fresh copy of
# the shop's database (`database_url()` points at it): Exhalation has 6 copies, Dune 5 and The
# Left Hand of Darkness 4; book 999 does not exist.

# %% tags=["app"]
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bookshop.db import lifespan as shop_lifespan
from bookshop.models import Book
from bookshop.schemas import BookOut


@asynccontextmanager
async def lifespan(app: FastAPI):
    async with shop_lifespan(app) as state:
        async with state["sessionmaker"]() as session:
            rows = await session.scalars(select(Book).where(Book.stock > 0).order_by(Book.stock.desc(), Book.id).limit(3))
            featured = [BookOut.model_validate(row) for row in rows]
        yield {**state, "featured": featured}


app = FastAPI(lifespan=lifespan)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.state.sessionmaker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


@app.get("/books/{book_id}")
async def read_book(book_id: int, session: SessionDep) -> BookOut:
    book = await session.get(Book, book_id)
    if book is None:
        raise HTTPException(status_code=404, detail="Book not found")
    return BookOut.model_validate(book)


@app.get("/featured")
async def featured(request: Request) -> list[BookOut]:
    return request.state.featured

# %% [markdown]
# ## The tests under review
#
# These are the shop's tests as they were on Tuesday. This is the cell you will change: read it
# first. Which of the shop's code does a request go through, and which of it never runs?

# %% tags=["kata", "starter"]
import httpx
import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from bookshop.db import database_url


@pytest.fixture
async def client():
    # "The tests bring their own database session, so the app's startup is not needed."
    engine = create_async_engine(database_url())
    sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def session_for_tests():
        async with sessions() as session:
            yield session

    app.dependency_overrides[get_session] = session_for_tests
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://shop.test") as client:
        yield client
    app.dependency_overrides.clear()
    await engine.dispose()


@pytest.mark.anyio
async def test_a_book_is_found(client):
    response = await client.get("/books/3")
    assert response.status_code == 200
    assert response.json()["title"] == "Dune"


@pytest.mark.anyio
async def test_an_unknown_book_is_404(client):
    response = await client.get("/books/999")
    assert response.status_code == 404

# %% tags=["kata", "solution"]
import httpx
import pytest
from asgi_lifespan import LifespanManager


@pytest.fixture
async def client():
    # The app starts as a server starts it: its lifespan runs, then the requests, then shutdown.
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://shop.test") as client:
            yield client


@pytest.mark.anyio
async def test_a_book_is_found(client):
    response = await client.get("/books/3")
    assert response.status_code == 200
    assert response.json()["title"] == "Dune"


@pytest.mark.anyio
async def test_an_unknown_book_is_404(client):
    response = await client.get("/books/999")
    assert response.status_code == 404


@pytest.mark.anyio
async def test_the_home_page_features_the_three_best_stocked_books(client):
    response = await client.get("/featured")
    assert response.status_code == 200
    assert [book["title"] for book in response.json()] == ["Exhalation", "Dune", "The Left Hand of Darkness"]

# %% tags=["kata", "decoy:async-client-app"]
# "The real app, as the guide shows it: AsyncClient(app=app)." httpx 0.28 removed the app=
# argument: every test errors before it sends a request.
import httpx
import pytest


@pytest.fixture
async def client():
    async with httpx.AsyncClient(app=app, base_url="http://shop.test") as client:
        yield client


@pytest.mark.anyio
async def test_a_book_is_found(client):
    response = await client.get("/books/3")
    assert response.json()["title"] == "Dune"


@pytest.mark.anyio
async def test_the_home_page_features_the_three_best_stocked_books(client):
    response = await client.get("/featured")
    assert [book["title"] for book in response.json()] == ["Exhalation", "Dune", "The Left Hand of Darkness"]

# %% tags=["kata", "decoy:transport-without-lifespan"]
# "No overrides: the real app, through ASGITransport." The transport sends requests but never
# runs the lifespan, so the shop's state is missing and the tests fail on the correct shop.
import httpx
import pytest


@pytest.fixture
async def client():
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://shop.test") as client:
        yield client


@pytest.mark.anyio
async def test_a_book_is_found(client):
    response = await client.get("/books/3")
    assert response.json()["title"] == "Dune"


@pytest.mark.anyio
async def test_the_home_page_features_the_three_best_stocked_books(client):
    response = await client.get("/featured")
    assert [book["title"] for book in response.json()] == ["Exhalation", "Dune", "The Left Hand of Darkness"]

# %% tags=["kata", "decoy:status-only"]
# "The lifespan runs now, and every page answers 200: done." A page that answers 200 with the
# wrong books passes too.
import httpx
import pytest
from asgi_lifespan import LifespanManager


@pytest.fixture
async def client():
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://shop.test") as client:
            yield client


@pytest.mark.anyio
async def test_a_book_is_found(client):
    assert (await client.get("/books/3")).status_code == 200


@pytest.mark.anyio
async def test_the_home_page_answers(client):
    assert (await client.get("/featured")).status_code == 200

# %% tags=["kata", "alternative:test-client"]
# Starlette's TestClient, used as a context manager: entering it runs the lifespan, leaving it
# runs the shutdown. Plain `def` tests.
import pytest
from fastapi.testclient import TestClient


@pytest.fixture
def client():
    with TestClient(app) as client:
        yield client


def test_a_book_is_found(client):
    response = client.get("/books/3")
    assert response.status_code == 200 and response.json()["title"] == "Dune"


def test_an_unknown_book_is_404(client):
    assert client.get("/books/999").status_code == 404


def test_the_home_page_features_the_three_best_stocked_books(client):
    titles = [book["title"] for book in client.get("/featured").json()]
    assert titles == ["Exhalation", "Dune", "The Left Hand of Darkness"]

# %% tags=["kata", "alternative:parametrized"]
# One test per page, from a table.
import httpx
import pytest
from asgi_lifespan import LifespanManager


@pytest.fixture
async def client():
    async with LifespanManager(app) as manager:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://shop.test") as c:
            yield c


@pytest.mark.anyio
@pytest.mark.parametrize(("path", "status", "titles"), [
    ("/books/3", 200, "Dune"),
    ("/books/999", 404, None),
    ("/featured", 200, ["Exhalation", "Dune", "The Left Hand of Darkness"]),
])
async def test_the_shop_answers(client, path, status, titles):
    response = await client.get(path)
    assert response.status_code == status
    if isinstance(titles, list):
        assert [book["title"] for book in response.json()] == titles
    elif titles:
        assert response.json()["title"] == titles

# %% [markdown]
# ## The evidence
#
# The next cell tries the three ways of talking to the shop that the tests and the colleague
# used: the old guide's `AsyncClient(app=...)`, a bare `ASGITransport`, and the same transport
# wrapped in `LifespanManager`. Look at which of them runs the shop's startup.

# %% tags=["evidence"]
import httpx
from anyio.from_thread import start_blocking_portal
from asgi_lifespan import LifespanManager

from bookshop.client import describe


async def three_clients() -> None:
    try:
        httpx.AsyncClient(app=app)
        print("AsyncClient(app=app): accepted")
    except TypeError as error:
        print(f"AsyncClient(app=app): TypeError: {error} (httpx {httpx.__version__})")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://shop.test") as bare:
        for path in ("/books/3", "/featured"):
            try:
                print(f"ASGITransport alone, GET {path} -> {describe(await bare.get(path))}")
            except Exception as error:  # the app's error, raised into the client
                print(f"ASGITransport alone, GET {path} -> {type(error).__name__}: {error}")
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://shop.test") as started:
            for path in ("/books/3", "/featured"):
                print(f"with LifespanManager,  GET {path} -> {describe(await started.get(path))}")


with start_blocking_portal() as portal:  # an event loop of its own: the notebook's is busy
    portal.call(three_clients)

# %% [markdown]
# Without the lifespan, nothing the startup builds exists: the session factory and the featured
# books are missing, and the shop fails. The Tuesday tests never saw that, because their own
# session stood in for the shop's. With `LifespanManager` the shop runs as it does under uvicorn.
#
# ## The check
#
# Run it. It runs your tests in processes of its own: against the shop as written (forwards and
# backwards), then against versions of the shop that each have one bug. Change the kata cell,
# run it, then run the check again.

# %% tags=["check"]
%%ipytest
from checks.lifespan_in_tests import *

# %% [markdown]
# ## Hints
#
# Stuck? Each click opens one more level: a nudge, then the concept, then a sketch of
# the code. In a terminal, `kata hint lifespan-in-tests` opens the same levels.

# %% [markdown] tags=["hint"]
# ### Hint 1: a nudge
#
# In the tests' fixture, which code of the shop runs before the first request? Which would run
# under uvicorn? And what does a test of the home page need to look at to tell a right page from
# a wrong one?

# %% [markdown] tags=["hint"]
# ### Hint 2: the concept
#
# An ASGI app's lifespan runs when a server starts it; `httpx.ASGITransport` only sends requests
# and never starts the app. `asgi_lifespan.LifespanManager(app)` does what the server does
# (startup, then shutdown when the block ends), and Starlette's `TestClient` does it when used as
# a context manager (`with TestClient(app) as client:`). Overriding `get_session` swaps the
# shop's database wiring for the test's: the test then checks its own wiring, not the shop's.
# And a test that only asserts a status code passes for a page with the wrong content.
#
# Read: FastAPI, [Async Tests](https://fastapi.tiangolo.com/advanced/async-tests/) and
# [Testing Events: lifespan](https://fastapi.tiangolo.com/advanced/testing-events/).

# %% [markdown] tags=["hint"]
# ### Hint 3: a sketch
#
# ```python
# @pytest.fixture
# async def client():
#     async with LifespanManager(app) as manager:
#         transport = httpx.ASGITransport(app=manager.app)
#         async with httpx.AsyncClient(transport=transport, base_url="http://shop.test") as client:
#             yield client
#
# @pytest.mark.anyio
# async def test_the_home_page_features_...(client):
#     response = await client.get("/featured")
#     assert [book["title"] for book in response.json()] == [...]
# ```
# No dependency overrides.

# %% [markdown]
# ## The walkthrough

# %% [markdown] tags=["walkthrough"]
# ### The fix, step by step
#
# 1. **Start the app the way the server does.** `LifespanManager(app)` runs the lifespan's
#    startup when the block begins and its shutdown when it ends, and hands the state the
#    lifespan yields to every request (`manager.app`). Every test now goes through the shop's
#    own startup, so a startup that forgets something fails the tests instead of production.
# 2. **Drop the override of the session.** The tests used to build their own engine and session;
#    the shop's wiring (the `sessionmaker` the lifespan yields) was never exercised. Each run of
#    the tests already points `database_url()` at a fresh copy of the shop's database, so the
#    shop's own session reads it.
# 3. **Test the page the customer sees.** The home page's content is what the startup computes:
#    assert the titles in their order, not only the status.
#
# Why not `httpx.AsyncClient(app=app)`? httpx 0.28 removed the `app=` argument (the evidence
# prints the `TypeError`). Why not `ASGITransport` alone, without overrides? It sends requests
# to an app nobody started: the state the lifespan yields is missing, and the tests fail on the
# correct shop. Why not `TestClient(app)` without `with`? It too never runs the lifespan until
# it is entered as a context manager.
#
# Read more: FastAPI, [Async Tests](https://fastapi.tiangolo.com/advanced/async-tests/),
# [Testing Events](https://fastapi.tiangolo.com/advanced/testing-events/); httpx,
# [Transports](https://www.python-httpx.org/advanced/transports/); asgi-lifespan,
# [README](https://github.com/florimondmanca/asgi-lifespan).
#
# ### What to remember
# - Tests start the app as the server does: `LifespanManager` around `ASGITransport`, or
#   `with TestClient(app)`. `AsyncClient(app=...)` no longer exists.
# - An override is a stand-in: whatever it replaces is no longer tested.
# - Assert what the client sees, not only that it got a 200.
