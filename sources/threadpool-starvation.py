# %% [markdown]
# # Slow reports must not starve the health check
#
# **The story.** At the end of each month the accountants open the sales report, many of them
# at once. The report asks the accounting service for the month's figures through the vendor's
# SDK. The service answers only requests the SDK has signed, with a key the vendor keeps to
# itself, so the SDK is the only way to the figures; and the SDK blocks, and waits as long as
# the service takes. Last month-end the accounting service hung. A few minutes later the load
# balancer marked every bookshop server as dead and took the whole shop offline: `/health` had
# stopped answering. Yet `/health` is an `async def` that does nothing but return the shop's
# version from the settings.
#
# The accounting team asks three things of the shop, every month, and the shop has kept none:
#
# - **At most four reports query the service at once.** Past four it slows down for everyone.
#   A fifth report waits for its turn: the accountants would rather wait than be turned away.
# - **A report gives up after 10 seconds.** If the service has not answered by then, it will not.
# - **When the service fails, the report says so.** An error, which the accountant retries
#   later: never figures the service did not give, and no asking a service that is down again
#   and again.
#
# **You will learn**
# - that FastAPI runs every plain `def` endpoint *and every plain `def` dependency* in a worker
#   thread, and that those threads come from one limiter per event loop: 40 tokens by default;
# - why an `async def` endpoint that depends on a `def` dependency (even a cached
#   `get_settings()`) waits in that same queue when slow sync work has taken every token;
# - how to keep the hot path off the thread pool (async dependencies, values from the lifespan
#   state) and how to bound the slow work: a timeout, and a limit of its own on how many run at
#   once, shared by every report (not a smaller pool for the whole app).
#
# Run the cells from the top (**Run → Run All Cells**), read the evidence, then make the check pass.

# %% tags=["setup"]
from checks import setup_notebook

setup_notebook()

# %% [markdown]
# ## The bookshop around the problem
#
# `Settings` reads `SHOP_ENVIRONMENT` and `SHOP_VERSION` from the environment, as in "Settings
# are read at startup; secrets have no default".
# The vendor's SDK, `LegacyAccountingClient`, comes from `bookshop.accounting`:
# `monthly_sales()` makes a blocking HTTP call to the accounting service, signed, whose address
# `accounting_url()` reads from the `BOOKSHOP_ACCOUNTING_URL` setting. It raises when the service
# answers an error or the timeout runs out. Its `timeout` defaults to `None`, as in `urllib`:
# wait forever. There is no async version of the SDK.

# %%
from contextlib import asynccontextmanager
from functools import lru_cache
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from pydantic import BaseModel
from pydantic_settings import BaseSettings, SettingsConfigDict

from bookshop.accounting import LegacyAccountingClient, accounting_url


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHOP_")

    environment: str = "development"
    version: str = "dev"


class SalesReport(BaseModel):
    month: str
    books_sold: int
    revenue_cents: int

# %% [markdown]
# ## The code under review
#
# This is the cell you will change. Which of these functions are plain `def`? For each one,
# FastAPI needs a worker thread on every request. Which requests need one, and for how long?

# %% tags=["kata", "starter"]
@lru_cache
def get_settings() -> Settings:
    return Settings()  # "cached: after the first call it costs nothing"


SettingsDep = Annotated[Settings, Depends(get_settings)]

app = FastAPI()


@app.get("/reports/sales")
def sales_report() -> SalesReport:
    # The SDK blocks, so this is a plain `def`: FastAPI runs it in a worker thread, which it
    # holds for as long as the accounting service takes to answer. No timeout: forever.
    accounting = LegacyAccountingClient(accounting_url())
    return SalesReport(**accounting.monthly_sales())

# %% tags=["kata", "solution"]
@asynccontextmanager
async def lifespan(app: FastAPI):
    yield {"settings": Settings()}  # read once, when the app starts


app = FastAPI(lifespan=lifespan)


async def get_settings(request: Request) -> Settings:
    # `async def`: FastAPI awaits it on the event loop; no worker thread, no queue.
    return request.state.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


def monthly_sales() -> dict:
    # Still blocking (the vendor has no async SDK), so still a worker thread; but at most
    # 10 s per call, and never a hung accounting service holding it for ever.
    return LegacyAccountingClient(accounting_url(), timeout=10.0).monthly_sales()


# The accounting team's limit: at most 4 reports at a time. The limit belongs to this one
# `Depends(...)` object, shared by every request; a fifth report waits for its turn on the
# event loop, without a thread.
SalesDep = Annotated[dict, Depends(monthly_sales, max_concurrency=4)]


@app.get("/reports/sales")
async def sales_report(sales: SalesDep) -> SalesReport:
    return SalesReport(**sales)

# %% tags=["kata", "decoy:more-worker-threads"]
# "40 threads are not enough: give anyio 400." The cliff moves, it does not go away: 400 hung
# reports take 400 threads, and /health still queues behind them, because it still needs one.
import anyio.to_thread


@asynccontextmanager
async def lifespan(app: FastAPI):
    anyio.to_thread.current_default_thread_limiter().total_tokens = 400
    yield


@lru_cache
def get_settings() -> Settings:
    return Settings()


SettingsDep = Annotated[Settings, Depends(get_settings)]

app = FastAPI(lifespan=lifespan)


@app.get("/reports/sales")
def sales_report() -> SalesReport:
    accounting = LegacyAccountingClient(accounting_url())
    return SalesReport(**accounting.monthly_sales())

# %% tags=["kata", "decoy:async-lru-cache"]
# "Make get_settings async and keep the cache." No worker thread indeed, but `@lru_cache` on an
# `async def` caches the coroutine object, not the settings: the second request awaits a
# coroutine that was already awaited, and /health answers 500 from then on.
@lru_cache
async def get_settings() -> Settings:
    return Settings()


SettingsDep = Annotated[Settings, Depends(get_settings)]

app = FastAPI()


def monthly_sales() -> dict:
    return LegacyAccountingClient(accounting_url(), timeout=10.0).monthly_sales()


SalesDep = Annotated[dict, Depends(monthly_sales, max_concurrency=4)]


@app.get("/reports/sales")
async def sales_report(sales: SalesDep) -> SalesReport:
    return SalesReport(**sales)

# %% tags=["kata", "decoy:cap-the-report-only"]
# "The report is the slow part: cap it and give it a timeout." Both are right, but /health still
# needs a worker thread for get_settings. Any other sync work (another `def` endpoint, a `def`
# dependency anywhere) can still fill the pool, and /health then waits with everyone else.
@lru_cache
def get_settings() -> Settings:
    return Settings()


SettingsDep = Annotated[Settings, Depends(get_settings)]

app = FastAPI()


def monthly_sales() -> dict:
    return LegacyAccountingClient(accounting_url(), timeout=10.0).monthly_sales()


SalesDep = Annotated[dict, Depends(monthly_sales, max_concurrency=4)]


@app.get("/reports/sales")
async def sales_report(sales: SalesDep) -> SalesReport:
    return SalesReport(**sales)

# %% tags=["kata", "decoy:async-report"]
# "A plain `def` is what takes a thread: make the report `async def` too, and nothing ever waits
# for one." No thread indeed: the SDK now blocks the event loop itself. While one report waits
# for the accounting service, no request at all is served, /health included.
@asynccontextmanager
async def lifespan(app: FastAPI):
    yield {"settings": Settings()}


app = FastAPI(lifespan=lifespan)


async def get_settings(request: Request) -> Settings:
    return request.state.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


@app.get("/reports/sales")
async def sales_report() -> SalesReport:
    accounting = LegacyAccountingClient(accounting_url(), timeout=10.0)
    return SalesReport(**accounting.monthly_sales())

# %% tags=["kata", "decoy:limiter-per-call"]
# "Four threads at most for the reports: give the call a limiter of four tokens." A limiter made
# inside the endpoint is a new one for every request: each report has four tokens to itself, so
# nothing is limited, and the reports no longer even count against the shared 40.
import anyio
import anyio.to_thread


@asynccontextmanager
async def lifespan(app: FastAPI):
    yield {"settings": Settings()}


app = FastAPI(lifespan=lifespan)


async def get_settings(request: Request) -> Settings:
    return request.state.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


def monthly_sales() -> dict:
    return LegacyAccountingClient(accounting_url(), timeout=10.0).monthly_sales()


@app.get("/reports/sales")
async def sales_report() -> SalesReport:
    sales = await anyio.to_thread.run_sync(monthly_sales, limiter=anyio.CapacityLimiter(4))
    return SalesReport(**sales)

# %% tags=["kata", "decoy:executor-per-call"]
# "Keep the reports out of anyio's pool: run them in a pool of four threads of their own." The
# pool is built for each request, so every report gets four threads to itself: nothing is
# limited, and a month-end starts a new thread for every report that comes in.
import asyncio
from concurrent.futures import ThreadPoolExecutor


@asynccontextmanager
async def lifespan(app: FastAPI):
    yield {"settings": Settings()}


app = FastAPI(lifespan=lifespan)


async def get_settings(request: Request) -> Settings:
    return request.state.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


def monthly_sales() -> dict:
    return LegacyAccountingClient(accounting_url(), timeout=10.0).monthly_sales()


@app.get("/reports/sales")
async def sales_report() -> SalesReport:
    with ThreadPoolExecutor(max_workers=4) as pool:
        sales = await asyncio.get_running_loop().run_in_executor(pool, monthly_sales)
    return SalesReport(**sales)

# %% tags=["kata", "decoy:cap-the-health-check"]
# "/health is what the load balancer watches: put the limit there, so the reports cannot crowd
# it." Once it takes no thread, /health needs no protection. The reports, which do hold a thread
# each, have no limit: a month-end still sends every one of them to the accounting service.
@asynccontextmanager
async def lifespan(app: FastAPI):
    yield {"settings": Settings()}


app = FastAPI(lifespan=lifespan)


async def get_settings(request: Request) -> Settings:
    return request.state.settings


SettingsDep = Annotated[Settings, Depends(get_settings, max_concurrency=4)]


def monthly_sales() -> dict:
    return LegacyAccountingClient(accounting_url(), timeout=10.0).monthly_sales()


@app.get("/reports/sales")
def sales_report() -> SalesReport:
    return SalesReport(**monthly_sales())

# %% tags=["kata", "alternative:cached-sync-helper"]
# The settings from a cached plain function, returned by an `async def`: the cache holds the
# settings themselves (not a coroutine), and FastAPI awaits `get_settings` on the event loop.
@lru_cache
def cached_settings() -> Settings:
    return Settings()


async def get_settings() -> Settings:
    return cached_settings()


SettingsDep = Annotated[Settings, Depends(get_settings)]

app = FastAPI()


def monthly_sales() -> dict:
    return LegacyAccountingClient(accounting_url(), timeout=10.0).monthly_sales()


SalesDep = Annotated[dict, Depends(monthly_sales, max_concurrency=4)]


@app.get("/reports/sales")
async def sales_report(sales: SalesDep) -> SalesReport:
    return SalesReport(**sales)

# %% tags=["kata", "alternative:limiter-in-the-lifespan"]
# One capacity limiter of four tokens, made at startup and shared by every request through the
# lifespan state; the report runs the SDK in a thread taken from it, not from the default 40.
import anyio
import anyio.to_thread


@asynccontextmanager
async def lifespan(app: FastAPI):
    yield {"settings": Settings(), "report_threads": anyio.CapacityLimiter(4)}


app = FastAPI(lifespan=lifespan)


async def get_settings(request: Request) -> Settings:
    return request.state.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


def monthly_sales() -> dict:
    return LegacyAccountingClient(accounting_url(), timeout=10.0).monthly_sales()


@app.get("/reports/sales")
async def sales_report(request: Request) -> SalesReport:
    sales = await anyio.to_thread.run_sync(monthly_sales, limiter=request.state.report_threads)
    return SalesReport(**sales)

# %% tags=["kata", "decoy:retry-until-it-answers"]
# "The accounting service is flaky at month-end: ask again until it answers." With the timeout, a
# report never hangs on one call, but it asks again for as long as the service fails: it holds its
# thread all that while, and hammers a service that is already down.
import urllib.error


@asynccontextmanager
async def lifespan(app: FastAPI):
    yield {"settings": Settings()}


app = FastAPI(lifespan=lifespan)


async def get_settings(request: Request) -> Settings:
    return request.state.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


def monthly_sales() -> dict:
    accounting = LegacyAccountingClient(accounting_url(), timeout=10.0)
    while True:
        try:
            return accounting.monthly_sales()
        except (TimeoutError, urllib.error.URLError):
            continue


SalesDep = Annotated[dict, Depends(monthly_sales, max_concurrency=4)]


@app.get("/reports/sales")
async def sales_report(sales: SalesDep) -> SalesReport:
    return SalesReport(**sales)

# %% tags=["kata", "decoy:zeros-when-accounting-is-down"]
# "An empty report is friendlier than an error page." The accountants get a 200 with zero sales,
# which they cannot tell from a month with no sales: figures the service never gave go into the
# books.
@asynccontextmanager
async def lifespan(app: FastAPI):
    yield {"settings": Settings()}


app = FastAPI(lifespan=lifespan)


async def get_settings(request: Request) -> Settings:
    return request.state.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


def monthly_sales() -> dict:
    try:
        return LegacyAccountingClient(accounting_url(), timeout=10.0).monthly_sales()
    except Exception:
        return {"month": "", "books_sold": 0, "revenue_cents": 0}


SalesDep = Annotated[dict, Depends(monthly_sales, max_concurrency=4)]


@app.get("/reports/sales")
async def sales_report(sales: SalesDep) -> SalesReport:
    return SalesReport(**sales)

# %% tags=["kata", "decoy:four-threads-for-the-whole-app"]
# "The accounting team allows four at once: give the app four worker threads." Four reports now
# take every thread of the process: /health is safe (it needs none), but every other plain `def`
# of the app waits behind the reports, as before.
import anyio.to_thread


@asynccontextmanager
async def lifespan(app: FastAPI):
    anyio.to_thread.current_default_thread_limiter().total_tokens = 4
    yield {"settings": Settings()}


app = FastAPI(lifespan=lifespan)


async def get_settings(request: Request) -> Settings:
    return request.state.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


@app.get("/reports/sales")
def sales_report() -> SalesReport:
    accounting = LegacyAccountingClient(accounting_url(), timeout=10.0)
    return SalesReport(**accounting.monthly_sales())

# %% tags=["kata", "decoy:an-hour-is-a-timeout"]
# "Any timeout is better than none." A report now waits up to an hour for a silent service, holding
# its thread: at month-end that is every thread, long before the first one gives up.
@asynccontextmanager
async def lifespan(app: FastAPI):
    yield {"settings": Settings()}


app = FastAPI(lifespan=lifespan)


async def get_settings(request: Request) -> Settings:
    return request.state.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


def monthly_sales() -> dict:
    return LegacyAccountingClient(accounting_url(), timeout=3600).monthly_sales()


SalesDep = Annotated[dict, Depends(monthly_sales, max_concurrency=4)]


@app.get("/reports/sales")
async def sales_report(sales: SalesDep) -> SalesReport:
    return SalesReport(**sales)

# %% tags=["kata", "decoy:refuse-the-fifth-report"]
# "Four at once, so turn the fifth away with a 503." The accounting team's four are kept, but the
# accountants asked to wait for their turn: each one turned away clicks again, and the rush grows.
from fastapi import HTTPException
from fastapi.concurrency import run_in_threadpool


@asynccontextmanager
async def lifespan(app: FastAPI):
    yield {"settings": Settings()}


app = FastAPI(lifespan=lifespan)


async def get_settings(request: Request) -> Settings:
    return request.state.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]
reports_running = 0


def monthly_sales() -> dict:
    return LegacyAccountingClient(accounting_url(), timeout=10.0).monthly_sales()


@app.get("/reports/sales")
async def sales_report() -> SalesReport:
    global reports_running
    if reports_running >= 4:
        raise HTTPException(503, "Too many reports at once, try again later")
    reports_running += 1
    try:
        return SalesReport(**await run_in_threadpool(monthly_sales))
    finally:
        reports_running -= 1

# %% tags=["kata", "decoy:plain-http-instead-of-the-sdk"]
# "The service speaks HTTP: call it with httpx, on the event loop, and no thread is needed." With a
# service that answers plain requests this would be the better fix; this one answers only requests
# the vendor's SDK has signed, and refuses every report.
import anyio
import httpx


@asynccontextmanager
async def lifespan(app: FastAPI):
    async with httpx.AsyncClient(base_url=accounting_url(), timeout=10.0) as accounting:
        yield {"settings": Settings(), "accounting": accounting, "slots": anyio.Semaphore(4)}


app = FastAPI(lifespan=lifespan)


async def get_settings(request: Request) -> Settings:
    return request.state.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


@app.get("/reports/sales")
async def sales_report(request: Request) -> SalesReport:
    async with request.state.slots:
        response = await request.state.accounting.get("/sales")
    response.raise_for_status()
    return SalesReport(**response.json())

# %% tags=["kata", "alternative:timeout-set-after-building"]
# A gateway object with a limiter of its own; the SDK client gets its timeout as an attribute after
# it is built. What counts is the timeout in force when the call is made.
import anyio
import anyio.to_thread


@asynccontextmanager
async def lifespan(app: FastAPI):
    app.state.settings = Settings()
    yield


app = FastAPI(lifespan=lifespan)


class SettingsFromState:
    async def __call__(self, request: Request) -> Settings:
        return request.app.state.settings


SettingsDep = Annotated[Settings, Depends(SettingsFromState())]


class AccountingGateway:
    def __init__(self) -> None:
        self.slots = anyio.CapacityLimiter(4)

    def fetch(self) -> dict:
        accounting = LegacyAccountingClient(accounting_url())
        accounting.timeout = 10.0
        return accounting.monthly_sales()

    async def monthly_sales(self) -> dict:
        return await anyio.to_thread.run_sync(self.fetch, limiter=self.slots)


gateway = AccountingGateway()


@app.get("/reports/sales")
async def sales_report() -> SalesReport:
    return SalesReport(**await gateway.monthly_sales())

# %% tags=["kata", "alternative:one-retry-then-bad-gateway"]
# One more try when the service fails, then an honest error: 502 Bad Gateway says the service
# behind the shop failed, and the accountant can try again later.
import urllib.error

from fastapi import HTTPException


@asynccontextmanager
async def lifespan(app: FastAPI):
    yield {"settings": Settings()}


app = FastAPI(lifespan=lifespan)


async def get_settings(request: Request) -> Settings:
    return request.state.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


def monthly_sales() -> dict:
    accounting = LegacyAccountingClient(accounting_url(), timeout=10.0)
    for attempt in range(2):
        try:
            return accounting.monthly_sales()
        except (TimeoutError, urllib.error.URLError) as error:
            failure = error
    raise HTTPException(502, "The accounting service failed; try again later") from failure


SalesDep = Annotated[dict, Depends(monthly_sales, max_concurrency=4)]


@app.get("/reports/sales")
async def sales_report(sales: SalesDep) -> SalesReport:
    return SalesReport(**sales)

# %% [markdown]
# The health check only uses `SettingsDep`, so it stays as it is while you fix the cell above.
# It is already an `async def`.

# %%
@app.get("/health")
async def health(settings: SettingsDep) -> dict[str, str]:
    return {"status": "ok", "version": settings.version}

# %% [markdown]
# ## The evidence
#
# The next cell starts the accounting service on a real port (from `bookshop.accounting`) and
# tells it to *hold* its answers. It plays two scenes against your app, and prints what happened,
# in order. No clock decides anything: only the order of events and the counts.
#
# 1. It shrinks the app's thread limiter from 40 tokens to 1, which is what forty hung reports
#    would do, sends one `GET /reports/sales` (parked at the accounting service), then
#    `GET /health`, and notes each time a request asks for a worker thread. The report is
#    released once `/health` has answered, or has asked for a thread when none was free.
# 2. It sends six reports at once, the service holding every answer, and counts how many reach
#    the service together and how many wait for their turn on the event loop.

# %% tags=["evidence"]
from bookshop.accounting import AccountingService, accounting_at, reports_at_once, starvation_timeline
from bookshop.upstream import serve

accounting = AccountingService()
with serve(accounting.app) as url, accounting_at(url):
    for event in starvation_timeline(app, accounting):
        print(event)
    print()
    accounting.reset()
    for line in reports_at_once(app, accounting, namespace=globals()):
        print(line)

# %% [markdown]
# With the starter you should see the report take the only worker thread, then `/health` ask for
# one to run `get_settings()` and wait. `/health` answers only after the accounting service
# answered the report. With forty hung reports and no timeout, that is never, and the load
# balancer takes the server out. In the second scene all six reports reach the accounting
# service together, each holding a thread: nothing in the app keeps to the accounting team's
# four.
#
# ## The check
#
# Run it. Each failing test says what it observed and why that matters in production. Fix the
# kata cell, run it again (and the health check cell below it), then re-run this cell until
# every test passes.

# %% tags=["check"]
%%ipytest
from checks.threadpool_starvation import *

# %% [markdown]
# ## Hints
#
# Stuck? Each click opens one more level: a nudge, then the concept, then a sketch of
# the code. In a terminal, `kata hint threadpool-starvation` opens the same levels.

# %% [markdown] tags=["hint"]
# ### Hint 1: a nudge
#
# `/health` is an `async def`, but look at what it depends on: how does FastAPI call a
# dependency that is a plain `def`, and where does it get the thread? Then the reports: what
# stops a fifth from querying the accounting service while four are already waiting there (and
# does it stop only the reports?), and what makes any of them give up within the story's time?

# %% [markdown] tags=["hint"]
# ### Hint 2: the concept
#
# FastAPI calls a plain `def` endpoint or dependency through Starlette's `run_in_threadpool`,
# that is `anyio.to_thread.run_sync`, which first takes a token from the event loop's default
# `CapacityLimiter` (40 tokens). `@lru_cache` does not change that: FastAPI cannot know the
# function is cheap, so each request still borrows a thread to call it. A blocking report with
# no timeout keeps its token until the accounting service answers. When the reports hold all
# 40, every other request that needs a thread waits, `/health` included.
#
# So: give `/health` a path with no thread at all (an `async def` dependency that returns
# settings built once, for instance in the lifespan), and bound the slow work twice. A timeout
# on the SDK, within the story's ten seconds, so that no report waits longer. And a limit of
# four on the reports alone: one object that every report shares, such as FastAPI's
# `max_concurrency` on the dependency that calls the SDK, or one `anyio.CapacityLimiter` made at
# startup. A limit made inside the endpoint is a new limit for every request, which limits
# nothing; shrinking the default limiter to four limits every `def` of the app instead. When the
# SDK raises (a timeout, an error from the service), let the report fail: an error status is the
# truth, zeros or a retry loop are not.
#
# Read: FastAPI, [Concurrency and async / await](https://fastapi.tiangolo.com/async/) and
# [Limit dependency concurrency](https://fastapi.tiangolo.com/advanced/advanced-dependencies/#limit-dependency-concurrency);
# AnyIO, [Working with threads](https://anyio.readthedocs.io/en/stable/threads.html).

# %% [markdown] tags=["hint"]
# ### Hint 3: a sketch
#
# ```python
# @asynccontextmanager
# async def lifespan(app: FastAPI):
#     yield {"settings": Settings()}
#
# async def get_settings(request: Request) -> Settings:
#     return request.state...
#
# def monthly_sales() -> dict:  # still blocking, still a thread, now bounded
#     return LegacyAccountingClient(accounting_url(), timeout=...).monthly_sales()
#
# SalesDep = Annotated[dict, Depends(monthly_sales, max_concurrency=...)]
#
# @app.get("/reports/sales")
# async def sales_report(sales: SalesDep) -> SalesReport: ...
# ```

# %% [markdown]
# ## The walkthrough

# %% [markdown] tags=["walkthrough"]
# ### The fix, step by step
#
# 1. **Know what takes a thread.** FastAPI awaits `async def` endpoints and dependencies on the
#    event loop. A `def` endpoint, a `def` dependency, and the code before the `yield` of a `def`
#    dependency with `yield` run through `anyio.to_thread.run_sync`, which first borrows a token
#    from the event loop's default thread limiter: 40 tokens unless someone changes them. (The
#    code after that `yield` runs in a thread too, under a limiter of its own.) A `def` endpoint
#    with a response model makes two trips: one to run it, one to validate what it returned.
#    The limiter is per event loop: each server process (each worker) has its own 40.
# 2. **Keep the hot path off the pool.** Build the settings once, in the lifespan, and
#    `yield {"settings": Settings()}`; `get_settings` becomes an `async def` that returns
#    `request.state.settings`. It awaits nothing, and that is fine: an `async def` that does not
#    block is the cheapest dependency there is. `/health` now needs no thread, so nothing the
#    thread pool suffers can delay it. (Another way: an `async def get_settings()` that returns
#    the result of a cached *sync* helper. Never `@lru_cache` on the `async def` itself: it
#    caches a coroutine, which can be awaited only once.)
# 3. **Give up on a silent service.** The vendor's SDK still blocks, so the report still needs a
#    thread. Give the call the story's timeout (`timeout=10.0`): a hung accounting service then
#    fails each report after 10 s (`TimeoutError`) instead of holding its thread forever. What
#    counts is the timeout in force when the call is made: setting `client.timeout` after
#    building the client works as well. When the SDK raises (the timeout, or an error status
#    from the service), let the report fail: FastAPI answers 500, or catch it and answer a
#    502 or 504 of your own, which says more. Either is the truth; a 200 is not.
# 4. **Keep to the accounting team's four.** Move the call into a dependency and declare it with
#    `Depends(monthly_sales, max_concurrency=4)` (new in FastAPI 0.163): four reports run, and a
#    fifth waits on the event loop, without a thread, until one of them ends. The limit belongs
#    to that `Depends(...)` object (here shared through the `SalesDep` alias) and to the event
#    loop: each server process has its own four. Without FastAPI's option, one
#    `anyio.CapacityLimiter(4)` created in the lifespan and passed as
#    `anyio.to_thread.run_sync(..., limiter=...)` does the same, outside the default 40.
#    The check sends six reports at once while the accounting service holds its answers, and
#    counts how many reach the service together and how many wait on the event loop (the
#    limiters' own statistics): no clock is involved.
# 5. **Measure the right thing.** A health check that needs a worker thread reports on the
#    thread pool. One that needs none answers as long as the event loop runs.
#
# Why not raise the limit to 400? More threads only move the cliff (400 hung reports take 400
# threads), and `/health` still queues once they are all taken. Why not lower it to four, the
# accounting team's number? That limiter serves every `def` of the app: four slow reports then
# take every thread there is, and everything else waits behind them. Why not only cap the report?
# The cap protects the pool from reports, not from every other `def` in the app, and `/health`
# still waits in the same queue. Why not cap `/health` instead? It needs no protection once it
# takes no thread; the reports do. Why not make the report `async def`? The SDK then blocks the
# event loop, and one slow report stops every request. Why not an `anyio.CapacityLimiter(4)` or
# a `ThreadPoolExecutor(max_workers=4)` inside the endpoint? Each request then builds a limit of
# its own, so no two reports ever share one: nothing is limited. Why not answer 503 to the fifth
# report? The accountants asked to wait their turn; turned away, they click again. And
# `@lru_cache` on `async def get_settings` trades a thread for a 500 on the second request.
#
# Why not `timeout=3600`? A report then holds its thread for up to an hour: at month-end, every
# thread is taken long before the first one gives up. `socket.setdefaulttimeout(10)` does not help
# either: the SDK passes its own `timeout=None` to `urllib`, and that wins over the default. Why not
# retry until the service answers, or show zeros when it fails? The first holds the thread for as
# long as the service is down, and hammers it; the second puts figures the service never gave
# into the month's books. And why not call the service with `httpx`, on the event loop, with no
# thread at all? For a service that answers plain HTTP requests, that is the better fix. This one
# answers only the requests the vendor's SDK signs, so the SDK, and its thread, stay.
#
# Read more: FastAPI, [Concurrency and async / await](https://fastapi.tiangolo.com/async/),
# [Dependencies](https://fastapi.tiangolo.com/tutorial/dependencies/) and
# [Limit dependency concurrency](https://fastapi.tiangolo.com/advanced/advanced-dependencies/#limit-dependency-concurrency);
# AnyIO, [Working with threads](https://anyio.readthedocs.io/en/stable/threads.html).
#
# ### What to remember
# - Every plain `def` endpoint *and dependency* borrows one of the event loop's 40 worker
#   threads; `@lru_cache` does not spare the thread.
# - Keep health checks and other hot paths on `async def` all the way down; hand them values
#   built in the lifespan.
# - Bound blocking work: a timeout on every blocking call, and one limit shared by every request
#   (`Depends(..., max_concurrency=N)` or a limiter made at startup), never one made per call,
#   and never the default limiter that the whole app shares.
# - A failed call to another service is an error response, not default values, and not a loop.
