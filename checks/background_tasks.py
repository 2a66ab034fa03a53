"""Check: what must not be lost is committed before the answer; the email is an isolated task whose
failure is logged with the order it concerns, that the server waits for, and that logs nothing when
it succeeds."""

import asyncio
import logging
import re
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

import anyio
import pytest

from bookshop.client import open_client
from bookshop.mailer import Mailer, MailerError
from bookshop.observe import engine_events, response_spy, run_sql
from bookshop.warehouse import create_shipments_table
from checks.feedback import expect, fail
from checks.harness import brief, json_of, learner

__all__ = [
    "test_a_failing_mailer_does_not_lose_the_shipment",
    "test_the_shipment_is_committed_before_the_201_is_sent",
    "test_a_failing_email_is_logged_not_raised_into_the_server",
    "test_the_logged_email_failure_names_the_order",
    "test_an_order_whose_shipment_cannot_be_saved_is_not_answered_201",
    "test_a_placed_order_is_shipped_and_confirmed_by_one_email_after_the_answer",
    "test_nothing_is_logged_as_a_warning_when_the_email_is_sent",
    "test_the_email_task_ends_before_the_server_is_done_with_the_request",
]

ALICE = {"user_id": 1, "lines": [{"book_id": 3, "quantity": 1}]}
BOB = {"user_id": 2, "lines": [{"book_id": 3, "quantity": 2}, {"book_id": 5, "quantity": 1}]}
# An order of the past with an id nobody would write by accident: the next order gets the one after.
EARLIER_ORDER = 80_417

# What every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
# A safety net: an email sent from a task of its own that nobody waits for is held until the request
# has ended, at most this long. Only code that waits for such a task without a done-callback (polling
# it, say) would wait it out; a task nobody waits for is always released by the end of the request.
OUTSIDE_WAIT = 0.5


class _Records(logging.Handler):
    def __init__(self, log: list):
        super().__init__(logging.WARNING)
        self.log = log

    def emit(self, record: logging.LogRecord) -> None:
        self.log.append(("record", record))


@contextmanager
def _warnings_into(log: list) -> Iterator[None]:
    """Note ``("record", LogRecord)`` in ``log`` for each warning or error logged meanwhile, in
    order with whatever else ``log`` receives (the mailer's attempts, the response)."""
    handler = _Records(log)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)


def _records_after_the_failure(log: list) -> tuple[list[logging.LogRecord], list[logging.LogRecord]]:
    """The warnings and errors logged (before, after) the mailer failed."""
    failed = next((i for i, event in enumerate(log) if event[0] == "email-failed"), len(log))
    records = [(i, event[1]) for i, event in enumerate(log) if event[0] == "record"]
    return [r for i, r in records if i < failed], [r for i, r in records if i > failed]


def _app_with(kata_ns, mailer: Mailer):
    """The learner's app, getting ``mailer`` from ``get_mailer`` (the harness undoes the override)."""
    app = learner(kata_ns, "app")
    app.dependency_overrides[learner(kata_ns, "get_mailer")] = lambda: mailer
    return app


async def _post(app, order: dict, *, raise_server_exceptions: bool = False):
    """POST /orders: ``(response or None, the exception the server raised or None, the status sent first)``."""
    answered: list = []
    try:
        async with open_client(response_spy(app, answered), raise_server_exceptions=raise_server_exceptions) as client:
            return await client.post("/orders", json=order), None, answered[0][1] if answered else None
    except Exception as error:  # noqa: BLE001 - whatever escaped into the server, the test reports it
        return None, error, answered[0][1] if answered else None


def _order_id(response) -> int | None:
    body = json_of(response)
    order_id = body.get("id") if isinstance(body, dict) else None
    return order_id if isinstance(order_id, int) else None


def _shipments(url: str) -> list[int]:
    return [order_id for (order_id,) in run_sql(url, "SELECT order_id FROM shipments ORDER BY id")]


def _steps(log: list) -> list[str]:
    """The timeline as words: INSERT INTO shipments, COMMIT, 201 sent, email sent ..."""
    steps = []
    for event in log:
        if event[0] == "sql" and event[2].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
            steps.append(" ".join(event[2].split()[:3]))
        elif event[0] == "commit":
            steps.append("COMMIT")
        elif event[0] == "response-start":
            steps.append(f"{event[1]} sent")
        elif event[0] in ("email-sent", "email-failed"):
            steps.append(event[0].replace("-", " "))
    return steps


def _no_server_error(error: BaseException | None, answered: int | None) -> None:
    """A finding for an exception that escaped into the server; ``answered`` is the status sent first."""
    if error is None:
        return
    raised = f"{type(error).__name__}: {error}"
    if isinstance(error, MailerError) and answered is not None and answered < 300:
        fail(
            f"With the mail relay down, the order was answered {answered}, and then the email's "
            f"failure escaped into the server ({raised}), after the answer had gone out.",
            "Starlette runs background tasks one after another and stops at the first that raises: "
            "every task added after it is skipped, without a word to anyone. All the log keeps is a "
            "server traceback that names no order, so nobody knows which customer to write to.",
            nudge="Where does the email task's exception go once the response has been sent? Who "
                  "could still handle it there?",
            concept="A background task is the last code that can handle its own failure: catch it at "
                    "the top of the task and log it. Read Starlette's 'Background Tasks'.",
        )
    if isinstance(error, MailerError):
        fail(
            f"With the mail relay down, placing an order failed inside the request ({raised}): the "
            f"customer was answered {answered or 'nothing'}.",
            "The order was saved and will ship, yet the customer sees an error and orders again: a "
            "best-effort email turned a good order into a duplicate.",
            nudge="Must the customer wait for the email, and must the order fail when the email does?",
            concept="Work the answer does not depend on can run after it. Read FastAPI's 'Background Tasks'.",
        )
    if answered is not None and answered < 300:
        fail(
            f"After answering {answered}, the app raised {raised} into the server.",
            "The client never hears of an error after its answer, and every background task queued "
            "after the one that raised was skipped.",
            nudge="Which background task raised, and does it handle its own failure?",
        )
    fail(
        f"Placing an order raised {raised} in the server (answered: {answered or 'nothing'}).",
        "An order must be placed, or refused with an answer the client can act on.",
    )


@pytest.mark.anyio
async def test_a_failing_mailer_does_not_lose_the_shipment(kata_ns, shop_db):
    create_shipments_table(shop_db)
    app = _app_with(kata_ns, Mailer(down=True))
    response, error, answered = await _post(app, ALICE)
    _no_server_error(error, answered)
    saved = run_sql(shop_db, "SELECT count(*) FROM orders")[0][0]
    expect(
        response.is_success,
        f"With the mail relay down, POST /orders answered {brief(response)}, and {saved} order(s) were saved.",
        "A best-effort email must not turn a placed order into an error: the customer orders again, "
        "and the shop ships twice.",
        nudge="Must the order fail when the email fails?",
    )
    order_id = _order_id(response)
    shipments = _shipments(shop_db)
    expect(
        order_id is not None and order_id in shipments,
        f"With the mail relay down, order {order_id} was answered {response.status_code}, but the "
        f"warehouse's shipments table holds {shipments}: the warehouse will never pack it.",
        "The customer holds a confirmation for a parcel that never leaves. Nobody notices until the "
        "customer writes in days later, and the log says nothing about a shipment.",
        nudge="In the evidence, what happened to the warehouse's task when the email's task raised "
              "before it?",
        concept="Starlette runs background tasks in order and stops at the first that raises. Work that "
                "must not be lost does not belong in a background task. Read Starlette's 'Background Tasks'.",
    )


@pytest.mark.anyio
async def test_the_shipment_is_committed_before_the_201_is_sent(kata_ns, shop_db):
    with engine_events("sql", "commit") as log:
        app = response_spy(_app_with(kata_ns, Mailer(events=log)), log)
        async with open_client(app) as client:
            log.clear()  # only the request: not the app's startup
            response = await client.post("/orders", json=ALICE)
    expect(response.is_success, f"POST /orders answered {brief(response)}.",
           "An order must still be placed: 201 Created.")
    steps = _steps(log)
    sent = next((i for i, step in enumerate(steps) if step.endswith(" sent") and step[0].isdigit()), len(steps))
    insert = next((i for i, step in enumerate(steps) if step == "INSERT INTO shipments"), None)
    expect(
        insert is not None,
        f"Placing an order wrote no shipment at all. What happened, in order: {' -> '.join(steps)}.",
        "The warehouse packs exactly the orders in its shipments table: an order without a row there "
        "never ships.",
        nudge="Where is the row for the warehouse written now?",
    )
    expect(
        insert < sent and "COMMIT" in steps[insert:sent],
        f"What happened, in order: {' -> '.join(steps)}. The shipment was written and committed after "
        "the answer had been sent.",
        "After the answer, nobody waits for the shipment: if writing it fails (a locked database, a "
        "deploy that stops the process), the customer keeps a 201 for an order that never ships.",
        nudge="Which steps must be done before the customer is told the order is placed?",
        concept="What the answer promises must be committed before the answer, in the request's own "
                "transaction. Read SQLAlchemy's 'Session basics' (flush and commit).",
    )


@pytest.mark.anyio
async def test_a_failing_email_is_logged_not_raised_into_the_server(kata_ns, shop_db):
    log: list = []
    app = _app_with(kata_ns, Mailer(down=True, events=log))
    with _warnings_into(log):
        response, error, answered = await _post(app, ALICE, raise_server_exceptions=True)
    _no_server_error(error, answered)
    expect(
        any(event[0] == "email-failed" for event in log),
        "The check gave the app a mail relay that is down, through get_mailer, but the app never "
        "tried to send an email with it.",
        "The customer must still get a confirmation, from the mailer the app is configured with.",
        nudge="Does the email task still use the mailer it gets from MailerDep?",
    )
    expect(
        response.is_success,
        f"With the mail relay down, POST /orders answered {brief(response)}.",
        "A best-effort email must not turn a placed order into an error: the customer orders again.",
        nudge="Must the order fail when the email fails?",
    )
    before, after = _records_after_the_failure(log)
    earlier = (f" Before it failed, the app had logged {_said(before)}: that was before anything went wrong, "
               "so it says nothing about the failure." if before else "")
    expect(
        after,
        "The confirmation email failed (the mail relay was down), and nothing was logged as a warning "
        f"or an error after that: the failure was swallowed.{earlier}",
        "Nobody resends an email nobody knows is missing: the customer waits for a confirmation that "
        "never comes, and support has nothing to search for.",
        nudge="When the email task catches the failure, who hears about it?",
        concept="Python's logging: a named logger, and a level of warning or above for what someone must "
                "act on, logged where the failure is handled. Read the Python 'Logging HOWTO'.",
    )


def _message(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception:  # noqa: BLE001 - a message whose arguments do not fit its format
        return str(record.msg)


def _said(records: list[logging.LogRecord]) -> str:
    return "; ".join(f"{record.levelname} {_message(record)!r}" for record in records[:3]) or "nothing"


def _names(record: logging.LogRecord, order_id: int) -> bool:
    """The record names the order: in its message, or in a field given with ``extra=``."""
    number = re.compile(rf"(?<!\d){order_id}(?!\d)")
    message = _message(record)
    fields = [value for key, value in vars(record).items() if key not in _STANDARD]
    return bool(number.search(message)) or any(value == order_id or number.search(str(value)) for value in fields)


@pytest.mark.anyio
async def test_the_logged_email_failure_names_the_order(kata_ns, shop_db):
    run_sql(shop_db, f"INSERT INTO orders (id, user_id) VALUES ({EARLIER_ORDER}, 2)")
    log: list = []
    app = _app_with(kata_ns, Mailer(down=True, events=log))
    with _warnings_into(log):
        response, error, answered = await _post(app, ALICE, raise_server_exceptions=True)
    before, logged = _records_after_the_failure(log)
    if error is not None:
        order_id = run_sql(shop_db, "SELECT max(id) FROM orders")[0][0]
        expect(
            any(_names(record, order_id) for record in logged),
            f"The confirmation email of order {order_id} failed, and its {type(error).__name__} went on into "
            f"the server; nothing the app logged after the failure names order {order_id}. The server's "
            "traceback carries the exception's own message, which does not say which order it was.",
            "Support reads the log to resend what failed: a traceback without the order leaves them to "
            "guess which customer is still waiting.",
            nudge="Reading the log alone, could support tell which customer to write to?",
        )
    _no_server_error(error, answered)
    expect(response.is_success, f"With the mail relay down, POST /orders answered {brief(response)}.",
           "A best-effort email must not turn a placed order into an error: the customer orders again.")
    order_id = _order_id(response) or run_sql(shop_db, "SELECT max(id) FROM orders")[0][0]
    earlier = (f" (Before it failed, the app had logged {_said(before)}: that says nothing about the "
               "failure.)" if before else "")
    expect(
        any(_names(record, order_id) for record in logged),
        f"The confirmation email of order {order_id} failed. The warnings and errors logged after that "
        f"were: {_said(logged)}. None of them names order {order_id}, in its message or in a field of "
        f"its own.{earlier}",
        "Support reads the log to resend what failed: a line that says an email failed, but not for "
        "which order, leaves them to guess which customer is still waiting.",
        nudge="Reading that log line alone, could support tell which customer to write to?",
        concept="A log record carries its message, and can carry structured fields too (the extra "
                "argument of Python's logging calls). Read the Python 'Logging HOWTO' and 'Logging "
                "Cookbook' (adding contextual information).",
    )


@pytest.mark.anyio
async def test_an_order_whose_shipment_cannot_be_saved_is_not_answered_201(kata_ns, shop_db):
    # The shipments table refuses new rows, as a locked or full database would.
    create_shipments_table(shop_db)
    run_sql(
        shop_db,
        "CREATE TRIGGER shipments_refused BEFORE INSERT ON shipments "
        "BEGIN SELECT RAISE(ABORT, 'the shipments table refuses new rows'); END",
    )
    mailer = Mailer()
    response, error, answered = await _post(_app_with(kata_ns, mailer), ALICE)
    if error is not None and answered is not None and answered < 300:
        fail(
            f"The database refused to save the shipment, yet POST /orders answered {answered}; the "
            f"failure came afterwards, in the server ({type(error).__name__}).",
            "The customer was told the order is placed, and the warehouse will never pack it: an "
            "error after the answer reaches nobody who can act on it.",
            nudge="When is the shipment written: before or after the customer hears the answer?",
        )
    _no_server_error(error, answered)
    expect(
        not response.is_success,
        f"The database refused to save the shipment, yet POST /orders answered {response.status_code}.",
        "The customer was told the order is placed, and the warehouse will never pack it: the shipment "
        "was written where a failure cannot reach the customer.",
        nudge="When is the shipment written: before or after the customer hears the answer?",
        concept="Write what the answer promises in the request's transaction, before answering.",
    )
    orders = run_sql(shop_db, "SELECT count(*) FROM orders")[0][0]
    expect(
        orders == 0,
        f"The shipment could not be saved and POST /orders answered {response.status_code}, but "
        f"{orders} order(s) stayed in the database.",
        "An order was saved that will never ship, and the customer, told it failed, orders again: the "
        "order and its shipment must be saved together or not at all.",
        nudge="How many commits does placing an order make, and what does each one save?",
        concept="One transaction: both rows added to the request's session, one commit. Read "
                "SQLAlchemy's 'Session basics'.",
    )
    expect(
        not mailer.sent,
        f"The order failed ({response.status_code}), yet a confirmation email went out: "
        f"{[email.subject for email in mailer.sent]}.",
        "The customer is told the order is confirmed and also that it failed: they cannot know which "
        "to believe.",
        nudge="When is the email queued: before or after the commit succeeded?",
    )


@pytest.mark.anyio
async def test_a_placed_order_is_shipped_and_confirmed_by_one_email_after_the_answer(kata_ns, shop_db):
    log: list = []
    mailer = Mailer(events=log)
    app = response_spy(_app_with(kata_ns, mailer), log)
    response, error, answered = await _post(app, BOB, raise_server_exceptions=True)
    _no_server_error(error, answered)
    expect(response.status_code == 201, f"POST /orders for Bob answered {brief(response)}, not 201 Created.",
           "A placed order is answered 201, with the order the client can show.")
    order_id = _order_id(response)
    saved = run_sql(shop_db, "SELECT id, user_id FROM orders")
    expect(
        order_id is not None and saved == [(order_id, 2)],
        f"After a 201 the database holds the orders (id, user) {saved}, and the response gave the id "
        f"{order_id}.",
        "The order must be saved, for its customer, under the id the customer was given.",
        nudge="Does the order still reach the database, once, with the id the response returns?",
    )
    lines = sorted(run_sql(shop_db, "SELECT book_id, quantity FROM order_lines"))
    expect(lines == [(3, 2), (5, 1)], f"Bob's order lines were saved as (book, quantity) {lines}, not "
           "[(3, 2), (5, 1)].", "The warehouse packs what the order lines say.")
    create_shipments_table(shop_db)
    shipments = _shipments(shop_db)
    expect(
        shipments == [order_id],
        f"After placing order {order_id}, the shipments table holds {shipments}.",
        "Every order answered 201 needs exactly one shipment: none, and it never ships; two, and it "
        "ships twice.",
        nudge="How many times is a shipment written for one order?",
    )
    emails = [(email.to, email.subject) for email in mailer.sent]
    expect(
        len(emails) == 1 and emails[0][0] == "bob@example.com" and str(order_id) in emails[0][1],
        f"Placing order {order_id} for Bob sent these emails (to, subject): {emails}.",
        "Each order gets exactly one confirmation, to its customer, naming the order.",
        nudge="Is the email still sent once, to the customer, with the mailer the app gets from get_mailer?",
    )
    events = [event[0] for event in log]
    expect(
        "response-start" in events and events.index("response-start") < events.index("email-sent"),
        "The confirmation email was sent before the response started.",
        "The customer waits for the mail relay, and a relay that is down turns a saved order into an "
        "error: the email is the part of the work the answer does not depend on.",
        nudge="Which part of placing an order can wait until the customer has the answer?",
        concept="FastAPI's background tasks run after the response has been sent. Read FastAPI's "
                "'Background Tasks'.",
    )


@pytest.mark.anyio
async def test_nothing_is_logged_as_a_warning_when_the_email_is_sent(kata_ns, shop_db):
    log: list = []
    mailer = Mailer(events=log)
    with _warnings_into(log):
        response, error, answered = await _post(_app_with(kata_ns, mailer), ALICE, raise_server_exceptions=True)
    _no_server_error(error, answered)
    expect(response.status_code == 201, f"POST /orders answered {brief(response)}, not 201 Created.",
           "A placed order is answered 201, with the order the client can show.")
    logged = [event[1] for event in log if event[0] == "record"]
    expect(
        mailer.sent and not logged,
        f"The mail relay was up and the confirmation email went out, yet the app logged {_said(logged)}."
        if mailer.sent else
        f"The mail relay was up, yet no confirmation email went out, and the app logged {_said(logged)}.",
        "Warnings and errors are what someone is paged for, and what support searches when a customer "
        "writes in. A warning for every order that went well buries the few that did not, and a search "
        "for an order's failure finds orders that never failed.",
        nudge="What does the app log when everything goes well? Which level is that?",
        concept="A log level says who must act: warning and above for what went wrong; info or debug "
                "for the normal course of things. Read the Python 'Logging HOWTO' (when to use logging).",
    )


class _RequestWatch:
    """Which asyncio task serves POST /orders, and whether the server is done with it (the app's
    ASGI call has returned, background tasks included)."""

    def __init__(self, log: list):
        self.log = log
        self.task: asyncio.Task | None = None
        self.ended = anyio.Event()

    def app(self, app):
        async def watched(scope, receive, send):
            if scope["type"] != "http":
                return await app(scope, receive, send)
            self.task = asyncio.current_task()
            try:
                await app(scope, receive, send)
            finally:
                self.log.append(("request-ended",))
                self.ended.set()

        return watched


def _someone_waits_for(task: asyncio.Task) -> bool:
    """Code has asked to hear when ``task`` ends: a task awaiting it, gather, wait_for, wait, a task
    group (anyio's, asyncio's). A set or a list that only drops the task once done is not waiting."""
    for callback, *_ in getattr(task, "_callbacks", None) or ():
        owner = getattr(callback, "__self__", None)
        if not isinstance(owner, (set, frozenset, list, dict, weakref.WeakSet)):
            return True
    return False


class _Mailer(Mailer):
    """A mailer that, called from a task other than the request's own which nobody waits for, first
    waits until the request has ended: such a task can never send before the server is done."""

    def __init__(self, watch: _RequestWatch, **kwargs):
        super().__init__(**kwargs)
        self.watch = watch
        self.outside = False

    async def send(self, to: str, subject: str, body: str) -> None:
        task = asyncio.current_task()
        if self.watch.task is not None and task is not self.watch.task:
            self.outside = True
            with anyio.move_on_after(OUTSIDE_WAIT):  # a safety net: see OUTSIDE_WAIT
                while not (self.watch.ended.is_set() or _someone_waits_for(task)):
                    await asyncio.sleep(0.001)
        await super().send(to, subject, body)


@pytest.mark.anyio
async def test_the_email_task_ends_before_the_server_is_done_with_the_request(kata_ns, shop_db):
    log: list = []
    watch = _RequestWatch(log)
    mailer = _Mailer(watch, events=log)
    async with open_client(watch.app(_app_with(kata_ns, mailer))) as client:
        response = await client.post("/orders", json=ALICE)
    expect(response.status_code == 201, f"POST /orders answered {brief(response)}, not 201 Created.",
           "A placed order is answered 201, with the order the client can show.")
    steps = [event[0].replace("-", " ") for event in log]
    ended = steps.index("request ended") if "request ended" in steps else len(steps)
    expect(
        "email sent" in steps[:ended],
        "The server was done with POST /orders (the app's ASGI call had returned) before the "
        "confirmation email was sent"
        + (": the email ran in a task of its own that nothing in the request waits for." if mailer.outside
           else ".")
        + f" What happened, in order: {' -> '.join(steps) or 'nothing'}.",
        "A server waits, when it stops (at every deploy), for the requests it is serving, background "
        "tasks included. A task the app starts on its own is not one of them: when the process stops it "
        "is cancelled mid-send, and the email is lost without a line in the log. asyncio's documentation "
        "also warns that the event loop keeps only a weak reference to such a task.",
        nudge="Who waits for the email to be sent: the server, as part of the request, or nobody?",
        concept="FastAPI's BackgroundTasks run after the response, but within the request: the server "
                "waits for them. A task made with asyncio.create_task belongs to no request. Read "
                "FastAPI's 'Background Tasks' and the note on asyncio.create_task in Python's docs.",
    )
