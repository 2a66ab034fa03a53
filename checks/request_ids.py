"""Check: every response carries a request id, and every log line a request writes is one JSON object
that carries that id, across concurrent requests; an id the load balancer sent is kept when it is
safe, never when it is not; no credentials reach the log.

One server for the whole check: the notebook's app (``shop.py``) under uvicorn, as the container
runs it, with the price service in this process. The log is what the server writes to its
output, as a platform collects it. A line belongs to a request when it names the ISBN the request
asked for (the shop's own lines do; uvicorn's access line names the path): each test uses ISBNs
of its own. Three requests are held together at the price service, so their lines interleave.
"""

import contextlib
import json
import logging
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from bookshop import serving
from bookshop.observe import HeldAnswers
from bookshop.prices import PRICES_URL_ENV, price_service
from bookshop.serving import ServerFailed, free_port, launch, shop_module
from bookshop.upstream import serve
from checks.feedback import expect, fail
from checks.harness import brief

__all__ = [
    "kata_logged_shop",
    "kata_three_at_once",
    "test_every_response_says_which_request_it_answers",
    "test_the_log_is_one_json_object_per_line",
    "test_every_line_a_request_logs_carries_the_id_it_answered_with",
    "test_an_id_the_load_balancer_sent_is_kept",
    "test_an_id_unsafe_to_log_is_not_taken",
    "test_no_log_line_holds_a_customers_credentials",
]

TOGETHER = ["9780441172719", "9780807083697", "9781101947883"]  # Dune, Kindred, Exhalation
SENT_ID_ISBN = "9780060512750"  # The Dispossessed
LONG_ID_ISBN = "9780441478125"  # The Left Hand of Darkness
ODD_ID_ISBN = "9780446675505"  # Parable of the Sower
SIGNED_IN_ISBN = "9781101972120"  # Stories of Your Life and Others
HOLD_LIMIT = 2.0  # seconds: only an app that never sends three requests on together waits this out
HEADER = "X-Request-ID"

ID_CONCEPT = ("A context variable, set by a middleware for the request it serves, is seen by everything that "
              "request's task runs, and by nothing else; the logging setup reads it into every record. "
              "Starlette docs: 'Pure ASGI Middleware'; Python docs: 'contextvars'.")


class _Shop:
    def __init__(self, server=None, service=None, problem: tuple[str, str] | None = None):
        self.server, self.service, self.problem = server, service, problem


@pytest.fixture(scope="module")
def kata_logged_shop(request, tmp_path_factory):
    """The notebook's app under uvicorn, with the price service it asks."""
    ns = vars(request.module)
    if "app" not in ns:
        yield _Shop(problem=("The check needs `app`, but the notebook has no `app`.",
                             "Run every cell above the check; if you renamed `app`, give it its old name back."))
        return
    folder = tmp_path_factory.mktemp("request-ids")
    shop_module(ns, folder, kata="request-ids")
    service = price_service()
    # The check's own calls are no part of the shop's log: keep httpx quiet here, whatever the
    # notebook's logging setup (which ran in this process too) says.
    calls = logging.getLogger("httpx")
    level = calls.level
    calls.setLevel(logging.WARNING)
    with contextlib.ExitStack() as restore:
        restore.callback(calls.setLevel, level)
        yield from _serve_shop(folder, service)


def _serve_shop(folder, service):
    with serve(service) as prices:
        port = free_port()
        try:
            with launch(["uvicorn", "shop:app", "--host", "127.0.0.1", "--port", str(port)], folder=folder,
                        port=port, env={PRICES_URL_ENV: prices}) as server:
                yield _Shop(server, service)
        except ServerFailed as error:
            yield _Shop(problem=(f"The shop did not start: {error}",
                                 "A server that cannot import its app serves nobody."))


def _started(shop: _Shop) -> _Shop:
    if shop.problem:
        fail(*shop.problem)
    return shop


def _get(shop: _Shop, isbn: str, headers: dict | None = None) -> httpx.Response | httpx.HTTPError:
    try:
        with serving.client(timeout=httpx.Timeout(10.0)) as client:
            return client.get(f"{shop.server.url}/books/{isbn}/price", headers=headers or {})
    except httpx.HTTPError as error:
        return error


def _answered(response, isbn: str) -> httpx.Response:
    if not isinstance(response, httpx.Response):
        fail(f"GET /books/{isbn}/price got no answer ({type(response).__name__}: {response}).",
             "A shop that drops requests serves nobody.")
    expect(response.status_code == 200,
           f"GET /books/{isbn}/price answered {brief(response)}, not the book's price.",
           "The price lookup must keep working: the log is there to explain requests, not to replace them.")
    return response


def _lines(shop: _Shop, isbn: str) -> list[str]:
    """The log lines that name ``isbn``, once every request sent so far has written its lines."""
    # A request's lines are written before its answer is sent, or right after it, before the
    # server reads the next request on a connection of its own: this one settles every earlier one.
    try:
        with serving.client(timeout=httpx.Timeout(10.0)) as client:
            client.get(f"{shop.server.url}/openapi.json")
    except httpx.HTTPError:
        pass
    return [line for line in shop.server.logs().splitlines() if isbn in line]


def _quote(line: str, limit: int = 160) -> str:
    return line if len(line) <= limit else line[:limit - 1] + "…"


def _gist(line: str) -> str:
    """A line as a finding quotes it: for a JSON object, its logger, message and request_id."""
    try:
        record = json.loads(line)
    except ValueError:
        record = None
    if not isinstance(record, dict):
        return repr(_quote(line))
    message = next((str(record[k]) for k in ("message", "msg", "event") if k in record), "")
    logger = next((str(record[k]) for k in ("logger", "name", "logger_name") if k in record), "")
    rid = record.get("request_id", "(no request_id field)")
    return f"{logger + ': ' if logger else ''}{_quote(message, 90)!r}, request_id {rid!r}"


class _Burst:
    def __init__(self, responses: dict, lines: dict, held: bool):
        self.responses, self.lines, self.held = responses, lines, held


@pytest.fixture(scope="module")
def kata_three_at_once(kata_logged_shop):
    """Three price requests held together at the price service, then let go: their answers and
    the log lines each wrote."""
    shop = kata_logged_shop
    if shop.problem:
        return _Burst({}, {}, False)
    gate = HeldAnswers(isbns=set(TOGETHER))
    shop.service.state.meeting = gate
    try:
        with ThreadPoolExecutor(len(TOGETHER)) as pool, gate:
            futures = {isbn: pool.submit(_get, shop, isbn) for isbn in TOGETHER}
            for future in futures.values():
                future.add_done_callback(lambda _: gate.poke())
            held = gate.wait_for(len(TOGETHER), HOLD_LIMIT, unless=lambda: any(f.done() for f in futures.values()))
        responses = {isbn: future.result() for isbn, future in futures.items()}
    finally:
        shop.service.state.meeting = None
    return _Burst(responses, {isbn: _lines(shop, isbn) for isbn in TOGETHER}, held)


def _id_of(response: httpx.Response) -> str | None:
    return response.headers.get(HEADER) or None


def test_every_response_says_which_request_it_answers(kata_logged_shop, kata_three_at_once):
    _started(kata_logged_shop)
    ids = {}
    for isbn, response in kata_three_at_once.responses.items():
        ids[isbn] = _id_of(_answered(response, isbn))
        expect(ids[isbn],
               f"GET /books/{isbn}/price answered 200 with no {HEADER} header: nothing in the answer names the "
               "request, so nothing ties it to the server's log.",
               "When a customer or a client's developer reports a failed call, the id in the answer is what "
               "leads straight to that request's log lines; without one, support has a timestamp and a guess, "
               "among thousands of requests a minute.",
               nudge="Which piece of the app sees every request and every answer, and could give each one a "
                     "name the answer carries back?",
               concept="A request id: made (or taken from the load balancer) when the request comes in, sent back "
                       "in a response header, and written into every log line. Starlette docs: 'Middleware'.")
    expect(len(set(ids.values())) == len(ids),
           f"Three requests served at the same time answered with the {HEADER} values {sorted(ids.values())}: "
           "they are not all different.",
           "An id shared by several requests points at all of their lines at once: it names no request.",
           nudge="Where is the id made, and how many times?")


def _not_json(line: str) -> bool:
    try:
        return not isinstance(json.loads(line), dict)
    except ValueError:
        return True


def test_the_log_is_one_json_object_per_line(kata_logged_shop, kata_three_at_once):
    _started(kata_logged_shop)
    lines = [line for isbn in TOGETHER for line in kata_three_at_once.lines[isbn]]
    expect(lines, f"The three requests for {', '.join(TOGETHER)} wrote no log line that names the book they "
                  "asked for.",
           "The shop's own lines (asking the price service, the price it got) and the server's access line "
           "must still be written: the log is how a failure is explained afterwards.",
           nudge="Is every logger the request writes to still sending its lines to the output?")
    plain = [line for line in lines if _not_json(line)]
    expect(not plain,
           f"{len(plain)} of the {len(lines)} lines the three requests wrote are not JSON objects, e.g. "
           f"{_quote(plain[0]) if plain else ''!r}.",
           "The log platform reads one JSON object per line and indexes its fields, request_id first of all: "
           "a line of plain text is one opaque message it can only search as text, and a line that mixes "
           "free text with values cannot be filtered by request, level or logger.",
           nudge="Which object turns a log record into the text of a line, and for which loggers, the server's "
                 "own included?",
           concept="Structured logging: a logging.Formatter that writes each record as one JSON object (the "
                   "standard library's json, or the python-json-logger package), on the handler every logger "
                   "ends up at. Python docs: 'Logging Cookbook'.")
    without = [line for line in lines if "request_id" not in json.loads(line)]
    expect(not without,
           f"{len(without)} of the {len(lines)} JSON lines the three requests wrote have no request_id field, "
           f"e.g. {_quote(without[0]) if without else ''!r}.",
           "The log platform finds a request's lines by the request_id field: a line without it is invisible to "
           "that search.",
           nudge="Which field does the platform look for, and which lines lack it?")


def test_every_line_a_request_logs_carries_the_id_it_answered_with(kata_logged_shop, kata_three_at_once):
    _started(kata_logged_shop)
    burst = kata_three_at_once
    ids = {isbn: _id_of(_answered(response, isbn)) for isbn, response in burst.responses.items()}
    for isbn in TOGETHER:
        expect(ids[isbn],
               f"GET /books/{isbn}/price answered with no {HEADER} header, so none of its log lines can be found "
               "by the id the client was given.",
               "A log line is tied to its request only by an id both the line and the answer carry.",
               nudge="Which piece of the app sees every request and every answer?", concept=ID_CONCEPT)
        own = [line for line in burst.lines[isbn] if "asking the price service" in line or "price of" in line]
        expect(len(own) >= 2,
               f"GET /books/{isbn}/price wrote {len(own)} of the shop's two log lines about it (asking the price "
               f"service, the price it got); the lines that name it are: {[_quote(l, 100) for l in burst.lines[isbn]]}.",
               "The shop's own lines are what explains a request afterwards: they must still be written.",
               nudge="Is every line the endpoint logs still written, with its message?")
    others = {isbn: {rid for other, rid in ids.items() if other != isbn} for isbn in TOGETHER}
    wrong = [(isbn, line) for isbn in TOGETHER for line in burst.lines[isbn]
             if ids[isbn] not in line or any(rid in line for rid in others[isbn])]
    if wrong:
        isbn, line = wrong[0]
        carried = [other for other in TOGETHER if other != isbn and ids[other] in line]
        which = (f"the id of the request for {carried[0]}, {ids[carried[0]]}" if carried
                 else f"not {ids[isbn]}, the id that request answered with")
        fail(f"Three requests were served at the same time, held together at the price service. "
             f"{len(wrong)} of their log lines carry the wrong id or none, e.g. the request for {isbn} wrote "
             f"{_gist(line)}: {which}.",
             "Searching the log for the id a customer quotes must return exactly that request's lines: a line "
             "with another request's id sends the investigation after the wrong request, and a line with none "
             "is lost to it. Under load, requests are always interleaved like this.",
             nudge="Where does the formatter get the id from, and is that place the same for every request the "
                   "server is serving at that moment? Which lines are written after your code has finished with "
                   "the request?",
             concept=ID_CONCEPT + " A BaseHTTPMiddleware's dispatch has returned before the response is sent; a "
                                  "pure ASGI middleware is still running when it is.")


def test_an_id_the_load_balancer_sent_is_kept(kata_logged_shop):
    shop = _started(kata_logged_shop)
    sent = str(uuid.uuid4())
    response = _answered(_get(shop, SENT_ID_ISBN, {HEADER: sent}), SENT_ID_ISBN)
    returned = _id_of(response)
    lines = _lines(shop, SENT_ID_ISBN)
    expect(returned == sent and lines and all(sent in line for line in lines),
           f"The load balancer sent GET /books/{SENT_ID_ISBN}/price with '{HEADER}: {sent}'. The shop answered "
           f"with {HEADER} {returned!r}, and {sum(sent not in line for line in lines)} of the {len(lines)} log "
           "lines of that request do not carry the id it was sent.",
           "The load balancer (and the mobile app) log the same id on their side: kept, it follows one request "
           "across every system it passed through; replaced, the trail breaks at the shop's door.",
           nudge="Does the middleware look at what the request already carries before it makes an id?",
           concept="Accept an incoming request id when it is safe to log (a bounded length, a plain alphabet), and "
                   "make a new one otherwise.")


def test_an_id_unsafe_to_log_is_not_taken(kata_logged_shop):
    shop = _started(kata_logged_shop)
    for isbn, unsafe, what in (
        (LONG_ID_ISBN, "ab12" * 150, "600 characters long"),
        (ODD_ID_ISBN, 'x", "level": "CRITICAL", "message": "refund approved', "full of quotes and spaces"),
    ):
        response = _answered(_get(shop, isbn, {HEADER: unsafe}), isbn)
        lines = _lines(shop, isbn)
        kept = [line for line in lines if unsafe in line]
        expect(response.headers.get(HEADER) != unsafe and not kept,
               f"A client sent GET /books/{isbn}/price with an {HEADER} {what}: {unsafe[:60]!r}…. The shop "
               f"{'answered with it' if response.headers.get(HEADER) == unsafe else 'did not answer with it'} "
               f"and wrote it into {len(kept)} of its log lines.",
               "Anyone can send that header. Taken as it is, it fills the log with whatever a client chooses: "
               "megabytes per request, or text made to look like other log entries in a viewer that shows the "
               "fields as they are.",
               nudge="What does the middleware accept as an incoming id, and what does it do with one it "
                     "should not accept?",
               concept="Validate what comes from outside before it reaches the log: a bounded length and a plain "
                       "alphabet (or a UUID), else a fresh id.")


def test_no_log_line_holds_a_customers_credentials(kata_logged_shop):
    shop = _started(kata_logged_shop)
    token, session = f"token-{uuid.uuid4().hex}", f"session-{uuid.uuid4().hex}"
    _answered(_get(shop, SIGNED_IN_ISBN, {"Authorization": f"Bearer {token}", "Cookie": f"session={session}"}),
              SIGNED_IN_ISBN)
    leaked = [line for line in shop.server.logs().splitlines() if token in line or session in line]
    expect(not leaked,
           f"A signed-in customer asked for GET /books/{SIGNED_IN_ISBN}/price with a bearer token and a session "
           f"cookie. Log lines that hold one of them: {len(leaked)}, e.g. {_quote(leaked[0]) if leaked else ''!r}.",
           "Logs are read by many people and kept for months in other systems: a token or a session cookie "
           "there lets anyone who reads it act as that customer until it expires.",
           nudge="Which of the request's headers does the middleware write to the log?",
           concept="Log what identifies a request (method, path, status, id), never its credentials. OWASP: "
                   "'Logging Cheat Sheet', data to exclude.")
