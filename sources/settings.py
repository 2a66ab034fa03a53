# %% [markdown]
# # Settings are read when the app starts, and secrets have no default
#
# **The story.** The bookshop now signs its quotes: `POST /orders/quote` prices an order and
# returns an HMAC signature, so the checkout service can trust the total without pricing the
# order again. The settings class came from a snippet everyone copies: a default secret,
# `"changeme"`, "so that it works on a laptop", and `settings = Settings()` at the top of
# `main.py`, "so that it fails fast". A security review has just found three things. `GET /about`,
# which the support team uses to see what a server runs with, shows the receipt secret. The
# production server was deployed without `SHOP_RECEIPT_SECRET` and has signed every quote with
# `"changeme"` since. And the test for the new three-books-per-order promotion cannot change the
# limit: it sets `SHOP_MAX_BOOKS_PER_ORDER=3` and the app keeps allowing 5.
#
# **You will learn**
# - why a default secret hides a missing configuration, and how pydantic can make the absence
#   loud while keeping the value out of every repr and response;
# - why import time is the wrong moment both to *read* settings (tests and deploys cannot change
#   them afterwards) and to *fail* on them (everything that imports the module needs the secret);
# - how FastAPI hands settings to the endpoints: read once when the app starts, so that a bad
#   configuration stops the startup, and passed through a dependency that a test can replace.
#
# Run the cells from the top (**Run → Run All Cells**), read the evidence, then make the check pass.

# %% tags=["setup"]
from checks import setup_notebook

setup_notebook()

# %% [markdown]
# ## The bookshop around the problem
#
# `BaseSettings` comes from the `pydantic-settings` package (since Pydantic 2,
# `from pydantic import BaseSettings` raises `PydanticImportError`); it fills each field from an
# environment variable, here with the prefix `SHOP_`. The order schema (`OrderIn`) and the `Book`
# model come from the workbook's `bookshop` package, and so does `shop_lifespan`, the lifespan
# "The engine belongs to the lifespan" ends with: it builds the engine at startup, yields a
# `sessionmaker` into each request's state, and disposes of the engine at shutdown. To add
# startup work of your own, wrap it and pass its state on, as that kata's last section shows.
# `sign_quote` is what the checkout service checks: whoever knows the secret can mint a quote
# for any price.

# %%
import hashlib
import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request
from pydantic import BaseModel
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.ext.asyncio import AsyncSession

from bookshop.db import lifespan as shop_lifespan
from bookshop.models import Book
from bookshop.schemas import OrderIn


class QuoteOut(BaseModel):
    books: int
    total_cents: int
    signature: str


def sign_quote(secret: str, order: OrderIn, books: int, total_cents: int) -> str:
    message = f"user={order.user_id};books={books};total={total_cents}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.state.sessionmaker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


async def price_order(session: AsyncSession, order: OrderIn) -> int:
    total = 0
    for line in order.lines:
        book = await session.get(Book, line.book_id)
        if book is None:
            raise HTTPException(status_code=404, detail=f"Book {line.book_id} not found")
        total += book.price_cents * line.quantity
    return total

# %% [markdown]
# ## The code under review
#
# Two cells, and you will change both. The first defines the settings and the app: when is the
# environment read, and what happens when `SHOP_RECEIPT_SECRET` is not set?

# %% tags=["kata", "starter"]
class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHOP_")  # SHOP_RECEIPT_SECRET, SHOP_MAX_BOOKS_PER_ORDER

    receipt_secret: str = "changeme"  # "so that it works on a laptop"
    max_books_per_order: int = 5


settings = Settings()  # read once, when this cell runs: at import time

app = FastAPI(lifespan=shop_lifespan)

# %% tags=["kata", "solution"]
from functools import lru_cache

from pydantic import SecretStr


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHOP_")  # SHOP_RECEIPT_SECRET, SHOP_MAX_BOOKS_PER_ORDER

    receipt_secret: SecretStr  # required; its repr and its JSON show '**********'
    max_books_per_order: int = 5


@lru_cache
def get_settings() -> Settings:
    # Reads the environment on the first call, not at import; later calls return the same object.
    return Settings()


SettingsDep = Annotated[Settings, Depends(get_settings)]


@asynccontextmanager
async def lifespan(app: FastAPI):
    get_settings()  # fail fast, at startup: a missing or invalid setting stops the app here
    async with shop_lifespan(app) as state:
        yield state


app = FastAPI(lifespan=lifespan)

# %% tags=["kata", "decoy:secret-with-a-default"]
# "Hide the secret with SecretStr, and keep a default so the app still starts anywhere." The repr
# and /about are clean now, but a server deployed without SHOP_RECEIPT_SECRET still starts and
# signs every quote with "changeme", a secret printed in the source code.
from functools import lru_cache

from pydantic import SecretStr


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHOP_")

    receipt_secret: SecretStr = SecretStr("changeme")
    max_books_per_order: int = 5


@lru_cache
def get_settings() -> Settings:
    return Settings()


SettingsDep = Annotated[Settings, Depends(get_settings)]


@asynccontextmanager
async def lifespan(app: FastAPI):
    get_settings()
    async with shop_lifespan(app) as state:
        yield state


app = FastAPI(lifespan=lifespan)

# %% tags=["kata", "decoy:checked-on-first-request"]
# "The secret is required and read lazily: done." Nothing reads the settings at startup, so a
# server without SHOP_RECEIPT_SECRET starts, reports itself ready, and then answers 500 to the
# first request that needs its settings, and to every one after it.
from functools import lru_cache

from pydantic import SecretStr


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHOP_")

    receipt_secret: SecretStr
    max_books_per_order: int = 5


@lru_cache
def get_settings() -> Settings:
    return Settings()


SettingsDep = Annotated[Settings, Depends(get_settings)]

app = FastAPI(lifespan=shop_lifespan)

# %% tags=["kata", "decoy:settings-per-request"]
# "A dependency that builds Settings() is already lazy; the cache is an optimisation." Without
# it every request re-reads and re-validates the environment, and a request can run with
# settings that differ from the ones the lifespan checked when the app started.
from pydantic import SecretStr


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHOP_")

    receipt_secret: SecretStr
    max_books_per_order: int = 5


def get_settings() -> Settings:
    return Settings()


SettingsDep = Annotated[Settings, Depends(get_settings)]


@asynccontextmanager
async def lifespan(app: FastAPI):
    get_settings()
    async with shop_lifespan(app) as state:
        yield state


app = FastAPI(lifespan=lifespan)

# %% tags=["kata", "alternative:settings-in-lifespan-state"]
# The lifespan builds the settings itself, once, and hands them to every request through its
# state, next to the sessionmaker; the dependency reads them from the request. No cache needed:
# the lifespan runs once per app.
from pydantic import SecretStr


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHOP_")

    receipt_secret: SecretStr
    max_books_per_order: int = 5


@asynccontextmanager
async def lifespan(app: FastAPI):
    settings = Settings()  # a missing or invalid setting stops the startup here
    async with shop_lifespan(app) as state:
        yield {**state, "settings": settings}


def get_settings(request: Request) -> Settings:
    return request.state.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]

app = FastAPI(lifespan=lifespan)

# %% tags=["kata", "decoy:hand-written-memo"]
# "No lru_cache magic: a global, filled on the first call, is just as good." It is read once per
# process, not once per start of the app: the next start (a test with other settings, a reload)
# keeps the first one's, and nothing a test can call makes it forget them.
from pydantic import SecretStr


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHOP_")

    receipt_secret: SecretStr
    max_books_per_order: int = 5


_settings: Settings | None = None


def get_settings() -> Settings:
    global _settings
    if _settings is None:
        _settings = Settings()
    return _settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


@asynccontextmanager
async def lifespan(app: FastAPI):
    get_settings()
    async with shop_lifespan(app) as state:
        yield state


app = FastAPI(lifespan=lifespan)

# %% tags=["kata", "alternative:untyped-dependency"]
# The solution without type hints on the dependency: `settings=Depends(get_settings)`. FastAPI
# needs no annotation to inject a dependency, and a test overrides `get_settings` all the same.
from functools import lru_cache

from pydantic import SecretStr


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHOP_")

    receipt_secret: SecretStr
    max_books_per_order: int = 5


@lru_cache
def get_settings():
    return Settings()


@asynccontextmanager
async def lifespan(app: FastAPI):
    get_settings()
    async with shop_lifespan(app) as state:
        yield state


app = FastAPI(lifespan=lifespan)

# %% tags=["kata", "alternative:frozen-dataclass"]
# No pydantic-settings: a frozen dataclass read from the environment by hand, in the lifespan.
# The secret has no default (a missing variable stops the startup), it is left out of the repr,
# and /about shows only that it is set.
import os
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Settings:
    receipt_secret: str = field(repr=False)
    max_books_per_order: int = 5

    @classmethod
    def from_environment(cls) -> "Settings":
        if not os.environ.get("SHOP_RECEIPT_SECRET"):
            raise RuntimeError("SHOP_RECEIPT_SECRET is not set: the receipt_secret setting is required")
        return cls(os.environ["SHOP_RECEIPT_SECRET"], int(os.environ.get("SHOP_MAX_BOOKS_PER_ORDER", "5")))


@asynccontextmanager
async def lifespan(app: FastAPI):
    settings = Settings.from_environment()
    async with shop_lifespan(app) as state:
        yield {**state, "settings": settings}


def get_settings(request: Request) -> Settings:
    return request.state.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]

app = FastAPI(lifespan=lifespan)

# %% [markdown]
# The second cell holds the endpoints. Where do they get their settings from, and could a test
# hand them different ones?

# %% tags=["kata", "starter"]
@app.get("/about")
async def about() -> dict:
    """What this server runs with: the support team's first question."""
    return settings.model_dump(mode="json")


@app.post("/orders/quote")
async def quote(order: OrderIn, session: SessionDep) -> QuoteOut:
    books = sum(line.quantity for line in order.lines)
    if books > settings.max_books_per_order:
        raise HTTPException(status_code=422, detail=f"An order holds at most {settings.max_books_per_order} books")
    total = await price_order(session, order)
    signature = sign_quote(settings.receipt_secret, order, books, total)
    return QuoteOut(books=books, total_cents=total, signature=signature)

# %% tags=["kata", "solution"]
@app.get("/about")
async def about(settings: SettingsDep) -> dict:
    """What this server runs with: the support team's first question."""
    return settings.model_dump(mode="json")  # the secret comes out as '**********'


@app.post("/orders/quote")
async def quote(order: OrderIn, session: SessionDep, settings: SettingsDep) -> QuoteOut:
    books = sum(line.quantity for line in order.lines)
    if books > settings.max_books_per_order:
        raise HTTPException(status_code=422, detail=f"An order holds at most {settings.max_books_per_order} books")
    total = await price_order(session, order)
    # The one place that needs the real value: it goes into the HMAC and nowhere else.
    signature = sign_quote(settings.receipt_secret.get_secret_value(), order, books, total)
    return QuoteOut(books=books, total_cents=total, signature=signature)

# %% tags=["kata", "decoy:show-the-ends-of-the-secret"]
# "Support needs to tell which secret a server has: show its first and last four characters,
# the way card numbers are shown." Eight characters of the secret are now in every answer, and
# in every log of one: a quarter of it, free.
@app.get("/about")
async def about(settings: SettingsDep) -> dict:
    """What this server runs with: the support team's first question."""
    secret = settings.receipt_secret.get_secret_value()
    return {"receipt_secret": f"{secret[:4]}…{secret[-4:]}", "max_books_per_order": settings.max_books_per_order}


@app.post("/orders/quote")
async def quote(order: OrderIn, session: SessionDep, settings: SettingsDep) -> QuoteOut:
    books = sum(line.quantity for line in order.lines)
    if books > settings.max_books_per_order:
        raise HTTPException(status_code=422, detail=f"An order holds at most {settings.max_books_per_order} books")
    total = await price_order(session, order)
    signature = sign_quote(settings.receipt_secret.get_secret_value(), order, books, total)
    return QuoteOut(books=books, total_cents=total, signature=signature)

# %% tags=["kata", "decoy:about-calls-get-settings-itself"]
# "/about only displays the settings, it needs no dependency: calling get_settings() is the same
# thing." Not to a test: overriding the dependency changes what /orders/quote applies, while
# /about goes on showing the settings the server was started with.
@app.get("/about")
async def about() -> dict:
    """What this server runs with: the support team's first question."""
    return get_settings().model_dump(mode="json")


@app.post("/orders/quote")
async def quote(order: OrderIn, session: SessionDep, settings: SettingsDep) -> QuoteOut:
    books = sum(line.quantity for line in order.lines)
    if books > settings.max_books_per_order:
        raise HTTPException(status_code=422, detail=f"An order holds at most {settings.max_books_per_order} books")
    total = await price_order(session, order)
    signature = sign_quote(settings.receipt_secret.get_secret_value(), order, books, total)
    return QuoteOut(books=books, total_cents=total, signature=signature)

# %% tags=["kata", "alternative:untyped-dependency"]
@app.get("/about")
async def about(settings=Depends(get_settings)) -> dict:
    """What this server runs with: the support team's first question."""
    return settings.model_dump(mode="json")


@app.post("/orders/quote")
async def quote(order: OrderIn, session: SessionDep, settings=Depends(get_settings)) -> QuoteOut:
    books = sum(line.quantity for line in order.lines)
    if books > settings.max_books_per_order:
        raise HTTPException(status_code=422, detail=f"An order holds at most {settings.max_books_per_order} books")
    total = await price_order(session, order)
    signature = sign_quote(settings.receipt_secret.get_secret_value(), order, books, total)
    return QuoteOut(books=books, total_cents=total, signature=signature)

# %% tags=["kata", "alternative:frozen-dataclass"]
@app.get("/about")
async def about(settings: SettingsDep) -> dict:
    """What this server runs with: the support team's first question."""
    return {"receipt_secret": "set" if settings.receipt_secret else "missing",
            "max_books_per_order": settings.max_books_per_order}


@app.post("/orders/quote")
async def quote(order: OrderIn, session: SessionDep, settings: SettingsDep) -> QuoteOut:
    books = sum(line.quantity for line in order.lines)
    if books > settings.max_books_per_order:
        raise HTTPException(status_code=422, detail=f"An order holds at most {settings.max_books_per_order} books")
    total = await price_order(session, order)
    signature = sign_quote(settings.receipt_secret, order, books, total)
    return QuoteOut(books=books, total_cents=total, signature=signature)

# %% [markdown]
# ## The evidence
#
# A test, or a freshly started server, sets its environment and then starts the app. The next
# cell does that twice: first the way production was deployed, with no `SHOP_RECEIPT_SECRET`;
# then with a real secret and the promotion's limit of 3 books. Each time it starts from exactly
# those `SHOP_` variables and, like a new process, with nothing cached. Look at whether the first
# deploy starts at all, at what `/about` and a log line show, and at whether 4 books are refused.

# %% tags=["evidence"]
import os
from contextlib import contextmanager

from bookshop.client import describe, shop_client

DEPLOYED_SECRET = "k7-Qv9-from-the-vault"
FOUR_BOOKS = {"user_id": 1, "lines": [{"book_id": 3, "quantity": 2}, {"book_id": 5, "quantity": 2}]}


@contextmanager
def fresh_server(**environment: str):
    """Serve `app` as a newly started process would: with exactly these SHOP_ variables."""
    saved = {name: value for name, value in os.environ.items() if name.startswith("SHOP_")}
    for name in saved:
        del os.environ[name]
    os.environ.update(environment)
    empty_caches()
    try:
        with shop_client(app) as client:
            yield client
    finally:
        for name in environment:
            del os.environ[name]
        os.environ.update(saved)
        empty_caches()


def empty_caches() -> None:
    """A new process starts with every cache empty: so does this one, for each deploy."""
    for value in list(globals().values()):
        if callable(value) and callable(getattr(value, "cache_clear", None)):
            value.cache_clear()


print("1. Deployed without SHOP_RECEIPT_SECRET")
quote_response = None
try:
    with fresh_server() as client:
        quote_response = client.post("/orders/quote", json=FOUR_BOOKS)
except Exception as error:  # a startup that fails is what we hope to see here
    print(f"   the app refused to start: {type(error).__name__}")
    print("      " + "\n      ".join(str(error).splitlines()[:3]))
if quote_response is not None:
    print(f"   the app started; POST /orders/quote -> {describe(quote_response)}")
    body = quote_response.json() if quote_response.status_code == 200 else {}
    if isinstance(body, dict) and body.get("signature"):
        forged = sign_quote("changeme", OrderIn(**FOUR_BOOKS), body.get("books", 0), body.get("total_cents", 0))
        print(f"   anyone can forge its signature with 'changeme': {hmac.compare_digest(forged, str(body['signature']))}")

print(f"2. Deployed with SHOP_RECEIPT_SECRET={DEPLOYED_SECRET!r} and SHOP_MAX_BOOKS_PER_ORDER=3")
with fresh_server(SHOP_RECEIPT_SECRET=DEPLOYED_SECRET, SHOP_MAX_BOOKS_PER_ORDER="3") as client:
    about_response = client.get("/about")
    quote_response = client.post("/orders/quote", json=FOUR_BOOKS)
    log_line = repr(Settings(receipt_secret=DEPLOYED_SECRET))
print(f"   GET /about -> {describe(about_response, 120)}")
print(f"   POST /orders/quote with 4 books -> {describe(quote_response)}")
print(f"   a log line that prints the settings: {log_line}")

# %% [markdown]
# With the starter, the first deploy starts and signs quotes with `"changeme"`. In the second,
# `/about` shows the receipt secret in clear, and it is still `"changeme"`, not the deployed one:
# the settings were read when the cell ran, before this deploy's environment existed. For the
# same reason the limit is still 5 (so 4 books are accepted). A log line that prints the
# settings prints the secret too. Nothing crashed, which is why this ships. A fixed app refuses
# the first deploy, with a message naming the missing setting; in the second, `/about` and the
# log line show stars where the secret was, and 4 books are refused with 422.
#
# **Why not fail at import?** The snippet's other half, `settings = Settings()` at the top of
# `main.py`, is often defended as "fail fast". Remove the default and it does fail, but at the
# wrong moment: everything that imports `main` (a test runner, a migration script, a linter
# that imports) now needs the production secret, and the values are frozen before any test or
# server could set them. The moment that matters is the app's startup.
#
# ## The check
#
# Run it. Each failing test names what is wrong; fix the two kata cells, run them again, then
# re-run this cell until every test passes.

# %% tags=["check"]
%%ipytest
from checks.settings import *

# %% [markdown]
# ## Hints
#
# Stuck? Each click opens one more level: a nudge, then the concept, then a sketch of
# the code. In a terminal, `kata hint settings` opens the same levels.

# %% [markdown] tags=["hint"]
# ### Hint 1: a nudge
#
# Find the line that reads the environment and ask *when* it runs: when the cell is executed, or
# when a server starts the app? Then look at `receipt_secret`: what value does it take when
# nobody sets `SHOP_RECEIPT_SECRET`, and what does printing the settings show? Last, how could a
# test hand `quote` a limit of its own?

# %% [markdown] tags=["hint"]
# ### Hint 2: the concept
#
# A field without a default is *required*: `Settings()` then raises a `ValidationError` that
# names `receipt_secret` when the variable is missing. Typed `SecretStr`, the value prints as
# `'**********'` in reprs and in JSON, and only `.get_secret_value()` returns it. Build the
# settings once, when the app starts, so a bad configuration stops the startup: in the lifespan,
# or in a cached function (`functools.lru_cache`) that the lifespan calls. Hand them to the
# endpoints as a dependency, `Depends(get_settings)`: a test can then replace it through
# `app.dependency_overrides`. The dependency can return the cached object, or read what the
# lifespan put in the request's state.
#
# Read: FastAPI, [Settings and Environment Variables](https://fastapi.tiangolo.com/advanced/settings/);
# Pydantic, [Settings Management](https://docs.pydantic.dev/latest/concepts/pydantic_settings/).

# %% [markdown] tags=["hint"]
# ### Hint 3: a sketch
#
# ```python
# class Settings(BaseSettings):
#     model_config = SettingsConfigDict(env_prefix="SHOP_")
#     receipt_secret: SecretStr  # no default
#     ...
#
# @lru_cache
# def get_settings() -> Settings: ...
#
# @asynccontextmanager
# async def lifespan(app: FastAPI):
#     get_settings()  # at startup: a missing secret stops the app here
#     async with shop_lifespan(app) as state:
#         yield state
#
# @app.post("/orders/quote")
# async def quote(..., settings: Annotated[Settings, Depends(get_settings)]) -> QuoteOut:
#     ...  # sign with settings.receipt_secret.get_secret_value()
# ```
# Delete the module-level `settings = Settings()`. (Or build `Settings()` in the lifespan, yield
# it in the state next to the sessionmaker, and let `get_settings(request)` return
# `request.state.settings`.)

# %% [markdown]
# ## The walkthrough

# %% [markdown] tags=["walkthrough"]
# ### The fix, step by step
#
# 1. **No default for a secret.** `receipt_secret: SecretStr` has no default, so it is required:
#    without `SHOP_RECEIPT_SECRET`, `Settings()` raises `ValidationError` with
#    `receipt_secret / Field required`. Pydantic names the *field*; the variable is the field
#    name with the `SHOP_` prefix.
# 2. **Hide the value by type.** A `SecretStr` shows `'**********'` in `repr()`, in `str()`, in
#    `model_dump(mode="json")` and in FastAPI's JSON, so `/about` and every log line are safe
#    without special cases. Call `.get_secret_value()` only where the secret is used: in the
#    HMAC. (`str(secret)` is the ten stars, so a signature made from it is the same for every
#    secret.)
# 3. **Read the settings once, at startup.** Either way works, and the check accepts both:
#    - a cached `get_settings()`: `@lru_cache` builds `Settings()` on the first call and returns
#      that same object afterwards; the lifespan calls it before its `yield`, so the first call
#      is the startup's. `lru_cache` does not cache exceptions: a call that raised is tried
#      again next time. Tests call `get_settings.cache_clear()` after changing the environment.
#    - the lifespan's state: the lifespan builds `Settings()` itself and yields
#      `{**state, "settings": settings}`, and `get_settings(request: Request)` returns
#      `request.state.settings`. Each start of the app reads the environment afresh, with no
#      cache to clear, which is what tests want.
#
#    Either way, with the secret missing the `ValidationError` escapes the lifespan: Starlette
#    reports `lifespan.startup.failed` to the server, with pydantic's message, before the app
#    has served a single request.
# 4. **Inject, do not import.** Endpoints declare `settings: Annotated[Settings,
#    Depends(get_settings)]`, so a test can give them other settings with
#    `app.dependency_overrides[get_settings] = lambda: Settings(...)`. An override changes what
#    endpoints receive, not what the lifespan builds: tests that start the app still set
#    `SHOP_RECEIPT_SECRET`, as this check does.
#
# Why not keep a default and just type it `SecretStr`? The secret is hidden, but a deploy that
# forgot the variable still starts and signs with `"changeme"`, which anyone who has read the
# code knows. Why not skip reading the settings in the lifespan, since the field is required
# anyway? Then the server starts, says it is ready, and answers 500 to every quote: the failure
# moved from the deploy, where it is cheap, to the customers. Why not drop `@lru_cache`? Every
# request would re-read the environment (the check counts how often `Settings` is built, and
# when), and requests could run with settings other than the ones the app was started and
# checked with. And `settings = Settings()` at import with a required secret fails fast, but for
# every tool that imports the module, and it freezes the values before any test can set them.
#
# Why not show the first and last four characters of the secret on `/about`, so that support can
# tell two secrets apart? That puts eight of its characters in every answer and every log of
# one; `/about` should only say that a secret is set, which the stars do. Why not call
# `get_settings()` inside `/about`, since it only displays them? A test that overrides the
# dependency then sees `/orders/quote` apply its settings while `/about` shows others: every
# endpoint that needs the settings declares the dependency (the check overrides it and asks both).
# And why not a global filled on the first call instead of `@lru_cache`? It is a cache with no
# `cache_clear`: the first start of the app in a process fixes the settings for every later
# start, and a test has nothing to call to make it read them again. (Settings that are not
# pydantic pass as well, a frozen dataclass read from the environment in the lifespan, say, if
# the secret has no default and stays out of its repr and the responses; pydantic-settings just
# does the reading, the validation and the hiding for you.)
#
# Read more: FastAPI, [Settings and Environment Variables](https://fastapi.tiangolo.com/advanced/settings/)
# and [Testing Dependencies with Overrides](https://fastapi.tiangolo.com/advanced/testing-dependencies/);
# Starlette, [Lifespan state](https://www.starlette.io/lifespan/);
# Pydantic, [Settings Management](https://docs.pydantic.dev/latest/concepts/pydantic_settings/)
# and [Secret types](https://docs.pydantic.dev/latest/api/types/#pydantic.types.SecretStr).
#
# ### What to remember
# - A secret has no default. Make it a required `SecretStr`, and call `.get_secret_value()` only
#   where the secret is used.
# - Read settings once, when the app starts (in the lifespan, or a cached `get_settings()` the
#   lifespan calls), never at import and never per request.
# - Hand them to endpoints through a dependency, so tests can replace them with
#   `app.dependency_overrides`.
