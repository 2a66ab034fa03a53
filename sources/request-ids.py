# %% [markdown]
# # Every log line names its request
#
# **The story.** A customer wrote to support: "the price of Kindred failed to load at 14:02".
# The on-call engineer opened the log platform and found, for that minute, four thousand
# lines like `INFO bookshop.prices: asking the price service for 9780807083697`, from three
# containers serving a hundred requests at once. Which `price of` line answered which
# `asking`? Which access line was the customer's? Nobody could say, so the incident was closed
# as "could not reproduce". The platform team has two requests: the log must be **one JSON
# object per line** (the platform indexes the fields, and finds a request's lines by its
# `request_id` field), and every line a request writes must carry the **id of that request**,
# the same one the answer gives the client in an `X-Request-ID` header. The load balancer
# already sends an `X-Request-ID` of its own on most requests; the shop should keep it.
#
# **You will learn**
# - how a context variable carries a value to everything one request runs, and to nothing else,
#   even with many requests interleaved on one event loop;
# - how to write a pure ASGI middleware that sets the id and adds it to the answer, and why a
#   `BaseHTTPMiddleware` (`@app.middleware("http")`) is done before the answer is sent;
# - how to make every logger, uvicorn's included, write JSON lines that carry the id;
# - what to accept from a client's `X-Request-ID`, and what never to log.
#
# Run the cells from the top (**Run → Run All Cells**), read the evidence, then make the check pass.

# %% tags=["setup"]
from checks import setup_notebook

setup_notebook()

# %% [markdown]
# ## The bookshop around the problem
#
# The shop as the container runs it (`shop.py`, started with
# `uvicorn shop:app --host 0.0.0.0 --port 8000`). `GET /books/{isbn}/price` asks the
# distributor's price service for today's price, with the one HTTP client the lifespan builds
# (as in "One HTTP client for the whole app"), and logs two lines on the way. What the server
# writes to its output is the log: the platform collects it from there.

# %%
import logging
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI, HTTPException, Request

from bookshop.upstream import service_url

log = logging.getLogger("bookshop.prices")


@asynccontextmanager
async def lifespan(app: FastAPI):
    prices_url = service_url("BOOKSHOP_PRICES_URL", "price service")
    async with httpx.AsyncClient(base_url=prices_url, timeout=httpx.Timeout(3.0, connect=1.0)) as prices:
        yield {"prices": prices}


app = FastAPI(title="Bookshop", lifespan=lifespan)

# %% [markdown]
# ## The code under review
#
# This is the cell you will change: how the shop logs, and what it does with every request
# before its endpoint runs. It runs when the server imports `shop.py`, after uvicorn has set
# up its own loggers. Read it first: what, in a line this setup writes, says which request
# wrote it?

# %% tags=["kata", "starter"]
# One readable line per event, for people watching a terminal.
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

# %% tags=["kata", "solution"]
import json
import re
import sys
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime

from starlette.datastructures import Headers, MutableHeaders

# The id of the request being served. Each request runs in a task of its own, and what a task
# sets in a context variable is seen by everything that task runs, and by no other task.
request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
SAFE_ID = re.compile(r"[A-Za-z0-9-]{1,64}")  # a UUID, nginx's $request_id, nothing odd or long


class JsonLines(logging.Formatter):
    """One JSON object per line, with the id of the request that wrote it."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": request_id.get(),
        }
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line)


handler = logging.StreamHandler(sys.stdout)
handler.setFormatter(JsonLines())
logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
# uvicorn's loggers have handlers of their own: send their lines through the same one.
for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
    logging.getLogger(name).handlers = []
    logging.getLogger(name).propagate = True


class RequestId:
    """Pure ASGI middleware: names each request, answers with the name, and keeps it set in
    `request_id` until the answer has been sent (uvicorn's access line included)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = Headers(scope=scope).get("x-request-id", "")
        rid = sent if SAFE_ID.fullmatch(sent) else uuid.uuid4().hex

        async def send_with_id(message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).append("X-Request-ID", rid)
            await send(message)

        token = request_id.set(rid)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id.reset(token)


app.add_middleware(RequestId)

# %% tags=["kata", "decoy:one-id-for-the-process"]
# "Keep the current request's id where the formatter can read it: a module variable." There is
# one such variable for the whole process, and the requests it serves take turns on one event
# loop: each line carries the id of whichever request set it last.
import json
import re
import sys
import uuid
from datetime import UTC, datetime

from starlette.datastructures import Headers, MutableHeaders

current_request_id: str | None = None
SAFE_ID = re.compile(r"[A-Za-z0-9-]{1,64}")


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps({
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": current_request_id,
        })


handler = logging.StreamHandler(sys.stdout)
handler.setFormatter(JsonLines())
logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
    logging.getLogger(name).handlers = []
    logging.getLogger(name).propagate = True


class RequestId:
    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        global current_request_id
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = Headers(scope=scope).get("x-request-id", "")
        current_request_id = sent if SAFE_ID.fullmatch(sent) else uuid.uuid4().hex
        rid = current_request_id

        async def send_with_id(message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).append("X-Request-ID", rid)
            await send(message)

        await self.app(scope, receive, send_with_id)


app.add_middleware(RequestId)

# %% tags=["kata", "decoy:http-middleware"]
# "A context variable, set and reset around call_next in an http middleware: the usual recipe."
# The endpoint's lines carry the id. But the dispatch function has returned, and reset the
# variable, before Starlette sends the answer it returned: uvicorn's access line comes after.
import json
import re
import sys
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
SAFE_ID = re.compile(r"[A-Za-z0-9-]{1,64}")


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps({
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": request_id.get(),
        })


handler = logging.StreamHandler(sys.stdout)
handler.setFormatter(JsonLines())
logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
    logging.getLogger(name).handlers = []
    logging.getLogger(name).propagate = True


@app.middleware("http")
async def add_request_id(request: Request, call_next):
    sent = request.headers.get("x-request-id", "")
    rid = sent if SAFE_ID.fullmatch(sent) else uuid.uuid4().hex
    token = request_id.set(rid)
    try:
        response = await call_next(request)
    finally:
        request_id.reset(token)
    response.headers["X-Request-ID"] = rid
    return response

# %% tags=["kata", "decoy:id-in-the-header-only"]
# "Give every answer an id; the log already has timestamps." The client can quote the id, and
# nothing in the log has it.
import uuid

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@app.middleware("http")
async def add_request_id(request: Request, call_next):
    response = await call_next(request)
    response.headers["X-Request-ID"] = request.headers.get("x-request-id") or uuid.uuid4().hex
    return response

# %% tags=["kata", "decoy:text-lines-with-the-id"]
# "Put the id in the line format; people read these lines." People do; the log platform reads
# fields, and a line of text has none it can index.
import re
import uuid
from contextvars import ContextVar

from starlette.datastructures import Headers, MutableHeaders

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
SAFE_ID = re.compile(r"[A-Za-z0-9-]{1,64}")


class WithRequestId(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get() or "-"
        return True


handler = logging.StreamHandler()
handler.addFilter(WithRequestId())
handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"))
logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
    logging.getLogger(name).handlers = []
    logging.getLogger(name).propagate = True


class RequestId:
    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = Headers(scope=scope).get("x-request-id", "")
        rid = sent if SAFE_ID.fullmatch(sent) else uuid.uuid4().hex

        async def send_with_id(message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).append("X-Request-ID", rid)
            await send(message)

        token = request_id.set(rid)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id.reset(token)


app.add_middleware(RequestId)

# %% tags=["kata", "decoy:trust-any-incoming-id"]
# "The load balancer sends an id: always keep it." Anyone can send that header, with anything
# in it, and it goes into every line of the request and back into the answer.
import json
import sys
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime

from starlette.datastructures import Headers, MutableHeaders

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps({
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": request_id.get(),
        })


handler = logging.StreamHandler(sys.stdout)
handler.setFormatter(JsonLines())
logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
    logging.getLogger(name).handlers = []
    logging.getLogger(name).propagate = True


class RequestId:
    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = Headers(scope=scope).get("x-request-id") or uuid.uuid4().hex

        async def send_with_id(message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).append("X-Request-ID", rid)
            await send(message)

        token = request_id.set(rid)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id.reset(token)


app.add_middleware(RequestId)

# %% tags=["kata", "decoy:log-every-header"]
# "Log each request with its headers when it comes in, so an incident has everything." It
# has everything, customers' bearer tokens and session cookies included.
import json
import re
import sys
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime

from starlette.datastructures import Headers, MutableHeaders

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
SAFE_ID = re.compile(r"[A-Za-z0-9-]{1,64}")
access = logging.getLogger("bookshop.access")


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps({
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": request_id.get(),
        })


handler = logging.StreamHandler(sys.stdout)
handler.setFormatter(JsonLines())
logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
    logging.getLogger(name).handlers = []
    logging.getLogger(name).propagate = True


class RequestId:
    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        sent = headers.get("x-request-id", "")
        rid = sent if SAFE_ID.fullmatch(sent) else uuid.uuid4().hex

        async def send_with_id(message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).append("X-Request-ID", rid)
            await send(message)

        token = request_id.set(rid)
        try:
            access.info("%s %s received, headers %s", scope["method"], scope["path"], dict(headers))
            await self.app(scope, receive, send_with_id)
        finally:
            request_id.reset(token)


app.add_middleware(RequestId)

# %% tags=["kata", "alternative:python-json-logger"]
# The python-json-logger package writes the JSON; a logging filter adds the id to each record.
import re
import sys
import uuid
from contextvars import ContextVar

from pythonjsonlogger.json import JsonFormatter
from starlette.datastructures import Headers, MutableHeaders

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
SAFE_ID = re.compile(r"[0-9a-fA-F-]{32,36}")  # UUIDs, with or without dashes


class WithRequestId(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


handler = logging.StreamHandler(sys.stdout)
handler.addFilter(WithRequestId())
handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s"))
root = logging.getLogger()
root.handlers = [handler]
root.setLevel(logging.INFO)
for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
    logging.getLogger(name).handlers = []
    logging.getLogger(name).propagate = True


class RequestId:
    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        sent = Headers(scope=scope).get("x-request-id", "")
        rid = sent if SAFE_ID.fullmatch(sent) else str(uuid.uuid4())

        async def send_with_id(message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["X-Request-ID"] = rid
            await send(message)

        token = request_id.set(rid)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id.reset(token)


app.add_middleware(RequestId)

# %% tags=["kata", "alternative:record-factory"]
# The id goes into every record as it is made (a record factory), whatever handler writes it.
import json
import re
import sys
import uuid
from contextvars import ContextVar

from starlette.datastructures import Headers, MutableHeaders

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
SAFE_ID = re.compile(r"[A-Za-z0-9-]{1,64}")
make_record = logging.getLogRecordFactory()


def record_with_id(*args, **kwargs) -> logging.LogRecord:
    record = make_record(*args, **kwargs)
    record.request_id = request_id.get()
    return record


logging.setLogRecordFactory(record_with_id)


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps({"level": record.levelname, "logger": record.name,
                           "message": record.getMessage(), "request_id": record.request_id})


handler = logging.StreamHandler(sys.stdout)
handler.setFormatter(JsonLines())
logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
    logging.getLogger(name).handlers = [handler]
    logging.getLogger(name).propagate = False


class RequestId:
    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = Headers(scope=scope).get("x-request-id", "")
        rid = sent if SAFE_ID.fullmatch(sent) else uuid.uuid4().hex

        async def send_with_id(message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).append("X-Request-ID", rid)
            await send(message)

        token = request_id.set(rid)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id.reset(token)


app.add_middleware(RequestId)

# %% tags=["kata", "alternative:http-middleware-without-reset"]
# An http middleware that sets the variable and never resets it: the dispatch runs in the
# request's own task, which Starlette then sends the answer from, so the access line still
# sees the id; the task, and the id with it, ends with the request.
import json
import re
import sys
import uuid
from contextvars import ContextVar

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
SAFE_ID = re.compile(r"[A-Za-z0-9-]{1,64}")


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps({"level": record.levelname, "logger": record.name,
                           "message": record.getMessage(), "request_id": request_id.get()})


handler = logging.StreamHandler(sys.stdout)
handler.setFormatter(JsonLines())
logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
    logging.getLogger(name).handlers = []
    logging.getLogger(name).propagate = True


@app.middleware("http")
async def add_request_id(request: Request, call_next):
    sent = request.headers.get("x-request-id", "")
    rid = sent if SAFE_ID.fullmatch(sent) else uuid.uuid4().hex
    request_id.set(rid)
    response = await call_next(request)
    response.headers["X-Request-ID"] = rid
    return response

# %% tags=["kata", "alternative:own-access-line"]
# uvicorn's access line switched off; the middleware writes its own, as JSON, with the status.
import json
import re
import sys
import uuid
from contextvars import ContextVar

from starlette.datastructures import Headers, MutableHeaders

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
SAFE_ID = re.compile(r"[A-Za-z0-9-]{1,64}")
access = logging.getLogger("bookshop.access")


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps({"level": record.levelname, "logger": record.name,
                           "message": record.getMessage(), "request_id": request_id.get()})


handler = logging.StreamHandler(sys.stdout)
handler.setFormatter(JsonLines())
logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
logging.getLogger("uvicorn.access").disabled = True


class RequestId:
    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = Headers(scope=scope).get("x-request-id", "")
        rid = sent if SAFE_ID.fullmatch(sent) else uuid.uuid4().hex
        status = 500

        async def send_with_id(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message).append("X-Request-ID", rid)
            await send(message)

        token = request_id.set(rid)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            access.info("%s %s %s", scope["method"], scope["path"], status)
            request_id.reset(token)


app.add_middleware(RequestId)

# %% [markdown]
# The endpoint stays as it is while you change the cell above.

# %%
@app.get("/books/{isbn}/price")
async def book_price(isbn: str, request: Request) -> dict:
    log.info("asking the price service for %s", isbn)
    try:
        response = await request.state.prices.get(f"/prices/{isbn}")
    except httpx.HTTPError as error:
        log.warning("the price service did not answer for %s: %s", isbn, type(error).__name__)
        raise HTTPException(status_code=502, detail="The price service did not answer") from None
    if response.status_code != 200:
        log.warning("no price for %s: the price service answered %s", isbn, response.status_code)
        raise HTTPException(status_code=502, detail="No price for this book")
    price = response.json()
    log.info("price of %s: %s cents", isbn, price["price_cents"])
    return price

# %% [markdown]
# ## The evidence
#
# The next cell writes the notebook's app into a folder as `shop.py` and starts it with uvicorn,
# as the container does, next to the price service. It asks for three prices at the same time;
# the price service holds its answers until all three requests have reached it, as a busy
# moment in production would. Then it prints what each client got back, and the log lines the
# three requests wrote, in the order the server wrote them.

# %% tags=["evidence"]
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bookshop.observe import HeldAnswers
from bookshop.prices import PRICES_URL_ENV, price_service
from bookshop.serving import ServerFailed, free_port, launch, shop_module
from bookshop.upstream import serve

ISBNS = ["9780441172719", "9780807083697", "9781101947883"]
logging.getLogger("httpx").setLevel(logging.WARNING)  # this notebook's own calls: not the shop's log
service = price_service()
with tempfile.TemporaryDirectory(prefix="request-ids-") as scratch, serve(service) as prices_at:
    shop_module(globals(), Path(scratch), kata="request-ids")
    port = free_port()
    try:
        with launch(["uvicorn", "shop:app", "--host", "127.0.0.1", "--port", str(port)], folder=Path(scratch),
                    port=port, env={PRICES_URL_ENV: prices_at}) as server:
            service.state.meeting = gate = HeldAnswers(isbns=set(ISBNS))
            with ThreadPoolExecutor(len(ISBNS)) as pool, gate:
                answers = [pool.submit(httpx.get, f"{server.url}/books/{isbn}/price") for isbn in ISBNS]
                gate.wait_for(len(ISBNS), within=2.0)
            for isbn, answer in zip(ISBNS, answers):
                got = answer.result()
                print(f"GET /books/{isbn}/price -> {got.status_code}, X-Request-ID: {got.headers.get('x-request-id')}")
            httpx.get(f"{server.url}/openapi.json")  # every line of the three is written by now
            print("\nThe log lines of those three requests:")
            for line in server.logs().splitlines():
                if any(isbn in line for isbn in ISBNS):
                    print(" ", line[:150])
    except ServerFailed as error:
        print(f"The shop did not start: {error}")

# %% [markdown]
# With the starter you should see three answers without any `X-Request-ID`, and twelve lines
# of plain text, four per request: the shop's two, the line httpx writes for the call to the
# price service, and uvicorn's access line. The three `asking` lines come first, then the answers, in whatever order the price service let them go; the
# lines say which book, but nothing says which request: two customers asking for the same book
# at the same moment would be indistinguishable.
#
# ## The check
#
# Run it. Each failing test says what it observed and why that matters in production. Change
# the kata cell, run it, then run this cell again until every test passes.

# %% tags=["check"]
%%ipytest
from checks.request_ids import *

# %% [markdown]
# ## Hints
#
# Stuck? Each click opens one more level: a nudge, then the concept, then a sketch of
# the code. In a terminal, `kata hint request-ids` opens the same levels.

# %% [markdown] tags=["hint"]
# ### Hint 1: a nudge
#
# Three questions. Which piece of the app sees every request come in and every answer go out?
# Where can it leave the request's id so that a log call deep in an endpoint finds it, and
# finds *its own* request's id when a hundred are in flight? And which object turns a log
# record into a line, for the shop's loggers and for uvicorn's?

# %% [markdown] tags=["hint"]
# ### Hint 2: the concept
#
# - **A context variable** (`contextvars.ContextVar`) holds one value per task: uvicorn serves
#   each request in a task of its own, so a value set for a request is what every log call of
#   that request reads, however the requests interleave. A module-level variable is one value
#   for all of them.
# - **A pure ASGI middleware** (a class with `async def __call__(self, scope, receive, send)`)
#   wraps the whole request, answer included: it can set the variable, add a header to the
#   `http.response.start` message, and reset the variable only after the answer has been sent.
#   `@app.middleware("http")` (`BaseHTTPMiddleware`) returns a response object that Starlette
#   sends *after* your function has returned.
# - **A `logging.Formatter`** decides what a line looks like: one that writes `json.dumps` of
#   the record's fields, on the one handler every logger ends at (uvicorn's loggers have their
#   own handlers: send them to yours).
# - **An incoming id** is a header anyone can send: accept it only when it looks like an id.
#
# Read: Starlette, [Pure ASGI Middleware](https://www.starlette.io/middleware/#pure-asgi-middleware)
# and the limitations of [BaseHTTPMiddleware](https://www.starlette.io/middleware/#basehttpmiddleware);
# Python, [contextvars](https://docs.python.org/3/library/contextvars.html) and the
# [Logging Cookbook](https://docs.python.org/3/howto/logging-cookbook.html).

# %% [markdown] tags=["hint"]
# ### Hint 3: a sketch
#
# ```python
# request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
#
# class JsonLines(logging.Formatter):
#     def format(self, record):
#         return json.dumps({"level": ..., "logger": ..., "message": record.getMessage(),
#                            "request_id": request_id.get()})
#
# # one StreamHandler with that formatter on the root logger (basicConfig(..., force=True)),
# # and uvicorn's loggers ("uvicorn", "uvicorn.error", "uvicorn.access") sent to it
#
# class RequestId:
#     def __init__(self, app): self.app = app
#     async def __call__(self, scope, receive, send):
#         ...  # non-http scopes pass straight through
#         rid = <the incoming X-Request-ID if it looks like an id, else uuid.uuid4().hex>
#         async def send_with_id(message):
#             ...  # on "http.response.start", add the X-Request-ID header (MutableHeaders)
#             await send(message)
#         token = request_id.set(rid)
#         try:
#             await self.app(scope, receive, send_with_id)
#         finally:
#             request_id.reset(token)
#
# app.add_middleware(RequestId)
# ```

# %% [markdown]
# ## The walkthrough

# %% [markdown] tags=["walkthrough"]
# ### The fix, step by step
#
# 1. **One id per request, in a context variable.** uvicorn runs each request in an asyncio
#    task of its own, and each task has its own copy of the context. A `ContextVar` set in the
#    middleware is what every log call made by that request reads, in the endpoint, in its
#    dependencies, in the thread pool (Starlette copies the context into the thread). Another
#    request, interleaved on the same event loop, reads its own value.
# 2. **A pure ASGI middleware around the whole exchange.** The class wraps `send`, so it adds
#    `X-Request-ID` to the `http.response.start` message, and it keeps the variable set until
#    the app has sent the answer. uvicorn writes its access line while the answer starts, inside
#    that call, so the access line carries the id too.
# 3. **JSON lines, one handler.** A formatter writes each record as one JSON object with the
#    fields the platform indexes. `basicConfig(..., force=True)` puts that handler on the root
#    logger; uvicorn set its own handlers before it imported the app, so its loggers are sent to
#    the root (or given the same handler).
# 4. **Keep a sane incoming id, replace anything else.** The load balancer's id lets one
#    request be followed through every system it passed. But the header comes from outside:
#    accept a bounded length and a plain alphabet, or a UUID, and make a fresh id otherwise.
# 5. **Never log credentials.** Method, path, status and id identify a request; headers such as
#    `Authorization` and `Cookie` are keys to a customer's account.
#
# **Why not a module variable?** It is one value for the process. Requests take turns on the
# event loop at every `await`, so the line written after an `await` carries the id of whichever
# request set the variable last.
#
# **Why not `@app.middleware("http")` with `try/finally: reset`?** A `BaseHTTPMiddleware`'s
# function returns a response object, and Starlette sends it after the function has returned:
# by then `finally` has reset the variable, and uvicorn's access line, written as the answer
# starts, has no id. The same middleware without the reset passes here (the variable dies with
# the request's task), but it works by accident of where Starlette happens to send from; the
# pure ASGI middleware says what it means. Starlette's documentation lists `BaseHTTPMiddleware`'s
# limitations, context variables among them.
#
# **Why not the id in a text format?** People can read it, but the platform indexes fields: a
# line of text is one opaque message to it, and the request's lines cannot be filtered by id.
#
# The container's command is unchanged:
#
# ```dockerfile
# CMD ["uvicorn", "shop:app", "--host", "0.0.0.0", "--port", "8000"]
# ```
# (uvicorn's `--log-config` option takes a logging configuration file: another place to set up
# the same handler, outside the code.)
#
# Read more: Starlette, [Middleware](https://www.starlette.io/middleware/); Python,
# [contextvars](https://docs.python.org/3/library/contextvars.html),
# [Logging Cookbook](https://docs.python.org/3/howto/logging-cookbook.html); OWASP,
# [Logging Cheat Sheet](https://cheatsheetseries.owasp.org/cheatsheets/Logging_Cheat_Sheet.html).
#
# ### What to remember
# - Per-request values live in a `ContextVar`, never in a module variable.
# - Write request-id middleware as pure ASGI: it wraps the answer too.
# - One JSON object per line, with the request id, from every logger, the server's included.
# - Accept an incoming id only if it looks like one; never log credentials.
