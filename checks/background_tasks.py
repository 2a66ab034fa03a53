"""Check: what must not be lost is committed before the answer; the email is an isolated task."""

import logging

import pytest

from bookshop.mailer import Mailer, MailerError
from bookshop.warehouse import create_shipments_table
from bookshop.client import open_client
from bookshop.observe import engine_events, response_spy, run_sql
from checks.harness import learner

__all__ = [
    "test_a_failing_mailer_does_not_lose_the_shipment",
    "test_the_shipment_is_committed_before_the_201_is_sent",
    "test_a_failing_email_is_logged_not_raised_into_the_server",
    "test_an_order_whose_shipment_cannot_be_saved_is_not_answered_201",
    "test_a_placed_order_is_shipped_and_confirmed_by_one_email_after_the_answer",
]

ALICE = {"user_id": 1, "lines": [{"book_id": 3, "quantity": 1}]}
BOB = {"user_id": 2, "lines": [{"book_id": 3, "quantity": 2}, {"book_id": 5, "quantity": 1}]}


def _app_with(kata_ns, mailer: Mailer):
    """The learner's app, getting ``mailer`` from ``get_mailer`` (the harness undoes the override)."""
    app = learner(kata_ns, "app")
    app.dependency_overrides[learner(kata_ns, "get_mailer")] = lambda: mailer
    return app


async def _post(app, order: dict, *, raise_server_exceptions: bool = False):
    """POST /orders; returns ``(response, None)``, or ``(None, why)`` if the server raised."""
    answered: list = []
    try:
        async with open_client(response_spy(app, answered), raise_server_exceptions=raise_server_exceptions) as client:
            return await client.post("/orders", json=order), None
    except Exception as error:  # noqa: BLE001 - whatever escaped into the server, the test reports it
        return None, _server_error(error, answered[0][1] if answered else None)


def _order_id(response) -> int | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("id") if isinstance(body, dict) else None


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


def _server_error(error: BaseException, answered: int | None) -> str:
    """Why an exception that escaped into the server is wrong; ``answered`` is the status sent first."""
    if isinstance(error, MailerError) and answered is not None and answered < 300:
        return (
            f"The failing email raised {error!r} into the server, after the {answered} had gone "
            "out. Starlette runs background tasks one after another and stops at the first that "
            "raises: every task added after it is silently skipped, and all that is left is a "
            "server traceback that names no order. Catch the failure inside "
            "`send_confirmation_email` and log it with the order id (e.g. `logging.getLogger('bookshop.orders').exception(...)`)."
        )
    if isinstance(error, MailerError):
        return (
            f"The failing email raised {error!r} inside the request: the order was saved, yet "
            f"the customer was answered {answered or 'nothing'} and will order again. Keep the "
            "email a background task, and let it catch and log its own failure."
        )
    if answered is not None and answered < 300:
        return (
            f"A background task raised {error!r} into the server, after the {answered} had been "
            "sent: the client never heard of it, and every task queued after it was skipped. "
            "Each task must catch and log its own failure, and queue no work the request already did."
        )
    return f"Placing an order raised {error!r} in the server (answered: {answered or 'nothing'})."


@pytest.mark.anyio
async def test_a_failing_mailer_does_not_lose_the_shipment(kata_ns, shop_db):
    create_shipments_table(shop_db)
    app = _app_with(kata_ns, Mailer(down=True))
    response, error = await _post(app, ALICE)
    assert error is None, error
    saved = run_sql(shop_db, "SELECT count(*) FROM orders")[0][0]
    assert response.is_success, (
        f"With the mail relay down, POST /orders answered {response.status_code} "
        f"{response.text[:80]}, and {saved} order(s) were saved. A best-effort email must not "
        "turn a placed order into an error: the customer would order again. Keep the email a "
        "background task that catches its own failure."
    )
    order_id = _order_id(response)
    shipments = _shipments(shop_db)
    assert order_id in shipments, (
        f"With the mail relay down, order {order_id} was answered {response.status_code}, but "
        f"the warehouse will never pack it: `shipments` holds {shipments}. The email task "
        "raised, and Starlette stops at the first background task that raises, so "
        "`notify_warehouse` never ran, after the customer already had the answer. Write the "
        "shipment in the request's transaction, with the order, before answering."
    )


@pytest.mark.anyio
async def test_the_shipment_is_committed_before_the_201_is_sent(kata_ns, shop_db):
    with engine_events("sql", "commit") as log:
        app = response_spy(_app_with(kata_ns, Mailer(events=log)), log)
        async with open_client(app) as client:
            log.clear()  # only the request: not the app's startup
            response = await client.post("/orders", json=ALICE)
    assert response.is_success, (
        f"POST /orders answered {response.status_code} {response.text[:80]}: an order must "
        "still be placed (201)."
    )
    steps = _steps(log)
    sent = next((i for i, step in enumerate(steps) if step.endswith(" sent") and step[0].isdigit()), len(steps))
    insert = next((i for i, step in enumerate(steps) if step == "INSERT INTO shipments"), None)
    assert insert is not None, (
        f"Placing an order wrote no shipment at all ({' -> '.join(steps)}): the warehouse packs "
        "only the orders in `shipments`. Add a `Shipment(order_id=order.id)` with the order."
    )
    assert insert < sent and "COMMIT" in steps[insert:sent], (
        f"The order of events was: {' -> '.join(steps)}. The shipment was committed after the "
        "answer had been sent, by a background task that nobody waits for: if it fails, the "
        "customer keeps a 201 for an order that will never ship. Add the shipment to the "
        "request's session with the order and commit both before returning."
    )


@pytest.mark.anyio
async def test_a_failing_email_is_logged_not_raised_into_the_server(kata_ns, shop_db, caplog):
    caplog.set_level(logging.WARNING)
    attempts: list = []
    app = _app_with(kata_ns, Mailer(down=True, events=attempts))
    response, error = await _post(app, ALICE, raise_server_exceptions=True)
    assert error is None, error
    assert attempts, (
        "The check gave the app a mail relay that is down, through `get_mailer`, but the app "
        "never tried to send with it. Send the confirmation with the mailer from `MailerDep`."
    )
    assert response.is_success, (
        f"With the mail relay down, POST /orders answered {response.status_code} "
        f"{response.text[:80]}: a best-effort email must not turn a placed order into an error."
    )
    logged = [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert logged, (
        "The confirmation email failed (the mail relay was down) and nothing was logged as a "
        "warning or an error: the failure was swallowed. Nobody can resend an email nobody knows is missing. In the "
        "`except` block, log it: `logging.getLogger('bookshop.orders').exception('... order %s ...', order_id)`."
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
    response, error = await _post(_app_with(kata_ns, mailer), ALICE)
    assert error is None, error
    assert not response.is_success, (
        f"The database refused to save the shipment, yet POST /orders answered "
        f"{response.status_code}: the customer was told the order is placed, and the warehouse "
        "will never pack it. The shipment was written after the answer, where a failure cannot "
        "reach the customer. Write it in the request's transaction, before answering."
    )
    orders = run_sql(shop_db, "SELECT count(*) FROM orders")[0][0]
    assert orders == 0, (
        f"The shipment could not be saved and POST /orders answered {response.status_code}, "
        f"but {orders} order(s) stayed in the database: the order and its shipment were "
        "committed separately, so an order was saved that will never ship, and the customer, "
        "told it failed, orders again. Add both to the request's one session and commit once."
    )
    assert not mailer.sent, (
        f"The order failed ({response.status_code}), yet a confirmation email went out: "
        f"{mailer.sent[0].subject!r}. Queue the email only after the commit succeeded."
    )


@pytest.mark.anyio
async def test_a_placed_order_is_shipped_and_confirmed_by_one_email_after_the_answer(kata_ns, shop_db):
    log: list = []
    mailer = Mailer(events=log)
    app = response_spy(_app_with(kata_ns, mailer), log)
    response, error = await _post(app, BOB, raise_server_exceptions=True)
    assert error is None, error
    assert response.status_code == 201, (
        f"POST /orders for Bob answered {response.status_code} {response.text[:80]}; expected 201 Created."
    )
    order_id = _order_id(response)
    saved = run_sql(shop_db, "SELECT id, user_id FROM orders")
    assert saved == [(order_id, 2)], (
        f"After a 201 the database holds the orders {saved}, and the response said id "
        f"{order_id}: the order must be saved, for user 2, with the id the response returns."
    )
    lines = sorted(run_sql(shop_db, "SELECT book_id, quantity FROM order_lines"))
    assert lines == [(3, 2), (5, 1)], f"The order's lines were saved as {lines}; expected [(3, 2), (5, 1)]."
    create_shipments_table(shop_db)
    shipments = _shipments(shop_db)
    assert shipments == [order_id], (
        f"After placing order {order_id}, `shipments` holds {shipments}: every order answered "
        "201 needs exactly one shipment, or the warehouse never packs it."
    )
    emails = [(email.to, email.subject) for email in mailer.sent]
    assert len(emails) == 1 and emails[0][0] == "bob@example.com" and str(order_id) in emails[0][1], (
        f"Placing order {order_id} for Bob sent these emails: {emails}. Expected exactly one "
        "confirmation, to bob@example.com, naming the order. Keep the email task, and send it "
        "with the mailer the app gets from `get_mailer` (`MailerDep`)."
    )
    events = [event[0] for event in log]
    assert events.index("response-start") < events.index("email-sent"), (
        "The confirmation email was sent before the response started: the customer waited for "
        "the mail relay, and a relay that is down would turn a saved order into an error. Keep "
        "the email a background task (`background.add_task(...)`)."
    )
