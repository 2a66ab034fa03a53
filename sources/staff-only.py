# %% [markdown]
# # Staff routes refuse customers
#
# **The story.** The shop's back office is a handful of routes under `/admin`: staff list every
# order, change a book's stock after a delivery, and refund an order. On Monday the accountant
# found three refunds nobody on the staff had made, all of them to orders of one customer, Dave.
# The audit log says the refunds were made by `customer 41`: Dave himself. He had opened his
# browser's developer tools on the shop's front end, found the URL of the refund button in the
# staff pages' JavaScript, and called it with his own token. Every staff route asks for a logged-in
# user; none asks whether that user is staff. One of them, the order list, does not even ask who
# is calling, "because it only reads".
#
# What the API must do, from now on. **Public**, for anyone: `GET /books`, `GET /books/{book_id}`,
# and the API documentation (`/docs`, `/redoc`, `/openapi.json`). **Customers**, logged in:
# `GET /orders`, their own orders. **Everything else is for staff.** A caller with no token (or a
# bad one) gets `401` with `WWW-Authenticate: Bearer` (log in first); a logged-in customer gets
# `403 Forbidden` and nothing changes. Whether the staff routes appear in `/docs` is a separate
# decision: the check does not care, because an attacker does not read the docs to find them.
#
# **You will learn**
# - the difference between *authentication* (who is calling) and *authorization* (what they may
#   do), and why a route that asks only the first is open to every customer;
# - why hiding a route from the OpenAPI document hides nothing;
# - how one dependency on a router protects every route under it, including the ones added next
#   year;
# - where the role must come from, and where it must never come from.
#
# Run the cells from the top (**Run → Run All Cells**), read the evidence, then make the check pass.

# %% [markdown]
# ## The threat model
#
# **OWASP API5:2023, Broken Function Level Authorization.** The attacker is any customer: an
# account costs nothing, and it comes with a valid token. The staff URLs are no secret (they are
# in the front end's JavaScript, in old API documents, in browser histories, or guessed from
# `/orders`). What they gain: money (refunds of their own orders, or anyone's), a catalogue they
# can sabotage (stock set to zero), and every customer's orders, which is personal data.

# %% tags=["setup"]
from checks import setup_notebook

setup_notebook()

# %% [markdown]
# ## The bookshop around the problem
#
# `lifespan` is the shop's own, the one "The engine belongs to the lifespan" ends with (an engine
# per app, a `sessionmaker` in `request.state`). `CurrentUserDep` is the shop's token handling, as
# "Tokens are checked, not just decoded" builds it: it reads the bearer token, checks it (signature,
# expiry, audience, issuer), and gives the route a `CurrentUser` with the user's `id` and `role`
# (`"customer"` or `"staff"`), or answers `401` with `WWW-Authenticate: Bearer`. The role is a claim
# in the token, which the shop signed at login: a client cannot change it without breaking the
# signature. Alice (1) and Bob (2) are customers, Carol (3) is staff.

# %%
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, status
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from bookshop.auth import CurrentUser, CurrentUserDep
from bookshop.db import lifespan
from bookshop.models import Book, Order
from bookshop.schemas import BookOut


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.state.sessionmaker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


class OrderLineOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    book_id: int
    quantity: int


class OrderOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    user_id: int
    lines: list[OrderLineOut]


class StockChange(BaseModel):
    change: int  # copies delivered (or, negative, copies written off)


class Refund(BaseModel):
    order_id: int
    refunded_cents: int


audit_log: list[str] = []  # who did what in the back office


def audit(user: CurrentUser, action: str) -> None:
    audit_log.append(f"{user.role} {user.id}: {action}")


async def load_order(session: AsyncSession, order_id: int) -> Order:
    order = await session.get(Order, order_id, options=[selectinload(Order.lines)])
    if order is None:
        raise HTTPException(status_code=404, detail="Order not found")
    return order

# %% [markdown]
# ## The code under review
#
# This is the cell you will change. Read it first: each route asks `CurrentUserDep` *who* is
# calling. Which line asks what that caller is *allowed* to do? And which route does not even ask
# who is calling?

# %% tags=["kata", "starter"]
app = FastAPI(lifespan=lifespan)

admin = APIRouter(prefix="/admin", tags=["staff"])


@admin.get("/orders")
async def every_order(session: SessionDep) -> list[OrderOut]:
    # "It only reads, and only the staff pages know this URL."
    orders = await session.scalars(select(Order).options(selectinload(Order.lines)).order_by(Order.id))
    return [OrderOut.model_validate(order) for order in orders]


@admin.post("/books/{book_id}/stock")
async def change_stock(book_id: int, body: StockChange, user: CurrentUserDep, session: SessionDep) -> BookOut:
    book = await session.get(Book, book_id)
    if book is None:
        raise HTTPException(status_code=404, detail="Book not found")
    if book.stock + body.change < 0:
        raise HTTPException(status_code=409, detail=f"Only {book.stock} copies in stock")
    book.stock += body.change
    audit(user, f"stock of book {book_id} {body.change:+d}")
    await session.commit()
    return BookOut.model_validate(book)


@admin.post("/orders/{order_id}/refund")
async def refund(order_id: int, user: CurrentUserDep, session: SessionDep) -> Refund:
    order = await load_order(session, order_id)
    refunded = 0
    for line in order.lines:
        book = await session.get(Book, line.book_id)
        book.stock += line.quantity  # the copies go back on the shelf
        refunded += book.price_cents * line.quantity
    await session.delete(order)
    audit(user, f"refunded order {order_id}: {refunded} cents")
    await session.commit()
    return Refund(order_id=order_id, refunded_cents=refunded)


app.include_router(admin)

# %% tags=["kata", "solution"]
app = FastAPI(lifespan=lifespan)


async def require_staff(user: CurrentUserDep) -> CurrentUser:
    # Authentication first (CurrentUserDep: no valid token, 401), then authorization: the role
    # comes from the token the shop signed, never from anything else the client sends.
    if user.role != "staff":
        raise HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail="Staff only")
    return user


# Every route of this router, today's and the ones added later, runs require_staff first.
admin = APIRouter(prefix="/admin", tags=["staff"], dependencies=[Depends(require_staff)])


@admin.get("/orders")
async def every_order(session: SessionDep) -> list[OrderOut]:
    orders = await session.scalars(select(Order).options(selectinload(Order.lines)).order_by(Order.id))
    return [OrderOut.model_validate(order) for order in orders]


@admin.post("/books/{book_id}/stock")
async def change_stock(book_id: int, body: StockChange, user: CurrentUserDep, session: SessionDep) -> BookOut:
    # CurrentUserDep again: FastAPI runs it once per request and hands both the same user.
    book = await session.get(Book, book_id)
    if book is None:
        raise HTTPException(status_code=404, detail="Book not found")
    if book.stock + body.change < 0:
        raise HTTPException(status_code=409, detail=f"Only {book.stock} copies in stock")
    book.stock += body.change
    audit(user, f"stock of book {book_id} {body.change:+d}")
    await session.commit()
    return BookOut.model_validate(book)


@admin.post("/orders/{order_id}/refund")
async def refund(order_id: int, user: CurrentUserDep, session: SessionDep) -> Refund:
    order = await load_order(session, order_id)
    refunded = 0
    for line in order.lines:
        book = await session.get(Book, line.book_id)
        book.stock += line.quantity
        refunded += book.price_cents * line.quantity
    await session.delete(order)
    audit(user, f"refunded order {order_id}: {refunded} cents")
    await session.commit()
    return Refund(order_id=order_id, refunded_cents=refunded)


app.include_router(admin)

# %% tags=["kata", "decoy:console-header"]
# "Let the back-office console in: it sends its own header." The header is written by the client,
# like every header: a customer who reads the console's requests sends it too.
app = FastAPI(lifespan=lifespan)


async def require_staff(request: Request, user: CurrentUserDep) -> CurrentUser:
    # The staff pages send this header, the shop's front end never does.
    if user.role != "staff" and request.headers.get("x-backoffice-console") != "1":
        raise HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail="Staff only")
    return user


# Every route of this router, today's and the ones added later, runs require_staff first.
admin = APIRouter(prefix="/admin", tags=["staff"], dependencies=[Depends(require_staff)])


@admin.get("/orders")
async def every_order(session: SessionDep) -> list[OrderOut]:
    orders = await session.scalars(select(Order).options(selectinload(Order.lines)).order_by(Order.id))
    return [OrderOut.model_validate(order) for order in orders]


@admin.post("/books/{book_id}/stock")
async def change_stock(book_id: int, body: StockChange, user: CurrentUserDep, session: SessionDep) -> BookOut:
    # CurrentUserDep again: FastAPI runs it once per request and hands both the same user.
    book = await session.get(Book, book_id)
    if book is None:
        raise HTTPException(status_code=404, detail="Book not found")
    if book.stock + body.change < 0:
        raise HTTPException(status_code=409, detail=f"Only {book.stock} copies in stock")
    book.stock += body.change
    audit(user, f"stock of book {book_id} {body.change:+d}")
    await session.commit()
    return BookOut.model_validate(book)


@admin.post("/orders/{order_id}/refund")
async def refund(order_id: int, user: CurrentUserDep, session: SessionDep) -> Refund:
    order = await load_order(session, order_id)
    refunded = 0
    for line in order.lines:
        book = await session.get(Book, line.book_id)
        book.stock += line.quantity
        refunded += book.price_cents * line.quantity
    await session.delete(order)
    audit(user, f"refunded order {order_id}: {refunded} cents")
    await session.commit()
    return Refund(order_id=order_id, refunded_cents=refunded)


app.include_router(admin)

# %% tags=["kata", "decoy:acting-as-in-the-body"]
# "The back office says whom it acts as, in the request." The body is the client's too.
app = FastAPI(lifespan=lifespan)


async def require_staff(request: Request, user: CurrentUserDep) -> CurrentUser:
    role = user.role
    if request.method == "POST":  # the back office says whom it acts as
        try:
            role = (await request.json()).get("acting_as", role)
        except ValueError:
            pass
    if role != "staff":
        raise HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail="Staff only")
    return user


# Every route of this router, today's and the ones added later, runs require_staff first.
admin = APIRouter(prefix="/admin", tags=["staff"], dependencies=[Depends(require_staff)])


@admin.get("/orders")
async def every_order(session: SessionDep) -> list[OrderOut]:
    orders = await session.scalars(select(Order).options(selectinload(Order.lines)).order_by(Order.id))
    return [OrderOut.model_validate(order) for order in orders]


@admin.post("/books/{book_id}/stock")
async def change_stock(book_id: int, body: StockChange, user: CurrentUserDep, session: SessionDep) -> BookOut:
    # CurrentUserDep again: FastAPI runs it once per request and hands both the same user.
    book = await session.get(Book, book_id)
    if book is None:
        raise HTTPException(status_code=404, detail="Book not found")
    if book.stock + body.change < 0:
        raise HTTPException(status_code=409, detail=f"Only {book.stock} copies in stock")
    book.stock += body.change
    audit(user, f"stock of book {book_id} {body.change:+d}")
    await session.commit()
    return BookOut.model_validate(book)


@admin.post("/orders/{order_id}/refund")
async def refund(order_id: int, user: CurrentUserDep, session: SessionDep) -> Refund:
    order = await load_order(session, order_id)
    refunded = 0
    for line in order.lines:
        book = await session.get(Book, line.book_id)
        book.stock += line.quantity
        refunded += book.price_cents * line.quantity
    await session.delete(order)
    audit(user, f"refunded order {order_id}: {refunded} cents")
    await session.commit()
    return Refund(order_id=order_id, refunded_cents=refunded)


app.include_router(admin)

# %% tags=["kata", "decoy:role-from-an-unchecked-token"]
# "The role is in the token: read it there." Decoded without its signature, the token says
# whatever its writer wants: any caller signs one that says staff.
import jwt
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

app = FastAPI(lifespan=lifespan)


unchecked = HTTPBearer(auto_error=False)


async def require_staff(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(unchecked)]) -> CurrentUser:
    # "Just read the role from the token": decoded, but its signature never checked.
    if credentials is None:
        raise HTTPException(status_code=401, detail="Not authenticated", headers={"WWW-Authenticate": "Bearer"})
    try:
        claims = jwt.decode(credentials.credentials, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        raise HTTPException(status_code=401, detail="Invalid token", headers={"WWW-Authenticate": "Bearer"})
    if claims.get("role") != "staff":
        raise HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail="Staff only")
    return CurrentUser(id=int(claims["sub"]), role=claims["role"])


# Every route of this router, today's and the ones added later, runs require_staff first.
admin = APIRouter(prefix="/admin", tags=["staff"], dependencies=[Depends(require_staff)])


@admin.get("/orders")
async def every_order(session: SessionDep) -> list[OrderOut]:
    orders = await session.scalars(select(Order).options(selectinload(Order.lines)).order_by(Order.id))
    return [OrderOut.model_validate(order) for order in orders]


@admin.post("/books/{book_id}/stock")
async def change_stock(book_id: int, body: StockChange, user: Annotated[CurrentUser, Depends(require_staff)], session: SessionDep) -> BookOut:
    # CurrentUserDep again: FastAPI runs it once per request and hands both the same user.
    book = await session.get(Book, book_id)
    if book is None:
        raise HTTPException(status_code=404, detail="Book not found")
    if book.stock + body.change < 0:
        raise HTTPException(status_code=409, detail=f"Only {book.stock} copies in stock")
    book.stock += body.change
    audit(user, f"stock of book {book_id} {body.change:+d}")
    await session.commit()
    return BookOut.model_validate(book)


@admin.post("/orders/{order_id}/refund")
async def refund(order_id: int, user: Annotated[CurrentUser, Depends(require_staff)], session: SessionDep) -> Refund:
    order = await load_order(session, order_id)
    refunded = 0
    for line in order.lines:
        book = await session.get(Book, line.book_id)
        book.stock += line.quantity
        refunded += book.price_cents * line.quantity
    await session.delete(order)
    audit(user, f"refunded order {order_id}: {refunded} cents")
    await session.commit()
    return Refund(order_id=order_id, refunded_cents=refunded)


app.include_router(admin)

# %% tags=["kata", "decoy:refused-before-the-commit"]
# "Check the role just before the commit: the database never sees a customer's change." The audit
# log does: it records a refund and a stock change that never happened, by a customer.
app = FastAPI(lifespan=lifespan)


async def require_staff(user: CurrentUserDep) -> CurrentUser:
    # Authentication first (CurrentUserDep: no valid token, 401), then authorization: the role
    # comes from the token the shop signed, never from anything else the client sends.
    if user.role != "staff":
        raise HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail="Staff only")
    return user


# Every route of this router, today's and the ones added later, runs require_staff first.
admin = APIRouter(prefix="/admin", tags=["staff"])


@admin.get("/orders", dependencies=[Depends(require_staff)])
async def every_order(session: SessionDep) -> list[OrderOut]:
    orders = await session.scalars(select(Order).options(selectinload(Order.lines)).order_by(Order.id))
    return [OrderOut.model_validate(order) for order in orders]


@admin.post("/books/{book_id}/stock")
async def change_stock(book_id: int, body: StockChange, user: CurrentUserDep, session: SessionDep) -> BookOut:
    # CurrentUserDep again: FastAPI runs it once per request and hands both the same user.
    book = await session.get(Book, book_id)
    if book is None:
        raise HTTPException(status_code=404, detail="Book not found")
    if book.stock + body.change < 0:
        raise HTTPException(status_code=409, detail=f"Only {book.stock} copies in stock")
    book.stock += body.change
    audit(user, f"stock of book {book_id} {body.change:+d}")
    await require_staff(user)  # before the commit: nothing is saved for a customer
    await session.commit()
    return BookOut.model_validate(book)


@admin.post("/orders/{order_id}/refund")
async def refund(order_id: int, user: CurrentUserDep, session: SessionDep) -> Refund:
    order = await load_order(session, order_id)
    refunded = 0
    for line in order.lines:
        book = await session.get(Book, line.book_id)
        book.stock += line.quantity
        refunded += book.price_cents * line.quantity
    await session.delete(order)
    audit(user, f"refunded order {order_id}: {refunded} cents")
    await require_staff(user)
    await session.commit()
    return Refund(order_id=order_id, refunded_cents=refunded)


app.include_router(admin)

# %% tags=["kata", "decoy:hidden-from-the-schema"]
# "Take the back office out of /docs: what nobody can see, nobody can call." The routes vanish from
# the OpenAPI document and stay exactly as callable as before, by anyone who has the URL.
app = FastAPI(lifespan=lifespan)

admin = APIRouter(prefix="/admin", tags=["staff"], include_in_schema=False)


@admin.get("/orders")
async def every_order(session: SessionDep) -> list[OrderOut]:
    orders = await session.scalars(select(Order).options(selectinload(Order.lines)).order_by(Order.id))
    return [OrderOut.model_validate(order) for order in orders]


@admin.post("/books/{book_id}/stock")
async def change_stock(book_id: int, body: StockChange, user: CurrentUserDep, session: SessionDep) -> BookOut:
    book = await session.get(Book, book_id)
    if book is None:
        raise HTTPException(status_code=404, detail="Book not found")
    if book.stock + body.change < 0:
        raise HTTPException(status_code=409, detail=f"Only {book.stock} copies in stock")
    book.stock += body.change
    audit(user, f"stock of book {book_id} {body.change:+d}")
    await session.commit()
    return BookOut.model_validate(book)


@admin.post("/orders/{order_id}/refund")
async def refund(order_id: int, user: CurrentUserDep, session: SessionDep) -> Refund:
    order = await load_order(session, order_id)
    refunded = 0
    for line in order.lines:
        book = await session.get(Book, line.book_id)
        book.stock += line.quantity
        refunded += book.price_cents * line.quantity
    await session.delete(order)
    audit(user, f"refunded order {order_id}: {refunded} cents")
    await session.commit()
    return Refund(order_id=order_id, refunded_cents=refunded)


app.include_router(admin)

# %% tags=["kata", "decoy:the-routes-that-write"]
# "Guard what changes money and stock; the order list only reads." Reading every customer's orders
# is the leak: names of books, quantities, who bought what. A customer gets all of it.
app = FastAPI(lifespan=lifespan)


async def require_staff(user: CurrentUserDep) -> CurrentUser:
    if user.role != "staff":
        raise HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail="Staff only")
    return user


StaffDep = Annotated[CurrentUser, Depends(require_staff)]
admin = APIRouter(prefix="/admin", tags=["staff"])


@admin.get("/orders")
async def every_order(user: CurrentUserDep, session: SessionDep) -> list[OrderOut]:
    orders = await session.scalars(select(Order).options(selectinload(Order.lines)).order_by(Order.id))
    return [OrderOut.model_validate(order) for order in orders]


@admin.post("/books/{book_id}/stock")
async def change_stock(book_id: int, body: StockChange, user: StaffDep, session: SessionDep) -> BookOut:
    book = await session.get(Book, book_id)
    if book is None:
        raise HTTPException(status_code=404, detail="Book not found")
    if book.stock + body.change < 0:
        raise HTTPException(status_code=409, detail=f"Only {book.stock} copies in stock")
    book.stock += body.change
    audit(user, f"stock of book {book_id} {body.change:+d}")
    await session.commit()
    return BookOut.model_validate(book)


@admin.post("/orders/{order_id}/refund")
async def refund(order_id: int, user: StaffDep, session: SessionDep) -> Refund:
    order = await load_order(session, order_id)
    refunded = 0
    for line in order.lines:
        book = await session.get(Book, line.book_id)
        book.stock += line.quantity
        refunded += book.price_cents * line.quantity
    await session.delete(order)
    audit(user, f"refunded order {order_id}: {refunded} cents")
    await session.commit()
    return Refund(order_id=order_id, refunded_cents=refunded)


app.include_router(admin)

# %% tags=["kata", "decoy:role-from-a-header"]
# "The staff pages send X-Role, so a staff member can switch to the customer view for support
# calls: read the role there, and fall back to the token's." The header is whatever the client
# writes: any customer who sends X-Role: staff is staff.
from fastapi import Header

app = FastAPI(lifespan=lifespan)


async def require_staff(user: CurrentUserDep, x_role: Annotated[str | None, Header()] = None) -> CurrentUser:
    if (x_role or user.role) != "staff":
        raise HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail="Staff only")
    return user


admin = APIRouter(prefix="/admin", tags=["staff"], dependencies=[Depends(require_staff)])


@admin.get("/orders")
async def every_order(session: SessionDep) -> list[OrderOut]:
    orders = await session.scalars(select(Order).options(selectinload(Order.lines)).order_by(Order.id))
    return [OrderOut.model_validate(order) for order in orders]


@admin.post("/books/{book_id}/stock")
async def change_stock(book_id: int, body: StockChange, user: CurrentUserDep, session: SessionDep) -> BookOut:
    book = await session.get(Book, book_id)
    if book is None:
        raise HTTPException(status_code=404, detail="Book not found")
    if book.stock + body.change < 0:
        raise HTTPException(status_code=409, detail=f"Only {book.stock} copies in stock")
    book.stock += body.change
    audit(user, f"stock of book {book_id} {body.change:+d}")
    await session.commit()
    return BookOut.model_validate(book)


@admin.post("/orders/{order_id}/refund")
async def refund(order_id: int, user: CurrentUserDep, session: SessionDep) -> Refund:
    order = await load_order(session, order_id)
    refunded = 0
    for line in order.lines:
        book = await session.get(Book, line.book_id)
        book.stock += line.quantity
        refunded += book.price_cents * line.quantity
    await session.delete(order)
    audit(user, f"refunded order {order_id}: {refunded} cents")
    await session.commit()
    return Refund(order_id=order_id, refunded_cents=refunded)


app.include_router(admin)

# %% tags=["kata", "decoy:forbidden-for-everyone"]
# "Anyone who is not staff gets the same answer, 403: no need to tell them more." A caller without
# a token is not forbidden, they are unknown: the front end, told 403, shows "you may not do this"
# instead of sending them to the login page, and nothing says how to authenticate.
import jwt
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from bookshop.auth import read_token

app = FastAPI(lifespan=lifespan)
staff_bearer = HTTPBearer(auto_error=False)


async def require_staff(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(staff_bearer)]) -> CurrentUser:
    try:
        claims = read_token(credentials.credentials)
    except (AttributeError, jwt.InvalidTokenError):  # no token at all, or a bad one
        raise HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail="Staff only")
    if claims["role"] != "staff":
        raise HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail="Staff only")
    return CurrentUser(id=int(claims["sub"]), role=claims["role"])


admin = APIRouter(prefix="/admin", tags=["staff"], dependencies=[Depends(require_staff)])


@admin.get("/orders")
async def every_order(session: SessionDep) -> list[OrderOut]:
    orders = await session.scalars(select(Order).options(selectinload(Order.lines)).order_by(Order.id))
    return [OrderOut.model_validate(order) for order in orders]


@admin.post("/books/{book_id}/stock")
async def change_stock(book_id: int, body: StockChange, user: Annotated[CurrentUser, Depends(require_staff)], session: SessionDep) -> BookOut:
    book = await session.get(Book, book_id)
    if book is None:
        raise HTTPException(status_code=404, detail="Book not found")
    if book.stock + body.change < 0:
        raise HTTPException(status_code=409, detail=f"Only {book.stock} copies in stock")
    book.stock += body.change
    audit(user, f"stock of book {book_id} {body.change:+d}")
    await session.commit()
    return BookOut.model_validate(book)


@admin.post("/orders/{order_id}/refund")
async def refund(order_id: int, user: Annotated[CurrentUser, Depends(require_staff)], session: SessionDep) -> Refund:
    order = await load_order(session, order_id)
    refunded = 0
    for line in order.lines:
        book = await session.get(Book, line.book_id)
        book.stock += line.quantity
        refunded += book.price_cents * line.quantity
    await session.delete(order)
    audit(user, f"refunded order {order_id}: {refunded} cents")
    await session.commit()
    return Refund(order_id=order_id, refunded_cents=refunded)


app.include_router(admin)

# %% tags=["kata", "decoy:staff-on-the-whole-app"]
# "Deny by default: put the staff check on the app itself, so no route can ever be forgotten." No
# route is forgotten, and none is open either: the catalogue now refuses every shopper, and
# customers cannot see their own orders.
async def require_staff(user: CurrentUserDep) -> CurrentUser:
    if user.role != "staff":
        raise HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail="Staff only")
    return user


app = FastAPI(lifespan=lifespan, dependencies=[Depends(require_staff)])
admin = APIRouter(prefix="/admin", tags=["staff"])


@admin.get("/orders")
async def every_order(session: SessionDep) -> list[OrderOut]:
    orders = await session.scalars(select(Order).options(selectinload(Order.lines)).order_by(Order.id))
    return [OrderOut.model_validate(order) for order in orders]


@admin.post("/books/{book_id}/stock")
async def change_stock(book_id: int, body: StockChange, user: CurrentUserDep, session: SessionDep) -> BookOut:
    book = await session.get(Book, book_id)
    if book is None:
        raise HTTPException(status_code=404, detail="Book not found")
    if book.stock + body.change < 0:
        raise HTTPException(status_code=409, detail=f"Only {book.stock} copies in stock")
    book.stock += body.change
    audit(user, f"stock of book {book_id} {body.change:+d}")
    await session.commit()
    return BookOut.model_validate(book)


@admin.post("/orders/{order_id}/refund")
async def refund(order_id: int, user: CurrentUserDep, session: SessionDep) -> Refund:
    order = await load_order(session, order_id)
    refunded = 0
    for line in order.lines:
        book = await session.get(Book, line.book_id)
        book.stock += line.quantity
        refunded += book.price_cents * line.quantity
    await session.delete(order)
    audit(user, f"refunded order {order_id}: {refunded} cents")
    await session.commit()
    return Refund(order_id=order_id, refunded_cents=refunded)


app.include_router(admin)

# %% tags=["kata", "alternative:on-the-include"]
# The dependency given where the router is included: same effect, every route under /admin.
app = FastAPI(lifespan=lifespan)


async def require_staff(user: CurrentUserDep) -> CurrentUser:
    if user.role != "staff":
        raise HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail="Staff only")
    return user


admin = APIRouter(prefix="/admin", tags=["staff"])


@admin.get("/orders")
async def every_order(session: SessionDep) -> list[OrderOut]:
    orders = await session.scalars(select(Order).options(selectinload(Order.lines)).order_by(Order.id))
    return [OrderOut.model_validate(order) for order in orders]


@admin.post("/books/{book_id}/stock")
async def change_stock(book_id: int, body: StockChange, user: CurrentUserDep, session: SessionDep) -> BookOut:
    book = await session.get(Book, book_id)
    if book is None:
        raise HTTPException(status_code=404, detail="Book not found")
    if book.stock + body.change < 0:
        raise HTTPException(status_code=409, detail=f"Only {book.stock} copies in stock")
    book.stock += body.change
    audit(user, f"stock of book {book_id} {body.change:+d}")
    await session.commit()
    return BookOut.model_validate(book)


@admin.post("/orders/{order_id}/refund")
async def refund(order_id: int, user: CurrentUserDep, session: SessionDep) -> Refund:
    order = await load_order(session, order_id)
    refunded = 0
    for line in order.lines:
        book = await session.get(Book, line.book_id)
        book.stock += line.quantity
        refunded += book.price_cents * line.quantity
    await session.delete(order)
    audit(user, f"refunded order {order_id}: {refunded} cents")
    await session.commit()
    return Refund(order_id=order_id, refunded_cents=refunded)


app.include_router(admin, dependencies=[Depends(require_staff)])

# %% tags=["kata", "alternative:staff-parameter-on-each-route"]
# A StaffDep parameter on each route instead of CurrentUserDep: every route asks for staff itself.
# It works as long as nobody adds a route with CurrentUserDep by habit.
app = FastAPI(lifespan=lifespan)


async def require_staff(user: CurrentUserDep) -> CurrentUser:
    if user.role != "staff":
        raise HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail="Staff only")
    return user


StaffDep = Annotated[CurrentUser, Depends(require_staff)]
admin = APIRouter(prefix="/admin", tags=["staff"])


@admin.get("/orders")
async def every_order(staff: StaffDep, session: SessionDep) -> list[OrderOut]:
    orders = await session.scalars(select(Order).options(selectinload(Order.lines)).order_by(Order.id))
    return [OrderOut.model_validate(order) for order in orders]


@admin.post("/books/{book_id}/stock")
async def change_stock(book_id: int, body: StockChange, staff: StaffDep, session: SessionDep) -> BookOut:
    book = await session.get(Book, book_id)
    if book is None:
        raise HTTPException(status_code=404, detail="Book not found")
    if book.stock + body.change < 0:
        raise HTTPException(status_code=409, detail=f"Only {book.stock} copies in stock")
    book.stock += body.change
    audit(staff, f"stock of book {book_id} {body.change:+d}")
    await session.commit()
    return BookOut.model_validate(book)


@admin.post("/orders/{order_id}/refund")
async def refund(order_id: int, staff: StaffDep, session: SessionDep) -> Refund:
    order = await load_order(session, order_id)
    refunded = 0
    for line in order.lines:
        book = await session.get(Book, line.book_id)
        book.stock += line.quantity
        refunded += book.price_cents * line.quantity
    await session.delete(order)
    audit(staff, f"refunded order {order_id}: {refunded} cents")
    await session.commit()
    return Refund(order_id=order_id, refunded_cents=refunded)


app.include_router(admin)

# %% tags=["kata", "alternative:role-read-from-the-database"]
# The role looked up in the users table on every staff request, rather than taken from the token:
# a demotion then takes effect at once instead of when the token expires. Either source is the
# server's own; neither is the client's.
from bookshop.models import User

app = FastAPI(lifespan=lifespan)


async def require_staff(user: CurrentUserDep, session: SessionDep) -> CurrentUser:
    role = await session.scalar(select(User.role).where(User.id == user.id))
    if role != "staff":
        raise HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail="Staff only")
    return user


admin = APIRouter(prefix="/admin", tags=["staff"], dependencies=[Depends(require_staff)])


@admin.get("/orders")
async def every_order(session: SessionDep) -> list[OrderOut]:
    orders = await session.scalars(select(Order).options(selectinload(Order.lines)).order_by(Order.id))
    return [OrderOut.model_validate(order) for order in orders]


@admin.post("/books/{book_id}/stock")
async def change_stock(book_id: int, body: StockChange, user: CurrentUserDep, session: SessionDep) -> BookOut:
    book = await session.get(Book, book_id)
    if book is None:
        raise HTTPException(status_code=404, detail="Book not found")
    if book.stock + body.change < 0:
        raise HTTPException(status_code=409, detail=f"Only {book.stock} copies in stock")
    book.stock += body.change
    audit(user, f"stock of book {book_id} {body.change:+d}")
    await session.commit()
    return BookOut.model_validate(book)


@admin.post("/orders/{order_id}/refund")
async def refund(order_id: int, user: CurrentUserDep, session: SessionDep) -> Refund:
    order = await load_order(session, order_id)
    refunded = 0
    for line in order.lines:
        book = await session.get(Book, line.book_id)
        book.stock += line.quantity
        refunded += book.price_cents * line.quantity
    await session.delete(order)
    audit(user, f"refunded order {order_id}: {refunded} cents")
    await session.commit()
    return Refund(order_id=order_id, refunded_cents=refunded)


app.include_router(admin)

# %% [markdown]
# The public and the customer routes are not part of the problem: they stay as they are. Run this
# cell again whenever you run the kata cell, since the kata cell makes a new `app`.

# %%
@app.get("/books")
async def list_books(session: SessionDep) -> list[BookOut]:
    books = await session.scalars(select(Book).order_by(Book.id))
    return [BookOut.model_validate(book) for book in books]


@app.get("/books/{book_id}")
async def read_book(book_id: int, session: SessionDep) -> BookOut:
    book = await session.get(Book, book_id)
    if book is None:
        raise HTTPException(status_code=404, detail="Book not found")
    return BookOut.model_validate(book)


@app.get("/orders")
async def my_orders(user: CurrentUserDep, session: SessionDep) -> list[OrderOut]:
    orders = await session.scalars(
        select(Order).where(Order.user_id == user.id).options(selectinload(Order.lines)).order_by(Order.id)
    )
    return [OrderOut.model_validate(order) for order in orders]

# %% [markdown]
# ## The evidence
#
# The next cell gives Alice one order (two copies of *Dune*) and Bob one (a copy of *Kindred*),
# then walks through every route the app serves, the way an attacker with the app's code would:
# from the app's routes, not from its documentation. Since FastAPI 0.137, `app.include_router`
# no longer copies a router's routes into `app.routes`: it adds one entry for the whole router,
# with no path of its own, and the cell first shows that. `fastapi.routing.iter_route_contexts`
# lists the routes behind such entries, each with its full path. Each route that is neither public
# nor for customers is then tried twice: with no token, and with Alice's token (a plain customer).
# The last column says whether `/openapi.json` lists the route. Below the table: what Alice's
# calls changed in the shop.

# %% tags=["evidence"]
import re

from fastapi.routing import iter_route_contexts

from bookshop.auth import bearer_header
from bookshop.client import describe, shop_client
from bookshop.db import database_url
from bookshop.observe import run_sql


def place_orders() -> None:
    """Alice's order 1 (two Dune), Bob's order 2 (one Kindred), the seed's stock: the same start every run."""
    run_sql(database_url(), "DELETE FROM order_lines", "DELETE FROM orders",
            "UPDATE books SET stock = 5 WHERE id = 3", "UPDATE books SET stock = 3 WHERE id = 5",
            "INSERT INTO orders (id, user_id) VALUES (1, 1), (2, 2)",
            "INSERT INTO order_lines (id, order_id, book_id, quantity) VALUES (1, 1, 3, 2), (2, 2, 5, 1)")


def shop_state() -> str:
    orders = run_sql(database_url(), "SELECT id, user_id FROM orders ORDER BY id")
    stock = dict(run_sql(database_url(), "SELECT id, stock FROM books WHERE id IN (3, 5)"))
    return f"orders {[f'{i} (user {u})' for i, u in orders]}; Dune in stock: {stock[3]}; Kindred: {stock[5]}"


EXAMPLES = {"book_id": "3", "order_id": "2"}  # Dune, and Bob's order
BODIES = {("POST", "/admin/books/{book_id}/stock"): {"change": -5}}  # write Dune off the shelf
NOT_FOR_STAFF_ONLY = {"/books", "/books/{book_id}", "/orders", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"}

print("app.routes:", [getattr(route, "path", f"{type(route).__name__} (no path)") for route in app.routes])
place_orders()
print(f"before: {shop_state()}")
documented = set((app.openapi().get("paths") or {}))
alice = bearer_header(1, "customer")
print(f"\n{'route':<38}{'no token':<26}{'Alice (customer)':<30}{'in /openapi.json'}")
with shop_client(app) as client:
    for route in iter_route_contexts(app.routes):
        if route.path in NOT_FOR_STAFF_ONLY or not route.methods:
            continue
        for method in sorted(route.methods - {"HEAD"}):
            url = re.sub(r"\{(\w+)[^}]*\}", lambda m: EXAMPLES.get(m.group(1), "1"), route.path)
            body = BODIES.get((method, route.path))
            anonymous = client.request(method, url, json=body)
            customer = client.request(method, url, json=body, headers=alice)
            print(f"{method + ' ' + url:<38}{describe(anonymous, 20):<26}{describe(customer, 24):<30}"
                  f"{'yes' if route.path in documented else 'no'}")
print(f"\nafter:  {shop_state()}")
print(f"audit log: {audit_log[-3:]}")

# %% [markdown]
# With the starter, the order list answers everyone, even with no token, and Alice's token opens
# every staff route: she wrote *Dune* off the shelf and refunded Bob's order, and the audit log
# says so in plain words (`customer 1`). Everything was logged, nothing was refused. Hiding the
# routes from `/openapi.json` would change the last column, and nothing else.
#
# ## The check
#
# The check is a set of attacks. It lists every route of your app (not only the ones it knows),
# and tries each route that is not public with no token, with a customer's token, and with a
# customer's token plus every way a request could *claim* to be staff. It also makes sure Carol
# can still do her job and that shoppers still reach the catalogue. Fix the kata cell, run it
# again (and the cell under it), then re-run this cell until every test passes.

# %% tags=["check"]
%%ipytest
from checks.staff_only import *

# %% [markdown]
# ## Hints
#
# Stuck? Each click opens one more level: a nudge, then the concept, then a sketch of
# the code. In a terminal, `kata hint staff-only` opens the same levels.

# %% [markdown] tags=["hint"]
# ### Hint 1: a nudge
#
# `CurrentUserDep` answers one question: is there a valid token, and whose is it? A customer's
# token passes it as well as Carol's. What does a staff route need to know on top of that, and
# where could one piece of code ask it for every route under `/admin` at once, so that the next
# route someone adds there is covered without anyone remembering?

# %% [markdown] tags=["hint"]
# ### Hint 2: the concept
#
# Authorization is a dependency too. Write one that takes the current user (so it answers `401`
# when there is none) and raises `403 Forbidden` unless their role is `staff`. Then attach it to
# the whole router: `APIRouter(dependencies=[...])` runs those dependencies before every route of
# the router, whatever the route's own parameters are, and FastAPI runs a dependency only once per
# request even if a route asks for it again. Take the role from the verified token (or from the
# database), never from a header, a query parameter or a cookie the client writes.
#
# Read: FastAPI, [Dependencies in path operation decorators](https://fastapi.tiangolo.com/tutorial/dependencies/dependencies-in-path-operation-decorators/)
# and [Bigger Applications](https://fastapi.tiangolo.com/tutorial/bigger-applications/) (the
# `dependencies` of an `APIRouter`); OWASP,
# [API5:2023 Broken Function Level Authorization](https://owasp.org/API-Security/editions/2023/en/0xa5-broken-function-level-authorization/).

# %% [markdown] tags=["hint"]
# ### Hint 3: a sketch
#
# ```python
# async def require_staff(user: CurrentUserDep) -> CurrentUser:
#     if user.role != "staff":
#         raise HTTPException(status_code=403, detail="Staff only")
#     return user
#
# admin = APIRouter(prefix="/admin", tags=["staff"], dependencies=[Depends(require_staff)])
# ```
# Keep the routes as they are; the order list needs nothing of its own any more.

# %% [markdown]
# ## The walkthrough

# %% [markdown] tags=["walkthrough"]
# ### The fix, step by step
#
# 1. **Two questions, two answers.** `CurrentUserDep` authenticates: no token or a bad one is a
#    `401` with `WWW-Authenticate: Bearer`, which tells the client to log in. Authorization is a
#    second question, asked of a known user: may *this* user call *this* route? If not, `403`:
#    logging in again would not help.
# 2. **One dependency that asks both.** `require_staff` depends on `current_user`, so an unknown
#    caller still gets the `401`, then refuses any role but `staff` with `403`. The role comes
#    from the token, which the shop signed at login: the client cannot change it without breaking
#    the signature. (Reading it from the `users` table instead is also right, and makes a demotion
#    take effect at once; the check accepts both.)
# 3. **On the router, not on each route.** `APIRouter(..., dependencies=[Depends(require_staff)])`
#    (or the same on `app.include_router`) runs the check before every route under `/admin`. A
#    route added next year by someone who never read this kata is protected the day it is
#    written. Per-route checks work too, until the one route where someone types
#    `CurrentUserDep` out of habit: that is how the order list was left open.
# 4. **Refuse before acting.** A router's dependencies run before the route's own code, so a
#    refused request never reaches the code that refunds: in the evidence, once fixed, the shop is
#    the same after Alice's calls as before them.
#
# Why not hide the routes with `include_in_schema=False`? It removes them from `/docs` and
# `/openapi.json`, and that is all: the URLs answer exactly as before. Hiding may still be right
# for a back office (less to read for an attacker), but it is never the protection. Why not guard
# only the routes that write? Reading every customer's orders is a data breach of its own (API5
# and API1 together). Why not a header such as `X-Role`? Every header, query parameter and cookie
# is written by the client; only what the server signed or stored can say who someone is. Why not
# `403` for everyone, token or not? A caller with no token is not forbidden, just unknown: `401`
# with `WWW-Authenticate` is what makes a front end (and any HTTP client) ask for a login. And
# why not the staff check on the whole app? Deny-by-default is a sound instinct, but the shop has
# public routes: the catalogue would refuse every shopper. If you want it, put the *login*
# requirement app-wide and open the public routes explicitly; the staff check still belongs to the
# staff routes.
#
# Read more: FastAPI, [Dependencies in path operation decorators](https://fastapi.tiangolo.com/tutorial/dependencies/dependencies-in-path-operation-decorators/),
# [Bigger Applications](https://fastapi.tiangolo.com/tutorial/bigger-applications/) and
# [Security](https://fastapi.tiangolo.com/tutorial/security/); OWASP,
# [API5:2023 Broken Function Level Authorization](https://owasp.org/API-Security/editions/2023/en/0xa5-broken-function-level-authorization/).
#
# ### What to remember
# - Authentication (`401`: who are you?) is not authorization (`403`: you may not). A route that
#   only asks the first is open to every customer.
# - Put the authorization dependency on the router (`APIRouter(dependencies=[...])`): every route
#   under it, today's and tomorrow's, is covered.
# - Roles come from what the server signed or stored, never from headers, query parameters or
#   cookies the client writes.
# - Hiding a route from the docs hides nothing: test access route by route, from the routes the
#   app serves (`fastapi.routing.iter_route_contexts(app.routes)` on FastAPI 0.165), as an attacker
#   would walk your front end's code.
