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
# - why a default secret hides a missing configuration, and how a required `SecretStr` makes the
#   absence loud while keeping the value out of every repr and response;
# - why import time is the wrong moment both to *read* settings (tests and deploys cannot change
#   them afterwards) and to *fail* on them (everything that imports the module needs the secret);
# - the FastAPI pattern: a cached `get_settings()` dependency, called once in the lifespan so a bad
#   configuration stops the startup, and replaceable in tests with `app.dependency_overrides`.
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
# environment variable, here with the prefix `SHOP_`. The order schema (`OrderIn`), the `Book`
# model and the database lifespan (`shop_lifespan`, which yields a `sessionmaker` into each
# request's state) come from the workbook's `bookshop` package. `sign_quote` is what the checkout
# service checks: whoever knows the secret can mint a quote for any price.

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

from bookshop.client import shop_client

DEPLOYED_SECRET = "k7-Qv9-from-the-vault"
FOUR_BOOKS = {"user_id": 1, "lines": [{"book_id": 3, "quantity": 2}, {"book_id": 5, "quantity": 2}]}


@contextmanager
def fresh_server(**environment: str):
    """Serve `app` as a newly started process would: with exactly these SHOP_ variables."""
    saved = {name: value for name, value in os.environ.items() if name.startswith("SHOP_")}
    # The starter has no get_settings; with it, a new process begins with an empty cache.
    clear_cache = getattr(globals().get("get_settings"), "cache_clear", lambda: None)
    for name in saved:
        del os.environ[name]
    os.environ.update(environment)
    clear_cache()
    try:
        with shop_client(app) as client:
            yield client
    finally:
        for name in environment:
            del os.environ[name]
        os.environ.update(saved)
        clear_cache()


print("1. Deployed without SHOP_RECEIPT_SECRET")
try:
    with fresh_server() as client:
        quote_response = client.post("/orders/quote", json=FOUR_BOOKS)
    print(f"   the app started; POST /orders/quote -> {quote_response.status_code}")
    if quote_response.status_code == 200:
        body = quote_response.json()
        forged = sign_quote("changeme", OrderIn(**FOUR_BOOKS), body["books"], body["total_cents"])
        print(f"   anyone can forge its signature with 'changeme': {hmac.compare_digest(forged, body['signature'])}")
except Exception as error:  # a startup that fails is what we hope to see here
    print(f"   the app refused to start: {type(error).__name__}")
    print("      " + "\n      ".join(str(error).splitlines()[:3]))

print(f"2. Deployed with SHOP_RECEIPT_SECRET={DEPLOYED_SECRET!r} and SHOP_MAX_BOOKS_PER_ORDER=3")
with fresh_server(SHOP_RECEIPT_SECRET=DEPLOYED_SECRET, SHOP_MAX_BOOKS_PER_ORDER="3") as client:
    about_response = client.get("/about")
    quote_response = client.post("/orders/quote", json=FOUR_BOOKS)
    log_line = repr(Settings(receipt_secret=DEPLOYED_SECRET))
print(f"   GET /about -> {about_response.status_code} {about_response.text}")
print(f"   POST /orders/quote with 4 books -> {quote_response.status_code} {quote_response.text[:70]}")
print(f"   a log line that prints the settings: {log_line}")

# %% [markdown]
# With the starter, the first deploy starts and signs quotes with `"changeme"`. In the second,
# `/about` shows the receipt secret in clear, and it is still `"changeme"`, not the deployed one:
# the settings were read when the cell ran, before this deploy's environment existed. For the
# same reason the limit is still 5 (so 4 books are accepted). A log line that prints the
# settings prints the secret too. Nothing crashed, which is why this ships.
# With the fix, the first deploy refuses to start with pydantic's message, `/about` and the log
# line show `'**********'`, and 4 books get 422.
#
# **Why not fail at import?** The snippet's other half, `settings = Settings()` at the top of
# `main.py`, is often defended as "fail fast". Remove the default and it does fail, but at the
# wrong moment. Everything that imports `main` now needs the production secret: run `pytest`
# without it and *collection* stops with `Interrupted: 1 error during collection`, so not one
# test runs, including tests that never touch the settings. And the values are frozen at that
# moment: `monkeypatch.setenv(...)` in a test comes after the import, and
# `app.dependency_overrides` cannot reach a module-level variable. The right moment is the app's
# startup: read the settings in the lifespan, and a missing secret stops the server before it
# accepts a single request, with pydantic's message naming the field.
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
# Look for the line that reads the environment (`Settings()`) and ask *when* it runs: once,
# when the cell is executed. Then look at `receipt_secret`: what happens when nobody sets
# `SHOP_RECEIPT_SECRET`, and what does `repr(settings)` print?

# %% [markdown] tags=["hint"]
# ### Hint 2: the concept
#
# A field without a default is *required*: `Settings()` then raises a `ValidationError` that
# names `receipt_secret` when the variable is missing. Typed `SecretStr`, the value prints as
# `'**********'` in reprs and in JSON, and only `.get_secret_value()` returns it. Build the
# settings in a function the endpoints depend on, `Depends(get_settings)`: a test can then
# replace it through `app.dependency_overrides`. Cache that function so the environment is
# read once, and call it in the lifespan so the app cannot start with a bad configuration.

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
#     get_settings()
#     async with shop_lifespan(app) as state:
#         yield state
#
# @app.post("/orders/quote")
# async def quote(..., settings: Annotated[Settings, Depends(get_settings)]) -> QuoteOut:
#     ...  # sign with settings.receipt_secret.get_secret_value()
# ```
# Delete the module-level `settings = Settings()`.

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
# 3. **Read settings in a cached dependency.** `get_settings()` builds `Settings()` on its
#    first call; `@lru_cache` returns that same object afterwards, so the environment is read
#    and validated once per process. `lru_cache` does not cache exceptions: a call that raised
#    is tried again next time. Tests call `get_settings.cache_clear()` after changing the
#    environment.
# 4. **Inject, do not import.** Endpoints declare `settings: Annotated[Settings,
#    Depends(get_settings)]`, so a test can give them other settings with
#    `app.dependency_overrides[get_settings] = lambda: Settings(...)`. An override changes what
#    endpoints receive, not what the lifespan calls: tests that start the app still set
#    `SHOP_RECEIPT_SECRET`, as this check does with `monkeypatch.setenv`.
# 5. **Fail fast at startup.** The lifespan calls `get_settings()` before it yields. With the
#    secret missing, the `ValidationError` escapes the lifespan: Starlette reports
#    `lifespan.startup.failed` to the server, with pydantic's message, before the app has
#    served a single request.
#
# Why not keep a default and just type it `SecretStr`? The secret is hidden, but a deploy that
# forgot the variable still starts and signs with `"changeme"`, which anyone who has read the
# code knows. Why not skip the call in the lifespan, since the field is required anyway? Then
# the server starts, says it is ready, and answers 500 to every quote: the failure moved from
# the deploy, where it is cheap, to the customers. Why not drop `@lru_cache`? Every request
# would re-read the environment, and requests could run with settings other than the ones the
# app was started and checked with. And `settings = Settings()` at import with a required
# secret fails fast, but for every tool that imports the module, and it freezes the values
# before any test can set them.
#
# Read more: FastAPI, [Settings and Environment Variables](https://fastapi.tiangolo.com/advanced/settings/)
# and [Testing Dependencies with Overrides](https://fastapi.tiangolo.com/advanced/testing-dependencies/);
# Pydantic, [Settings Management](https://docs.pydantic.dev/latest/concepts/pydantic_settings/)
# and [Secret types](https://docs.pydantic.dev/latest/api/types/#pydantic.types.SecretStr).
#
# ### What to remember
# - A secret has no default. Make it a required `SecretStr`, and call `.get_secret_value()` only
#   where the secret is used.
# - Read settings through a cached `get_settings()` dependency, never at import; tests override
#   it with `app.dependency_overrides` or reset it with `get_settings.cache_clear()`.
# - Fail fast at startup, not at import: call `get_settings()` in the lifespan.
