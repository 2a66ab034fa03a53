"""The bookshop's tables, as SQLAlchemy 2 typed ORM models."""

from datetime import date, datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, func
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(AsyncAttrs, DeclarativeBase):
    # AsyncAttrs: `await author.awaitable_attrs.books` loads a relationship explicitly, under asyncio.
    pass


class Author(Base):
    __tablename__ = "authors"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    books: Mapped[list["Book"]] = relationship(back_populates="author")


class Book(Base):
    __tablename__ = "books"
    # The database, not the endpoint, is the last word on stock: a sold-out book cannot go negative.
    __table_args__ = (CheckConstraint("stock >= 0", name="stock_not_negative"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    isbn: Mapped[str] = mapped_column(String(13), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    author_id: Mapped[int] = mapped_column(ForeignKey("authors.id"))
    price_cents: Mapped[int]
    stock: Mapped[int] = mapped_column(default=0)
    blurb: Mapped[str | None] = mapped_column(String(1000))  # the back-cover text; may be cleared
    # The day the book arrived in the shop. Ids grow in arrival order; several books arrive on one day.
    added_on: Mapped[date] = mapped_column(server_default=func.current_date())
    author: Mapped[Author] = relationship(back_populates="books")


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # An Argon2id hash (bookshop.accounts), never the password; and what the user may do.
    hashed_password: Mapped[str] = mapped_column(String(200), server_default="")
    role: Mapped[str] = mapped_column(String(20), server_default="customer")


class Order(Base):
    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.current_timestamp())
    lines: Mapped[list["OrderLine"]] = relationship(back_populates="order", cascade="all")


class OrderLine(Base):
    __tablename__ = "order_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    book_id: Mapped[int] = mapped_column(ForeignKey("books.id"))
    quantity: Mapped[int] = mapped_column(CheckConstraint("quantity > 0"))
    order: Mapped[Order] = relationship(back_populates="lines")


class CartItem(Base):
    """A book a customer has put in their cart: one row per book added, until they order."""

    __tablename__ = "cart_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    book_id: Mapped[int] = mapped_column(ForeignKey("books.id"))
