# %% [markdown]
# # Every object checks its owner
#
# **The story.** Alice wrote to support on Monday: "I got an email saying my order was
# cancelled. I did not cancel it." The logs tell the rest. On Sunday evening Bob, logged in as
# himself, opened the invoice of his own order, `GET /orders/102/invoice`, then changed `102`
# to `101` in the address bar. The API answered with Alice's invoice: her name, her email, the
# books she bought. He then sent `DELETE /orders/101`, and the API cancelled her order.
#
# Every order route requires a logged-in customer (`CurrentUserDep`, the shop's token check from
# "Tokens are checked, not just decoded"). None of them looks at *which* customer.
#
# What the routes must do from now on: `GET /orders/{order_id}`, `GET /orders/{order_id}/invoice`
# and `DELETE /orders/{order_id}` serve the current customer's own orders only. For anyone else's
# order they answer `404 Not Found`, exactly as for an order that does not exist: the shop says
# nothing about other customers' orders. (`403 Forbidden` is also accepted: order ids are
# sequential, so that one exists is no secret; what it holds is.) The routes answer `401` without
# a token, as they do now.
#
# **You will learn**
# - why checking that a caller is logged in says nothing about what they may see;
# - how to make the owner part of the query, so that another customer's order is simply not found;
# - how to find every route that takes an id, so that none is forgotten.
#
# Run the cells from the top (**Run → Run All Cells**), read the evidence, then make the check pass.

# %% [markdown]
# ## The threat model
#
# **OWASP API1:2023, Broken Object Level Authorization** (BOLA, also called IDOR). The attacker
# is any customer with an account, which anyone can create. They change an id in a URL, or
# count through them: `101`, `102`, `103`. What they gain: every customer's invoices (names,
# emails, what they read), and the power to cancel anyone's orders. It is the first item of the
# list because it is the easiest to exploit and the most common.

# %% tags=["setup"]
from checks import setup_notebook

setup_notebook()

# %% [markdown]
# ## The bookshop around the problem
#
# `lifespan` is the shop's own ("The engine belongs to the lifespan"). `CurrentUserDep` comes from
# the shop's auth module: the current customer (`id`, `role`) from a valid token, or a `401`.
# `Order` has a `user_id`, its owner, and `lines` (book and quantity); `OrderOut` is how the API
# shows an order. `invoice_for` builds the invoice of an order whose lines are loaded: it names
# the customer.

# %%
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from bookshop.auth import CurrentUser, CurrentUserDep
from bookshop.db import lifespan
from bookshop.models import Book, Order, User
from bookshop.schemas import OrderOut


class InvoiceLine(BaseModel):
    title: str
    quantity: int
    price_cents: int
    amount_cents: int


class Invoice(BaseModel):
    order_id: int
    customer: str
    email: str
    lines: list[InvoiceLine]
    total_cents: int


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.state.sessionmaker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


async def invoice_for(session: AsyncSession, order: Order) -> Invoice:
    customer = await session.get(User, order.user_id)
    books = {book.id: book for book in await session.scalars(
        select(Book).where(Book.id.in_([line.book_id for line in order.lines])))}
    lines = [InvoiceLine(title=books[line.book_id].title, quantity=line.quantity,
                         price_cents=books[line.book_id].price_cents,
                         amount_cents=books[line.book_id].price_cents * line.quantity) for line in order.lines]
    return Invoice(order_id=order.id, customer=customer.name, email=customer.email, lines=lines,
                   total_cents=sum(line.amount_cents for line in lines))

# %% [markdown]
# ## The code under review
#
# This is the cell you will change. Each route receives the current customer as `user`: what does
# each one do with it?

# %% tags=["kata", "starter"]
app = FastAPI(lifespan=lifespan)


async def find_order(session: AsyncSession, order_id: int) -> Order:
    order = await session.scalar(select(Order).where(Order.id == order_id).options(selectinload(Order.lines)))
    if order is None:
        raise HTTPException(status_code=404, detail="Order not found")
    return order


@app.get("/orders/{order_id}")
async def read_order(order_id: int, user: CurrentUserDep, session: SessionDep) -> OrderOut:
    return OrderOut.model_validate(await find_order(session, order_id), from_attributes=True)


@app.get("/orders/{order_id}/invoice")
async def read_invoice(order_id: int, user: CurrentUserDep, session: SessionDep) -> Invoice:
    return await invoice_for(session, await find_order(session, order_id))


@app.delete("/orders/{order_id}", status_code=204)
async def cancel_order(order_id: int, user: CurrentUserDep, session: SessionDep) -> None:
    await session.delete(await find_order(session, order_id))
    await session.commit()

# %% tags=["kata", "solution"]
app = FastAPI(lifespan=lifespan)


async def find_order(session: AsyncSession, order_id: int, user: CurrentUser) -> Order:
    # The owner is part of the query: another customer's order is not found, exactly like an
    # order that does not exist, and nothing of it is ever loaded.
    order = await session.scalar(
        select(Order).where(Order.id == order_id, Order.user_id == user.id).options(selectinload(Order.lines))
    )
    if order is None:
        raise HTTPException(status_code=404, detail="Order not found")
    return order


@app.get("/orders/{order_id}")
async def read_order(order_id: int, user: CurrentUserDep, session: SessionDep) -> OrderOut:
    return OrderOut.model_validate(await find_order(session, order_id, user), from_attributes=True)


@app.get("/orders/{order_id}/invoice")
async def read_invoice(order_id: int, user: CurrentUserDep, session: SessionDep) -> Invoice:
    return await invoice_for(session, await find_order(session, order_id, user))


@app.delete("/orders/{order_id}", status_code=204)
async def cancel_order(order_id: int, user: CurrentUserDep, session: SessionDep) -> None:
    await session.delete(await find_order(session, order_id, user))
    await session.commit()

# %% tags=["kata", "decoy:reads-checked-cancel-not"]
# "The leak was reading other people's orders: check the owner where an order is shown." The two
# GET routes are safe now; cancelling still takes any id, so Bob can no longer read Alice's order,
# but can still cancel it.
app = FastAPI(lifespan=lifespan)


async def find_order(session: AsyncSession, order_id: int) -> Order:
    order = await session.scalar(select(Order).where(Order.id == order_id).options(selectinload(Order.lines)))
    if order is None:
        raise HTTPException(status_code=404, detail="Order not found")
    return order


def shown_to(order: Order, user: CurrentUser) -> Order:
    if order.user_id != user.id:
        raise HTTPException(status_code=404, detail="Order not found")
    return order


@app.get("/orders/{order_id}")
async def read_order(order_id: int, user: CurrentUserDep, session: SessionDep) -> OrderOut:
    return OrderOut.model_validate(shown_to(await find_order(session, order_id), user), from_attributes=True)


@app.get("/orders/{order_id}/invoice")
async def read_invoice(order_id: int, user: CurrentUserDep, session: SessionDep) -> Invoice:
    return await invoice_for(session, shown_to(await find_order(session, order_id), user))


@app.delete("/orders/{order_id}", status_code=204)
async def cancel_order(order_id: int, user: CurrentUserDep, session: SessionDep) -> None:
    await session.delete(await find_order(session, order_id))
    await session.commit()

# %% tags=["kata", "decoy:owner-checked-after-the-cancel"]
# "Every route compares the owner before it answers." Cancelling compares it after the COMMIT: Bob
# is told 404, and Alice's order is gone all the same.
app = FastAPI(lifespan=lifespan)


async def find_order(session: AsyncSession, order_id: int) -> Order:
    order = await session.scalar(select(Order).where(Order.id == order_id).options(selectinload(Order.lines)))
    if order is None:
        raise HTTPException(status_code=404, detail="Order not found")
    return order


def shown_to(order: Order, user: CurrentUser) -> Order:
    if order.user_id != user.id:
        raise HTTPException(status_code=404, detail="Order not found")
    return order


@app.get("/orders/{order_id}")
async def read_order(order_id: int, user: CurrentUserDep, session: SessionDep) -> OrderOut:
    return OrderOut.model_validate(shown_to(await find_order(session, order_id), user), from_attributes=True)


@app.get("/orders/{order_id}/invoice")
async def read_invoice(order_id: int, user: CurrentUserDep, session: SessionDep) -> Invoice:
    return await invoice_for(session, shown_to(await find_order(session, order_id), user))


@app.delete("/orders/{order_id}", status_code=204)
async def cancel_order(order_id: int, user: CurrentUserDep, session: SessionDep) -> None:
    order = await find_order(session, order_id)
    await session.delete(order)
    await session.commit()
    shown_to(order, user)

# %% tags=["kata", "decoy:owner-from-the-query-string"]
# "The front end knows who is logged in: it sends the customer's id with every request, and the
# query filters on it." The id comes from the client, so it is whatever the client says: Bob adds
# ?user_id=1 and is Alice for every order route.
app = FastAPI(lifespan=lifespan)


async def find_order(session: AsyncSession, order_id: int, user_id: int) -> Order:
    order = await session.scalar(
        select(Order).where(Order.id == order_id, Order.user_id == user_id).options(selectinload(Order.lines))
    )
    if order is None:
        raise HTTPException(status_code=404, detail="Order not found")
    return order


@app.get("/orders/{order_id}")
async def read_order(order_id: int, user_id: int, user: CurrentUserDep, session: SessionDep) -> OrderOut:
    return OrderOut.model_validate(await find_order(session, order_id, user_id), from_attributes=True)


@app.get("/orders/{order_id}/invoice")
async def read_invoice(order_id: int, user_id: int, user: CurrentUserDep, session: SessionDep) -> Invoice:
    return await invoice_for(session, await find_order(session, order_id, user_id))


@app.delete("/orders/{order_id}", status_code=204)
async def cancel_order(order_id: int, user_id: int, user: CurrentUserDep, session: SessionDep) -> None:
    await session.delete(await find_order(session, order_id, user_id))
    await session.commit()

# %% tags=["kata", "decoy:invoice-forgotten"]
# "The order and its cancellation take the owner into account now." The invoice route was written
# by someone else, a month later, with its own look-up by id: it still hands out any invoice.
app = FastAPI(lifespan=lifespan)


async def find_order(session: AsyncSession, order_id: int, user: CurrentUser) -> Order:
    order = await session.scalar(
        select(Order).where(Order.id == order_id, Order.user_id == user.id).options(selectinload(Order.lines))
    )
    if order is None:
        raise HTTPException(status_code=404, detail="Order not found")
    return order


@app.get("/orders/{order_id}")
async def read_order(order_id: int, user: CurrentUserDep, session: SessionDep) -> OrderOut:
    return OrderOut.model_validate(await find_order(session, order_id, user), from_attributes=True)


@app.get("/orders/{order_id}/invoice")
async def read_invoice(order_id: int, user: CurrentUserDep, session: SessionDep) -> Invoice:
    order = await session.scalar(select(Order).where(Order.id == order_id).options(selectinload(Order.lines)))
    if order is None:
        raise HTTPException(status_code=404, detail="Order not found")
    return await invoice_for(session, order)


@app.delete("/orders/{order_id}", status_code=204)
async def cancel_order(order_id: int, user: CurrentUserDep, session: SessionDep) -> None:
    await session.delete(await find_order(session, order_id, user))
    await session.commit()

# %% tags=["kata", "alternative:forbidden-403"]
# Look the order up by id, then compare its owner, and answer 403 when it is someone else's: the
# caller learns that the order exists, which the story allows, and nothing of what it holds.
app = FastAPI(lifespan=lifespan)


async def find_order(session: AsyncSession, order_id: int, user: CurrentUser) -> Order:
    order = await session.scalar(select(Order).where(Order.id == order_id).options(selectinload(Order.lines)))
    if order is None:
        raise HTTPException(status_code=404, detail="Order not found")
    if order.user_id != user.id:
        raise HTTPException(status_code=403, detail="This order belongs to another customer")
    return order


@app.get("/orders/{order_id}")
async def read_order(order_id: int, user: CurrentUserDep, session: SessionDep) -> OrderOut:
    return OrderOut.model_validate(await find_order(session, order_id, user), from_attributes=True)


@app.get("/orders/{order_id}/invoice")
async def read_invoice(order_id: int, user: CurrentUserDep, session: SessionDep) -> Invoice:
    return await invoice_for(session, await find_order(session, order_id, user))


@app.delete("/orders/{order_id}", status_code=204)
async def cancel_order(order_id: int, user: CurrentUserDep, session: SessionDep) -> None:
    await session.delete(await find_order(session, order_id, user))
    await session.commit()

# %% tags=["kata", "alternative:own-order-dependency"]
# A dependency resolves the path's order_id to the current customer's order, and every route
# takes the order from it: a new route that needs an order cannot forget the owner.
app = FastAPI(lifespan=lifespan)


async def own_order(order_id: int, user: CurrentUserDep, session: SessionDep) -> Order:
    order = await session.scalar(
        select(Order).where(Order.id == order_id, Order.user_id == user.id).options(selectinload(Order.lines))
    )
    if order is None:
        raise HTTPException(status_code=404, detail="Order not found")
    return order


OwnOrderDep = Annotated[Order, Depends(own_order)]


@app.get("/orders/{order_id}")
async def read_order(order: OwnOrderDep) -> OrderOut:
    return OrderOut.model_validate(order, from_attributes=True)


@app.get("/orders/{order_id}/invoice")
async def read_invoice(order: OwnOrderDep, session: SessionDep) -> Invoice:
    return await invoice_for(session, order)


@app.delete("/orders/{order_id}", status_code=204)
async def cancel_order(order: OwnOrderDep, session: SessionDep) -> None:
    await session.delete(order)
    await session.commit()

# %% [markdown]
# ## The evidence
#
# The orders the evidence starts from: Alice (user 1) has orders 101 and 103, Bob (user 2) has
# order 102. The next cell lists every route of the app that takes an id in its path, the way
# the check finds them (it walks `app.routes`), and sends each one, as Bob, with the id of
# Alice's order 101. Then it shows what is left of Alice's orders in the database.

# %% tags=["evidence"]
from fastapi.routing import APIRoute

from bookshop.auth import bearer_header
from bookshop.client import describe, shop_client
from bookshop.db import database_url
from bookshop.observe import run_sql

ORDERS = ("INSERT INTO orders (id, user_id) VALUES (101, 1), (102, 2), (103, 1)",
          "INSERT INTO order_lines (order_id, book_id, quantity) VALUES (101, 1, 2), (101, 5, 1), (102, 3, 1), (103, 8, 3)")
run_sql(database_url(), "DELETE FROM order_lines WHERE order_id IN (101, 102, 103)",
        "DELETE FROM orders WHERE id IN (101, 102, 103)", *ORDERS)  # the same start on every run

BOB = bearer_header(2)
with_an_id = [(method, route.path_format.format(**{name: 101 for name in route.param_convertors}))
              for route in app.routes if isinstance(route, APIRoute) and route.param_convertors
              for method in sorted(route.methods - {"HEAD"})]
with_an_id.sort(key=lambda request: request[0] != "GET")  # what reads first, then what changes
with shop_client(app) as client:
    print(f"{'as Bob, with Alice order 101':<38} answer")
    for method, url in with_an_id:
        print(f"{method + ' ' + url:<38} {describe(client.request(method, url, headers=BOB), 90)}")
    print(f"\n{'as Bob, with his own order 102':<38}")
    print(f"{'GET /orders/102':<38} {describe(client.get('/orders/102', headers=BOB), 90)}")

print("\nAlice's orders in the database now:",
      run_sql(database_url(), "SELECT id, user_id FROM orders WHERE user_id = 1 ORDER BY id"))

# %% [markdown]
# With the starter, Bob reads Alice's order and her invoice, then cancels her order: order 101 is
# gone from the database. Each route has `user` in its parameters, and so requires a token; none
# of them uses it.
#
# ## The check
#
# The check does what the evidence does, on every route of the app that has an id in its path
# (including any route you add), with every method each route accepts. As Bob, and with every
# query parameter and header a route declares that names a user set to Alice's id (as an
# attacker reading the API's documentation would), each route must answer `404` (or `403`),
# show nothing of Alice's, and change nothing. Without a token, each must answer `401`. Alice
# must still read and cancel her own orders.

# %% tags=["check"]
%%ipytest
from checks.object_ownership import *

# %% [markdown]
# ## Hints
#
# Stuck? Each click opens one more level: a nudge, then the concept, then a sketch of
# the code. In a terminal, `kata hint object-ownership` opens the same levels.

# %% [markdown] tags=["hint"]
# ### Hint 1: a nudge
#
# `find_order` answers one question: does an order with this id exist? Which question should it
# answer instead, and which of its parameters would it need for that? Then check each route:
# which of them still loads an order some other way?

# %% [markdown] tags=["hint"]
# ### Hint 2: the concept
#
# Authentication says who the caller is; authorization, for each object, says whether that caller
# may have it. The surest way is to make the owner part of the query that loads the object: the
# database then returns only the caller's own order, and anything else is "not found", before
# any of it is read or changed. The owner is always the authenticated user from the token, never
# an id the client sends. And every route that takes an id needs it: list them from `app.routes`.
#
# Read: OWASP, [API1:2023 Broken Object Level Authorization](https://owasp.org/API-Security/editions/2023/en/0xa1-broken-object-level-authorization/);
# FastAPI, [Dependencies](https://fastapi.tiangolo.com/tutorial/dependencies/).

# %% [markdown] tags=["hint"]
# ### Hint 3: a sketch
#
# ```python
# async def find_order(session: AsyncSession, order_id: int, user: CurrentUser) -> Order:
#     order = await session.scalar(
#         select(Order).where(Order.id == order_id, Order.user_id == user.id).options(selectinload(Order.lines))
#     )
#     if order is None:
#         raise HTTPException(status_code=404, detail="Order not found")
#     return order
# ```
# Then pass `user` from every route, the cancellation included.

# %% [markdown]
# ## The walkthrough

# %% [markdown] tags=["walkthrough"]
# ### The fix, step by step
#
# 1. **The owner belongs in the query.** `find_order` selects by id *and* by `Order.user_id ==
#    user.id`. Another customer's order is then exactly like one that does not exist: the same
#    404, and nothing of it loaded, so nothing can leak by mistake into a log or an error.
# 2. **Every route that takes an id.** All three call `find_order` with `user`. A route added
#    next month with its own `session.get(Order, order_id)` reopens the hole, which is why the
#    check (and your own test suite should) walks `app.routes` for every path with an id instead
#    of testing the routes someone remembered. A dependency that turns the path's `order_id`
#    into the caller's order (the `own-order-dependency` alternative) makes the safe way the
#    easy one.
# 3. **Check before you act.** A route that changes something checks the owner before the
#    change, not after the `COMMIT`: a 404 sent after the order was deleted is too late.
# 4. **The user comes from the token only.** An id in the query string, a header or the body is
#    what the client says, and any client can say anything. `CurrentUserDep` is what the server
#    verified.
#
# **404 or 403?** 404 tells another customer nothing, not even that the order exists, and it is
# what the story asks for. 403 ("this order belongs to someone else") is honest and also safe
# here, since order ids are sequential; where ids are secret (invoice numbers in a URL sent by
# email), 404 is the one that keeps them so. The check accepts either.
#
# Sequential ids make BOLA easier to find, but random ids (UUIDs) do not fix it: they leak
# through shared links, logs and referrers. The check per object is the fix.
#
# Read more: OWASP, [API1:2023 Broken Object Level Authorization](https://owasp.org/API-Security/editions/2023/en/0xa1-broken-object-level-authorization/)
# and the [Authorization Cheat Sheet](https://cheatsheetseries.owasp.org/cheatsheets/Authorization_Cheat_Sheet.html);
# SQLAlchemy, [ORM querying](https://docs.sqlalchemy.org/en/21/orm/queryguide/select.html).
#
# ### What to remember
# - Logged in is not allowed: every route that loads an object by id checks that it belongs to
#   the caller.
# - Put the owner in the query (`where(Order.id == order_id, Order.user_id == user.id)`), so that
#   someone else's object is not found: 404, nothing loaded.
# - The owner is the user from the verified token, never an id the client sends.
# - Test it by inventory: every route with an id in its path, every method, as another user.
