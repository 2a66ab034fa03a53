# %% [markdown]
# # Errors that leak nothing
#
# **The story.** The shop's front end and its iOS app show every error the same way, from one
# *envelope*: `{"error": {"code": 404, "message": "Book not found"}}`. For a failure of the server
# itself the envelope says only that, plus an incident id the customer can quote to support:
# `{"error": {"code": 500, "message": "Internal server error", "incident": "..."}}`. Support then
# finds the incident in the server's log, with everything that went wrong.
#
# That is the contract. The API keeps it for errors its routes raise, and for nothing else. A
# customer who followed an old link got `{"detail": "Not Found"}` and the app showed a blank page.
# A validation error comes back as FastAPI's own `{"detail": [...]}`. And this morning, while the
# warehouse was unreachable, the stock page answered with a full Python traceback, which ended with
# the warehouse's URL *and the shop's access token in it*. The API runs with `debug=True` "so that
# we see what went wrong", and its catch-all handler answers `str(exc)` "so that support has
# something to go on".
#
# **You will learn**
# - which exceptions FastAPI's `HTTPException` handler never sees (Starlette raises its own 404
#   and 405);
# - what `debug=True` does to your 500 handler, and what `str(exc)` can contain;
# - how to answer every error in one envelope, with the detail in the log and only an incident id
#   in the answer.
#
# Run the cells from the top (**Run → Run All Cells**), read the evidence, then make the check pass.

# %% [markdown]
# ## The threat model
#
# **OWASP API8:2023, Security Misconfiguration** (error handling that leaks: stack traces, internal
# messages, debug mode in production). The attacker is anyone who can make the API fail: an odd
# parameter, a request at a bad moment, a dependency that is down. What they gain from a traceback
# or an exception's message: file paths, library versions, SQL, internal host names, and sometimes,
# as here, credentials. Each is a map, or a key, for the next attack.

# %% tags=["setup"]
from checks import setup_notebook

setup_notebook()

# %% [markdown]
# ## The bookshop around the problem
#
# `envelope` builds the one error shape the clients understand. `Warehouse` is the client of the
# warehouse's stock service; its address carries the shop's access token (in production it comes
# from the settings), and this week every call fails, as a real HTTP client fails when the service
# is unreachable: with the URL in its message. `logger` is the shop's error log: what it records
# stays on the server, where support reads it. `lifespan` is the shop's own, from "The engine
# belongs to the lifespan".

# %%
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from bookshop.db import lifespan
from bookshop.models import Book
from bookshop.schemas import BookIn, BookOut

logger = logging.getLogger("bookshop.errors")


def envelope(code: int, message: str, *, headers: dict[str, str] | None = None, **extra) -> JSONResponse:
    """The one shape of every error answer: {"error": {"code": ..., "message": ..., ...}}."""
    return JSONResponse({"error": {"code": code, "message": message, **extra}}, status_code=code, headers=headers)


class WarehouseError(Exception):
    pass


class Warehouse:
    def __init__(self, url: str):
        self.url = url

    async def stock(self, isbn: str) -> int:
        raise WarehouseError(f"GET {self.url}/stock/{isbn} failed: connection refused")


WAREHOUSE_URL = "https://bookshop:wh_live_8FqT2xR4@warehouse.internal:8443/api"


def get_warehouse() -> Warehouse:
    return Warehouse(WAREHOUSE_URL)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.state.sessionmaker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]

# %% [markdown]
# ## The code under review
#
# This is the cell you will change. Read it first: which exceptions does each handler catch, which
# errors never reach either of them, and what does `debug=True` change?

# %% tags=["kata", "starter"]
app = FastAPI(lifespan=lifespan, debug=True)  # "so that we see what went wrong"


@app.exception_handler(HTTPException)
async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
    return envelope(exc.status_code, str(exc.detail), headers=exc.headers)


@app.exception_handler(Exception)
async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    return envelope(500, str(exc))  # "so that support has something to go on"

# %% tags=["kata", "solution"]
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

app = FastAPI(lifespan=lifespan)  # debug off: no traceback ever leaves the server


@app.exception_handler(StarletteHTTPException)
async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    # Starlette's own 404 and 405 come here, and FastAPI's HTTPException, a subclass, too.
    # exc.headers keeps what the error needs (Allow on a 405, WWW-Authenticate on a 401).
    return envelope(exc.status_code, str(exc.detail), headers=exc.headers)


@app.exception_handler(RequestValidationError)
async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    # Where and what, not the input itself: it may be a password.
    fields = [{"location": list(error["loc"]), "problem": error["msg"]} for error in exc.errors()]
    return envelope(422, "The request is not valid", fields=fields)


@app.exception_handler(Exception)
async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    incident = uuid.uuid4().hex
    # Everything goes to the log, with the traceback; the answer carries only the id to find it.
    logger.error("incident %s: %s %s failed", incident, request.method, request.url.path, exc_info=exc)
    return envelope(500, "Internal server error", incident=incident)

# %% tags=["kata", "decoy:fastapi-httpexception-only"]
# "Debug off, a generic 500 with an id in the log, validation errors in the envelope: done." All
# true, and the handler for HTTPException still sees only FastAPI's own: the 404 for an unknown path
# and the 405 for a wrong method are raised by Starlette's router, as Starlette's HTTPException.
from fastapi.exceptions import RequestValidationError

app = FastAPI(lifespan=lifespan)


@app.exception_handler(HTTPException)
async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
    return envelope(exc.status_code, str(exc.detail), headers=exc.headers)


@app.exception_handler(RequestValidationError)
async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    fields = [{"location": list(error["loc"]), "problem": error["msg"]} for error in exc.errors()]
    return envelope(422, "The request is not valid", fields=fields)


@app.exception_handler(Exception)
async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    incident = uuid.uuid4().hex
    logger.error("incident %s: %s %s failed", incident, request.method, request.url.path, exc_info=exc)
    return envelope(500, "Internal server error", incident=incident)

# %% tags=["kata", "decoy:debug-left-on"]
# "Every handler is right now; debug stays on, it only adds detail for us." With debug=True,
# Starlette answers every unexpected error with its traceback page and never calls the 500 handler:
# no envelope, no incident id, nothing in the log, and the token in the answer.
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

app = FastAPI(lifespan=lifespan, debug=True)


@app.exception_handler(StarletteHTTPException)
async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    return envelope(exc.status_code, str(exc.detail), headers=exc.headers)


@app.exception_handler(RequestValidationError)
async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    fields = [{"location": list(error["loc"]), "problem": error["msg"]} for error in exc.errors()]
    return envelope(422, "The request is not valid", fields=fields)


@app.exception_handler(Exception)
async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    incident = uuid.uuid4().hex
    logger.error("incident %s: %s %s failed", incident, request.method, request.url.path, exc_info=exc)
    return envelope(500, "Internal server error", incident=incident)

# %% tags=["kata", "decoy:catch-all-middleware"]
# "A middleware that catches everything, so no traceback can get out." It catches everything, and
# answers with the exception's message: the token is in the envelope now instead of a traceback.
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

app = FastAPI(lifespan=lifespan)


@app.middleware("http")
async def catch_everything(request: Request, call_next):
    try:
        return await call_next(request)
    except Exception as exc:
        return envelope(500, f"{type(exc).__name__}: {exc}")


@app.exception_handler(StarletteHTTPException)
async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    return envelope(exc.status_code, str(exc.detail), headers=exc.headers)


@app.exception_handler(RequestValidationError)
async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    fields = [{"location": list(error["loc"]), "problem": error["msg"]} for error in exc.errors()]
    return envelope(422, "The request is not valid", fields=fields)

# %% tags=["kata", "decoy:id-without-a-log"]
# "A generic message and an incident id: nothing leaks." Nothing leaks, and nothing is kept: the id
# the customer quotes to support leads nowhere, since no log line carries it or the error.
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

app = FastAPI(lifespan=lifespan)


@app.exception_handler(StarletteHTTPException)
async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    return envelope(exc.status_code, str(exc.detail), headers=exc.headers)


@app.exception_handler(RequestValidationError)
async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    fields = [{"location": list(error["loc"]), "problem": error["msg"]} for error in exc.errors()]
    return envelope(422, "The request is not valid", fields=fields)


@app.exception_handler(Exception)
async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    return envelope(500, "Internal server error", incident=uuid.uuid4().hex)

# %% tags=["kata", "decoy:headers-dropped"]
# "An error is its status and its message." The envelope is right everywhere, but the headers the
# error carried are gone: a 405 no longer says which methods the path allows.
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

app = FastAPI(lifespan=lifespan)


@app.exception_handler(StarletteHTTPException)
async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    return envelope(exc.status_code, str(exc.detail))


@app.exception_handler(RequestValidationError)
async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    fields = [{"location": list(error["loc"]), "problem": error["msg"]} for error in exc.errors()]
    return envelope(422, "The request is not valid", fields=fields)


@app.exception_handler(Exception)
async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    incident = uuid.uuid4().hex
    logger.error("incident %s: %s %s failed", incident, request.method, request.url.path, exc_info=exc)
    return envelope(500, "Internal server error", incident=incident)

# %% tags=["kata", "alternative:middleware-for-the-unexpected"]
# Unexpected errors caught by a middleware instead of a handler: it logs them with an id and
# answers the generic envelope. HTTP and validation errors still go to their handlers, as they never
# reach a middleware as exceptions.
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

app = FastAPI(lifespan=lifespan)


@app.middleware("http")
async def incidents(request: Request, call_next):
    try:
        return await call_next(request)
    except Exception:
        incident = str(uuid.uuid4())
        logger.exception("incident %s on %s %s", incident, request.method, request.url.path)
        return envelope(500, "Internal server error", incident=incident)


@app.exception_handler(StarletteHTTPException)
async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    return envelope(exc.status_code, str(exc.detail), headers=exc.headers)


@app.exception_handler(RequestValidationError)
async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    return envelope(422, "The request is not valid", fields=[error["msg"] for error in exc.errors()])

# %% tags=["kata", "alternative:one-handler-for-every-status"]
# One handler for every HTTP status and the validation errors, dispatching on the exception; the
# incident logged with logger.exception from inside the handler (the exception being handled is
# the one logged).
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

app = FastAPI(lifespan=lifespan)


async def client_error(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, RequestValidationError):
        return envelope(422, "The request is not valid", count=len(exc.errors()))
    return envelope(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))


app.add_exception_handler(StarletteHTTPException, client_error)
app.add_exception_handler(RequestValidationError, client_error)


@app.exception_handler(Exception)
async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    incident = f"inc-{uuid.uuid4().hex[:12]}"
    logger.error("%s %s failed, incident %s: %r", request.method, request.url.path, incident, exc)
    return envelope(500, "Internal server error", incident=incident)

# %% [markdown]
# The routes raise their own errors, and the stock page asks the warehouse: they stay as they are.
# Run this cell again whenever you run the kata cell, since the kata cell makes a new `app`.

# %%
WarehouseDep = Annotated[Warehouse, Depends(get_warehouse)]


@app.get("/books/{book_id}")
async def read_book(book_id: int, session: SessionDep) -> BookOut:
    book = await session.get(Book, book_id)
    if book is None:
        raise HTTPException(status_code=404, detail="Book not found")
    return BookOut.model_validate(book)


@app.post("/books", status_code=201)
async def create_book(book: BookIn, session: SessionDep) -> BookOut:
    row = Book(**book.model_dump())
    session.add(row)
    await session.commit()
    return BookOut.model_validate(row)


@app.get("/books/{book_id}/stock")
async def warehouse_stock(book_id: int, session: SessionDep, warehouse: WarehouseDep) -> dict:
    book = await session.get(Book, book_id)
    if book is None:
        raise HTTPException(status_code=404, detail="Book not found")
    return {"book_id": book_id, "in_warehouse": await warehouse.stock(book.isbn)}

# %% [markdown]
# ## The evidence
#
# The next cell makes each kind of error happen once, as a client would: a book that does not
# exist, a path that does not exist, a method the path does not allow, a body that is not a book,
# and the stock page while the warehouse is unreachable. It prints each answer as the client gets
# it, then what the server logged meanwhile (warnings and errors).

# %% tags=["evidence"]
from bookshop.client import describe, shop_client


class ServerLog(logging.Handler):
    """Keeps every warning and error logged meanwhile, with the exception it carries."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.lines = []

    def emit(self, record):
        error = record.exc_info[1] if record.exc_info else None
        self.lines.append(f"{record.levelname} {record.getMessage()}"
                          + (f"\n      with {type(error).__name__}: {error}" if error else ""))


CASES = [
    ("GET", "/books/999", None),
    ("GET", "/bookz", None),
    ("DELETE", "/books/3", None),
    ("POST", "/books", {"title": ""}),
    ("GET", "/books/3/stock", None),
]

server_log = ServerLog()
logging.getLogger().addHandler(server_log)
try:
    with shop_client(app) as client:
        for method, path, body in CASES:
            response = client.request(method, path, json=body)
            allow = f" (Allow: {response.headers['allow']})" if "allow" in response.headers else ""
            print(f"{method + ' ' + path:<20} -> {describe(response, 120)}{allow}")
            lines = response.text.strip().splitlines()
            if len(lines) > 1:
                print(f"{'':<24}... {len(lines)} lines, the last one: {lines[-1].strip()[:120]}")
        raised = [type(error).__name__ for error in client.server_errors]
finally:
    logging.getLogger().removeHandler(server_log)
print(f"\nraised on to the server after the answer was sent: {raised or 'nothing'}")
print("the server's log:")
for line in server_log.lines or ["(nothing)"]:
    print(f"  {line[:220]}")

# %% [markdown]
# With the starter, the route's own 404 is in the envelope, and nothing else is. The unknown path
# and the wrong method get Starlette's `{"detail": ...}`; the invalid book gets FastAPI's list of
# errors; and the warehouse failure gets `debug=True`'s traceback, as plain text, ending with the
# warehouse URL and its token. The log is empty: support has nothing. Turning debug off would not be
# enough: the catch-all handler would then answer `str(exc)`, the same URL and token, in an envelope.
#
# ## The check
#
# The check is a set of attacks: it makes each kind of error happen, with a warehouse whose failure
# carries a secret of the check's own, and reads what a client sees and what the log keeps. Fix
# the kata cell, run it again (and the cell under it), then re-run this cell until every test
# passes.

# %% tags=["check"]
%%ipytest
from checks.error_envelope import *

# %% [markdown]
# ## Hints
#
# Stuck? Each click opens one more level: a nudge, then the concept, then a sketch of
# the code. In a terminal, `kata hint error-envelope` opens the same levels.

# %% [markdown] tags=["hint"]
# ### Hint 1: a nudge
#
# Follow each error of the evidence to the code that answered it. Who raised the 404 for the
# unknown path: your route, or Starlette's router, and with which exception class? Who answered the
# warehouse failure: your catch-all handler, or something `debug=True` switched on? And once your
# handler does answer it, what should stay on the server, and what may go to the client?

# %% [markdown] tags=["hint"]
# ### Hint 2: the concept
#
# Exception handlers are looked up by the class of the exception. Starlette's router raises
# `starlette.exceptions.HTTPException` for 404 and 405; FastAPI's `HTTPException` is a subclass of
# it, so a handler registered for Starlette's class catches both, and one registered for FastAPI's
# misses the router's. Validation errors are a class of their own, `RequestValidationError`. A
# handler for `Exception` is the 500 handler, and Starlette calls it only when `debug` is off. In
# it, log the exception (with its traceback) under a fresh incident id, and answer the generic
# envelope with that id.
#
# Read: FastAPI, [Handling Errors](https://fastapi.tiangolo.com/tutorial/handling-errors/) (the
# sections on Starlette's HTTPException and on overriding the validation handler); Starlette,
# [Exceptions](https://www.starlette.io/exceptions/); Python,
# [logging: exc_info](https://docs.python.org/3/library/logging.html#logging.Logger.debug).

# %% [markdown] tags=["hint"]
# ### Hint 3: a sketch
#
# ```python
# from fastapi.exceptions import RequestValidationError
# from starlette.exceptions import HTTPException as StarletteHTTPException
#
# app = FastAPI(lifespan=lifespan)  # no debug
#
# @app.exception_handler(StarletteHTTPException)
# async def http_error(request, exc):
#     return envelope(exc.status_code, str(exc.detail), headers=exc.headers)
#
# @app.exception_handler(RequestValidationError)
# async def invalid_request(request, exc):
#     return envelope(422, "The request is not valid", fields=[...])  # where and what, not the input
#
# @app.exception_handler(Exception)
# async def unexpected_error(request, exc):
#     incident = uuid.uuid4().hex
#     logger.error("incident %s: ...", incident, exc_info=exc)
#     return envelope(500, "Internal server error", incident=incident)
# ```

# %% [markdown]
# ## The walkthrough

# %% [markdown] tags=["walkthrough"]
# ### The fix, step by step
#
# 1. **Debug off.** `FastAPI(debug=True)` tells Starlette's outermost error middleware to answer
#    any unexpected exception with a traceback page and to skip your `Exception` handler. The traceback shows file paths, code, and every argument
#    the message carries. Debug belongs on a developer's machine, never in a deploy.
# 2. **Handle Starlette's HTTPException.** The router raises `starlette.exceptions.HTTPException`
#    for an unknown path (404) and a wrong method (405, with an `Allow` header). FastAPI's
#    `HTTPException` subclasses it, so one handler for Starlette's class answers both in the
#    envelope. Pass `exc.headers` on: `Allow`, `WWW-Authenticate` and `Retry-After` are part of
#    the answer.
# 3. **Handle validation errors.** `RequestValidationError` has its own handler (FastAPI installs
#    one that answers `{"detail": [...]}`); replace it with one that answers the envelope. Say where
#    and what is wrong; leave out the `input` FastAPI's default echoes back, which may be a
#    password.
# 4. **One generic 500, and the detail in the log.** The `Exception` handler makes a fresh incident
#    id, logs the exception with its traceback under that id (`exc_info=exc`, or
#    `logger.exception(...)`), and answers `{"code": 500, "message": "Internal server error",
#    "incident": ...}`. The customer quotes the id; support finds the line. Starlette still
#    re-raises the exception after your answer has gone (the evidence shows it reach the server),
#    so a server such as uvicorn logs it as well, without your incident id.
#
# Why not a handler for FastAPI's `HTTPException` only? It catches what your routes raise, and
# misses the router's own 404 and 405. Why not leave `debug=True` on "since the handlers are
# right"? Debug bypasses the `Exception` handler altogether. Why not a middleware that catches
# everything and answers `str(exc)`? A message is written for developers: it carries URLs, SQL,
# file names and here a token. A middleware is fine for the 500 (see the alternative) as long as
# it answers the generic envelope and logs the rest. And why log at all, if the answer is generic?
# Without the log, the incident id leads nowhere: the leak is closed, and so is the only way to
# find out what broke.
#
# Read more: FastAPI, [Handling Errors](https://fastapi.tiangolo.com/tutorial/handling-errors/);
# Starlette, [Exceptions](https://www.starlette.io/exceptions/) and
# [Applications: debug](https://www.starlette.io/applications/); OWASP,
# [API8:2023 Security Misconfiguration](https://owasp.org/API-Security/editions/2023/en/0xa8-security-misconfiguration/)
# and the [Error Handling Cheat Sheet](https://cheatsheetseries.owasp.org/cheatsheets/Error_Handling_Cheat_Sheet.html).
#
# ### What to remember
# - Never `debug=True` outside a developer's machine: it answers with tracebacks and skips your
#   500 handler.
# - Register the HTTP error handler for `starlette.exceptions.HTTPException`, keep `exc.headers`,
#   and handle `RequestValidationError` too: then every error has one shape.
# - A 500 answers a generic message and an incident id; the exception, its traceback and the id go
#   to the log. Never `str(exc)` to a client.
