"""Check: every kind of error, made to happen, answers the shop's envelope. An unexpected error
whose message carries a secret answers neither the secret nor a traceback, but a generic envelope
with an incident id, and the log keeps the error under that id. Unknown paths (404), wrong
methods (405, with their Allow header) and invalid bodies (422) get the envelope too."""

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from bookshop.client import open_client
from checks.feedback import expect, fail
from checks.harness import brief, json_of, learner

__all__ = [
    "test_an_unexpected_error_answers_neither_its_secret_nor_a_traceback",
    "test_an_unexpected_error_answers_the_envelope_with_an_incident_id",
    "test_the_log_keeps_the_error_under_the_incident_id_of_the_answer",
    "test_an_unknown_path_answers_the_envelope",
    "test_a_wrong_method_answers_the_envelope_and_keeps_its_allow_header",
    "test_an_invalid_body_answers_the_envelope",
    "test_the_routes_own_answers_are_unchanged",
]

SECRET = "wh_live_K3ckS3cr3t9"  # the check's own token: a learner's code cannot know it
FAILURE = f"GET https://bookshop:{SECRET}@warehouse.internal:8443/api/stock/9780441172719 failed: connection refused"
TRACEBACK_SIGNS = ("Traceback (most recent call last)", 'File "', "traceback")

HANDLER_CONCEPT = ("Exception handlers are looked up by the exception's class. Starlette's router "
                   "raises starlette.exceptions.HTTPException for 404 and 405; FastAPI's HTTPException "
                   "subclasses it; validation errors are RequestValidationError. FastAPI docs: "
                   "'Handling Errors'.")
INCIDENT_CONCEPT = ("A 500 answers a generic message and a fresh incident id; the exception, with its "
                    "traceback, goes to the log under that id. The Exception handler runs only when "
                    "debug is off. FastAPI docs: 'Handling Errors'; OWASP: 'Error Handling Cheat Sheet'.")


class _FailingWarehouse:
    """Stands in for the warehouse client: unreachable, with the URL (and its token) in the message."""

    async def stock(self, isbn: str) -> int:
        raise ConnectionError(FAILURE)


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # noqa: BLE001 - a message whose arguments do not fit its format
            text = str(record.msg)
        if record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        elif record.exc_text:
            text += "\n" + record.exc_text
        self.texts.append(text)


@contextmanager
def _server_log() -> Iterator[list[str]]:
    """Every warning or error logged meanwhile, by any logger that reaches the root, with its traceback."""
    handler = _Records()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler.texts
    finally:
        root.removeHandler(handler)


async def _stock_page(ns):
    """GET /books/3/stock with a warehouse that fails: the answer, and what the server logged."""
    app = learner(ns, "app")
    dependency = learner(ns, "get_warehouse")
    app.dependency_overrides[dependency] = _FailingWarehouse  # undone by the harness after the test
    with _server_log() as log:
        async with open_client(app) as client:
            response = await client.get("/books/3/stock")
    return response, log


def _error(response) -> dict | None:
    body = json_of(response)
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else None


def _is_envelope(response, code: int) -> bool:
    error = _error(response)
    return (error is not None and error.get("code") == code and isinstance(error.get("message"), str)
            and bool(error.get("message")) and set(json_of(response)) == {"error"})


ENVELOPE = '{"error": {"code": <the status>, "message": <text>}}'


def _is_traceback(response) -> bool:
    return any(sign in response.text for sign in TRACEBACK_SIGNS)


def _quote(response, limit: int = 160) -> str:
    """The answer as a finding quotes it; a traceback page by its size and its last line only."""
    if _is_traceback(response):
        lines = response.text.strip().splitlines()
        return (f"{response.status_code} with a Python traceback of {len(lines)} lines "
                f"({response.headers.get('content-type', 'no content type')}), ending: {lines[-1].strip()[:limit]}")
    return brief(response, limit)


@pytest.mark.anyio
async def test_an_unexpected_error_answers_neither_its_secret_nor_a_traceback(kata_ns, shop_db):
    response, _ = await _stock_page(kata_ns)
    text = response.text
    if _is_traceback(response):
        fail(
            f"While the warehouse was unreachable, GET /books/3/stock answered {_quote(response)}"
            + (". That is the warehouse's URL with its access token." if SECRET in text else "."),
            "A traceback maps the server for an attacker: file paths, code, library versions, and "
            "every value the failing call's message carries (here a URL with the shop's token). "
            "Anyone who can make the API fail reads it.",
            nudge="Which setting of the app answers an unexpected error with a traceback, whatever "
                  "handler you register?",
            concept=INCIDENT_CONCEPT,
        )
    expect(
        SECRET not in text and "warehouse.internal" not in text,
        f"While the warehouse was unreachable, GET /books/3/stock answered {_quote(response, 200)}: "
        "the exception's message, with the warehouse's internal address and the shop's access token.",
        "An exception's message is written for developers: URLs with credentials, SQL, file names, "
        "host names. Sent to a client, it hands the warehouse's token to whoever made the request "
        "fail.",
        nudge="What does the client need to know about a failure of the server, and what does only "
              "support need?",
        concept=INCIDENT_CONCEPT,
    )


@pytest.mark.anyio
async def test_an_unexpected_error_answers_the_envelope_with_an_incident_id(kata_ns, shop_db):
    response, _ = await _stock_page(kata_ns)
    error = _error(response)
    incident = error.get("incident") if error else None
    expect(
        response.status_code == 500 and _is_envelope(response, 500),
        f"While the warehouse was unreachable, GET /books/3/stock answered {_quote(response)}, "
        f"not the envelope {ENVELOPE} with code 500.",
        "The front end and the app read every error from the envelope; anything else shows as a "
        "blank page, and the customer cannot report it.",
        nudge="Does the 500 go through your catch-all handler, and what does that handler answer?",
        concept=INCIDENT_CONCEPT,
    )
    expect(
        isinstance(incident, (str, int)) and not isinstance(incident, bool) and str(incident).strip(),
        f"While the warehouse was unreachable, GET /books/3/stock answered {_quote(response)}: "
        "no incident id in the envelope.",
        "Without an id, the customer can only say 'it failed at about ten'; with one, support finds "
        "the exact log line.",
        nudge="What could the customer quote to support so that support finds this failure in the log?",
        concept=INCIDENT_CONCEPT,
    )
    again, _ = await _stock_page(kata_ns)
    second = (_error(again) or {}).get("incident")
    expect(
        second != incident,
        f"Two failures answered the same incident id, {incident!r}.",
        "Each failure is its own incident: one id for all of them finds nothing in the log.",
        nudge="Is the id made fresh for each failure?",
    )


@pytest.mark.anyio
async def test_the_log_keeps_the_error_under_the_incident_id_of_the_answer(kata_ns, shop_db):
    response, log = await _stock_page(kata_ns)
    incident = (_error(response) or {}).get("incident")
    if incident is None or isinstance(incident, bool) or not str(incident).strip():
        fail(
            f"While the warehouse was unreachable, GET /books/3/stock answered {_quote(response)}, "
            "with no incident id to look up in the log.",
            "Support needs a way from the customer's report to the log line: the id in the answer.",
            nudge="What could the customer quote to support so that support finds this failure in the log?",
            concept=INCIDENT_CONCEPT,
        )
    with_id = [text for text in log if str(incident) in text]
    shown = f" The log had: {' | '.join(' '.join(t.split())[:120] for t in log[:3])}." if log else " Nothing was logged."
    expect(
        with_id,
        f"The 500 answered incident {incident!r}, and no warning or error logged meanwhile mentions "
        f"it.{shown}",
        "The incident id leads support to the failure only if the log records it: otherwise the leak "
        "is closed, and so is the only way to find out what broke.",
        nudge="Where does the detail you no longer send to the client go, and is the id with it?",
        concept=INCIDENT_CONCEPT,
    )
    expect(
        any("connection refused" in text or "ConnectionError" in text for text in with_id),
        f"The log line with incident {incident!r} does not say what failed: "
        f"{' '.join(with_id[0].split())[:200]}",
        "Support reads the log to learn what broke: the exception, its message and its traceback "
        "belong there, next to the id.",
        nudge="Does the log line carry the exception itself, or only the id?",
        concept=INCIDENT_CONCEPT,
    )


@pytest.mark.anyio
async def test_an_unknown_path_answers_the_envelope(kata_ns, shop_db):
    async with open_client(learner(kata_ns, "app")) as client:
        response = await client.get("/bookz/3")
    expect(
        response.status_code == 404 and _is_envelope(response, 404),
        f"GET /bookz/3, a path the API does not have, answered {brief(response)}, not the envelope "
        f"{ENVELOPE} with code 404.",
        "Old links, typos and retired endpoints all end here: the front end shows a blank page "
        "instead of 'not found', and monitoring counts them as a different kind of error.",
        nudge="Who raises the 404 for a path no route matches, and which class is that exception?",
        concept=HANDLER_CONCEPT,
    )


@pytest.mark.anyio
async def test_a_wrong_method_answers_the_envelope_and_keeps_its_allow_header(kata_ns, shop_db):
    async with open_client(learner(kata_ns, "app")) as client:
        response = await client.delete("/books/3")
    expect(
        response.status_code == 405 and _is_envelope(response, 405),
        f"DELETE /books/3, a method that path does not allow, answered {brief(response)}, not the "
        f"envelope {ENVELOPE} with code 405.",
        "Every error the clients can meet must have the one shape they read.",
        nudge="Who raises the 405 for a path that exists with another method, and which class is "
              "that exception?",
        concept=HANDLER_CONCEPT,
    )
    allow = {method.strip().upper() for method in response.headers.get("allow", "").split(",") if method.strip()}
    expect(
        "GET" in allow,
        f"DELETE /books/3 answered 405 in the envelope, with "
        f"{'Allow: ' + response.headers['allow'] if 'allow' in response.headers else 'no Allow header'}.",
        "A 405 must say which methods the path allows (HTTP requires the Allow header): clients and "
        "tools read it. The error carried that header; the answer dropped it.",
        nudge="What else does the exception carry besides its status and its detail?",
        concept=HANDLER_CONCEPT,
    )


@pytest.mark.anyio
async def test_an_invalid_body_answers_the_envelope(kata_ns, shop_db):
    async with open_client(learner(kata_ns, "app")) as client:
        response = await client.post("/books", json={"title": ""})
    error = _error(response)
    expect(
        response.status_code == 422 and error is not None and error.get("code") == 422
        and isinstance(error.get("message"), str) and bool(error.get("message")),
        f"POST /books with a body that is not a book answered {brief(response, 160)}, not the "
        f"envelope {ENVELOPE} with code 422.",
        "Forms are where customers meet errors most: the front end must read them like every other.",
        nudge="Which exception does FastAPI raise for a request that fails validation, and which "
              "handler answers it now?",
        concept=HANDLER_CONCEPT,
    )


@pytest.mark.anyio
async def test_the_routes_own_answers_are_unchanged(kata_ns, shop_db):
    book = {"isbn": "9780441013593", "title": "Dune", "author_id": 2, "price_cents": 1099}
    async with open_client(learner(kata_ns, "app")) as client:
        missing = await client.get("/books/999")
        found = await client.get("/books/3")
        created = await client.post("/books", json={**book, "isbn": "9780000000017", "title": "Chapterhouse"})
    expect(
        missing.status_code == 404 and _is_envelope(missing, 404) and (_error(missing) or {}).get("message") == "Book not found",
        f"GET /books/999 answered {brief(missing)}, not the envelope with code 404 and the route's "
        "message, 'Book not found'.",
        "The route's own errors keep their status and their message: the front end shows it.",
    )
    body = json_of(found)
    expect(
        found.status_code == 200 and isinstance(body, dict) and body.get("title") == "Dune",
        f"GET /books/3 answered {brief(found)}, not the book Dune.",
        "Answers that are not errors stay as they are.",
    )
    expect(
        created.status_code == 201,
        f"POST /books with a valid new book answered {brief(created)}, not 201.",
        "Valid requests must still succeed.",
    )
