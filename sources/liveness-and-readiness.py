# %% [markdown]
# # Alive is not the same as ready
#
# **The story.** The bookshop runs as four copies (pods) on Kubernetes. Kubernetes calls the
# shop's `/health` endpoint every few seconds, twice: once to decide whether a copy must be
# restarted (its *liveness* probe) and once to decide whether to send it customers (its
# *readiness* probe). `/health` checks that the database answers. Last night the database failed
# over to its replica, which took two minutes. Kubernetes restarted all four copies, then again
# and again, and when the database was back the shop stayed down for ten more minutes while
# every copy started, warmed up and was restarted once more. The on-call engineer's note says:
# "the health check did exactly what it says".
#
# **You will learn**
# - the two questions an orchestrator asks a server, and what it does with each answer (restart
#   it, or stop sending it traffic);
# - why a liveness probe must not depend on the database, and a readiness probe must;
# - what uvicorn does while the app starts and while it stops, so that readiness need not.
#
# Run the cells from the top (**Run → Run All Cells**), read the evidence, then make the check pass.

# %% tags=["setup"]
from checks import setup_notebook

setup_notebook()

# %% [markdown]
# ## The bookshop around the problem
#
# The shop's own lifespan (`shop_lifespan`, from "The engine belongs to the lifespan") creates the
# engine and hands out a `sessionmaker`; `get_session` gives each request a session from it.
# `featured_books` computes the home page's books, which the shop does once, at startup.

# %%
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request
from sqlalchemy import select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from bookshop.db import lifespan as shop_lifespan
from bookshop.models import Book
from bookshop.schemas import BookOut


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.state.sessionmaker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


async def featured_books(session: AsyncSession) -> list[BookOut]:
    """The three best-stocked books, shown on the home page."""
    books = await session.scalars(select(Book).where(Book.stock > 0).order_by(Book.stock.desc(), Book.id).limit(3))
    return [BookOut.model_validate(book) for book in books]

# %% [markdown]
# ## The code under review
#
# The start of the app, its health endpoint, and the two paths the Kubernetes deployment calls
# (in its manifest they are `livenessProbe.httpGet.path` and `readinessProbe.httpGet.path`).
# Kubernetes counts any status from 200 to 399 as a pass, anything else (or no answer) as a
# failure.

# %% tags=["kata", "starter"]
LIVENESS_PROBE = "/health"  # a failure here: Kubernetes restarts this copy of the shop
READINESS_PROBE = "/health"  # a failure here: Kubernetes stops sending it customers, for now


@asynccontextmanager
async def lifespan(app: FastAPI):
    async with shop_lifespan(app) as state:
        async with state["sessionmaker"]() as session:
            featured = await featured_books(session)  # the startup's work
        yield {**state, "featured": featured}


app = FastAPI(lifespan=lifespan)


@app.get("/health")
async def health(session: SessionDep) -> dict[str, str]:
    try:
        await session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        raise HTTPException(status_code=503, detail="The database does not answer")
    return {"status": "ok"}

# %% tags=["kata", "solution"]
LIVENESS_PROBE = "/livez"
READINESS_PROBE = "/readyz"


@asynccontextmanager
async def lifespan(app: FastAPI):
    async with shop_lifespan(app) as state:
        async with state["sessionmaker"]() as session:
            featured = await featured_books(session)  # uvicorn opens its port only after this
        yield {**state, "featured": featured}


app = FastAPI(lifespan=lifespan)


@app.get("/livez")
async def livez() -> dict[str, str]:
    # Answering at all is the proof: the event loop runs and the app works. No I/O, so nothing
    # outside this process (a database, another service) can get it restarted.
    return {"status": "alive"}


@app.get("/readyz")
async def readyz(session: SessionDep) -> dict[str, str]:
    # Asked on every call: can this copy serve a customer now? Not while its database is down.
    try:
        await session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        raise HTTPException(status_code=503, detail="The database does not answer")
    return {"status": "ready"}

# %% tags=["kata", "decoy:always-ok"]
# "The health check restarted the shop because of the database: stop asking the database." No
# more restarts, but the shop now says it can serve while it can only answer errors, and the
# load balancer keeps sending it customers.
LIVENESS_PROBE = "/health"
READINESS_PROBE = "/health"


@asynccontextmanager
async def lifespan(app: FastAPI):
    async with shop_lifespan(app) as state:
        async with state["sessionmaker"]() as session:
            featured = await featured_books(session)
        yield {**state, "featured": featured}


app = FastAPI(lifespan=lifespan)


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}

# %% tags=["kata", "decoy:liveness-shrugs-off-database-errors"]
# "Liveness may look at the database, as long as a failure there never fails the probe." It
# never fails on an error, but it waits for the database on every call: when the database is
# slow rather than down, the probe times out, and Kubernetes restarts a healthy shop.
LIVENESS_PROBE = "/livez"
READINESS_PROBE = "/readyz"


@asynccontextmanager
async def lifespan(app: FastAPI):
    async with shop_lifespan(app) as state:
        async with state["sessionmaker"]() as session:
            featured = await featured_books(session)
        yield {**state, "featured": featured}


app = FastAPI(lifespan=lifespan)


@app.get("/livez")
async def livez(session: SessionDep) -> dict[str, str]:
    try:
        await session.execute(text("SELECT 1"))
        return {"status": "alive", "database": "up"}
    except SQLAlchemyError:
        return {"status": "alive", "database": "down"}


@app.get("/readyz")
async def readyz(session: SessionDep) -> dict[str, str]:
    try:
        await session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        raise HTTPException(status_code=503, detail="The database does not answer")
    return {"status": "ready"}

# %% tags=["kata", "decoy:readiness-in-the-body"]
# "The readiness probe should say what is wrong, not fail": a 200 whose body says the database is
# down. Kubernetes reads the status only: 200 means ready.
LIVENESS_PROBE = "/livez"
READINESS_PROBE = "/readyz"


@asynccontextmanager
async def lifespan(app: FastAPI):
    async with shop_lifespan(app) as state:
        async with state["sessionmaker"]() as session:
            featured = await featured_books(session)
        yield {**state, "featured": featured}


app = FastAPI(lifespan=lifespan)


@app.get("/livez")
async def livez() -> dict[str, str]:
    return {"status": "alive"}


@app.get("/readyz")
async def readyz(session: SessionDep) -> dict[str, str]:
    try:
        await session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return {"status": "not ready", "database": "down"}
    return {"status": "ready", "database": "up"}

# %% tags=["kata", "decoy:a-connection-proves-it"]
# "If the engine hands out a connection, the database is there." It hands out one of the
# connections its pool already holds, without a word to the database: during the outage it
# still says ready.
LIVENESS_PROBE = "/livez"
READINESS_PROBE = "/readyz"


@asynccontextmanager
async def lifespan(app: FastAPI):
    async with shop_lifespan(app) as state:
        async with state["sessionmaker"]() as session:
            featured = await featured_books(session)
        yield {**state, "featured": featured}


app = FastAPI(lifespan=lifespan)


@app.get("/livez")
async def livez() -> dict[str, str]:
    return {"status": "alive"}


@app.get("/readyz")
async def readyz(request: Request) -> dict[str, str]:
    try:
        async with request.state.engine.connect():
            pass
    except SQLAlchemyError:
        raise HTTPException(status_code=503, detail="The database does not answer")
    return {"status": "ready"}

# %% tags=["kata", "decoy:readiness-cached-for-a-minute"]
# "Probes come every few seconds: ask the database once a minute and keep the answer." For up
# to a minute after the database goes down, the shop still says it is ready.
import time

LIVENESS_PROBE = "/livez"
READINESS_PROBE = "/readyz"
READINESS: dict[str, float | bool] = {"checked_at": 0.0, "ready": False}


@asynccontextmanager
async def lifespan(app: FastAPI):
    async with shop_lifespan(app) as state:
        async with state["sessionmaker"]() as session:
            featured = await featured_books(session)
        yield {**state, "featured": featured}


app = FastAPI(lifespan=lifespan)


@app.get("/livez")
async def livez() -> dict[str, str]:
    return {"status": "alive"}


@app.get("/readyz")
async def readyz(session: SessionDep) -> dict[str, str]:
    if time.monotonic() - READINESS["checked_at"] > 60:
        try:
            await session.execute(text("SELECT 1"))
            READINESS["ready"] = True
        except SQLAlchemyError:
            READINESS["ready"] = False
        READINESS["checked_at"] = time.monotonic()
    if not READINESS["ready"]:
        raise HTTPException(status_code=503, detail="The database does not answer")
    return {"status": "ready"}

# %% tags=["kata", "decoy:warm-up-in-the-background"]
# "The liveness probe kills slow starters: start answering at once, and load the featured books
# in a task." The shop now says it is ready before it has its home page.
import asyncio

LIVENESS_PROBE = "/livez"
READINESS_PROBE = "/readyz"


@asynccontextmanager
async def lifespan(app: FastAPI):
    async with shop_lifespan(app) as state:
        featured: list[BookOut] = []

        async def warm_up() -> None:
            async with state["sessionmaker"]() as session:
                featured.extend(await featured_books(session))

        task = asyncio.create_task(warm_up())
        yield {**state, "featured": featured}
        task.cancel()


app = FastAPI(lifespan=lifespan)


@app.get("/livez")
async def livez() -> dict[str, str]:
    return {"status": "alive"}


@app.get("/readyz")
async def readyz(session: SessionDep) -> dict[str, str]:
    try:
        await session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        raise HTTPException(status_code=503, detail="The database does not answer")
    return {"status": "ready"}

# %% tags=["kata", "alternative:probes-on-a-router"]
# The probes on a router of their own, with paths Kubernetes users often write.
from fastapi import APIRouter

LIVENESS_PROBE = "/healthz/live"
READINESS_PROBE = "/healthz/ready"

probes = APIRouter(prefix="/healthz")


@probes.get("/live")
async def live() -> dict[str, str]:
    return {"status": "alive"}


@probes.get("/ready")
async def ready(session: SessionDep) -> dict[str, str]:
    try:
        await session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        raise HTTPException(status_code=503, detail="The database does not answer")
    return {"status": "ready"}


@asynccontextmanager
async def lifespan(app: FastAPI):
    async with shop_lifespan(app) as state:
        async with state["sessionmaker"]() as session:
            featured = await featured_books(session)
        yield {**state, "featured": featured}


app = FastAPI(lifespan=lifespan)
app.include_router(probes)

# %% tags=["kata", "alternative:warm-up-in-the-background-with-a-flag"]
# Startup work in a task, so the port opens at once; readiness says 503 until the task is done.
import asyncio

LIVENESS_PROBE = "/livez"
READINESS_PROBE = "/readyz"


@asynccontextmanager
async def lifespan(app: FastAPI):
    async with shop_lifespan(app) as state:
        featured: list[BookOut] = []
        warmed_up = asyncio.Event()

        async def warm_up() -> None:
            async with state["sessionmaker"]() as session:
                featured.extend(await featured_books(session))
            warmed_up.set()

        task = asyncio.create_task(warm_up())
        yield {**state, "featured": featured, "warmed_up": warmed_up}
        task.cancel()


app = FastAPI(lifespan=lifespan)


@app.get("/livez")
async def livez() -> dict[str, str]:
    return {"status": "alive"}


@app.get("/readyz")
async def readyz(request: Request, session: SessionDep) -> dict[str, str]:
    if not request.state.warmed_up.is_set():
        raise HTTPException(status_code=503, detail="Still starting")
    try:
        await session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        raise HTTPException(status_code=503, detail="The database does not answer")
    return {"status": "ready"}

# %% tags=["kata", "alternative:readiness-with-a-time-limit"]
# Readiness bounded in time, shorter than the probe's own timeout (1 s by default): a database
# that hangs is reported as not ready instead of leaving the probe without an answer.
import asyncio

LIVENESS_PROBE = "/livez"
READINESS_PROBE = "/readyz"


@asynccontextmanager
async def lifespan(app: FastAPI):
    async with shop_lifespan(app) as state:
        async with state["sessionmaker"]() as session:
            featured = await featured_books(session)
        yield {**state, "featured": featured}


app = FastAPI(lifespan=lifespan)


@app.get("/livez")
async def livez() -> dict[str, str]:
    return {"status": "alive"}


@app.get("/readyz")
async def readyz(session: SessionDep) -> dict[str, str]:
    try:
        async with asyncio.timeout(0.5):
            await session.execute(text("SELECT 1"))
    except (SQLAlchemyError, TimeoutError):
        raise HTTPException(status_code=503, detail="The database does not answer")
    return {"status": "ready"}

# %% [markdown]
# The shop's pages only read the state the lifespan yields, so they stay as they are.

# %%
@app.get("/featured")
async def featured(request: Request) -> list[BookOut]:
    return request.state.featured


@app.get("/books/{book_id}")
async def read_book(book_id: int, session: SessionDep) -> BookOut:
    book = await session.get(Book, book_id)
    if book is None:
        raise HTTPException(status_code=404, detail="Book not found")
    return BookOut.model_validate(book)

# %% [markdown]
# ## The evidence
#
# The next cell writes the notebook's code to `shop.py` and runs it with uvicorn, as one copy of
# the shop, through a small wrapper that lets the cell fail the database from outside. It calls
# both probe paths in five moments: while the startup's work waits for the database, once the
# shop has started, while every connection to the database fails, once the database is back,
# and just after SIGTERM. It also records what the liveness probe sent to the database.

# %% tags=["evidence"]
import tempfile
from pathlib import Path

from checks.liveness_and_readiness import watch_the_probes

with tempfile.TemporaryDirectory(prefix="pod-") as folder:
    watched = watch_the_probes(globals(), Path(folder))
print(watched.table())

# %% [markdown]
# With the starter, both probes are the same endpoint, so they give the same answer: during the
# outage the liveness probe fails too, and Kubernetes restarts a shop that had nothing wrong with
# it (restarting cannot bring a database back). Two rows need no code of yours: while the
# lifespan's startup runs, uvicorn has not opened its port yet, and right after SIGTERM it has
# already closed it. A probe that finds no port counts as a failure, so during both the shop
# is, correctly, "not ready".
#
# ## The check
#
# Run it. It makes one run like the cell above and judges it: each failing test says what it
# observed and why that matters in production. Fix the kata cell, run it (and the cell below it),
# then re-run this cell until every test passes.

# %% tags=["check"]
%%ipytest
from checks.liveness_and_readiness import *

# %% [markdown]
# ## Hints
#
# Stuck? Each click opens one more level: a nudge, then the concept, then a sketch of
# the code. In a terminal, `kata hint liveness-and-readiness` opens the same levels.

# %% [markdown] tags=["hint"]
# ### Hint 1: a nudge
#
# Kubernetes asks two different questions and acts differently on each answer. During the
# database outage, which answer did you want from each probe? Can one endpoint give both?

# %% [markdown] tags=["hint"]
# ### Hint 2: the concept
#
# A **liveness** probe asks whether the process is stuck beyond repair; failing it restarts the
# container, so it must depend on nothing outside the process (no database, no other service).
# A **readiness** probe asks whether this copy can serve customers right now; failing it only
# takes the copy out of the load balancer until it passes again, so it checks what serving
# needs, on every call, and answers 503 when it cannot serve. They are two endpoints, and the
# deployment points each probe at its own.
#
# Read: Kubernetes, [Liveness, Readiness, and Startup Probes](https://kubernetes.io/docs/concepts/configuration/liveness-readiness-startup-probes/)
# and [Configure Liveness, Readiness and Startup Probes](https://kubernetes.io/docs/tasks/configure-pod-container/configure-liveness-readiness-startup-probes/).

# %% [markdown] tags=["hint"]
# ### Hint 3: a sketch
#
# ```python
# LIVENESS_PROBE = "/livez"
# READINESS_PROBE = "/readyz"
#
# @app.get("/livez")
# async def livez() -> dict[str, str]:
#     return ...  # no database here
#
# @app.get("/readyz")
# async def readyz(session: SessionDep) -> dict[str, str]:
#     ...  # what /health did: 503 when the database does not answer
# ```

# %% [markdown]
# ## The walkthrough

# %% [markdown] tags=["walkthrough"]
# ### The fix, step by step
#
# 1. **Two questions, two endpoints.** Liveness: "should this container be restarted?" Readiness:
#    "should this copy get traffic now?" A restart is the cure for a process that is stuck
#    (a deadlock, a loop that never yields); it is no cure for a database that is down, and
#    restarting every copy at once turns a short outage into a long one.
# 2. **Liveness has no I/O.** If the app can answer the request at all, the event loop runs:
#    that is the whole proof. A liveness probe that touches the database, even one that swallows
#    its errors, waits for it, and when the database is slow the probe times out (1 s by default)
#    and the container is restarted.
# 3. **Readiness checks what serving needs, on every call.** Here, that the database answers.
#    `503 Service Unavailable` says "not now"; the orchestrator reads only the status (any 200 to
#    399 is a pass), so a 200 with `{"database": "down"}` is a pass. Do not cache the answer, and
#    do not stop at borrowing a connection from the pool: it comes from the pool without a word
#    to the database. Bound it in time, shorter than the probe's timeout, if the database can
#    hang rather than fail. (A `SELECT 1` proves a live connection to a database server; SQLite
#    answers it without reading its file, which is why the check fails the database at the
#    driver.)
# 4. **Let the server handle starting and stopping.** Uvicorn runs the lifespan's startup before
#    it opens its port, and closes the port as soon as it gets SIGTERM (see "A deploy lets
#    requests in flight finish"): probes are refused in both moments, and a refused probe is a
#    failure. So keep startup work in the lifespan, and readiness has nothing to add for it. If
#    you move startup work into a task to open the port sooner, readiness must answer 503 until
#    the task is done. A slow startup is a job for a `startupProbe`, which holds the other probes
#    back until it passes, not for a liveness probe that ignores the database.
#
# In the deployment:
#
# ```yaml
# livenessProbe:
#   httpGet: {path: /livez, port: 8000}
#   periodSeconds: 10
#   failureThreshold: 3
# readinessProbe:
#   httpGet: {path: /readyz, port: 8000}
#   periodSeconds: 5
# ```
#
# Read more: Kubernetes, [Liveness, Readiness, and Startup Probes](https://kubernetes.io/docs/concepts/configuration/liveness-readiness-startup-probes/);
# FastAPI, [Deployment concepts](https://fastapi.tiangolo.com/deployment/concepts/).
#
# ### What to remember
# - Liveness: "is the process stuck?" No I/O; a failure restarts the container.
# - Readiness: "can it serve now?" Check what serving needs on every call; answer 503 when it
#   cannot; a failure only takes the copy out of rotation.
# - Uvicorn opens its port after the lifespan's startup and closes it on SIGTERM: startup work in
#   the lifespan needs nothing from readiness; startup work in a task does.
