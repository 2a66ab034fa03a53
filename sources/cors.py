# %% [markdown]
# # CORS from settings, preflight before the key
#
# **The story.** The shop's new web front end lives at `https://shop.example`; the API it calls
# lives at `https://api.shop.example`, another origin, so the browser asks the API for permission
# (CORS) before it lets the front end read any answer. Every client of the API (the web front end,
# the iOS app) sends its client key in an `X-API-Key` header, and a middleware refuses requests
# without a known key (with `401`; a `403` would do as well). The customer's session travels in a cookie, so the front end calls with
# credentials (`fetch(url, {credentials: "include"})`).
#
# Two tickets this week. The front-end team: "every call fails in the browser with a CORS error,
# although `curl` works; the preflight gets a 401". They asked for a quick fix, and someone
# suggested `allow_origins=["*"]` "so that it works from anywhere". Then the security review: "with
# `allow_credentials=True` the API hands any web site the right to read a logged-in customer's
# data". And the front end wants one more thing: when a key is refused, it must be able to *read*
# the 401 and show a proper message, not a generic network error.
#
# The allowed origins are a setting: `SHOP_CORS_ORIGINS` lists them (`https://shop.example` in
# production; staging sets its own). The app is built by `create_app(settings)`, so that each
# deploy, and each test, builds it from its own settings.
#
# **You will learn**
# - what a browser's preflight is, and why it never carries your API key;
# - what `allow_origins=["*"]` with `allow_credentials=True` does in Starlette 1.10: it echoes
#   *any* origin back, with credentials;
# - why the order of middleware decides whether the preflight, and the error answers, get their
#   CORS headers.
#
# Run the cells from the top (**Run → Run All Cells**), read the evidence, then make the check pass.

# %% [markdown]
# ## The threat model
#
# **OWASP API8:2023, Security Misconfiguration** (a CORS policy that is missing or too
# permissive). The attacker runs a web page on any site: a forum post, an ad, a link in a mail. A
# customer who is logged in to the shop opens it, and the page's script calls the API *from the
# customer's browser*, with the customer's cookies (the shop's session cookie is `SameSite=None`:
# its payment pages on another domain need it). The client key is no obstacle: it sits in the
# front end's JavaScript for anyone to copy. If the API's answer says the page's origin may read
# it, with credentials, the page reads the customer's account (name, email, orders) and sends it
# home. CORS is the one thing that tells the browser no.

# %% tags=["setup"]
from checks import setup_notebook

setup_notebook()

# %% [markdown]
# ## The bookshop around the problem
#
# `Settings` reads `SHOP_CORS_ORIGINS` (a JSON list). `ApiKeyMiddleware` refuses, with `401`, every
# request whose `X-API-Key` is not one of the shop's client keys, before any route runs (the keys
# are constants here; in production they are settings too, without defaults, as "Settings are read
# at startup; secrets have no default" teaches). `shop_routes` holds the routes: the catalogue, and
# `GET /account`, which reads the customer's `session` cookie (a token the shop signed at login) and
# answers who they are. `lifespan` is the shop's own, from "The engine belongs to the lifespan".

# %%
from collections.abc import AsyncIterator, Collection
from typing import Annotated

import jwt
from fastapi import APIRouter, Cookie, Depends, FastAPI, HTTPException, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import Headers

from bookshop.auth import read_token
from bookshop.db import lifespan
from bookshop.models import Book, User
from bookshop.schemas import BookOut


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHOP_")

    # The web front ends allowed to read the API's answers from a browser, written exactly as a
    # browser sends its Origin: scheme://host[:port], no path, no trailing slash.
    cors_origins: list[str] = ["https://shop.example"]


CLIENT_KEYS = {"web-4f7c2a": "web front end", "ios-91d0be": "iOS app"}
WEB_KEY = "web-4f7c2a"  # in the front end's JavaScript, for anyone to read


class ApiKeyMiddleware:
    """Refuses every request without a known client key in X-API-Key, before any route runs."""

    def __init__(self, app, keys: Collection[str]):
        self.app = app
        self.keys = set(keys)

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and Headers(scope=scope).get("x-api-key") not in self.keys:
            refusal = JSONResponse({"detail": "Missing or unknown API key"}, status_code=401,
                                   headers={"WWW-Authenticate": 'ApiKey header="X-API-Key"'})
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.state.sessionmaker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]
shop_routes = APIRouter()


@shop_routes.get("/books")
async def list_books(session: SessionDep) -> list[BookOut]:
    return [BookOut.model_validate(b) for b in await session.scalars(select(Book).order_by(Book.id))]


@shop_routes.get("/account")
async def account(session: SessionDep, session_token: Annotated[str | None, Cookie(alias="session")] = None) -> dict:
    try:
        user = await session.get(User, int(read_token(session_token or "")["sub"]))
    except (jwt.InvalidTokenError, ValueError):
        user = None
    if user is None:
        raise HTTPException(status_code=401, detail="Not logged in")
    return {"id": user.id, "name": user.name, "email": user.email}

# %% [markdown]
# ## The code under review
#
# This is the cell you will change. Read it first: which middleware does a request meet first,
# and what does each of them do with a browser's preflight, which has no `X-API-Key`? And where
# do the settings' origins go?

# %% tags=["kata", "starter"]
def create_app(settings: Settings) -> FastAPI:
    app = FastAPI(lifespan=lifespan)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=["*"],  # "so that it works from anywhere"
        allow_credentials=True,  # the session cookie
        allow_methods=["*"],
        allow_headers=["*"],
    )
    app.add_middleware(ApiKeyMiddleware, keys=CLIENT_KEYS)  # no key, no entry
    app.include_router(shop_routes)
    return app

# %% tags=["kata", "solution"]
def create_app(settings: Settings) -> FastAPI:
    app = FastAPI(lifespan=lifespan)
    # Each add_middleware wraps everything added before it: the last one added meets every request
    # first. So the key middleware goes in first (inner), and CORS last (outermost): CORS answers
    # the browser's preflight itself, and adds its headers to every answer, the key's 401 included.
    app.add_middleware(ApiKeyMiddleware, keys=CLIENT_KEYS)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,  # exact origins: never "*" with credentials
        allow_credentials=True,
        allow_methods=["GET", "POST"],
        allow_headers=["X-API-Key", "Content-Type"],
    )
    app.include_router(shop_routes)
    return app

# %% tags=["kata", "decoy:origins-from-settings-only"]
# "The review was about the star: read the origins from the settings." Evil origins are refused
# now, but the key middleware still meets every request first: the preflight has no key and gets a
# 401, so the browser blocks the front end's calls as before.
def create_app(settings: Settings) -> FastAPI:
    app = FastAPI(lifespan=lifespan)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_credentials=True,
        allow_methods=["*"],
        allow_headers=["*"],
    )
    app.add_middleware(ApiKeyMiddleware, keys=CLIENT_KEYS)
    app.include_router(shop_routes)
    return app

# %% tags=["kata", "decoy:middleware-order-only"]
# "The front end's ticket: the preflight gets a 401. Swap the two middleware, done." The front end
# works again, and so does every other site: the star with credentials now answers every origin's
# preflight and call with that origin, cookies allowed.
def create_app(settings: Settings) -> FastAPI:
    app = FastAPI(lifespan=lifespan)
    app.add_middleware(ApiKeyMiddleware, keys=CLIENT_KEYS)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=["*"],
        allow_credentials=True,
        allow_methods=["*"],
        allow_headers=["*"],
    )
    app.include_router(shop_routes)
    return app

# %% tags=["kata", "decoy:let-options-through"]
# "The preflight has no key: let OPTIONS requests past the key check." The preflight now reaches
# CORS and passes. But the key middleware is still outermost: when it refuses a key, its 401 never
# passes through CORS, and the front end cannot read it.
class KeyMiddlewareSkippingOptions(ApiKeyMiddleware):
    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["method"] == "OPTIONS":
            await self.app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(settings: Settings) -> FastAPI:
    app = FastAPI(lifespan=lifespan)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_credentials=True,
        allow_methods=["*"],
        allow_headers=["*"],
    )
    app.add_middleware(KeyMiddlewareSkippingOptions, keys=CLIENT_KEYS)
    app.include_router(shop_routes)
    return app

# %% tags=["kata", "decoy:star-without-credentials"]
# "The star is only dangerous with credentials: keep the star, drop the credentials." No site can
# read a customer's data with their cookies any more, and neither can the shop's own front end: a
# browser refuses a credentialed call unless the answer names its origin, and allows credentials.
def create_app(settings: Settings) -> FastAPI:
    app = FastAPI(lifespan=lifespan)
    app.add_middleware(ApiKeyMiddleware, keys=CLIENT_KEYS)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=["*"],
        allow_credentials=False,
        allow_methods=["*"],
        allow_headers=["*"],
    )
    app.include_router(shop_routes)
    return app

# %% tags=["kata", "decoy:subdomain-regex"]
# "Staging and the shop's subdomains too: a regex instead of a list." It matches what it should,
# and any host name that merely ends in shop.example: https://evilshop.example is a domain anyone
# can register.
def create_app(settings: Settings) -> FastAPI:
    app = FastAPI(lifespan=lifespan)
    app.add_middleware(ApiKeyMiddleware, keys=CLIENT_KEYS)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_origin_regex=r"https://.*shop\.example",
        allow_credentials=True,
        allow_methods=["*"],
        allow_headers=["*"],
    )
    app.include_router(shop_routes)
    return app

# %% tags=["kata", "decoy:origin-written-in-the-code"]
# "There is only one front end: write its origin in the code." Production works; staging, and any
# deploy whose front end lives elsewhere, cannot change it without a new release, and gets the
# production origin whatever its settings say.
def create_app(settings: Settings) -> FastAPI:
    app = FastAPI(lifespan=lifespan)
    app.add_middleware(ApiKeyMiddleware, keys=CLIENT_KEYS)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=["https://shop.example"],
        allow_credentials=True,
        allow_methods=["*"],
        allow_headers=["*"],
    )
    app.include_router(shop_routes)
    return app

# %% tags=["kata", "alternative:middleware-list"]
# The whole stack given at once: in FastAPI's middleware list, the first entry is the outermost.
from starlette.middleware import Middleware


def create_app(settings: Settings) -> FastAPI:
    app = FastAPI(
        lifespan=lifespan,
        middleware=[
            Middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_credentials=True,
                       allow_methods=["GET", "POST"], allow_headers=["X-API-Key", "Content-Type"]),
            Middleware(ApiKeyMiddleware, keys=CLIENT_KEYS),
        ],
    )
    app.include_router(shop_routes)
    return app

# %% tags=["kata", "alternative:key-as-a-dependency"]
# The key checked by a dependency of the whole app instead of a middleware: dependencies run in the
# route, inside every middleware, so CORS answers the preflight and wraps the 401 by construction.
from fastapi.security import APIKeyHeader

client_key = APIKeyHeader(name="X-API-Key", auto_error=False)


async def require_client_key(key: Annotated[str | None, Depends(client_key)]) -> None:
    if key not in CLIENT_KEYS:
        raise HTTPException(status_code=401, detail="Missing or unknown API key",
                            headers={"WWW-Authenticate": 'ApiKey header="X-API-Key"'})


def create_app(settings: Settings) -> FastAPI:
    app = FastAPI(lifespan=lifespan, dependencies=[Depends(require_client_key)])
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_credentials=True,
        allow_methods=["*"],
        allow_headers=["*"],
    )
    app.include_router(shop_routes)
    return app

# %% [markdown]
# The app this notebook serves, built from the settings of this process (`SHOP_CORS_ORIGINS`, or
# the default). Run this cell again whenever you run the kata cell.

# %%
app = create_app(Settings())

# %% [markdown]
# ## The evidence
#
# The next cell plays the browser. For each origin it sends what a browser sends: first the
# preflight (`OPTIONS`, with the origin, the method and the headers the page wants to send, and no
# key, no cookie), then the call itself (`GET /account`, with the key and Alice's session cookie).
# It prints the status and the CORS headers of each answer, and what a browser would then do. The
# last lines call the API from the shop's front end with a key the API does not know.

# %% tags=["evidence"]
from bookshop.auth import issue_token
from bookshop.client import shop_client

ORIGINS = ["https://shop.example", "https://evil.example", "https://evilshop.example"]
ALICE = f"session={issue_token(1)}"


def preflight(client, origin):
    return client.request("OPTIONS", "/account", headers={
        "Origin": origin, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "x-api-key"})


def cors(response) -> str:
    allow = response.headers.get("access-control-allow-origin", "-")
    credentials = response.headers.get("access-control-allow-credentials", "-")
    return f"{response.status_code}, allow-origin {allow}, allow-credentials {credentials}"


def page_may_read(response, origin) -> bool:
    """A browser hands a credentialed answer to the page only if it names the page's origin
    and allows credentials (a preflight must also succeed)."""
    return (response.headers.get("access-control-allow-origin") == origin
            and response.headers.get("access-control-allow-credentials") == "true")


with shop_client(app) as client:
    for origin in ORIGINS:
        first = preflight(client, origin)
        call = client.get("/account", headers={"Origin": origin, "X-API-Key": WEB_KEY, "Cookie": ALICE})
        passed = 200 <= first.status_code < 300 and page_may_read(first, origin)
        print(f"{origin}\n  preflight    -> {cors(first)}: browser {'goes on' if passed else 'stops here'}")
        if not passed:
            print(f"  GET /account    the browser never sends it; sent anyway (with the key): {cors(call)}")
        else:
            read = page_may_read(call, origin)
            print(f"  GET /account -> {cors(call)}: page {'reads ' + call.text if read else 'cannot read it'}")
    refused = client.get("/account", headers={"Origin": "https://shop.example", "X-API-Key": "old-key", "Cookie": ALICE})
    print(f"\nhttps://shop.example with an unknown key\n  GET /account -> {cors(refused)}: "
          f"front end {'reads ' + refused.text if page_may_read(refused, 'https://shop.example') else 'sees only a network error'}")

# %% [markdown]
# With the starter, the shop's own preflight gets the key middleware's `401` and the browser
# stops there: the front end can call nothing. Look at the calls themselves, though, made with a
# key: they answer `allow-origin` with *whatever origin asked*, and `allow-credentials true`. Today
# only the broken preflight stands between evil.example and Alice's account; the day someone
# repairs the preflight and keeps the star, every site on the internet can read it. And the 401 for
# an unknown key carries no CORS header: the front end sees a network error, not the answer.
#
# ## The check
#
# The check is a set of attacks and a set of browser visits. It builds the app with
# `create_app(Settings(...))`, the way each deploy does. Fix the kata cell, run it again (and the
# cell under it), then re-run this cell until every test passes.

# %% tags=["check"]
%%ipytest
from checks.cors import *

# %% [markdown]
# ## Hints
#
# Stuck? Each click opens one more level: a nudge, then the concept, then a sketch of
# the code. In a terminal, `kata hint cors` opens the same levels.

# %% [markdown] tags=["hint"]
# ### Hint 1: a nudge
#
# Two questions. A browser's preflight carries no key: which middleware sees it first, and what
# does that one answer? And the star: with credentials allowed, which origins does the CORS
# middleware say yes to, and where does the list of origins the shop trusts live already?

# %% [markdown] tags=["hint"]
# ### Hint 2: the concept
#
# Middleware wraps: each `add_middleware` call puts the new one *around* everything added before,
# so the last one added sees the request first and the response last. CORS must be the outermost:
# it answers the preflight itself (the preflight never reaches the key check), and it adds its
# headers to every answer that passes through it, a refusal from an inner middleware included.
# The origins CORS allows are an exact list from the settings: with `allow_credentials=True`,
# Starlette turns `"*"` into "echo any origin back", which is the worst of both worlds.
#
# Read: FastAPI, [CORS](https://fastapi.tiangolo.com/tutorial/cors/); Starlette,
# [Middleware: CORSMiddleware](https://www.starlette.io/middleware/#corsmiddleware); MDN,
# [CORS: preflighted requests and requests with credentials](https://developer.mozilla.org/en-US/docs/Web/HTTP/Guides/CORS).

# %% [markdown] tags=["hint"]
# ### Hint 3: a sketch
#
# ```python
# def create_app(settings: Settings) -> FastAPI:
#     app = FastAPI(lifespan=lifespan)
#     app.add_middleware(ApiKeyMiddleware, keys=CLIENT_KEYS)  # inner: added first
#     app.add_middleware(                                      # outermost: added last
#         CORSMiddleware,
#         allow_origins=settings.cors_origins,
#         allow_credentials=True,
#         allow_methods=["GET", "POST"],
#         allow_headers=["X-API-Key", "Content-Type"],
#     )
#     app.include_router(shop_routes)
#     return app
# ```

# %% [markdown]
# ## The walkthrough

# %% [markdown] tags=["walkthrough"]
# ### The fix, step by step
#
# 1. **The browser asks first.** A call from `https://shop.example` to the API with a custom
#    header (`X-API-Key`) or credentials is preceded by a *preflight*: an `OPTIONS` request with
#    `Origin`, `Access-Control-Request-Method` and `Access-Control-Request-Headers`. By design it
#    carries no custom header and no cookie: no key. Only if its answer is a 2xx naming the origin
#    (and, for credentialed calls, `Access-Control-Allow-Credentials: true`) does the browser send
#    the real call, and only if the real answer names the origin too may the page read it.
# 2. **CORS outermost.** `add_middleware` inserts each middleware around the ones added before it.
#    Add the key middleware first and CORS last: the preflight is answered by CORS before any key
#    check, and every answer, the key middleware's 401 included, passes back through CORS and gets
#    its headers. The front end can then read "Missing or unknown API key" and say so. (In
#    `FastAPI(middleware=[...])` the order reads the other way: the first entry is the outermost.)
# 3. **Exact origins, from the settings.** `allow_origins=settings.cors_origins`. Each deploy
#    lists its own front ends; a test builds the app with the origins it needs. An origin is
#    compared as a whole string, so `https://evilshop.example` and
#    `https://shop.example.evil.example` are simply other origins.
# 4. **Allow only what the front end sends.** `allow_methods` and `allow_headers` can name the
#    methods and headers the front end uses; `"*"` there is not the danger the star in
#    `allow_origins` is, but a short list documents the contract.
#
# Why not keep `"*"` and drop `allow_credentials`? Then the star means a literal `*`, which is
# safe for public data, but a browser never accepts `*` for a credentialed call: the shop's own
# front end loses the session cookie. Why not let `OPTIONS` through the key middleware? The
# preflight passes, but the key middleware is still outermost, so its refusals never reach CORS:
# the front end sees a network error instead of the 401. Why not a regex such as
# `https://.*shop\.example`? It also matches domains anyone can register. If you need patterns,
# anchor them on a dot (`https://[a-z0-9-]+\.shop\.example`) and test them with hostile origins,
# as the check does. And why not `["*"]` with `allow_credentials=True`, "just for now"? Starlette
# 1.10 cannot send `*` with credentials (browsers refuse it), so it echoes each request's `Origin`
# back: every site on the internet is trusted with your customers' cookies.
#
# The old pattern guides copy `allow_origins=["*"]` with `allow_credentials=True` from a quick-start
# and stop there: that is the starter of this kata.
#
# Read more: FastAPI, [CORS](https://fastapi.tiangolo.com/tutorial/cors/) and
# [Advanced Middleware](https://fastapi.tiangolo.com/advanced/middleware/); Starlette,
# [Middleware](https://www.starlette.io/middleware/); MDN,
# [Cross-Origin Resource Sharing](https://developer.mozilla.org/en-US/docs/Web/HTTP/Guides/CORS);
# OWASP, [API8:2023 Security Misconfiguration](https://owasp.org/API-Security/editions/2023/en/0xa8-security-misconfiguration/).
#
# ### What to remember
# - CORS is the outermost middleware: the last `add_middleware` call, or the first entry of
#   `middleware=[...]`. Then preflights never meet your authentication, and every answer,
#   errors included, carries the CORS headers.
# - With credentials, list exact origins, from the settings. Never `"*"`: with
#   `allow_credentials=True`, Starlette echoes any origin back.
# - A client key in a browser's JavaScript is public: it identifies a client, it protects nothing.
#   CORS is what keeps other sites from reading your customers' data.
