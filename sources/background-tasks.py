# %% [markdown]
# # Background tasks are for work you can afford to lose
#
# **The story.** On Saturday the shop's mail relay was down for twenty minutes. Nobody noticed:
# every order placed during those minutes was answered `201 Created`, saved, and shown to its
# customer as placed. On Wednesday the first customers wrote in: no confirmation email, and
# no parcel. The warehouse packs exactly the orders listed in its `shipments` table, and none
# of Saturday's orders is there. The server log holds a few `Exception in ASGI application`
# tracebacks ending in `MailerError`, and not one line about a shipment. The checkout code
# looks tidy: it saves the order, answers at once, and leaves "the slow work", the email
# and the warehouse, to FastAPI's `BackgroundTasks`.
#
# **You will learn**
# - when background tasks run: after the response has been sent, one after another, in the
#   order they were added;
# - why a task that raises silently cancels every task added after it, while the client keeps
#   its `201`;
# - which work belongs in the request's transaction (what must not be lost) and which may be a
#   background task, and how to make such a task fail alone: caught, logged with the order it
#   was for, nothing else lost.
#
# Run the cells from the top (**Run → Run All Cells**), read the evidence, then make the check pass.

# %% tags=["setup"]
from checks import setup_notebook

setup_notebook()

# %% [markdown]
# ## The bookshop around the problem
#
# The models (`Order`, `OrderLine`, `User`) and schemas (`OrderIn`, `OrderOut`) come from the
# workbook's `bookshop` package. So do three things made for this story:
#
# - `Mailer`, the client of the shop's mail relay: `await mailer.send(to, subject, body)`.
#   When the relay is down (`Mailer(down=True)`), `send` raises `MailerError`.
# - `Shipment`, the warehouse's table: one row per order to pack. No row, no parcel.
# - `lifespan`: the shop's own lifespan, as wrapped in "The engine belongs to the lifespan" (it
#   builds the engine and puts a `sessionmaker` in `request.state`), which also creates the
#   `shipments` table.
#
# The app gets its mailer from the `get_mailer` dependency, so that a test, or the evidence
# below, can hand it a relay that is down.

# %%
import logging
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import BackgroundTasks, Depends, FastAPI, HTTPException, Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bookshop.mailer import Mailer, MailerError
from bookshop.warehouse import Shipment, lifespan
from bookshop.models import Order, OrderLine, User
from bookshop.schemas import OrderIn, OrderOut

mailer = Mailer()


def get_mailer() -> Mailer:
    return mailer


MailerDep = Annotated[Mailer, Depends(get_mailer)]


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.state.sessionmaker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


def order_from(order_in: OrderIn) -> Order:
    """The order row and its order lines, ready to be added to a session."""
    lines = [OrderLine(book_id=line.book_id, quantity=line.quantity) for line in order_in.lines]
    return Order(user_id=order_in.user_id, lines=lines)

# %% [markdown]
# ## The code under review
#
# This is the cell you will change. Read it first: what does the customer already have when
# each of the two tasks runs, and what happens to the second task when the first one raises?

# %% tags=["kata", "starter"]
app = FastAPI(lifespan=lifespan)


async def send_confirmation_email(mailer: Mailer, to: str, order_id: int) -> None:
    await mailer.send(to, f"Your bookshop order #{order_id}", "Thank you! We are packing it.")


async def notify_warehouse(sessionmaker: async_sessionmaker[AsyncSession], order_id: int) -> None:
    # A task runs after the request, so it opens a session of its own.
    async with sessionmaker() as session:
        session.add(Shipment(order_id=order_id))
        await session.commit()


@app.post("/orders", status_code=201)
async def place_order(
    order_in: OrderIn, session: SessionDep, mailer: MailerDep, background: BackgroundTasks, request: Request
) -> OrderOut:
    customer = await session.get(User, order_in.user_id)
    if customer is None:
        raise HTTPException(status_code=404, detail=f"User {order_in.user_id} not found")
    order = order_from(order_in)
    session.add(order)
    await session.commit()
    # Nothing the customer has to wait for: do it after answering.
    background.add_task(send_confirmation_email, mailer, customer.email, order.id)
    background.add_task(notify_warehouse, request.state.sessionmaker, order.id)
    return OrderOut.model_validate(order, from_attributes=True)

# %% tags=["kata", "solution"]
app = FastAPI(lifespan=lifespan)
logger = logging.getLogger("bookshop.orders")


async def send_confirmation_email(mailer: Mailer, to: str, order_id: int) -> None:
    # Best effort, after the answer: if it fails, nobody is left to tell but the log. Catch
    # the failure here, so that it ends with this task, and log what support needs to resend.
    try:
        await mailer.send(to, f"Your bookshop order #{order_id}", "Thank you! We are packing it.")
    except Exception:  # the top of a background task: whatever went wrong, log it and stop here
        logger.exception("Could not send the confirmation email for order %s to %s", order_id, to)


@app.post("/orders", status_code=201)
async def place_order(
    order_in: OrderIn, session: SessionDep, mailer: MailerDep, background: BackgroundTasks
) -> OrderOut:
    customer = await session.get(User, order_in.user_id)
    if customer is None:
        raise HTTPException(status_code=404, detail=f"User {order_in.user_id} not found")
    order = order_from(order_in)
    session.add(order)
    await session.flush()  # sends the INSERT: the database assigns order.id
    # What must not be lost is written with the order, in the request's one transaction:
    # either both rows are saved before the customer hears "201", or neither is.
    session.add(Shipment(order_id=order.id))
    await session.commit()
    # Only the email, which the shop can afford to lose (and resend), waits for the answer.
    background.add_task(send_confirmation_email, mailer, customer.email, order.id)
    return OrderOut.model_validate(order, from_attributes=True)

# %% tags=["kata", "decoy:warehouse-first"]
# "The failing email stopped the warehouse task: queue the warehouse first." Saturday's orders
# would have shipped. But the shipment is still written after the 201 has gone out, by a task
# nobody waits for: if it fails (a locked database, the process killed by a deploy), the order
# is answered 201 and never shipped. And the email's exception still escapes into the server.
app = FastAPI(lifespan=lifespan)


async def send_confirmation_email(mailer: Mailer, to: str, order_id: int) -> None:
    await mailer.send(to, f"Your bookshop order #{order_id}", "Thank you! We are packing it.")


async def notify_warehouse(sessionmaker: async_sessionmaker[AsyncSession], order_id: int) -> None:
    async with sessionmaker() as session:
        session.add(Shipment(order_id=order_id))
        await session.commit()


@app.post("/orders", status_code=201)
async def place_order(
    order_in: OrderIn, session: SessionDep, mailer: MailerDep, background: BackgroundTasks, request: Request
) -> OrderOut:
    customer = await session.get(User, order_in.user_id)
    if customer is None:
        raise HTTPException(status_code=404, detail=f"User {order_in.user_id} not found")
    order = order_from(order_in)
    session.add(order)
    await session.commit()
    background.add_task(notify_warehouse, request.state.sessionmaker, order.id)
    background.add_task(send_confirmation_email, mailer, customer.email, order.id)
    return OrderOut.model_validate(order, from_attributes=True)

# %% tags=["kata", "decoy:catch-in-every-task"]
# "Make each task catch and log its own errors, so one cannot stop the next." That is right
# for the email. For the shipment it only changes who hears about the failure: the log, not
# the customer. The 201 still goes out before the shipment exists, and if writing it fails,
# the order is answered 201, logged, and never shipped.
app = FastAPI(lifespan=lifespan)
logger = logging.getLogger("bookshop.orders")


async def send_confirmation_email(mailer: Mailer, to: str, order_id: int) -> None:
    try:
        await mailer.send(to, f"Your bookshop order #{order_id}", "Thank you! We are packing it.")
    except Exception:
        logger.exception("Could not send the confirmation email for order %s", order_id)


async def notify_warehouse(sessionmaker: async_sessionmaker[AsyncSession], order_id: int) -> None:
    try:
        async with sessionmaker() as session:
            session.add(Shipment(order_id=order_id))
            await session.commit()
    except Exception:
        logger.exception("Could not record the shipment of order %s", order_id)


@app.post("/orders", status_code=201)
async def place_order(
    order_in: OrderIn, session: SessionDep, mailer: MailerDep, background: BackgroundTasks, request: Request
) -> OrderOut:
    customer = await session.get(User, order_in.user_id)
    if customer is None:
        raise HTTPException(status_code=404, detail=f"User {order_in.user_id} not found")
    order = order_from(order_in)
    session.add(order)
    await session.commit()
    background.add_task(send_confirmation_email, mailer, customer.email, order.id)
    background.add_task(notify_warehouse, request.state.sessionmaker, order.id)
    return OrderOut.model_validate(order, from_attributes=True)

# %% tags=["kata", "decoy:await-the-warehouse-task"]
# "Await the warehouse task in the endpoint, before answering." The shipment now exists before
# the 201, and the isolated email cannot stop it. But it is written in a second session, with a
# commit of its own, after the order's: if the shipment cannot be saved, the order is already
# committed, the customer gets a 500, orders again, and the first order stays unshipped.
app = FastAPI(lifespan=lifespan)
logger = logging.getLogger("bookshop.orders")


async def send_confirmation_email(mailer: Mailer, to: str, order_id: int) -> None:
    try:
        await mailer.send(to, f"Your bookshop order #{order_id}", "Thank you! We are packing it.")
    except Exception:
        logger.exception("Could not send the confirmation email for order %s", order_id)


async def notify_warehouse(sessionmaker: async_sessionmaker[AsyncSession], order_id: int) -> None:
    async with sessionmaker() as session:
        session.add(Shipment(order_id=order_id))
        await session.commit()


@app.post("/orders", status_code=201)
async def place_order(
    order_in: OrderIn, session: SessionDep, mailer: MailerDep, background: BackgroundTasks, request: Request
) -> OrderOut:
    customer = await session.get(User, order_in.user_id)
    if customer is None:
        raise HTTPException(status_code=404, detail=f"User {order_in.user_id} not found")
    order = order_from(order_in)
    session.add(order)
    await session.commit()
    await notify_warehouse(request.state.sessionmaker, order.id)
    background.add_task(send_confirmation_email, mailer, customer.email, order.id)
    return OrderOut.model_validate(order, from_attributes=True)

# %% tags=["kata", "decoy:shipment-in-the-transaction-only"]
# "The shipment was the problem: write it with the order." It is the half of the fix that
# matters most, and the shipment is safe now. But the email task still lets its exception
# escape: after the 201, into the server, as a traceback that names no order. No one can tell
# which customers to write to, and any task added after it later will be skipped too.
app = FastAPI(lifespan=lifespan)


async def send_confirmation_email(mailer: Mailer, to: str, order_id: int) -> None:
    await mailer.send(to, f"Your bookshop order #{order_id}", "Thank you! We are packing it.")


@app.post("/orders", status_code=201)
async def place_order(
    order_in: OrderIn, session: SessionDep, mailer: MailerDep, background: BackgroundTasks
) -> OrderOut:
    customer = await session.get(User, order_in.user_id)
    if customer is None:
        raise HTTPException(status_code=404, detail=f"User {order_in.user_id} not found")
    order = order_from(order_in)
    session.add(order)
    await session.flush()
    session.add(Shipment(order_id=order.id))
    await session.commit()
    background.add_task(send_confirmation_email, mailer, customer.email, order.id)
    return OrderOut.model_validate(order, from_attributes=True)

# %% tags=["kata", "decoy:email-before-answering"]
# "Background tasks lose work: do everything before answering." The shipment is in the
# transaction, good. But now the customer waits for the mail relay, and when it is down the
# exception turns an order that was saved, and will ship, into a 500: the customer orders again.
app = FastAPI(lifespan=lifespan)


async def send_confirmation_email(mailer: Mailer, to: str, order_id: int) -> None:
    await mailer.send(to, f"Your bookshop order #{order_id}", "Thank you! We are packing it.")


@app.post("/orders", status_code=201)
async def place_order(order_in: OrderIn, session: SessionDep, mailer: MailerDep) -> OrderOut:
    customer = await session.get(User, order_in.user_id)
    if customer is None:
        raise HTTPException(status_code=404, detail=f"User {order_in.user_id} not found")
    order = order_from(order_in)
    session.add(order)
    await session.flush()
    session.add(Shipment(order_id=order.id))
    await session.commit()
    await send_confirmation_email(mailer, customer.email, order.id)
    return OrderOut.model_validate(order, from_attributes=True)

# %% tags=["kata", "decoy:log-without-the-order"]
# "Catch the email's failure and log it, with the traceback: that says what went wrong." It says
# the relay refused a connection, and not for which order: support, reading the log, cannot tell
# which customer is still waiting for a confirmation.
app = FastAPI(lifespan=lifespan)
logger = logging.getLogger("bookshop.orders")


async def send_confirmation_email(mailer: Mailer, to: str, order_id: int) -> None:
    try:
        await mailer.send(to, f"Your bookshop order #{order_id}", "Thank you! We are packing it.")
    except Exception:
        logger.exception("Could not send a confirmation email")


@app.post("/orders", status_code=201)
async def place_order(
    order_in: OrderIn, session: SessionDep, mailer: MailerDep, background: BackgroundTasks
) -> OrderOut:
    customer = await session.get(User, order_in.user_id)
    if customer is None:
        raise HTTPException(status_code=404, detail=f"User {order_in.user_id} not found")
    order = order_from(order_in)
    session.add(order)
    await session.flush()
    session.add(Shipment(order_id=order.id))
    await session.commit()
    background.add_task(send_confirmation_email, mailer, customer.email, order.id)
    return OrderOut.model_validate(order, from_attributes=True)

# %% tags=["kata", "decoy:warn-then-swallow"]
# "Log a warning naming the order before trying the relay, and keep the failure quiet: the order is
# saved anyway." The warning is logged for every order, before anything went wrong, so it says
# nothing about a failure; and the failure itself is swallowed: nobody learns which email is
# missing.
app = FastAPI(lifespan=lifespan)
logger = logging.getLogger("bookshop.orders")


async def send_confirmation_email(mailer: Mailer, to: str, order_id: int) -> None:
    logger.warning("Sending the confirmation email of order %s through the relay", order_id)
    try:
        await mailer.send(to, f"Your bookshop order #{order_id}", "Thank you! We are packing it.")
    except Exception:
        pass


@app.post("/orders", status_code=201)
async def place_order(
    order_in: OrderIn, session: SessionDep, mailer: MailerDep, background: BackgroundTasks
) -> OrderOut:
    customer = await session.get(User, order_in.user_id)
    if customer is None:
        raise HTTPException(status_code=404, detail=f"User {order_in.user_id} not found")
    order = order_from(order_in)
    session.add(order)
    await session.flush()
    session.add(Shipment(order_id=order.id))
    await session.commit()
    background.add_task(send_confirmation_email, mailer, customer.email, order.id)
    return OrderOut.model_validate(order, from_attributes=True)

# %% tags=["kata", "decoy:fire-and-forget-task"]
# "No need for BackgroundTasks: start the email with asyncio.create_task and answer at once." The
# customer does not wait, but the task belongs to no request: the server does not wait for it when
# it stops (a deploy cancels it mid-send), and the event loop keeps only a weak reference to it.
import asyncio

app = FastAPI(lifespan=lifespan)
logger = logging.getLogger("bookshop.orders")


async def send_confirmation_email(mailer: Mailer, to: str, order_id: int) -> None:
    try:
        await mailer.send(to, f"Your bookshop order #{order_id}", "Thank you! We are packing it.")
    except Exception:
        logger.exception("Could not send the confirmation email for order %s to %s", order_id, to)


@app.post("/orders", status_code=201)
async def place_order(order_in: OrderIn, session: SessionDep, mailer: MailerDep) -> OrderOut:
    customer = await session.get(User, order_in.user_id)
    if customer is None:
        raise HTTPException(status_code=404, detail=f"User {order_in.user_id} not found")
    order = order_from(order_in)
    session.add(order)
    await session.flush()
    session.add(Shipment(order_id=order.id))
    await session.commit()
    asyncio.create_task(send_confirmation_email(mailer, customer.email, order.id))
    return OrderOut.model_validate(order, from_attributes=True)

# %% tags=["kata", "alternative:structured-log-fields"]
# The order id and the address as fields of the log record rather than in its message: a log
# platform that keeps records as JSON can search them, and support filters on the order.
app = FastAPI(lifespan=lifespan)
logger = logging.getLogger("bookshop.orders")


async def send_confirmation_email(mailer: Mailer, to: str, order_id: int) -> None:
    try:
        await mailer.send(to, f"Your bookshop order #{order_id}", "Thank you! We are packing it.")
    except Exception:
        logger.exception("Could not send the confirmation email", extra={"order_id": order_id, "to": to})


@app.post("/orders", status_code=201)
async def place_order(
    order_in: OrderIn, session: SessionDep, mailer: MailerDep, background: BackgroundTasks
) -> OrderOut:
    customer = await session.get(User, order_in.user_id)
    if customer is None:
        raise HTTPException(status_code=404, detail=f"User {order_in.user_id} not found")
    order = order_from(order_in)
    session.add(order)
    await session.flush()
    session.add(Shipment(order_id=order.id))
    await session.commit()
    background.add_task(send_confirmation_email, mailer, customer.email, order.id)
    return OrderOut.model_validate(order, from_attributes=True)

# %% [markdown]
# The warehouse's screen only reads the `shipments` table, so it stays as it is while you fix
# the cell above.

# %%
@app.get("/shipments")
async def orders_to_pack(session: SessionDep) -> list[int]:
    """The ids of the orders the warehouse will pack."""
    return list(await session.scalars(select(Shipment.order_id).order_by(Shipment.order_id)))

# %% [markdown]
# ## The evidence
#
# The next cell places Alice's order twice: once with the mail relay up, once with it down.
# For each it prints, in the order they happened, the rows the app wrote (`INSERT ...`), its
# `COMMIT`s, the moment the response started (`201 sent`), what the mailer did, anything
# logged as a warning or an error, and any exception that escaped into the server. Then it
# asks the warehouse which orders it will pack.

# %% tags=["evidence"]
from bookshop.client import describe, shop_client
from bookshop.db import database_url
from bookshop.observe import engine_events, logged_warnings, response_spy, run_sql

ALICE = {"user_id": 1, "lines": [{"book_id": 3, "quantity": 1}]}


def step(event: tuple) -> str:
    kind = event[0]
    if kind == "sql":
        return " ".join(event[2].split()[:3])  # e.g. INSERT INTO shipments
    if kind == "response-start":
        return f"{event[1]} sent"
    if kind == "log":
        return f"logged {event[1]} {event[2]!r}"
    if kind == "server-error":
        return f"{event[1]} raised into the server"
    return {"commit": "COMMIT", "email-sent": "email sent", "email-failed": "email FAILED"}.get(kind, kind)


def place_alices_order(relay: str) -> None:
    with engine_events("sql", "commit") as timeline, logged_warnings(timeline):
        app.dependency_overrides[get_mailer] = lambda: Mailer(down=relay == "down", events=timeline)
        try:
            # As under uvicorn: the client gets the answer; what a task raises stays in the server.
            with shop_client(response_spy(app, timeline)) as client:
                timeline.clear()  # forget the app's startup; watch one request
                answer = describe(client.post("/orders", json=ALICE))
                for error in client.server_errors:
                    timeline.append(("server-error", type(error).__name__))
                events = list(timeline)
                to_pack = client.get("/shipments")
        finally:
            app.dependency_overrides.clear()
    order_id = run_sql(database_url(), "SELECT max(id) FROM orders")[0][0]
    shown = [event for event in events if event[0] != "sql" or event[2].startswith("INSERT")]
    steps = [step(event) for event in shown]
    sent = next((i for i, event in enumerate(shown) if event[0] == "response-start"), len(shown))
    packs = to_pack.json() if to_pack.status_code == 200 else []
    print(f"mail relay {relay}: POST /orders for order {order_id} -> {answer}")
    print(f"    before the answer: {' -> '.join(steps[:sent]) or '(nothing)'}")
    print(f"    {steps[sent] if sent < len(steps) else 'no answer was sent'}")
    print(f"    after the answer:  {' -> '.join(steps[sent + 1:]) or '(nothing)'}")
    print(f"    GET /shipments -> {describe(to_pack)}: the warehouse will pack order {order_id}: "
          f"{'yes' if isinstance(packs, list) and order_id in packs else 'NO'}")


place_alices_order("up")
place_alices_order("down")

# %% [markdown]
# With the starter, each order is saved and answered `201`, and only then does the rest run.
# With the relay up, the shipment is written after the answer. With the relay down, the email
# fails, its exception escapes into the server, and the shipment is never written: the
# customer holds a 201 for an order the warehouse will never pack, and nothing was logged about
# it. (This in-process client waits for the background tasks before it hands back the
# response; a real server such as uvicorn sends the response first and runs the tasks while the
# customer reads it. Either way, what a task raises never reaches the customer.)
#
# ## The check
#
# Run it. Each failing test says what it observed and why that matters in production. Fix the
# kata cell, run it again (and the `/shipments` cell below it), then re-run this cell until
# every test passes.

# %% tags=["check"]
%%ipytest
from checks.background_tasks import *

# %% [markdown]
# ## Hints
#
# Stuck? Each click opens one more level: a nudge, then the concept, then a sketch of
# the code. In a terminal, `kata hint background-tasks` opens the same levels.

# %% [markdown] tags=["hint"]
# ### Hint 1: a nudge
#
# In the evidence, find `201 sent`. Everything printed after it happened when the customer
# already had the answer. Which of those steps would you be ready to lose, and which one
# means a parcel never leaves the warehouse? Then look at what happened to `notify_warehouse`
# when the relay was down, and at what the log said about it: could anyone act on it?

# %% [markdown] tags=["hint"]
# ### Hint 2: the concept
#
# FastAPI hands `BackgroundTasks` to Starlette, which runs them after the last byte of the
# response has been sent, one at a time, in the order they were added, and stops at the first
# one that raises. There is no retry, and no one to tell: the status code is already on the
# wire. So a background task is only for work that may be lost. Work that must happen for the
# answer to be true (the shipment of an order answered 201) belongs in the request, in the
# same transaction as the order, so that both are saved or neither is. Work that may be
# lost (the email) can stay a task, but it must not take others down with it: it catches its
# own failure and logs it, with what someone needs to act on it: which order, which customer.
# A log record carries that in its message, or in fields of its own (`extra=`), which a log
# platform can search. Log it where the failure is caught, as a warning or an error; an order
# that went well logs nothing at those levels. And keep the email a background task of the
# request: a task you start yourself with `asyncio.create_task` belongs to no request, and no
# server waits for it.
#
# Read: Starlette, [Background Tasks](https://www.starlette.io/background/); Python,
# [Logging HOWTO](https://docs.python.org/3/howto/logging.html).

# %% [markdown] tags=["hint"]
# ### Hint 3: a sketch
#
# ```python
# logger = logging.getLogger("bookshop.orders")
#
# async def send_confirmation_email(mailer: Mailer, to: str, order_id: int) -> None:
#     try:
#         ...  # send it
#     except Exception:
#         logger.exception(...)  # which order, which address
#
# @app.post("/orders", status_code=201)
# async def place_order(...):
#     ...
#     session.add(order)
#     await session.flush()  # order.id is known from here on
#     session.add(Shipment(order_id=order.id))
#     await session.commit()  # once, for both rows
#     background.add_task(send_confirmation_email, ...)  # the only task left
# ```
# `notify_warehouse` is no longer needed.

# %% [markdown]
# ## The walkthrough

# %% [markdown] tags=["walkthrough"]
# ### The fix, step by step
#
# 1. **Know when tasks run.** FastAPI gives the `BackgroundTasks` you filled to the response,
#    and Starlette runs them after the response's last message has been sent: the evidence
#    shows `201 sent` before any of them. Under uvicorn the customer already has the answer
#    while they run. Starlette runs them one after another and stops at the first that raises;
#    the rest never start, and nothing is retried.
# 2. **Sort the work.** Ask of each step: "if this is lost, is the answer we gave a lie?" The
#    shipment is: a 201 for an order that never ships. The email is not: the order stands,
#    and the email can be resent. Only the second kind may run after the answer.
# 3. **Write what must not be lost in the request's transaction.** Add the `Shipment` to the
#    request's session with the order, and commit once: `flush()` sends the order's INSERT so
#    that `order.id` is known, and the single `commit()` saves the order, its lines and its
#    shipment together, before the response. If the shipment cannot be saved, nothing is, and
#    the customer gets an error instead of a 201. (When the work is a call to another service
#    rather than a row, the same idea is called an *outbox*: write "to do" rows in the
#    transaction, and let a worker with retries do them.)
# 4. **Make the remaining task fail alone, and say what failed.** `send_confirmation_email`
#    catches what `send` raises and logs it with `logger.exception(...)`, which adds the
#    traceback. Its failure then ends with it, and tasks added after it still run. The
#    traceback says what went wrong (the relay refused a connection), not for whom: put the
#    order id (and the address) in the message, `"... order %s to %s", order_id, to`, or in
#    fields of the record, `extra={"order_id": order_id}`, so that support can find the order
#    and resend its email.
# 5. **A task that needs the database opens its own session.** Give tasks plain values (ids)
#    and, if they need the database, the `sessionmaker`, never the request's session or its ORM
#    objects. In FastAPI 0.165 the request's session is in fact still open while the tasks run
#    (the code after `get_session`'s `yield` runs after them), but FastAPI's release notes
#    show that this timing changed in 0.106 and again in 0.118; a task with its own session
#    does not depend on it.
#
# Why not start the email with `asyncio.create_task` instead of a background task? The customer
# does not wait for it either, but the task belongs to no request. A server that stops (every
# deploy) waits for the requests it is serving, and a background task is part of its request:
# under uvicorn 0.54, a request's background task finishes before the server stops, while a
# task from `asyncio.create_task` is cancelled mid-run. asyncio's documentation also warns that
# the event loop keeps only a weak reference to such a task. Why not log a warning naming the
# order before trying the relay, and swallow the failure? That warning is written for every
# order, before anything went wrong: it buries the real failures, and names none of them.
#
# Why not queue the warehouse task first? The email no longer stops it, but the shipment is
# still written after the 201, where a failure cannot reach the customer. Why not make every
# task catch and log? Right for the email; for the shipment it only turns a lost parcel into a
# log line. Why not log the exception alone? The traceback names the relay, not the order:
# nobody knows which customer to write to. Why not await `notify_warehouse` before answering? It then runs before the 201, but
# in a second transaction: an order can be saved without its shipment (the lesson of "One
# request, one session"). And why not send the email before answering too? The customer then waits for the relay, and a
# relay that is down turns an order that was saved into a 500, so the customer orders twice.
#
# Read more: FastAPI, [Background Tasks](https://fastapi.tiangolo.com/tutorial/background-tasks/)
# and [Dependencies with yield](https://fastapi.tiangolo.com/tutorial/dependencies/dependencies-with-yield/)
# (with the [0.106.0](https://fastapi.tiangolo.com/release-notes/#01060) and
# [0.118.0](https://fastapi.tiangolo.com/release-notes/#01180) release notes); Starlette,
# [Background Tasks](https://www.starlette.io/background/); SQLAlchemy,
# [Session basics](https://docs.sqlalchemy.org/en/21/orm/session_basics.html).
#
# ### What to remember
# - Background tasks run after the response has been sent, in order; the first one that raises
#   cancels the rest, and the client never hears of it.
# - If losing the work would make the answer a lie, do it before answering, in the request's
#   transaction (or write an outbox row there). Only best-effort work goes in a background task.
# - Each background task catches and logs its own failure, naming what it was for (the order),
#   takes ids rather than the request's objects, and opens its own session if it needs the
#   database.
# - Warnings and errors are for what went wrong, logged where it is caught; and work after the
#   answer goes in `BackgroundTasks`, which the server waits for, not in a task of your own.
