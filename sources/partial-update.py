# %% [markdown]
# # PATCH changes only what it is sent
#
# **The story.** Staff correct book records through `PATCH /books/{book_id}`: a new price, a
# typo in a title, a back-cover text (the *blurb*) that belongs to another book. The update
# model, `BookUpdate`, makes every field optional, so that a correction sends only what it
# fixes. Since it shipped, the staff channel has three complaints: every price correction fails
# with a `500`; the one correction that did go through (a colleague who had retyped the whole
# book into the form) wiped a blurb nobody had touched; and there is no way to remove a blurb
# that is simply wrong.
#
# **You will learn**
# - why an optional field that was not sent and one sent as `null` look the same in
#   `model_dump()`, and how a model tells them apart;
# - how to write only the fields the request carried, whatever their value;
# - why a field can be optional without being nullable, and how to have a `null` for a column
#   that cannot be empty refused with a `422` before anything is written.
#
# Run the cells from the top (**Run → Run All Cells**), read the evidence, then make the check pass.

# %% tags=["setup"]
from checks import setup_notebook

setup_notebook()

# %% [markdown]
# ## The bookshop around the problem
#
# The table is `bookshop.models.Book`. All its columns must have a value (`isbn`, unique,
# `title`, `author_id`, `price_cents`, `stock`) except `blurb`, which a book may lack (`NULL`).
# The API answers a book as `BookDetail`: the catalogue fields plus the blurb. The app uses the
# shop's lifespan from "The engine belongs to the lifespan" (an engine per app, a
# `sessionmaker` in `request.state`, sessions that keep their values after a commit).

# %%
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from bookshop.db import lifespan
from bookshop.models import Book
from bookshop.schemas import BookDetail


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.state.sessionmaker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]

# %% [markdown]
# ## The code under review
#
# This is the cell you will change. Read it first: for a request that sends only
# `{"price_cents": 1299}`, what does the loop write into `title`?

# %% tags=["kata", "starter"]
app = FastAPI(lifespan=lifespan)


class BookUpdate(BaseModel):
    """A correction: every field optional, so staff send only what they fix."""

    isbn: str | None = Field(default=None, pattern=r"^\d{13}$")
    title: str | None = Field(default=None, min_length=1, max_length=300)
    author_id: int | None = None
    price_cents: int | None = Field(default=None, ge=0)
    stock: int | None = Field(default=None, ge=0)
    blurb: str | None = Field(default=None, max_length=1000)


@app.patch("/books/{book_id}")
async def update_book(book_id: int, update: BookUpdate, session: SessionDep) -> BookDetail:
    book = await session.get(Book, book_id)
    if book is None:
        raise HTTPException(status_code=404, detail="Book not found")
    for field, value in update.model_dump().items():
        setattr(book, field, value)
    await session.commit()
    return BookDetail.model_validate(book)

# %% tags=["kata", "solution"]
app = FastAPI(lifespan=lifespan)


class BookUpdate(BaseModel):
    """A correction. A field left out stays as it is. A field sent must hold a valid value:
    the type says what may be sent, the default (never validated) stands for "not sent"."""

    isbn: str = Field(default=None, pattern=r"^\d{13}$")
    title: str = Field(default=None, min_length=1, max_length=300)
    author_id: int = Field(default=None)
    price_cents: int = Field(default=None, ge=0)
    stock: int = Field(default=None, ge=0)
    blurb: str | None = Field(default=None, max_length=1000)  # null is a value here: no blurb


@app.patch("/books/{book_id}")
async def update_book(book_id: int, update: BookUpdate, session: SessionDep) -> BookDetail:
    book = await session.get(Book, book_id)
    if book is None:
        raise HTTPException(status_code=404, detail="Book not found")
    # Only the fields the request carried, whatever their value (null included).
    for field, value in update.model_dump(exclude_unset=True).items():
        setattr(book, field, value)
    await session.commit()
    return BookDetail.model_validate(book)

# %% tags=["kata", "decoy:exclude-none"]
# "None means the client did not send it: leave the Nones out." The price correction works.
# But a client that sends `"blurb": null` to remove a blurb gets a 200 and keeps the blurb, and
# a null title is dropped without a word instead of being refused.
app = FastAPI(lifespan=lifespan)


class BookUpdate(BaseModel):
    isbn: str | None = Field(default=None, pattern=r"^\d{13}$")
    title: str | None = Field(default=None, min_length=1, max_length=300)
    author_id: int | None = None
    price_cents: int | None = Field(default=None, ge=0)
    stock: int | None = Field(default=None, ge=0)
    blurb: str | None = Field(default=None, max_length=1000)


@app.patch("/books/{book_id}")
async def update_book(book_id: int, update: BookUpdate, session: SessionDep) -> BookDetail:
    book = await session.get(Book, book_id)
    if book is None:
        raise HTTPException(status_code=404, detail="Book not found")
    for field, value in update.model_dump(exclude_none=True).items():
        setattr(book, field, value)
    await session.commit()
    return BookDetail.model_validate(book)

# %% tags=["kata", "decoy:exclude-defaults"]
# "A field still at its default was not sent." Every default here is None, so a null that was
# sent equals the default and is dropped as well: the same two failures as leaving out Nones.
app = FastAPI(lifespan=lifespan)


class BookUpdate(BaseModel):
    isbn: str | None = Field(default=None, pattern=r"^\d{13}$")
    title: str | None = Field(default=None, min_length=1, max_length=300)
    author_id: int | None = None
    price_cents: int | None = Field(default=None, ge=0)
    stock: int | None = Field(default=None, ge=0)
    blurb: str | None = Field(default=None, max_length=1000)


@app.patch("/books/{book_id}")
async def update_book(book_id: int, update: BookUpdate, session: SessionDep) -> BookDetail:
    book = await session.get(Book, book_id)
    if book is None:
        raise HTTPException(status_code=404, detail="Book not found")
    for field, value in update.model_dump(exclude_defaults=True).items():
        setattr(book, field, value)
    await session.commit()
    return BookDetail.model_validate(book)

# %% tags=["kata", "decoy:nullable-fields"]
# "Write only what was set": the right dump, with the model as the tutorials write it, every
# field `X | None = None`. A price correction works, a null blurb clears it. But `"title": null`
# passes validation, the endpoint writes it, and the database refuses it at the commit: a 500.
app = FastAPI(lifespan=lifespan)


class BookUpdate(BaseModel):
    isbn: str | None = Field(default=None, pattern=r"^\d{13}$")
    title: str | None = Field(default=None, min_length=1, max_length=300)
    author_id: int | None = None
    price_cents: int | None = Field(default=None, ge=0)
    stock: int | None = Field(default=None, ge=0)
    blurb: str | None = Field(default=None, max_length=1000)


@app.patch("/books/{book_id}")
async def update_book(book_id: int, update: BookUpdate, session: SessionDep) -> BookDetail:
    book = await session.get(Book, book_id)
    if book is None:
        raise HTTPException(status_code=404, detail="Book not found")
    for field, value in update.model_dump(exclude_unset=True).items():
        setattr(book, field, value)
    await session.commit()
    return BookDetail.model_validate(book)

# %% tags=["kata", "decoy:update-statement-for-nothing"]
# "One UPDATE statement with exactly the fields sent, no need to load the book first." Right
# for every request that sends something. An empty one builds `UPDATE books SET WHERE ...`,
# which is not SQL: the database refuses it, and a harmless no-op becomes a 500.
from sqlalchemy import update as sql_update

app = FastAPI(lifespan=lifespan)


class BookUpdate(BaseModel):
    isbn: str = Field(default=None, pattern=r"^\d{13}$")
    title: str = Field(default=None, min_length=1, max_length=300)
    author_id: int = Field(default=None)
    price_cents: int = Field(default=None, ge=0)
    stock: int = Field(default=None, ge=0)
    blurb: str | None = Field(default=None, max_length=1000)


@app.patch("/books/{book_id}")
async def update_book(book_id: int, update: BookUpdate, session: SessionDep) -> BookDetail:
    statement = sql_update(Book).where(Book.id == book_id).values(**update.model_dump(exclude_unset=True))
    book = await session.scalar(statement.returning(Book))
    if book is None:
        raise HTTPException(status_code=404, detail="Book not found")
    await session.commit()
    return BookDetail.model_validate(book)

# %% tags=["kata", "decoy:refused-by-the-database"]
app = FastAPI(lifespan=lifespan)


class BookUpdate(BaseModel):
    """A correction: every field optional, so staff send only what they fix."""

    isbn: str | None = Field(default=None, pattern=r"^\d{13}$")
    title: str | None = Field(default=None, min_length=1, max_length=300)
    author_id: int | None = None
    price_cents: int | None = Field(default=None, ge=0)
    stock: int | None = Field(default=None, ge=0)
    blurb: str | None = Field(default=None, max_length=1000)


@app.patch("/books/{book_id}")
async def update_book(book_id: int, update: BookUpdate, session: SessionDep) -> BookDetail:
    book = await session.get(Book, book_id)
    if book is None:
        raise HTTPException(status_code=404, detail="Book not found")
    for field, value in update.model_dump(exclude_unset=True).items():
        setattr(book, field, value)
    try:
        await session.commit()
    except Exception:
        await session.rollback()
        raise HTTPException(status_code=422, detail="A field that cannot be empty was sent as null")
    return BookDetail.model_validate(book)

# %% tags=["kata", "decoy:commit-field-by-field"]
app = FastAPI(lifespan=lifespan)


class BookUpdate(BaseModel):
    """A correction: every field optional, so staff send only what they fix."""

    isbn: str | None = Field(default=None, pattern=r"^\d{13}$")
    title: str | None = Field(default=None, min_length=1, max_length=300)
    author_id: int | None = None
    price_cents: int | None = Field(default=None, ge=0)
    stock: int | None = Field(default=None, ge=0)
    blurb: str | None = Field(default=None, max_length=1000)


@app.patch("/books/{book_id}")
async def update_book(book_id: int, update: BookUpdate, session: SessionDep) -> BookDetail:
    book = await session.get(Book, book_id)
    if book is None:
        raise HTTPException(status_code=404, detail="Book not found")
    for field, value in update.model_dump(exclude_unset=True).items():
        setattr(book, field, value)
        try:
            await session.commit()
        except Exception:
            await session.rollback()
            raise HTTPException(status_code=422, detail=[{"loc": ["body", field], "msg": "may not be null"}])
    return BookDetail.model_validate(book)

# %% tags=["kata", "alternative:fields-set"]
# The model remembers which fields the request carried: `model_fields_set`. Copy those.
app = FastAPI(lifespan=lifespan)


class BookUpdate(BaseModel):
    isbn: str = Field(default=None, pattern=r"^\d{13}$")
    title: str = Field(default=None, min_length=1, max_length=300)
    author_id: int = Field(default=None)
    price_cents: int = Field(default=None, ge=0)
    stock: int = Field(default=None, ge=0)
    blurb: str | None = Field(default=None, max_length=1000)


@app.patch("/books/{book_id}")
async def update_book(book_id: int, update: BookUpdate, session: SessionDep) -> BookDetail:
    book = await session.get(Book, book_id)
    if book is None:
        raise HTTPException(status_code=404, detail="Book not found")
    for field in update.model_fields_set:
        setattr(book, field, getattr(update, field))
    await session.commit()
    return BookDetail.model_validate(book)

# %% tags=["kata", "alternative:sql-update"]
# One UPDATE with exactly the fields sent, and RETURNING for the answer; a request that sends
# nothing has nothing to update, so it only reads the book.
from sqlalchemy import update as sql_update

app = FastAPI(lifespan=lifespan)


class BookUpdate(BaseModel):
    isbn: str = Field(default=None, pattern=r"^\d{13}$")
    title: str = Field(default=None, min_length=1, max_length=300)
    author_id: int = Field(default=None)
    price_cents: int = Field(default=None, ge=0)
    stock: int = Field(default=None, ge=0)
    blurb: str | None = Field(default=None, max_length=1000)


@app.patch("/books/{book_id}")
async def update_book(book_id: int, update: BookUpdate, session: SessionDep) -> BookDetail:
    changes = update.model_dump(exclude_unset=True)
    if changes:
        statement = sql_update(Book).where(Book.id == book_id).values(**changes).returning(Book)
        book = await session.scalar(statement)
    else:
        book = await session.get(Book, book_id)
    if book is None:
        raise HTTPException(status_code=404, detail="Book not found")
    await session.commit()
    return BookDetail.model_validate(book)

# %% tags=["kata", "alternative:missing-sentinel"]
# Pydantic's `MISSING` sentinel (no longer experimental since Pydantic 2.14) as the default:
# a field that was not sent has no value at all, and a dump leaves it out by itself. The types
# say it exactly: a title is a string or missing; a blurb is a string, null or missing.
from pydantic import MISSING

app = FastAPI(lifespan=lifespan)


class BookUpdate(BaseModel):
    isbn: str | MISSING = Field(default=MISSING, pattern=r"^\d{13}$")
    title: str | MISSING = Field(default=MISSING, min_length=1, max_length=300)
    author_id: int | MISSING = MISSING
    price_cents: int | MISSING = Field(default=MISSING, ge=0)
    stock: int | MISSING = Field(default=MISSING, ge=0)
    blurb: str | None | MISSING = Field(default=MISSING, max_length=1000)


@app.patch("/books/{book_id}")
async def update_book(book_id: int, update: BookUpdate, session: SessionDep) -> BookDetail:
    book = await session.get(Book, book_id)
    if book is None:
        raise HTTPException(status_code=404, detail="Book not found")
    for field, value in update.model_dump().items():
        setattr(book, field, value)
    await session.commit()
    return BookDetail.model_validate(book)

# %% tags=["kata", "alternative:refuse-null-in-a-validator"]
# The fields stay `X | None = None`, and a validator refuses an explicit null where the column
# cannot hold one (validators do not run on defaults, so a field left out is not affected).
from pydantic import field_validator

app = FastAPI(lifespan=lifespan)


class BookUpdate(BaseModel):
    isbn: str | None = Field(default=None, pattern=r"^\d{13}$")
    title: str | None = Field(default=None, min_length=1, max_length=300)
    author_id: int | None = None
    price_cents: int | None = Field(default=None, ge=0)
    stock: int | None = Field(default=None, ge=0)
    blurb: str | None = Field(default=None, max_length=1000)

    @field_validator("isbn", "title", "author_id", "price_cents", "stock")
    @classmethod
    def not_null(cls, value):
        if value is None:
            raise ValueError("may be left out, but not null")
        return value


@app.patch("/books/{book_id}")
async def update_book(book_id: int, update: BookUpdate, session: SessionDep) -> BookDetail:
    book = await session.get(Book, book_id)
    if book is None:
        raise HTTPException(status_code=404, detail="Book not found")
    for field, value in update.model_dump(exclude_unset=True).items():
        setattr(book, field, value)
    await session.commit()
    return BookDetail.model_validate(book)

# %% [markdown]
# ## The evidence
#
# The next cell sends four corrections, the ones the staff channel complained about and two
# more, and prints under each answer what changed in the book's row, read straight from the
# database. Then it dumps the `BookUpdate` that FastAPI builds for the price correction.

# %% tags=["evidence"]
import json

from bookshop.client import describe, shop_client
from bookshop.db import database_url
from bookshop.observe import run_sql

COLUMNS = ["isbn", "title", "author_id", "price_cents", "stock", "blurb"]
# The same start on every run: Dune and Kindred at their old prices, the seeded blurbs back.
run_sql(database_url(), "UPDATE books SET price_cents = 1099 WHERE id = 3",
        "UPDATE books SET price_cents = 1699, blurb = 'A Black woman in 1976 California is pulled back, "
        "again and again, to a Maryland plantation.' WHERE id = 5",
        "UPDATE books SET blurb = 'A human envoy on a planet of ambisexual people, in a winter that never ends.' WHERE id = 1")


def row(book_id: int) -> dict:
    found = run_sql(database_url(), f"SELECT {', '.join(COLUMNS)} FROM books WHERE id = {book_id}")
    return dict(zip(COLUMNS, found[0]))


def short(value) -> str:
    return repr(value if not isinstance(value, str) or len(value) < 24 else value[:21] + "...")


corrections = [
    ("a price correction", 3, {"price_cents": 1299}),
    ("remove a wrong blurb", 1, {"blurb": None}),
    ("a null title, by mistake", 3, {"title": None}),
    ("nothing to change", 3, {}),
    ("the whole book retyped, blurb left out", 5,
     {"isbn": "9780807083697", "title": "Kindred", "author_id": 3, "price_cents": 1599, "stock": 3}),
]
with shop_client(app) as client:
    for what, book_id, body in corrections:
        before = row(book_id)
        response = client.patch(f"/books/{book_id}", json=body)
        after = row(book_id)
        changes = [f"{c} {short(before[c])} -> {short(after[c])}" for c in COLUMNS if before[c] != after[c]]
        print(f"{what}: PATCH /books/{book_id} {json.dumps(body)}")
        print(f"    -> {describe(response, 90)}")
        print(f"    row: {'; '.join(changes) or 'unchanged'}")

print("\nThe BookUpdate that FastAPI builds for {\"price_cents\": 1299}, dumped:")
try:
    print(BookUpdate.model_validate({"price_cents": 1299}).model_dump())
except Exception as error:  # a model that refuses even this
    print(f"{type(error).__name__}: {error}")

# %% [markdown]
# With the starter, the price correction is a 500 and the row is unchanged: the loop wrote
# `None` into every field the request left out (the dump shows them), and the database refused
# the first `NULL` it met, the ISBN's. The null blurb and the empty correction fail the same
# way. The null title is a 500 too, when it should be a `422` that names the field. Only the
# retyped book goes through, because it sent every column that cannot be empty: and its blurb,
# which it left out, is gone.
#
# ## The check
#
# Run it. Each failing test says what it observed and why that matters in production. Fix the
# kata cell, run it again (and the cells under it), then re-run this cell until every test passes.

# %% tags=["check"]
%%ipytest
from checks.partial_update import *

# %% [markdown]
# ## Hints
#
# Stuck? Each click opens one more level: a nudge, then the concept, then a sketch of
# the code. In a terminal, `kata hint partial-update` opens the same levels.

# %% [markdown] tags=["hint"]
# ### Hint 1: a nudge
#
# Print `BookUpdate.model_validate({"price_cents": 1299})` and
# `BookUpdate.model_validate({"blurb": None})`: which attributes of the model would tell you
# which fields the client actually sent? Then ask of each field: may it be left out, and may it
# be `null`? Are those the same question for a title and for a blurb?

# %% [markdown] tags=["hint"]
# ### Hint 2: the concept
#
# Pydantic records which fields were given when a model was built (`model_fields_set`), and
# `model_dump(exclude_unset=True)` leaves the others out. That is the one test that separates
# "not sent" from "sent as null": `exclude_none` and `exclude_defaults` look at the *value*, and
# a `null` that was sent has the same value as a field that was not.
#
# Optional and nullable are two properties. A field with a default may be left out; whether it
# may be `null` is its type's business. Pydantic does not validate defaults, so
# `title: str = Field(default=None)` may be left out, and a `null` that is sent fails the `str`
# type: a 422, before the endpoint runs. The blurb, whose column may be empty, keeps
# `str | None`.
#
# Read: FastAPI, [Body - Updates](https://fastapi.tiangolo.com/tutorial/body-updates/) (partial
# updates with PATCH); Pydantic, [Serialization](https://docs.pydantic.dev/latest/concepts/serialization/)
# and [Fields: default values](https://docs.pydantic.dev/latest/concepts/fields/#default-values).

# %% [markdown] tags=["hint"]
# ### Hint 3: a sketch
#
# ```python
# class BookUpdate(BaseModel):
#     title: str = Field(default=None, min_length=1, max_length=300)   # optional, never null
#     ...                                                               # the same for the others
#     blurb: str | None = Field(default=None, max_length=1000)          # optional, null clears it
#
# ...
#     for field, value in update.model_dump(exclude_unset=True).items():
#         setattr(book, field, value)
# ```

# %% [markdown]
# ## The walkthrough

# %% [markdown] tags=["walkthrough"]
# ### The fix, step by step
#
# 1. **Write what was sent, all of it, and nothing else.** `update.model_dump(exclude_unset=True)`
#    holds exactly the fields the request carried, with the values it carried, `None` included.
#    So `{"price_cents": 1299}` changes the price, `{"blurb": null}` clears the blurb, and `{}`
#    changes nothing.
# 2. **Say, per field, whether null is a value.** A blurb may be empty, so `null` is a valid
#    correction: it stays `str | None`. A title, an ISBN, an author, a price and a stock may not,
#    so their type is the plain type with a default of `None`: the field may be left out, and a
#    `null` that is sent fails validation with a 422 that names it. The default is never
#    validated and, thanks to step 1, never written.
# 3. **Keep the rules.** The pattern, lengths and minimums move with the fields: a correction
#    must meet the same rules as a new book.
#
# Why not `exclude_none=True`? It decides by value, so a `null` that was sent is dropped like a
# field that was not: the blurb can never be removed, and a null title is silently ignored with
# a 200 instead of refused. `exclude_defaults=True` is the same test in disguise when every
# default is `None`. And why not keep `X | None = None` for every field, as the tutorials do,
# with the right dump? Then `{"title": null}` passes validation, is written, and the database
# refuses it at the commit: a 500 instead of a 422. (A validator that refuses `None` for those
# fields works too; the plain type says the same thing with less code, and the OpenAPI document
# then shows the title as a string that is not nullable.) Last, if you write the change as one
# SQL `UPDATE` from the dump, an empty PATCH has nothing to set: check for that first.
#
# Pydantic 2.14 also offers a sentinel for "not given", `MISSING` (`title: str | MISSING =
# MISSING`): such a field is left out of every dump by itself, and the annotation says exactly
# what may be sent. It came as an experiment in Pydantic 2.12; since 2.14 it is imported from
# `pydantic` itself.
#
# Read more: FastAPI, [Body - Updates](https://fastapi.tiangolo.com/tutorial/body-updates/);
# Pydantic, [Serialization](https://docs.pydantic.dev/latest/concepts/serialization/),
# [Fields](https://docs.pydantic.dev/latest/concepts/fields/);
# RFC 7396, [JSON Merge Patch](https://www.rfc-editor.org/rfc/rfc7396) (null means "remove").
#
# ### What to remember
# - A PATCH writes the fields it was sent: `model_dump(exclude_unset=True)` (or
#   `model_fields_set`), never a plain `model_dump()`.
# - "Not sent" and "sent as null" are different requests; `exclude_none` cannot tell them apart.
# - Optional is not nullable: a column that cannot be empty gets a non-null type with a default,
#   so an explicit null is a 422, not a 500 from the database.
