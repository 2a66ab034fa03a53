# %% [markdown]
# # Money in decimals, time in UTC
#
# **The story.** Ms Ortiz runs the library of a school in Los Angeles and buys from the shop.
# Last Tuesday she hit two bugs in ten minutes.
#
# First the basket. `POST /basket/quote` prices each line in euros, adds the lines up and adds
# VAT at 10%. The checkout that takes the quote expects every amount as **a string with two
# decimals** (`"26.25"`), and the accountant's rule is that VAT is rounded to the cent, **a half
# cent upward**. Three bookmarks at 0.10 came back as a subtotal of `0.30000000000000004`, which
# the checkout refused. Then three copies of a book at 8.75: VAT on 26.25 is 2.625, and the quote
# said `2.62`.
#
# Then the order. `POST /orders` records when it was placed with `datetime.now()` on the server,
# whose clock is on UTC, and answers it as `"2026-01-13T17:05:09"`: no offset. The app on her
# phone read that as Los Angeles time, and showed an order placed at 9:05 as placed at 17:05.
# And the staff's page of the last 24 hours of orders, `GET /orders/recent`, answers **500**
# since someone wrote it with a time-zone-aware "now".
#
# **You will learn**
# - why binary floats cannot hold 0.10, and why `round()` rounds a half to the *even* cent;
# - how to compute money with `Decimal` from integer cents, round it with the rule you were
#   given, and send it as a string;
# - why a datetime without an offset is a bug waiting for a second time zone, and why
#   SQLAlchemy's SQLite dialect forgets offsets even in a `DateTime(timezone=True)` column:
#   store UTC, and say so when reading.
#
# Run the cells from the top (**Run → Run All Cells**), read the evidence, then make the check pass.

# %% tags=["setup"]
from checks import setup_notebook

setup_notebook()

# %% [markdown]
# ## The bookshop around the problem
#
# The app uses the workbook's `lifespan`, the one "The engine belongs to the lifespan" ends
# with: it creates the engine at startup and hands every request a `sessionmaker` through
# `request.state`. Prices are stored as integer cents in `Book.price_cents` (8.75 is `875`).
# The shop's `orders` table has a `created_at` column, a plain SQL `DATETIME`: the moment the
# order was placed. The checkout maps that table itself, in the second kata cell.

# %%
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from pydantic import BaseModel, Field
from sqlalchemy import DateTime, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bookshop.db import lifespan
from bookshop.models import Book
from bookshop.schemas import OrderLineIn


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.state.sessionmaker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


class Basket(BaseModel):
    lines: list[OrderLineIn] = Field(min_length=1)  # each line: a book_id and a quantity


class NewOrder(BaseModel):
    user_id: int


async def priced_books(session: AsyncSession, basket: Basket) -> list[tuple[OrderLineIn, Book]]:
    """Each line of the basket with its book; 404 if a book does not exist."""
    found = []
    for line in basket.lines:
        book = await session.get(Book, line.book_id)
        if book is None:
            raise HTTPException(status_code=404, detail=f"Book {line.book_id} not found")
        found.append((line, book))
    return found

# %% [markdown]
# ## The code under review
#
# Two kata cells, one per bug. The first prices the basket: where do the amounts become floats,
# and how is the VAT rounded?

# %% tags=["kata", "starter"]
quotes = APIRouter()

VAT_RATE = 0.10


class QuoteLine(BaseModel):
    book_id: int
    quantity: int
    unit_price: float
    amount: float


class Quote(BaseModel):
    lines: list[QuoteLine]
    subtotal: float
    vat: float
    total: float


@quotes.post("/basket/quote")
async def quote_basket(basket: Basket, session: SessionDep) -> Quote:
    lines = []
    for line, book in await priced_books(session, basket):
        unit_price = book.price_cents / 100
        lines.append(QuoteLine(book_id=book.id, quantity=line.quantity,
                               unit_price=unit_price, amount=unit_price * line.quantity))
    subtotal = sum(line.amount for line in lines)
    vat = round(subtotal * VAT_RATE, 2)
    return Quote(lines=lines, subtotal=subtotal, vat=vat, total=subtotal + vat)

# %% tags=["kata", "solution"]
from decimal import ROUND_HALF_UP

quotes = APIRouter()

VAT_RATE = Decimal("0.10")  # from a string: Decimal(0.10) would copy the float's error
CENT = Decimal("0.01")


def to_the_cent(amount: Decimal) -> Decimal:
    """Rounded to the cent, a half cent upward, as the accountant wants (not half to even)."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


class QuoteLine(BaseModel):
    book_id: int
    quantity: int
    unit_price: Decimal  # Pydantic 2 writes a Decimal into JSON as a string: "8.75"
    amount: Decimal


class Quote(BaseModel):
    lines: list[QuoteLine]
    subtotal: Decimal
    vat: Decimal
    total: Decimal


@quotes.post("/basket/quote")
async def quote_basket(basket: Basket, session: SessionDep) -> Quote:
    lines = []
    for line, book in await priced_books(session, basket):
        unit_price = to_the_cent(Decimal(book.price_cents) / 100)  # exact: whole cents, divided by 100
        lines.append(QuoteLine(book_id=book.id, quantity=line.quantity,
                               unit_price=unit_price, amount=unit_price * line.quantity))
    subtotal = to_the_cent(sum((line.amount for line in lines), Decimal(0)))
    vat = to_the_cent(subtotal * VAT_RATE)
    return Quote(lines=lines, subtotal=subtotal, vat=vat, total=subtotal + vat)

# %% tags=["kata", "decoy:floats-formatted"]
# "The checkout wants strings with two decimals: format the floats." The strings look right, but
# the arithmetic underneath is still binary floats, and formatting a float rounds what the float
# holds, a half to even: 26.25 x 0.10 is exactly 2.625 as a float, and formats as 2.62.
quotes = APIRouter()

VAT_RATE = 0.10


class QuoteLine(BaseModel):
    book_id: int
    quantity: int
    unit_price: str
    amount: str


class Quote(BaseModel):
    lines: list[QuoteLine]
    subtotal: str
    vat: str
    total: str


@quotes.post("/basket/quote")
async def quote_basket(basket: Basket, session: SessionDep) -> Quote:
    lines, subtotal = [], 0.0
    for line, book in await priced_books(session, basket):
        unit_price = book.price_cents / 100
        subtotal += unit_price * line.quantity
        lines.append(QuoteLine(book_id=book.id, quantity=line.quantity,
                               unit_price=f"{unit_price:.2f}", amount=f"{unit_price * line.quantity:.2f}"))
    vat = subtotal * VAT_RATE
    return Quote(lines=lines, subtotal=f"{subtotal:.2f}", vat=f"{vat:.2f}", total=f"{subtotal + vat:.2f}")

# %% tags=["kata", "decoy:round-on-decimal"]
# "Decimal fixes the arithmetic, and round() does the rounding." The arithmetic is exact now,
# but round() on a Decimal uses the default context: a half goes to the even cent, so 2.625
# becomes 2.62. That is banker's rounding, not the rule the accountant gave.
quotes = APIRouter()

VAT_RATE = Decimal("0.10")


class QuoteLine(BaseModel):
    book_id: int
    quantity: int
    unit_price: Decimal
    amount: Decimal


class Quote(BaseModel):
    lines: list[QuoteLine]
    subtotal: Decimal
    vat: Decimal
    total: Decimal


@quotes.post("/basket/quote")
async def quote_basket(basket: Basket, session: SessionDep) -> Quote:
    lines = []
    for line, book in await priced_books(session, basket):
        unit_price = round(Decimal(book.price_cents) / 100, 2)
        lines.append(QuoteLine(book_id=book.id, quantity=line.quantity,
                               unit_price=unit_price, amount=unit_price * line.quantity))
    subtotal = round(sum((line.amount for line in lines), Decimal(0)), 2)
    vat = round(subtotal * VAT_RATE, 2)
    return Quote(lines=lines, subtotal=subtotal, vat=vat, total=subtotal + vat)

# %% tags=["kata", "decoy:decimal-never-rounded"]
# "Decimal is exact, so there is nothing to round." Exact, and so it keeps every digit it is
# given: 26.25 x 0.10 is 2.6250, a book at 10.00 is 10, and neither is an amount in cents.
quotes = APIRouter()

VAT_RATE = Decimal("0.10")


class QuoteLine(BaseModel):
    book_id: int
    quantity: int
    unit_price: Decimal
    amount: Decimal


class Quote(BaseModel):
    lines: list[QuoteLine]
    subtotal: Decimal
    vat: Decimal
    total: Decimal


@quotes.post("/basket/quote")
async def quote_basket(basket: Basket, session: SessionDep) -> Quote:
    lines = []
    for line, book in await priced_books(session, basket):
        unit_price = Decimal(book.price_cents) / 100
        lines.append(QuoteLine(book_id=book.id, quantity=line.quantity,
                               unit_price=unit_price, amount=unit_price * line.quantity))
    subtotal = sum((line.amount for line in lines), Decimal(0))
    vat = subtotal * VAT_RATE
    return Quote(lines=lines, subtotal=subtotal, vat=vat, total=subtotal + vat)

# %% tags=["kata", "alternative:integer-cents"]
# Integer cents all the way, turned into a string with two decimals only at the edge. Integer
# arithmetic is exact, and a half cent upward is "add 50, then divide by 100, rounding down".
quotes = APIRouter()

VAT_PERCENT = 10


def euros(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


class QuoteLine(BaseModel):
    book_id: int
    quantity: int
    unit_price: str
    amount: str


class Quote(BaseModel):
    lines: list[QuoteLine]
    subtotal: str
    vat: str
    total: str


@quotes.post("/basket/quote")
async def quote_basket(basket: Basket, session: SessionDep) -> Quote:
    lines, subtotal = [], 0
    for line, book in await priced_books(session, basket):
        amount = book.price_cents * line.quantity
        subtotal += amount
        lines.append(QuoteLine(book_id=book.id, quantity=line.quantity,
                               unit_price=euros(book.price_cents), amount=euros(amount)))
    vat = (subtotal * VAT_PERCENT + 50) // 100  # cents; amounts are never negative here
    return Quote(lines=lines, subtotal=euros(subtotal), vat=euros(vat), total=euros(subtotal + vat))

# %% tags=["kata", "alternative:money-type"]
# A `Money` type rounds an amount to the cent, half upward, wherever it is used: the endpoint
# computes with exact Decimals, and the schemas round each amount once, in one place.
from decimal import ROUND_HALF_UP

from pydantic import AfterValidator

quotes = APIRouter()

VAT_RATE = Decimal("0.10")
Money = Annotated[Decimal, AfterValidator(lambda amount: amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))]


class QuoteLine(BaseModel):
    book_id: int
    quantity: int
    unit_price: Money
    amount: Money


class Quote(BaseModel):
    lines: list[QuoteLine]
    subtotal: Money
    vat: Money
    total: Money  # the subtotal is whole cents, so rounding the sum rounds the VAT alone


@quotes.post("/basket/quote")
async def quote_basket(basket: Basket, session: SessionDep) -> Quote:
    lines = [QuoteLine(book_id=book.id, quantity=line.quantity, unit_price=Decimal(book.price_cents) / 100,
                       amount=Decimal(book.price_cents * line.quantity) / 100)
             for line, book in await priced_books(session, basket)]
    subtotal = sum((line.amount for line in lines), Decimal(0))
    return Quote(lines=lines, subtotal=subtotal, vat=subtotal * VAT_RATE, total=subtotal + subtotal * VAT_RATE)

# %% [markdown]
# The second kata cell records orders and lists the recent ones. When is an order placed,
# according to `datetime.now()`, and what does the database keep of it?

# %% tags=["kata", "starter"]
orders = APIRouter()


class Base(DeclarativeBase):
    pass


class Order(Base):
    """The shop's `orders` table, as the checkout maps it."""

    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int]
    created_at: Mapped[datetime]  # when the order was placed


class PlacedOrder(BaseModel):
    id: int
    user_id: int
    placed_at: datetime


@orders.post("/orders", status_code=201)
async def place_order(order: NewOrder, session: SessionDep) -> PlacedOrder:
    row = Order(user_id=order.user_id, created_at=datetime.now())
    session.add(row)
    await session.commit()
    return PlacedOrder(id=row.id, user_id=row.user_id, placed_at=row.created_at)


@orders.get("/orders/recent")
async def recent_orders(session: SessionDep) -> list[PlacedOrder]:
    """The latest orders placed in the last 24 hours, newest first."""
    since = datetime.now(UTC) - timedelta(hours=24)
    rows = await session.scalars(select(Order).order_by(Order.id.desc()).limit(100))
    return [PlacedOrder(id=row.id, user_id=row.user_id, placed_at=row.created_at)
            for row in rows if row.created_at >= since]

# %% tags=["kata", "solution"]
from sqlalchemy.types import TypeDecorator

orders = APIRouter()


class UTCDateTime(TypeDecorator):
    """A moment in time: written as naive UTC (SQLite keeps no offset), read back as aware UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("a naive datetime: in which time zone? Use datetime.now(UTC)")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None else None


class Base(DeclarativeBase):
    pass


class Order(Base):
    """The shop's `orders` table, as the checkout maps it."""

    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)  # when the order was placed, in UTC


class PlacedOrder(BaseModel):
    id: int
    user_id: int
    placed_at: datetime  # aware: serialised with its offset, "2026-01-13T17:05:09Z"


@orders.post("/orders", status_code=201)
async def place_order(order: NewOrder, session: SessionDep) -> PlacedOrder:
    row = Order(user_id=order.user_id, created_at=datetime.now(UTC))
    session.add(row)
    await session.commit()
    return PlacedOrder(id=row.id, user_id=row.user_id, placed_at=row.created_at)


@orders.get("/orders/recent")
async def recent_orders(session: SessionDep) -> list[PlacedOrder]:
    """The latest orders placed in the last 24 hours, newest first."""
    since = datetime.now(UTC) - timedelta(hours=24)
    rows = await session.scalars(select(Order).order_by(Order.id.desc()).limit(100))
    return [PlacedOrder(id=row.id, user_id=row.user_id, placed_at=row.created_at)
            for row in rows if row.created_at >= since]

# %% tags=["kata", "decoy:utcnow"]
# "The server should write UTC: utcnow() is UTC." It is, and the database now holds UTC; but the
# value is still naive: the answer has no offset, so the phone still reads it as local time, and
# comparing it with an aware now still raises TypeError.
orders = APIRouter()


class Base(DeclarativeBase):
    pass


class Order(Base):
    """The shop's `orders` table, as the checkout maps it."""

    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int]
    created_at: Mapped[datetime]


class PlacedOrder(BaseModel):
    id: int
    user_id: int
    placed_at: datetime


@orders.post("/orders", status_code=201)
async def place_order(order: NewOrder, session: SessionDep) -> PlacedOrder:
    row = Order(user_id=order.user_id, created_at=datetime.utcnow())
    session.add(row)
    await session.commit()
    return PlacedOrder(id=row.id, user_id=row.user_id, placed_at=row.created_at)


@orders.get("/orders/recent")
async def recent_orders(session: SessionDep) -> list[PlacedOrder]:
    since = datetime.now(UTC) - timedelta(hours=24)
    rows = await session.scalars(select(Order).order_by(Order.id.desc()).limit(100))
    return [PlacedOrder(id=row.id, user_id=row.user_id, placed_at=row.created_at)
            for row in rows if row.created_at >= since]

# %% tags=["kata", "decoy:timezone-aware-column"]
# "Write aware UTC, and tell the column to keep the time zone." The answer to POST is right (it is
# the object in memory), and the database holds UTC. But SQLite has no time zone type: SQLAlchemy
# drops the offset on the way in, and every value read back is naive again. The recent orders
# still compare naive with aware: 500.
orders = APIRouter()


class Base(DeclarativeBase):
    pass


class Order(Base):
    """The shop's `orders` table, as the checkout maps it."""

    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PlacedOrder(BaseModel):
    id: int
    user_id: int
    placed_at: datetime


@orders.post("/orders", status_code=201)
async def place_order(order: NewOrder, session: SessionDep) -> PlacedOrder:
    row = Order(user_id=order.user_id, created_at=datetime.now(UTC))
    session.add(row)
    await session.commit()
    return PlacedOrder(id=row.id, user_id=row.user_id, placed_at=row.created_at)


@orders.get("/orders/recent")
async def recent_orders(session: SessionDep) -> list[PlacedOrder]:
    since = datetime.now(UTC) - timedelta(hours=24)
    rows = await session.scalars(select(Order).order_by(Order.id.desc()).limit(100))
    return [PlacedOrder(id=row.id, user_id=row.user_id, placed_at=row.created_at)
            for row in rows if row.created_at >= since]

# %% tags=["kata", "decoy:offset-dropped-not-converted"]
# "Aware everywhere: the server's local time with its offset, and a column type that hands back
# aware values." The type drops the offset on the way in without converting to UTC first, then
# calls what it reads UTC: the database holds Los Angeles wall-clock time labelled as UTC, and
# every order read back is off by the server's offset.
from sqlalchemy.types import TypeDecorator

orders = APIRouter()


class AwareDateTime(TypeDecorator):
    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return value.replace(tzinfo=None) if value is not None else None

    def process_result_value(self, value, dialect):
        return value.replace(tzinfo=UTC) if value is not None else None


class Base(DeclarativeBase):
    pass


class Order(Base):
    """The shop's `orders` table, as the checkout maps it."""

    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(AwareDateTime)


class PlacedOrder(BaseModel):
    id: int
    user_id: int
    placed_at: datetime


@orders.post("/orders", status_code=201)
async def place_order(order: NewOrder, session: SessionDep) -> PlacedOrder:
    row = Order(user_id=order.user_id, created_at=datetime.now().astimezone())
    session.add(row)
    await session.commit()
    return PlacedOrder(id=row.id, user_id=row.user_id, placed_at=row.created_at)


@orders.get("/orders/recent")
async def recent_orders(session: SessionDep) -> list[PlacedOrder]:
    since = datetime.now(UTC) - timedelta(hours=24)
    rows = await session.scalars(select(Order).order_by(Order.id.desc()).limit(100))
    return [PlacedOrder(id=row.id, user_id=row.user_id, placed_at=row.created_at)
            for row in rows if row.created_at >= since]

# %% tags=["kata", "alternative:convert-in-the-endpoints"]
# No column type: the endpoints write aware UTC (SQLAlchemy keeps its wall-clock time, which is
# UTC) and attach UTC to what they read, in one small helper.
orders = APIRouter()


def as_utc(moment: datetime) -> datetime:
    """A value read from the orders table: naive, and UTC by the shop's convention."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class Order(Base):
    """The shop's `orders` table, as the checkout maps it."""

    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int]
    created_at: Mapped[datetime]


class PlacedOrder(BaseModel):
    id: int
    user_id: int
    placed_at: datetime


@orders.post("/orders", status_code=201)
async def place_order(order: NewOrder, session: SessionDep) -> PlacedOrder:
    row = Order(user_id=order.user_id, created_at=datetime.now(UTC))
    session.add(row)
    await session.commit()
    return PlacedOrder(id=row.id, user_id=row.user_id, placed_at=as_utc(row.created_at))


@orders.get("/orders/recent")
async def recent_orders(session: SessionDep) -> list[PlacedOrder]:
    since = datetime.now(UTC) - timedelta(hours=24)
    rows = await session.scalars(select(Order).order_by(Order.id.desc()).limit(100))
    return [PlacedOrder(id=row.id, user_id=row.user_id, placed_at=as_utc(row.created_at))
            for row in rows if as_utc(row.created_at) >= since]

# %% tags=["kata", "alternative:filter-in-sql"]
# The database filters the last 24 hours itself (a naive UTC bound, like the stored values), and
# the response schema says what the stored values mean: a naive time here is UTC.
from pydantic import AfterValidator

orders = APIRouter()

UtcMoment = Annotated[datetime, AfterValidator(lambda moment: moment if moment.tzinfo else moment.replace(tzinfo=UTC))]


class Base(DeclarativeBase):
    pass


class Order(Base):
    """The shop's `orders` table, as the checkout maps it."""

    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int]
    created_at: Mapped[datetime]


class PlacedOrder(BaseModel):
    id: int
    user_id: int
    placed_at: UtcMoment


@orders.post("/orders", status_code=201)
async def place_order(order: NewOrder, session: SessionDep) -> PlacedOrder:
    row = Order(user_id=order.user_id, created_at=datetime.now(UTC).replace(tzinfo=None))
    session.add(row)
    await session.commit()
    return PlacedOrder(id=row.id, user_id=row.user_id, placed_at=row.created_at)


@orders.get("/orders/recent")
async def recent_orders(session: SessionDep) -> list[PlacedOrder]:
    since = (datetime.now(UTC) - timedelta(hours=24)).replace(tzinfo=None)
    query = select(Order).where(Order.created_at >= since).order_by(Order.id.desc()).limit(100)
    return [PlacedOrder(id=row.id, user_id=row.user_id, placed_at=row.created_at)
            for row in await session.scalars(query)]

# %% [markdown]
# The app is built from the two routers above: run this cell again after you change either one.

# %%
app = FastAPI(lifespan=lifespan)
app.include_router(quotes)
app.include_router(orders)

# %% [markdown]
# ## The evidence
#
# First the arithmetic and the clock on their own, in plain Python and SQLAlchemy, without the
# app: what a float makes of cents, what `round()` does with a half, what SQLite keeps of an
# offset, and what Python says when a naive time meets an aware one.

# %% tags=["evidence"]
from datetime import timezone

from pydantic import TypeAdapter
from sqlalchemy import Column, MetaData, Table, create_engine, insert

print("0.10 + 0.10 + 0.10          =", 0.10 + 0.10 + 0.10)
print("8.75 * 3 * 0.10 (floats)    =", 8.75 * 3 * 0.10, "-> round(..., 2) =", round(8.75 * 3 * 0.10, 2),
      " (exactly a half: it goes to the even cent)")
print(f"round(2.675, 2)             = {round(2.675, 2)}  (the float 2.675 is really {Decimal(2.675)})")
print("round(Decimal('2.625'), 2)  =", round(Decimal("2.625"), 2), " (a half goes to the even cent here too)")
print("a Decimal in JSON           =", TypeAdapter(Decimal).dump_json(Decimal("26.25") * Decimal("0.10")),
      " (Pydantic writes it as a string, with every place it has)")

moments = Table("moments", MetaData(), Column("at", DateTime(timezone=True)))
sqlite = create_engine("sqlite://")
with sqlite.begin() as connection:
    moments.create(connection)
    noon_in_los_angeles = datetime(2026, 1, 13, 12, 0, tzinfo=timezone(timedelta(hours=-8)))
    connection.execute(insert(moments), {"at": noon_in_los_angeles})
    stored_text = connection.exec_driver_sql("SELECT at FROM moments").scalar_one()
    read_back = connection.execute(select(moments.c.at)).scalar_one()
sqlite.dispose()
print(f"DateTime(timezone=True) on SQLite: wrote {noon_in_los_angeles.isoformat()}, "
      f"stored {stored_text!r}, read back {read_back.isoformat()} (tzinfo: {read_back.tzinfo})")
try:
    datetime.now(UTC) > datetime.now()
except TypeError as error:
    print(f"an aware datetime > a naive one: TypeError: {error}")

# %% [markdown]
# Now the app. The next cell asks for the two quotes of the story, with a bookmark at 0.10 and a
# book at 8.75 added to the catalogue for the occasion. Then it runs the server the way a
# developer in Los Angeles does, with the process's time zone set to `America/Los_Angeles`:
# it places an order, lists the recent orders, and prints, side by side, the real time in UTC,
# what the app answered, and what the database stored.

# %% tags=["evidence"]
from bookshop.client import describe, local_time_zone, shop_client
from bookshop.db import database_url
from bookshop.observe import run_sql

run_sql(database_url(), "DELETE FROM books WHERE id IN (200, 201)")
run_sql(database_url(), "INSERT INTO books (id, isbn, title, author_id, price_cents, stock) VALUES "
                        "(200, '9990000000200', 'Bookmark', 1, 10, 100), (201, '9990000000201', 'The Word for World Is Forest', 1, 875, 10)")

with local_time_zone("America/Los_Angeles"), shop_client(app) as client:
    bookmarks = client.post("/basket/quote", json={"lines": [{"book_id": 200, "quantity": 3}]})
    books = client.post("/basket/quote", json={"lines": [{"book_id": 201, "quantity": 3}]})
    real_before = datetime.now(UTC)
    placed = client.post("/orders", json={"user_id": 1})
    recent = client.get("/orders/recent")

print(f"3 bookmarks at 0.10 -> {describe(bookmarks, 200)}")
print(f"3 books at 8.75     -> {describe(books, 200)}")
print(f"real time (UTC)     :  {real_before.isoformat(timespec='seconds')}")
print(f"POST /orders        -> {describe(placed, 120)}")
stored = run_sql(database_url(), "SELECT id, created_at FROM orders ORDER BY id DESC LIMIT 1")
print(f"stored in orders    :  {stored}")
print(f"GET /orders/recent  -> {describe(recent, 120)}")

# %% [markdown]
# With the starter, the quotes carry floats (`0.30000000000000004`) and a VAT of `2.62`, not
# `2.63`. The order's `placed_at` has no offset and is the Los Angeles wall-clock time, eight
# hours (seven in summer) behind the real UTC time printed above it; the database stored that
# same wall-clock time; and the recent orders are a 500.
#
# ## The check
#
# Run it. Each failing test says what it saw and why it matters in production. Fix the kata
# cells, run them again (and the cell that builds the app), then re-run this cell until every
# test passes. The check runs the server in Los Angeles time too.

# %% tags=["check"]
%%ipytest
from checks.money_and_time import *

# %% [markdown]
# ## Hints
#
# Stuck? Each click opens one more level: a nudge, then the concept, then a sketch of
# the code. In a terminal, `kata hint money-and-time` opens the same levels.

# %% [markdown] tags=["hint"]
# ### Hint 1: a nudge
#
# Money: which type holds 0.10 exactly, and which rounding rule does `round()` follow? Time: what
# does `datetime.now()` return on a server whose clock is not on UTC, and what is missing from
# the value it returns? Then read the evidence's SQLite line: what does the database keep of an
# offset, and what must the code do when it reads a value back?

# %% [markdown] tags=["hint"]
# ### Hint 2: the concept
#
# - **Money.** A binary float cannot hold most decimal fractions (0.10 is
#   0.1000000000000000055...), so sums drift. `decimal.Decimal` is exact for decimal fractions:
#   build it from integers or strings, never from a float. Round with
#   `quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)` when the rule is "a half upward";
#   `round()` and the default context round a half to even ("banker's rounding"). Pydantic 2
#   writes a `Decimal` field into JSON as a string, exactly as it holds it: quantize first.
# - **Time.** `datetime.now()` is naive local time, `datetime.utcnow()` naive UTC: neither says
#   which it is. `datetime.now(UTC)` is aware, and Pydantic writes it with its offset (`Z`).
#   SQLite has no time zone type, and SQLAlchemy's SQLite dialect drops the offset, even for
#   `DateTime(timezone=True)`: store UTC, and attach UTC when you read. A `TypeDecorator` does
#   both at the column, once.
#
# Read: Python, [decimal](https://docs.python.org/3.11/library/decimal.html) and
# [Aware and naive objects](https://docs.python.org/3.11/library/datetime.html#aware-and-naive-objects);
# SQLAlchemy, [Augmenting existing types](https://docs.sqlalchemy.org/en/21/core/custom_types.html#augmenting-existing-types)
# and [SQLite date and time types](https://docs.sqlalchemy.org/en/21/dialects/sqlite.html#date-and-time-types).

# %% [markdown] tags=["hint"]
# ### Hint 3: a sketch
#
# ```python
# VAT_RATE = Decimal("0.10")
#
# def to_the_cent(amount: Decimal) -> Decimal:
#     return amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
#
# class Quote(BaseModel):
#     ...  # every amount a Decimal
#
# unit_price = to_the_cent(Decimal(book.price_cents) / 100)
# ...
#
# class UTCDateTime(TypeDecorator):
#     impl = DateTime
#     cache_ok = True
#     def process_bind_param(self, value, dialect):
#         ...  # aware -> UTC -> naive
#     def process_result_value(self, value, dialect):
#         ...  # naive -> aware UTC
#
# created_at: Mapped[datetime] = mapped_column(UTCDateTime)
# row = Order(user_id=order.user_id, created_at=datetime.now(UTC))
# ```

# %% [markdown]
# ## The walkthrough

# %% [markdown] tags=["walkthrough"]
# ### The fix, step by step
#
# **Money.**
#
# 1. **Start from integer cents.** The catalogue already stores `price_cents`, an exact integer.
#    `Decimal(book.price_cents) / 100` is exact; `book.price_cents / 100` is a binary float and is
#    not (`0.1 + 0.1 + 0.1 == 0.30000000000000004`).
# 2. **Round once, with the rule you were given.** `quantize(Decimal("0.01"),
#    rounding=ROUND_HALF_UP)` rounds 2.625 to 2.63. `round(x, 2)` on a float rounds the binary
#    value, a half to even (26.25 x 0.10 is exactly 2.625 as a float: 2.62; the float 2.675 is a
#    hair below 2.675: 2.67); on a Decimal it rounds a half to even too (2.62 again). Quantizing also fixes the number of places: `Decimal(1000) / 100` is `10`,
#    quantized it is `10.00`.
# 3. **Send strings.** A `Decimal` field is written into JSON as a string (`"26.25"`), so no
#    client parses it into a float again. Integer cents formatted at the edge work too.
#
# **Time.**
#
# 4. **Aware, in UTC, from the start.** `datetime.now(UTC)`, never `datetime.now()` (the server's
#    wall clock, whatever zone it is in) nor `datetime.utcnow()` (UTC, but naive: nothing in the
#    value says so). An aware value is written with its offset (`...Z`), so every client can
#    show it in its own zone.
# 5. **Store UTC, and say so when reading.** SQLite stores `DATETIME` as text without an offset,
#    and SQLAlchemy's SQLite dialect drops it even with `timezone=True`. A `TypeDecorator`
#    converts to UTC on the way in and attaches UTC on the way out, so no endpoint can forget.
#    Converting in the endpoints works too; it has to be done in every one of them.
#
# Why not `f"{x:.2f}"` on the floats? The strings look right and the arithmetic under them is
# still binary: 2.62. Why not `round()` on Decimals? Half to even: 2.62. Why not
# `DateTime(timezone=True)`? On SQLite it changes nothing on the way in or out: the evidence's
# SQLite line shows the offset gone, and every value read back is naive again. And why not write
# the server's aware local time? SQLAlchemy keeps its wall-clock digits and drops the offset:
# Los Angeles time, read back as if it were UTC.
#
# Read more: Python, [decimal](https://docs.python.org/3.11/library/decimal.html),
# [datetime](https://docs.python.org/3.11/library/datetime.html#aware-and-naive-objects);
# Pydantic, [Standard library types: Decimal](https://docs.pydantic.dev/2.14/api/standard_library_types/#decimaldecimal);
# SQLAlchemy, [Custom types](https://docs.sqlalchemy.org/en/21/core/custom_types.html).
#
# ### What to remember
# - Money: integer cents or `Decimal` (from ints or strings), rounded with an explicit rule
#   (`ROUND_HALF_UP` when that is the rule), sent as strings with two decimals.
# - `round()` rounds a half to even, and on a float it rounds a binary approximation.
# - Time: `datetime.now(UTC)`; every datetime that leaves the app carries its offset.
# - SQLite keeps no offset, even in `DateTime(timezone=True)`: store UTC, attach UTC on reading.
