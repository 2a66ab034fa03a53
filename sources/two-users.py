# %% [markdown]
# # Authorization is tested with two users
#
# **The story.** The shop's test suite was green before each of this year's four security
# incidents, and it is still green today, with every one of them fixed.
#
# 1. In March a refactor of the order routes lost the owner check: for two days Bob could read
#    Alice's order by typing its number in the address bar, and cancel it.
# 2. In May a customer found the back office's list of every order, `GET /admin/orders`, in the
#    front end's JavaScript, called it with his own token, and got every customer's orders.
# 3. In June a penetration tester signed a token of his own, with a key that was not the shop's,
#    and was let in as Alice. The same week, a token copied out of a log a week earlier still
#    worked.
# 4. In August a "guest checkout" experiment served requests that came without any token.
#
# Each fix shipped without a test, and the suite below shows why nobody noticed: every test logs
# in as Carol, the developer's own account. Carol is staff, she may do everything, so the tests
# only ever ask what the shop *lets someone do*, never what it must *refuse*.
#
# The shop's rules, as the code below keeps them today:
# - a customer reads and cancels **her own** orders; anyone else's order is `404 Not Found`,
#   exactly as an order that does not exist;
# - `GET /admin/orders` is for staff: a customer gets `403 Forbidden`;
# - a request without a token gets `401 Unauthorized` on every route;
# - a token counts only if the shop signed it, with its own key, less than 15 minutes ago:
#   any other token gets `401` too.
#
# This is a testing kata: **the shop below is right, and the code you change is its tests.** The
# check runs your tests against the shop as written (they must pass, in either order), and
# against hidden versions of the shop that each have one authorization bug (your tests must fail
# on every one).
#
# **You will learn**
# - why authorization is tested with at least two users (the owner and someone else), a member
#   of staff, and a caller without a token;
# - how to craft the tokens an attacker brings: one signed with another key, one that has expired;
# - why a refusal is asserted by its exact status, not by "anything but 200".
#
# Run the cells from the top (**Run → Run All Cells**), read the evidence, then make the check pass.

# %% tags=["setup"]
from checks import setup_notebook

setup_notebook()

# %% [markdown]
# ## The shop under test
#
# The shop's users: Alice (id 1) and Bob (id 2) are customers, Carol (id 3) is staff. A client
# proves who it is with a bearer token, and `current_user` below is the shop's check of that
# token, as "Tokens are checked, not just decoded" built it: the signature with the shop's key,
# the audience, the issuer, the expiry. Tests get tokens from `bookshop.auth`:
# `bearer_header(user_id, role)` is the `Authorization` header a logged-in client sends, and
# `issue_token(user_id, role, now=..., key=...)` makes a token itself, issued at `now` (by
# default, now) and signed with `key` (by default, the shop's). A token lasts `LIFETIME`
# (15 minutes).
#
# `lifespan` is the shop's own ("The engine belongs to the lifespan"): each run of your tests
# gets a fresh copy of the shop's database, with its three users and no orders. This cell is
# right: leave it as it is.

# %% tags=["app"]
from collections.abc import AsyncIterator
from typing import Annotated

import jwt
from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from bookshop.auth import ALGORITHM, AUDIENCE, ISSUER, CurrentUser, token_key
from bookshop.db import lifespan
from bookshop.models import Order, OrderLine
from bookshop.schemas import OrderLineIn, OrderOut

app = FastAPI(lifespan=lifespan)
bearer = HTTPBearer(auto_error=False)


def refuse(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"})


async def current_user(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> CurrentUser:
    """The caller, from a token the shop signed that has not expired; 401 for anything else."""
    if credentials is None:
        raise refuse("Not authenticated")
    try:
        claims = jwt.decode(credentials.credentials, token_key(), algorithms=[ALGORITHM], audience=AUDIENCE,
                            issuer=ISSUER, options={"require": ["sub", "role", "exp"]})
    except jwt.InvalidTokenError:
        raise refuse("Invalid or expired token") from None
    return CurrentUser(id=int(claims["sub"]), role=claims["role"])


CurrentUserDep = Annotated[CurrentUser, Depends(current_user)]


async def staff_member(user: CurrentUserDep) -> CurrentUser:
    if user.role != "staff":
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="Staff only")
    return user


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.state.sessionmaker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


class NewOrder(BaseModel):
    lines: list[OrderLineIn] = Field(min_length=1)


async def own_order(session: AsyncSession, order_id: int, user: CurrentUser) -> Order:
    # The owner is part of the query: someone else's order is "not found", like one that does not exist.
    order = await session.scalar(
        select(Order).where(Order.id == order_id, Order.user_id == user.id).options(selectinload(Order.lines))
    )
    if order is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="Order not found")
    return order


@app.post("/orders", status_code=201)
async def place_order(body: NewOrder, user: CurrentUserDep, session: SessionDep) -> OrderOut:
    order = Order(user_id=user.id, lines=[OrderLine(book_id=line.book_id, quantity=line.quantity) for line in body.lines])
    session.add(order)
    await session.commit()
    return OrderOut.model_validate(order, from_attributes=True)


@app.get("/orders/{order_id}")
async def read_order(order_id: int, user: CurrentUserDep, session: SessionDep) -> OrderOut:
    return OrderOut.model_validate(await own_order(session, order_id, user), from_attributes=True)


@app.delete("/orders/{order_id}", status_code=204)
async def cancel_order(order_id: int, user: CurrentUserDep, session: SessionDep) -> None:
    await session.delete(await own_order(session, order_id, user))
    await session.commit()


@app.get("/admin/orders")
async def every_order(staff: Annotated[CurrentUser, Depends(staff_member)], session: SessionDep) -> list[OrderOut]:
    orders = await session.scalars(select(Order).options(selectinload(Order.lines)).order_by(Order.id))
    return [OrderOut.model_validate(order, from_attributes=True) for order in orders]

# %% [markdown]
# ## The tests under review
#
# These are the shop's tests. This is the cell you will change: read it first. Who sends each
# request, and which of the shop's rules does a request from that caller ever put to the test?

# %% tags=["kata", "starter"]
import httpx
import pytest
from asgi_lifespan import LifespanManager

from bookshop.auth import bearer_header

CAROL = bearer_header(3, "staff")  # the developer's own account: every route answers her


@pytest.fixture
async def client():
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://shop.test") as client:
            yield client


async def place_order(client, headers) -> dict:
    response = await client.post("/orders", json={"lines": [{"book_id": 3, "quantity": 2}]}, headers=headers)
    assert response.status_code == 201
    return response.json()


@pytest.mark.anyio
async def test_an_order_is_placed_and_read_back(client):
    order = await place_order(client, CAROL)
    response = await client.get(f"/orders/{order['id']}", headers=CAROL)
    assert response.status_code == 200
    assert response.json() == order


@pytest.mark.anyio
async def test_an_order_is_cancelled(client):
    order = await place_order(client, CAROL)
    assert (await client.delete(f"/orders/{order['id']}", headers=CAROL)).status_code == 204
    assert (await client.get(f"/orders/{order['id']}", headers=CAROL)).status_code == 404


@pytest.mark.anyio
async def test_the_back_office_lists_every_order(client):
    order = await place_order(client, CAROL)
    response = await client.get("/admin/orders", headers=CAROL)
    assert response.status_code == 200
    assert order in response.json()

# %% tags=["kata", "solution"]
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from asgi_lifespan import LifespanManager

from bookshop.auth import LIFETIME, bearer_header, issue_token

ALICE, BOB, CAROL = 1, 2, 3  # two customers, and a member of staff


@pytest.fixture
async def client():
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://shop.test") as client:
            yield client


async def place_order(client, headers) -> dict:
    response = await client.post("/orders", json={"lines": [{"book_id": 3, "quantity": 2}]}, headers=headers)
    assert response.status_code == 201
    return response.json()


@pytest.fixture
async def alices_order(client) -> dict:
    return await place_order(client, bearer_header(ALICE))


def with_token(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.anyio
async def test_an_order_is_placed_and_read_back(client, alices_order):
    response = await client.get(f"/orders/{alices_order['id']}", headers=bearer_header(ALICE))
    assert response.status_code == 200
    assert response.json() == alices_order


@pytest.mark.anyio
async def test_an_order_is_cancelled(client, alices_order):
    path = f"/orders/{alices_order['id']}"
    assert (await client.delete(path, headers=bearer_header(ALICE))).status_code == 204
    assert (await client.get(path, headers=bearer_header(ALICE))).status_code == 404


@pytest.mark.anyio
async def test_another_customer_can_neither_read_nor_cancel_it(client, alices_order):
    path = f"/orders/{alices_order['id']}"
    assert (await client.get(path, headers=bearer_header(BOB))).status_code == 404
    assert (await client.delete(path, headers=bearer_header(BOB))).status_code == 404
    still = await client.get(path, headers=bearer_header(ALICE))  # and it is still there, for Alice
    assert still.status_code == 200 and still.json() == alices_order


@pytest.mark.anyio
async def test_the_back_office_lists_every_order(client, alices_order):
    response = await client.get("/admin/orders", headers=bearer_header(CAROL, "staff"))
    assert response.status_code == 200
    assert alices_order in response.json()


@pytest.mark.anyio
async def test_a_customer_is_refused_the_back_office(client, alices_order):
    assert (await client.get("/admin/orders", headers=bearer_header(ALICE))).status_code == 403


@pytest.mark.anyio
async def test_without_a_token_every_route_asks_to_log_in(client, alices_order):
    path = f"/orders/{alices_order['id']}"
    answers = [await client.post("/orders", json={"lines": [{"book_id": 3, "quantity": 1}]}),
               await client.get(path), await client.delete(path), await client.get("/admin/orders")]
    assert [answer.status_code for answer in answers] == [401, 401, 401, 401]


@pytest.mark.anyio
async def test_a_token_signed_with_another_key_is_refused(client, alices_order):
    forged = issue_token(ALICE, key="not-the-shops-key-but-long-enough-for-hs256")
    assert (await client.get(f"/orders/{alices_order['id']}", headers=with_token(forged))).status_code == 401


@pytest.mark.anyio
async def test_an_expired_token_is_refused(client, alices_order):
    expired = issue_token(ALICE, now=datetime.now(UTC) - LIFETIME - timedelta(minutes=1))
    assert (await client.get(f"/orders/{alices_order['id']}", headers=with_token(expired))).status_code == 401

# %% tags=["kata", "decoy:second-customer-only-reads"]
# "Bob must not see Alice's order: test that, and the rest as before." Reading is one route of
# two that take an order's id: whether Bob can cancel her order is never asked.
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from asgi_lifespan import LifespanManager

from bookshop.auth import LIFETIME, bearer_header, issue_token

ALICE, BOB, CAROL = 1, 2, 3


def token(value: str) -> dict:
    return {"Authorization": f"Bearer {value}"}


@pytest.fixture
async def client():
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://shop.test") as client:
            yield client


@pytest.fixture
async def alices_order(client) -> dict:
    response = await client.post("/orders", json={"lines": [{"book_id": 3, "quantity": 2}]}, headers=bearer_header(ALICE))
    assert response.status_code == 201
    return response.json()


@pytest.mark.anyio
async def test_a_customer_reads_and_cancels_her_own_order(client, alices_order):
    path = f"/orders/{alices_order['id']}"
    assert (await client.get(path, headers=bearer_header(ALICE))).json() == alices_order
    assert (await client.delete(path, headers=bearer_header(ALICE))).status_code == 204


@pytest.mark.anyio
async def test_another_customer_cannot_read_it(client, alices_order):
    assert (await client.get(f"/orders/{alices_order['id']}", headers=bearer_header(BOB))).status_code == 404


@pytest.mark.anyio
async def test_only_staff_list_every_order(client, alices_order):
    assert (await client.get("/admin/orders", headers=bearer_header(ALICE))).status_code == 403
    assert (await client.get("/admin/orders", headers=bearer_header(CAROL, "staff"))).status_code == 200


@pytest.mark.anyio
async def test_without_a_token_every_route_asks_to_log_in(client, alices_order):
    path = f"/orders/{alices_order['id']}"
    answers = [await client.post("/orders", json={"lines": [{"book_id": 3, "quantity": 1}]}),
               await client.get(path), await client.delete(path), await client.get("/admin/orders")]
    assert [answer.status_code for answer in answers] == [401, 401, 401, 401]


@pytest.mark.anyio
async def test_forged_and_expired_tokens_are_refused(client, alices_order):
    forged = issue_token(ALICE, key="not-the-shops-key-but-long-enough-for-hs256")
    expired = issue_token(ALICE, now=datetime.now(UTC) - LIFETIME - timedelta(minutes=1))
    for bad in (forged, expired):
        assert (await client.get(f"/orders/{alices_order['id']}", headers=token(bad))).status_code == 401

# %% tags=["kata", "decoy:anything-but-200"]
# "A refusal is anything but a 200: no need to pin the exact status." A cancelled order answers
# 204 and a new one 201: neither is a 200, so a route that does what it must refuse still passes.
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from asgi_lifespan import LifespanManager

from bookshop.auth import LIFETIME, bearer_header, issue_token

ALICE, BOB, CAROL = 1, 2, 3


def token(value: str) -> dict:
    return {"Authorization": f"Bearer {value}"}


@pytest.fixture
async def client():
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://shop.test") as client:
            yield client


@pytest.fixture
async def alices_order(client) -> dict:
    response = await client.post("/orders", json={"lines": [{"book_id": 3, "quantity": 2}]}, headers=bearer_header(ALICE))
    assert response.status_code == 201
    return response.json()


@pytest.mark.anyio
async def test_a_customer_reads_her_own_order(client, alices_order):
    assert (await client.get(f"/orders/{alices_order['id']}", headers=bearer_header(ALICE))).json() == alices_order


@pytest.mark.anyio
async def test_another_customer_is_refused(client, alices_order):
    path = f"/orders/{alices_order['id']}"
    assert (await client.get(path, headers=bearer_header(BOB))).status_code != 200
    assert (await client.delete(path, headers=bearer_header(BOB))).status_code != 200


@pytest.mark.anyio
async def test_only_staff_list_every_order(client, alices_order):
    assert (await client.get("/admin/orders", headers=bearer_header(ALICE))).status_code != 200
    assert (await client.get("/admin/orders", headers=bearer_header(CAROL, "staff"))).status_code == 200


@pytest.mark.anyio
async def test_without_a_token_nothing_is_served(client, alices_order):
    answers = [await client.post("/orders", json={"lines": [{"book_id": 3, "quantity": 1}]}),
               await client.get(f"/orders/{alices_order['id']}"), await client.get("/admin/orders")]
    assert all(answer.status_code != 200 for answer in answers)


@pytest.mark.anyio
async def test_forged_and_expired_tokens_are_refused(client, alices_order):
    forged = issue_token(ALICE, key="not-the-shops-key-but-long-enough-for-hs256")
    expired = issue_token(ALICE, now=datetime.now(UTC) - LIFETIME - timedelta(minutes=1))
    for bad in (forged, expired):
        assert (await client.get(f"/orders/{alices_order['id']}", headers=token(bad))).status_code != 200

# %% tags=["kata", "decoy:tokens-the-shop-made"]
# "Two customers, staff and nobody: every caller is covered." Every token in these tests is one
# the shop signed a moment ago: whether it refuses any other token is never asked.
import httpx
import pytest
from asgi_lifespan import LifespanManager

from bookshop.auth import bearer_header

ALICE, BOB, CAROL = 1, 2, 3


@pytest.fixture
async def client():
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://shop.test") as client:
            yield client


@pytest.fixture
async def alices_order(client) -> dict:
    response = await client.post("/orders", json={"lines": [{"book_id": 3, "quantity": 2}]}, headers=bearer_header(ALICE))
    assert response.status_code == 201
    return response.json()


@pytest.mark.anyio
async def test_another_customer_can_neither_read_nor_cancel_it(client, alices_order):
    path = f"/orders/{alices_order['id']}"
    assert (await client.get(path, headers=bearer_header(BOB))).status_code == 404
    assert (await client.delete(path, headers=bearer_header(BOB))).status_code == 404
    assert (await client.get(path, headers=bearer_header(ALICE))).json() == alices_order


@pytest.mark.anyio
async def test_only_staff_list_every_order(client, alices_order):
    assert (await client.get("/admin/orders", headers=bearer_header(ALICE))).status_code == 403
    assert alices_order in (await client.get("/admin/orders", headers=bearer_header(CAROL, "staff"))).json()


@pytest.mark.anyio
async def test_without_a_token_every_route_asks_to_log_in(client, alices_order):
    path = f"/orders/{alices_order['id']}"
    answers = [await client.post("/orders", json={"lines": [{"book_id": 3, "quantity": 1}]}),
               await client.get(path), await client.delete(path), await client.get("/admin/orders")]
    assert [answer.status_code for answer in answers] == [401, 401, 401, 401]

# %% tags=["kata", "decoy:only-the-expired-token"]
# "A bad token is an old token: test one that has expired." An expired token fails two checks at
# once, its age and, if nobody checks signatures, nothing else: a token signed with another key,
# fresh, is never tried.
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from asgi_lifespan import LifespanManager

from bookshop.auth import LIFETIME, bearer_header, issue_token

ALICE, BOB, CAROL = 1, 2, 3


@pytest.fixture
async def client():
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://shop.test") as client:
            yield client


@pytest.fixture
async def alices_order(client) -> dict:
    response = await client.post("/orders", json={"lines": [{"book_id": 3, "quantity": 2}]}, headers=bearer_header(ALICE))
    assert response.status_code == 201
    return response.json()


@pytest.mark.anyio
async def test_another_customer_can_neither_read_nor_cancel_it(client, alices_order):
    path = f"/orders/{alices_order['id']}"
    assert (await client.get(path, headers=bearer_header(BOB))).status_code == 404
    assert (await client.delete(path, headers=bearer_header(BOB))).status_code == 404
    assert (await client.get(path, headers=bearer_header(ALICE))).json() == alices_order


@pytest.mark.anyio
async def test_only_staff_list_every_order(client, alices_order):
    assert (await client.get("/admin/orders", headers=bearer_header(ALICE))).status_code == 403
    assert alices_order in (await client.get("/admin/orders", headers=bearer_header(CAROL, "staff"))).json()


@pytest.mark.anyio
async def test_without_a_token_every_route_asks_to_log_in(client, alices_order):
    path = f"/orders/{alices_order['id']}"
    answers = [await client.post("/orders", json={"lines": [{"book_id": 3, "quantity": 1}]}),
               await client.get(path), await client.delete(path), await client.get("/admin/orders")]
    assert [answer.status_code for answer in answers] == [401, 401, 401, 401]


@pytest.mark.anyio
async def test_an_expired_token_is_refused(client, alices_order):
    expired = issue_token(ALICE, now=datetime.now(UTC) - LIFETIME - timedelta(minutes=1))
    headers = {"Authorization": f"Bearer {expired}"}
    assert (await client.get(f"/orders/{alices_order['id']}", headers=headers)).status_code == 401

# %% tags=["kata", "decoy:refused-unless-it-raises"]
# "A refused request raises on raise_for_status(): if it raises, it was refused." Nothing fails
# when it does not raise: a route that serves the wrong caller passes every one of these tests.
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from asgi_lifespan import LifespanManager

from bookshop.auth import LIFETIME, bearer_header, issue_token

ALICE, BOB, CAROL = 1, 2, 3


@pytest.fixture
async def client():
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://shop.test") as client:
            yield client


@pytest.fixture
async def alices_order(client) -> dict:
    response = await client.post("/orders", json={"lines": [{"book_id": 3, "quantity": 2}]}, headers=bearer_header(ALICE))
    assert response.status_code == 201
    return response.json()


def refused(response) -> None:
    try:
        response.raise_for_status()
    except httpx.HTTPStatusError:
        return


@pytest.mark.anyio
async def test_another_customer_is_refused(client, alices_order):
    path = f"/orders/{alices_order['id']}"
    refused(await client.get(path, headers=bearer_header(BOB)))
    refused(await client.delete(path, headers=bearer_header(BOB)))


@pytest.mark.anyio
async def test_only_staff_list_every_order(client, alices_order):
    refused(await client.get("/admin/orders", headers=bearer_header(ALICE)))
    assert alices_order in (await client.get("/admin/orders", headers=bearer_header(CAROL, "staff"))).json()


@pytest.mark.anyio
async def test_without_a_token_nothing_is_served(client, alices_order):
    refused(await client.get(f"/orders/{alices_order['id']}"))
    refused(await client.post("/orders", json={"lines": [{"book_id": 3, "quantity": 1}]}))


@pytest.mark.anyio
async def test_forged_and_expired_tokens_are_refused(client, alices_order):
    forged = issue_token(ALICE, key="not-the-shops-key-but-long-enough-for-hs256")
    expired = issue_token(ALICE, now=datetime.now(UTC) - LIFETIME - timedelta(minutes=1))
    for bad in (forged, expired):
        refused(await client.get(f"/orders/{alices_order['id']}", headers={"Authorization": f"Bearer {bad}"}))

# %% tags=["kata", "decoy:any-error-will-do"]
# "A refusal is any error status: 400 or more." Another customer's order answered 403 passes,
# and with it the news that the order exists, which the shop promises to keep to its owner.
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from asgi_lifespan import LifespanManager

from bookshop.auth import LIFETIME, bearer_header, issue_token

ALICE, BOB, CAROL = 1, 2, 3  # two customers, and a member of staff


@pytest.fixture
async def client():
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://shop.test") as client:
            yield client


async def place_order(client, headers) -> dict:
    response = await client.post("/orders", json={"lines": [{"book_id": 3, "quantity": 2}]}, headers=headers)
    assert response.status_code == 201
    return response.json()


@pytest.fixture
async def alices_order(client) -> dict:
    return await place_order(client, bearer_header(ALICE))


def with_token(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.anyio
async def test_an_order_is_placed_and_read_back(client, alices_order):
    response = await client.get(f"/orders/{alices_order['id']}", headers=bearer_header(ALICE))
    assert response.status_code == 200
    assert response.json() == alices_order


@pytest.mark.anyio
async def test_an_order_is_cancelled(client, alices_order):
    path = f"/orders/{alices_order['id']}"
    assert (await client.delete(path, headers=bearer_header(ALICE))).status_code == 204
    assert (await client.get(path, headers=bearer_header(ALICE))).status_code >= 400


@pytest.mark.anyio
async def test_another_customer_can_neither_read_nor_cancel_it(client, alices_order):
    path = f"/orders/{alices_order['id']}"
    assert (await client.get(path, headers=bearer_header(BOB))).status_code >= 400
    assert (await client.delete(path, headers=bearer_header(BOB))).status_code >= 400
    still = await client.get(path, headers=bearer_header(ALICE))  # and it is still there, for Alice
    assert still.status_code == 200 and still.json() == alices_order


@pytest.mark.anyio
async def test_the_back_office_lists_every_order(client, alices_order):
    response = await client.get("/admin/orders", headers=bearer_header(CAROL, "staff"))
    assert response.status_code == 200
    assert alices_order in response.json()


@pytest.mark.anyio
async def test_a_customer_is_refused_the_back_office(client, alices_order):
    assert (await client.get("/admin/orders", headers=bearer_header(ALICE))).status_code >= 400


@pytest.mark.anyio
async def test_without_a_token_every_route_asks_to_log_in(client, alices_order):
    path = f"/orders/{alices_order['id']}"
    answers = [await client.post("/orders", json={"lines": [{"book_id": 3, "quantity": 1}]}),
               await client.get(path), await client.delete(path), await client.get("/admin/orders")]
    assert all(answer.status_code >= 400 for answer in answers)


@pytest.mark.anyio
async def test_a_token_signed_with_another_key_is_refused(client, alices_order):
    forged = issue_token(ALICE, key="not-the-shops-key-but-long-enough-for-hs256")
    assert (await client.get(f"/orders/{alices_order['id']}", headers=with_token(forged))).status_code >= 400


@pytest.mark.anyio
async def test_an_expired_token_is_refused(client, alices_order):
    expired = issue_token(ALICE, now=datetime.now(UTC) - LIFETIME - timedelta(minutes=1))
    assert (await client.get(f"/orders/{alices_order['id']}", headers=with_token(expired))).status_code >= 400

# %% tags=["kata", "decoy:the-order-an-earlier-test-placed"]
# "Alice's order is placed once, by the first test; the others use it: order 1." The later tests
# pass only when the first one ran before them: in another order, Alice's own order is missing.
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from asgi_lifespan import LifespanManager

from bookshop.auth import LIFETIME, bearer_header, issue_token

ALICE, BOB, CAROL = 1, 2, 3


@pytest.fixture
async def client():
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://shop.test") as client:
            yield client


@pytest.mark.anyio
async def test_alice_places_an_order(client):
    response = await client.post("/orders", json={"lines": [{"book_id": 3, "quantity": 2}]}, headers=bearer_header(ALICE))
    assert response.status_code == 201 and response.json()["id"] == 1


@pytest.mark.anyio
async def test_bob_can_neither_read_nor_cancel_it(client):
    assert (await client.get("/orders/1", headers=bearer_header(BOB))).status_code == 404
    assert (await client.delete("/orders/1", headers=bearer_header(BOB))).status_code == 404
    assert (await client.get("/orders/1", headers=bearer_header(ALICE))).status_code == 200


@pytest.mark.anyio
async def test_only_staff_list_every_order(client):
    assert (await client.get("/admin/orders", headers=bearer_header(ALICE))).status_code == 403
    assert (await client.get("/admin/orders", headers=bearer_header(CAROL, "staff"))).status_code == 200


@pytest.mark.anyio
async def test_without_a_token_every_route_asks_to_log_in(client):
    answers = [await client.post("/orders", json={"lines": [{"book_id": 3, "quantity": 1}]}),
               await client.get("/orders/1"), await client.delete("/orders/1"), await client.get("/admin/orders")]
    assert [answer.status_code for answer in answers] == [401, 401, 401, 401]


@pytest.mark.anyio
async def test_forged_and_expired_tokens_are_refused(client):
    forged = issue_token(ALICE, key="not-the-shops-key-but-long-enough-for-hs256")
    expired = issue_token(ALICE, now=datetime.now(UTC) - LIFETIME - timedelta(minutes=1))
    for bad in (forged, expired):
        assert (await client.get("/orders/1", headers={"Authorization": f"Bearer {bad}"})).status_code == 401

# %% tags=["kata", "alternative:test-client"]
# Starlette's TestClient, entered with `with` so that the shop's lifespan runs; plain `def` tests.
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from bookshop.auth import LIFETIME, bearer_header, issue_token

ALICE, BOB, CAROL = 1, 2, 3


@pytest.fixture
def client():
    with TestClient(app) as client:
        yield client


@pytest.fixture
def order_path(client) -> str:
    response = client.post("/orders", json={"lines": [{"book_id": 3, "quantity": 2}]}, headers=bearer_header(ALICE))
    assert response.status_code == 201
    return f"/orders/{response.json()['id']}"


def test_the_owner_reads_and_cancels(client, order_path):
    assert client.get(order_path, headers=bearer_header(ALICE)).status_code == 200
    assert client.delete(order_path, headers=bearer_header(ALICE)).status_code == 204


def test_another_customer_is_told_it_does_not_exist(client, order_path):
    assert client.get(order_path, headers=bearer_header(BOB)).status_code == 404
    assert client.delete(order_path, headers=bearer_header(BOB)).status_code == 404
    assert client.get(order_path, headers=bearer_header(ALICE)).status_code == 200


def test_the_back_office_is_for_staff(client, order_path):
    assert client.get("/admin/orders", headers=bearer_header(BOB)).status_code == 403
    assert client.get("/admin/orders", headers=bearer_header(CAROL, "staff")).status_code == 200


def test_no_token_no_entry(client, order_path):
    assert client.post("/orders", json={"lines": [{"book_id": 1, "quantity": 1}]}).status_code == 401
    assert client.get(order_path).status_code == 401
    assert client.delete(order_path).status_code == 401
    assert client.get("/admin/orders").status_code == 401


def test_bad_tokens(client, order_path):
    forged = issue_token(ALICE, key="a-key-of-my-own-that-the-shop-does-not-have")
    expired = issue_token(ALICE, now=datetime.now(UTC) - 2 * LIFETIME)
    for bad in (forged, expired):
        assert client.get(order_path, headers={"Authorization": f"Bearer {bad}"}).status_code == 401

# %% tags=["kata", "alternative:a-test-class"]
# Everything in one test class: the fixtures and the tests are its methods.
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from asgi_lifespan import LifespanManager

from bookshop.auth import LIFETIME, bearer_header, issue_token


@pytest.mark.anyio
class TestAuthorization:
    @pytest.fixture
    async def client(self):
        async with LifespanManager(app) as manager:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://shop") as c:
                yield c

    @pytest.fixture
    async def path(self, client):
        r = await client.post("/orders", json={"lines": [{"book_id": 3, "quantity": 2}]}, headers=bearer_header(1))
        assert r.status_code == 201
        return f"/orders/{r.json()['id']}"

    async def test_owner_only(self, client, path):
        assert (await client.get(path, headers=bearer_header(2))).status_code == 404
        assert (await client.delete(path, headers=bearer_header(2))).status_code == 404
        assert (await client.get(path, headers=bearer_header(1))).status_code == 200

    async def test_staff_only(self, client, path):
        assert (await client.get("/admin/orders", headers=bearer_header(1))).status_code == 403
        assert (await client.get("/admin/orders", headers=bearer_header(3, "staff"))).status_code == 200

    async def test_no_token(self, client, path):
        for method, url in [("GET", path), ("DELETE", path), ("GET", "/admin/orders")]:
            assert (await client.request(method, url)).status_code == 401
        assert (await client.post("/orders", json={"lines": [{"book_id": 3, "quantity": 1}]})).status_code == 401

    async def test_forged(self, client, path):
        forged = issue_token(1, key="not-the-shops-key-but-long-enough-for-hs256")
        assert (await client.get(path, headers={"Authorization": f"Bearer {forged}"})).status_code == 401

    async def test_expired(self, client, path):
        expired = issue_token(1, now=datetime.now(UTC) - LIFETIME - timedelta(minutes=1))
        assert (await client.get(path, headers={"Authorization": f"Bearer {expired}"})).status_code == 401

# %% tags=["kata", "alternative:one-table-of-callers"]
# One parametrized test: who calls, what they ask, and the exact status the shop must answer.
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from asgi_lifespan import LifespanManager

from bookshop.auth import LIFETIME, bearer_header, issue_token

CALLERS = {
    "alice": lambda: bearer_header(1),
    "bob": lambda: bearer_header(2),
    "carol": lambda: bearer_header(3, "staff"),
    "nobody": lambda: {},
    "forged": lambda: {"Authorization": "Bearer " + issue_token(1, key="x" * 40)},
    "expired": lambda: {"Authorization": "Bearer " + issue_token(1, now=datetime.now(UTC) - LIFETIME - timedelta(seconds=5))},
}
REFUSED = {401, 403, 404}


@pytest.fixture
async def shop():
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://shop.test") as client:
            placed = await client.post("/orders", json={"lines": [{"book_id": 2, "quantity": 1}]}, headers=bearer_header(1))
            assert placed.status_code == 201
            yield client, placed.json()["id"]


@pytest.mark.anyio
@pytest.mark.parametrize(("caller", "method", "path", "expected"), [
    ("alice", "GET", "/orders/{id}", {200}),
    ("bob", "GET", "/orders/{id}", {404}),
    ("bob", "DELETE", "/orders/{id}", {404}),
    ("carol", "GET", "/admin/orders", {200}),
    ("alice", "GET", "/admin/orders", {403}),
    ("nobody", "GET", "/orders/{id}", {401}),
    ("nobody", "DELETE", "/orders/{id}", {401}),
    ("nobody", "POST", "/orders", {401}),
    ("nobody", "GET", "/admin/orders", {401}),
    ("forged", "GET", "/orders/{id}", {401}),
    ("expired", "GET", "/orders/{id}", {401}),
    ("alice", "DELETE", "/orders/{id}", {204}),
])
async def test_who_may_do_what(shop, caller, method, path, expected):
    client, order_id = shop
    body = {"json": {"lines": [{"book_id": 1, "quantity": 1}]}} if method == "POST" else {}
    response = await client.request(method, path.format(id=order_id), headers=CALLERS[caller](), **body)
    assert response.status_code in expected
    if expected & REFUSED:
        mine = await client.get(f"/orders/{order_id}", headers=bearer_header(1))
        assert mine.status_code == 200  # a refused request changed nothing

# %% tags=["kata", "alternative:a-client-per-caller"]
# A client per caller, each with its own headers, and a forged token made the way an attacker
# makes one: Bob's real token, with a payload claiming to be Alice and Bob's signature kept.
import base64
import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from asgi_lifespan import LifespanManager

from bookshop.auth import LIFETIME, bearer_header, issue_token


@pytest.fixture
async def shop():
    async with LifespanManager(app) as manager:
        yield manager.app


def client_for(shop, headers: dict) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=shop), base_url="http://shop.test", headers=headers)


def tampered(token: str, **claims) -> str:
    header, payload, signature = token.split(".")
    decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    changed = base64.urlsafe_b64encode(json.dumps({**decoded, **claims}).encode()).rstrip(b"=").decode()
    return f"{header}.{changed}.{signature}"


@pytest.fixture
async def callers(shop):
    bob_token = bearer_header(2)["Authorization"].removeprefix("Bearer ")
    headers = {
        "alice": bearer_header(1), "bob": bearer_header(2), "carol": bearer_header(3, "staff"), "nobody": {},
        "bob as alice": {"Authorization": f"Bearer {tampered(bob_token, sub='1')}"},
        "old alice": {"Authorization": "Bearer " + issue_token(1, now=datetime.now(UTC) - LIFETIME * 4)},
    }
    clients = {name: client_for(shop, value) for name, value in headers.items()}
    yield clients
    for client in clients.values():
        await client.aclose()


@pytest.fixture
async def order_path(callers) -> str:
    placed = await callers["alice"].post("/orders", json={"lines": [{"book_id": 5, "quantity": 1}]})
    assert placed.status_code == 201
    return f"/orders/{placed.json()['id']}"


@pytest.mark.anyio
async def test_bob_is_refused_alices_order(callers, order_path):
    assert (await callers["bob"].get(order_path)).status_code == 404
    assert (await callers["bob"].delete(order_path)).status_code == 404
    assert (await callers["alice"].get(order_path)).status_code == 200


@pytest.mark.anyio
async def test_staff_and_only_staff_see_every_order(callers, order_path):
    assert (await callers["carol"].get("/admin/orders")).status_code == 200
    assert (await callers["bob"].get("/admin/orders")).status_code == 403


@pytest.mark.anyio
async def test_nobody_is_asked_to_log_in(callers, order_path):
    assert (await callers["nobody"].get(order_path)).status_code == 401
    assert (await callers["nobody"].post("/orders", json={"lines": [{"book_id": 1, "quantity": 1}]})).status_code == 401
    assert (await callers["nobody"].get("/admin/orders")).status_code == 401


@pytest.mark.anyio
async def test_tokens_the_shop_did_not_sign_or_that_expired_are_refused(callers, order_path):
    assert (await callers["bob as alice"].get(order_path)).status_code == 401
    assert (await callers["old alice"].get(order_path)).status_code == 401

# %% [markdown]
# ## The evidence
#
# The next cell places one order as Alice, then sends the shop's requests as each kind of caller:
# Alice, Bob, Carol, nobody (no token), someone with a token signed with another key, and Alice
# with a token issued an hour ago. Each column is one request; each cell, the status the shop
# answered. The tests under review send every request as Carol.

# %% tags=["evidence"]
from datetime import UTC, datetime, timedelta

from bookshop.auth import bearer_header, issue_token
from bookshop.client import shop_client

callers_and_headers = {
    "Alice (customer, the owner)": bearer_header(1),
    "Bob (customer)": bearer_header(2),
    "Carol (staff)": bearer_header(3, "staff"),
    "nobody (no token)": {},
    "a token signed with another key": {"Authorization": "Bearer " + issue_token(1, key="k" * 40)},
    "Alice, token issued an hour ago": {"Authorization": "Bearer " + issue_token(1, now=datetime.now(UTC) - timedelta(hours=1))},
}
with shop_client(app) as the_shop:
    placed = the_shop.post("/orders", json={"lines": [{"book_id": 3, "quantity": 1}]}, headers=callers_and_headers["Alice (customer, the owner)"])
    body = placed.json() if placed.headers.get("content-type") == "application/json" else {}
    path = f"/orders/{body.get('id', 1) if isinstance(body, dict) else 1}"
    requests = [("GET", path), ("GET", "/admin/orders"), ("DELETE", path)]
    print(f"{'Alice placed an order:':<34} POST /orders -> {placed.status_code}\n")
    print(f"{'caller':<34}" + "".join(f"{method + ' ' + url:<20}" for method, url in requests))
    for name in [*list(callers_and_headers)[1:], "Alice (customer, the owner)"]:  # the owner last: she may cancel it
        answers = [the_shop.request(method, url, headers=callers_and_headers[name]).status_code for method, url in requests]
        print(f"{name:<34}" + "".join(f"{answer:<20}" for answer in answers))

# %% [markdown]
# The tests under review send Carol's requests only, and only about Carol's own orders: none of
# the rows above is ever asked. Each row is a rule the shop keeps today that no test checks: a
# version of the shop that answered `200` in Bob's row, or in "nobody", would pass the same tests
# just as well.
#
# ## The check
#
# Run it. It runs your tests in processes of its own: against the shop as written (in the order
# you wrote them, then reversed), then against versions of the shop that each break one rule of
# the shop. Change the kata cell, run it, then run the check again.

# %% tags=["check"]
%%ipytest
from checks.two_users import *

# %% [markdown]
# ## Hints
#
# Stuck? Each click opens one more level: a nudge, then the concept, then a sketch of
# the code. In a terminal, `kata hint two-users` opens the same levels.

# %% [markdown] tags=["hint"]
# ### Hint 1: a nudge
#
# Go through the evidence's table row by row. For each row other than Carol's, which test of
# yours would fail if the shop answered that row with a `200`? And for a cancel that should be
# refused, what status would a route that cancels anyway answer?

# %% [markdown] tags=["hint"]
# ### Hint 2: the concept
#
# Authorization is a rule about *two* parties: who asks, and whose object it is. A test with one
# user can only show that the shop lets someone in; the bugs are in what it must refuse. So each
# rule gets a test from the side that must be refused: another customer on each route that takes
# an order's id (reading *and* cancelling, and the order still there afterwards), a customer on a
# staff route, no token at all, and the tokens an attacker brings. `bookshop.auth.issue_token`
# makes those: `key=` signs with another key (a forgery), `now=` issues it in the past (expired).
# Assert the exact status (`404`, `403`, `401`): "not 200" lets a `204` through.
#
# Read: OWASP API Security Top 10 2023, [API1 Broken Object Level
# Authorization](https://owasp.org/API-Security/editions/2023/en/0xa1-broken-object-level-authorization/)
# and [API5 Broken Function Level
# Authorization](https://owasp.org/API-Security/editions/2023/en/0xa5-broken-function-level-authorization/);
# PyJWT, [Usage](https://pyjwt.readthedocs.io/en/stable/usage.html).

# %% [markdown] tags=["hint"]
# ### Hint 3: a sketch
#
# ```python
# @pytest.fixture
# async def alices_order(client) -> dict:
#     response = await client.post("/orders", json=..., headers=bearer_header(1))
#     assert response.status_code == 201
#     return response.json()
#
# @pytest.mark.anyio
# async def test_another_customer_can_neither_read_nor_cancel_it(client, alices_order):
#     path = f"/orders/{alices_order['id']}"
#     assert (await client.get(path, headers=bearer_header(2))).status_code == 404
#     assert (await client.delete(path, headers=bearer_header(2))).status_code == 404
#     assert (await client.get(path, headers=bearer_header(1))).status_code == 200  # still there
#
# forged = issue_token(1, key="a key of at least 32 bytes that is not the shop's")
# expired = issue_token(1, now=datetime.now(UTC) - LIFETIME - timedelta(minutes=1))
# ```
# Then: a customer on `/admin/orders` (`403`) and Carol (`200`); no token on every route (`401`);
# each bad token (`401`).

# %% [markdown]
# ## The walkthrough

# %% [markdown] tags=["walkthrough"]
# ### The fix, step by step
#
# 1. **An order that belongs to someone.** A fixture places an order as Alice and hands it to
#    each test, so every test starts from an order with a known owner, in any order.
# 2. **The owner, then someone else.** Alice reads and cancels her own order (the shop still
#    works for her). Bob asks for it and cancels it: both `404`, and Alice's order is still there
#    after his attempt. Exactly `404`, not "a refusal": a `403` would tell Bob the order exists,
#    which the shop promises nobody but its owner learns. Each route that takes an order's id gets its own "someone else" request:
#    the March bug was on one route only.
# 3. **A customer on the staff route, and the staff.** Alice gets `403` from `/admin/orders`;
#    Carol gets `200` with Alice's order in it. The second half is what keeps a fix that locks
#    everyone out from passing.
# 4. **Nobody.** Without a token, every route answers `401`. A shop that served those requests as
#    a "guest" would answer `201` to a new order and `404` or `403` elsewhere: only the exact
#    status catches it.
# 5. **The tokens an attacker brings.** One signed with a key that is not the shop's, and one
#    issued long enough ago to have expired: both `401`. Each needs a test of its own: a check that
#    skips the signature can still refuse an expired token, and the other way round.
#
# Why not "anything but 200"? A cancel that should have been refused answers `204`, a new order
# `201`; both are "not 200". Why not `try: response.raise_for_status() except HTTPStatusError:
# pass`? It passes when the request is refused, and also when it is not: nothing ever fails.
# Why not one order placed by the first test and read by the others? Run the tests in another
# order (pytest-randomly, `-k`, pytest-xdist) and the order is not there.
#
# Read more: OWASP API Security Top 10 2023,
# [API1](https://owasp.org/API-Security/editions/2023/en/0xa1-broken-object-level-authorization/),
# [API2](https://owasp.org/API-Security/editions/2023/en/0xa2-broken-authentication/) and
# [API5](https://owasp.org/API-Security/editions/2023/en/0xa5-broken-function-level-authorization/);
# FastAPI, [Testing](https://fastapi.tiangolo.com/tutorial/testing/).
#
# ### What to remember
# - Authorization is tested from the side that must be refused: another customer, a customer on
#   a staff route, nobody, a forged token, an expired one. One user, however privileged, tests
#   none of it.
# - Every route that takes an id gets its "someone else" request, and the object is checked
#   afterwards: refused *and* unchanged.
# - Assert the exact status of a refusal; craft bad tokens with the shop's own token maker.
