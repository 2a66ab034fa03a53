# %% [markdown]
# # Pydantic 2 ignores Pydantic 1's settings
#
# **The story.** The catalogue service was upgraded from Pydantic 1 to Pydantic 2 last month. Its
# schemas were written from a guide of the Pydantic 1 days: a nested `class Config` with
# `orm_mode = True`, `anystr_strip_whitespace = True` and a `schema_extra` example, an
# `@validator` for the ISBN, and `.dict()` and `.parse_obj()` in the endpoints. The upgrade
# turned every `from_orm(...)` into `model_validate(...)`, the tests of the create endpoint
# passed, and it shipped. Since then:
#
# - the book page answers **500** for every book;
# - a publisher's `" Dune "` was stored with its spaces, and the catalogue lists two *Dune*s;
# - the example book has vanished from the API docs, and the publishers' developers ask what a
#   valid request looks like.
#
# Nothing failed at startup: Pydantic 2 printed a `UserWarning` when the classes were created,
# and went on without the settings it did not recognise.
#
# **You will learn**
# - which Pydantic 1 settings Pydantic 2 silently stops applying, and how to see it;
# - the Pydantic 2 spelling of each: `model_config = ConfigDict(...)`, `@field_validator`,
#   `model_dump()`, `model_validate()`;
# - why code that still works with a deprecation warning is a debt with a due date (Pydantic 3).
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
# `request.state`. `Book` is the table (its `isbn` is unique). Publishers create books one at a
# time with `POST /books`, or send a feed of many with `POST /books/import`, in which each entry
# is checked on its own so that one bad entry rejects only itself. The book page reads
# `GET /books/{book_id}`.

# %%
import warnings
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from bookshop.db import lifespan
from bookshop.models import Book


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.state.sessionmaker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


class ImportReport(BaseModel):
    imported: list[int]  # the ids of the books created
    rejected: list[int]  # the positions, in the feed, of the entries refused


def isbn_digits(value: str) -> str:
    """`978-0-441-17271-9` -> `9780441172719`; anything that is not 13 digits is refused."""
    digits = value.replace("-", "").replace(" ", "")
    if len(digits) != 13 or not digits.isdigit():
        raise ValueError("an ISBN has 13 digits, with or without hyphens")
    return digits


EXAMPLE_BOOK = {"isbn": "978-0-441-17271-9", "title": "Dune", "author_id": 2, "price_cents": 1099}

# %% [markdown]
# ## The code under review
#
# This is the cell you will change. Read it as Pydantic 2 reads it: which of these settings,
# decorators and methods does Pydantic 2 still know?

# %% tags=["kata", "starter"]
from pydantic import validator

app = FastAPI(lifespan=lifespan)


class BookCreate(BaseModel):
    isbn: str
    title: str
    author_id: int
    price_cents: int

    class Config:
        anystr_strip_whitespace = True  # " Dune " is stored as "Dune"
        schema_extra = {"example": EXAMPLE_BOOK}  # shown in the API docs

    @validator("isbn")
    def isbn_is_13_digits(cls, value):
        return isbn_digits(value)


class BookRead(BaseModel):
    id: int
    isbn: str
    title: str
    author_id: int
    price_cents: int

    class Config:
        orm_mode = True  # read the fields from the attributes of an ORM object


@app.post("/books", status_code=201)
async def create_book(book: BookCreate, session: SessionDep) -> BookRead:
    row = Book(**book.dict())
    session.add(row)
    await session.commit()
    return BookRead(id=row.id, **book.dict())


@app.get("/books/{book_id}")
async def read_book(book_id: int, session: SessionDep) -> BookRead:
    book = await session.get(Book, book_id)
    if book is None:
        raise HTTPException(status_code=404, detail="Book not found")
    return BookRead.model_validate(book)


@app.post("/books/import")
async def import_feed(feed: list[dict], session: SessionDep) -> ImportReport:
    rows, rejected = [], []
    for position, entry in enumerate(feed):
        try:
            book = BookCreate.parse_obj(entry)
        except ValidationError:
            rejected.append(position)
            continue
        rows.append(Book(**book.dict()))
    session.add_all(rows)
    await session.commit()
    return ImportReport(imported=[row.id for row in rows], rejected=rejected)

# %% tags=["kata", "solution"]
from pydantic import ConfigDict, field_validator

app = FastAPI(lifespan=lifespan)


class BookCreate(BaseModel):
    # Pydantic 2 reads its settings from `model_config`, under their Pydantic 2 names.
    model_config = ConfigDict(str_strip_whitespace=True, json_schema_extra={"example": EXAMPLE_BOOK})

    isbn: str
    title: str
    author_id: int
    price_cents: int

    @field_validator("isbn")
    @classmethod
    def isbn_is_13_digits(cls, value: str) -> str:
        return isbn_digits(value)


class BookRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    isbn: str
    title: str
    author_id: int
    price_cents: int


@app.post("/books", status_code=201)
async def create_book(book: BookCreate, session: SessionDep) -> BookRead:
    row = Book(**book.model_dump())
    session.add(row)
    await session.commit()
    return BookRead.model_validate(row)


@app.get("/books/{book_id}")
async def read_book(book_id: int, session: SessionDep) -> BookRead:
    book = await session.get(Book, book_id)
    if book is None:
        raise HTTPException(status_code=404, detail="Book not found")
    return BookRead.model_validate(book)


@app.post("/books/import")
async def import_feed(feed: list[dict], session: SessionDep) -> ImportReport:
    rows, rejected = [], []
    for position, entry in enumerate(feed):
        try:
            book = BookCreate.model_validate(entry)
        except ValidationError:
            rejected.append(position)
            continue
        rows.append(Book(**book.model_dump()))
    session.add_all(rows)
    await session.commit()
    return ImportReport(imported=[row.id for row in rows], rejected=rejected)

# %% tags=["kata", "decoy:config-class-with-new-names"]
# "The keys were renamed: rename them, and keep the class." Everything works again, but the
# nested `class Config` itself is deprecated since Pydantic 2.0 and goes in Pydantic 3: the
# next upgrade breaks these schemas again, and Pydantic says so at every start.
from pydantic import field_validator

app = FastAPI(lifespan=lifespan)


class BookCreate(BaseModel):
    isbn: str
    title: str
    author_id: int
    price_cents: int

    class Config:
        str_strip_whitespace = True
        json_schema_extra = {"example": EXAMPLE_BOOK}

    @field_validator("isbn")
    @classmethod
    def isbn_is_13_digits(cls, value: str) -> str:
        return isbn_digits(value)


class BookRead(BaseModel):
    id: int
    isbn: str
    title: str
    author_id: int
    price_cents: int

    class Config:
        from_attributes = True


@app.post("/books", status_code=201)
async def create_book(book: BookCreate, session: SessionDep) -> BookRead:
    row = Book(**book.model_dump())
    session.add(row)
    await session.commit()
    return BookRead.model_validate(row)


@app.get("/books/{book_id}")
async def read_book(book_id: int, session: SessionDep) -> BookRead:
    book = await session.get(Book, book_id)
    if book is None:
        raise HTTPException(status_code=404, detail="Book not found")
    return BookRead.model_validate(book)


@app.post("/books/import")
async def import_feed(feed: list[dict], session: SessionDep) -> ImportReport:
    rows, rejected = [], []
    for position, entry in enumerate(feed):
        try:
            book = BookCreate.model_validate(entry)
        except ValidationError:
            rejected.append(position)
            continue
        rows.append(Book(**book.model_dump()))
    session.add_all(rows)
    await session.commit()
    return ImportReport(imported=[row.id for row in rows], rejected=rejected)

# %% tags=["kata", "decoy:orm-mode-only"]
# "The 500 is the emergency: fix the ORM setting, ship, and the rest later." The book page works;
# the stripping and the example are still Pydantic 1 settings that Pydantic 2 skips.
from pydantic import ConfigDict, field_validator

app = FastAPI(lifespan=lifespan)


class BookCreate(BaseModel):
    isbn: str
    title: str
    author_id: int
    price_cents: int

    class Config:
        anystr_strip_whitespace = True
        schema_extra = {"example": EXAMPLE_BOOK}

    @field_validator("isbn")
    @classmethod
    def isbn_is_13_digits(cls, value: str) -> str:
        return isbn_digits(value)


class BookRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    isbn: str
    title: str
    author_id: int
    price_cents: int


@app.post("/books", status_code=201)
async def create_book(book: BookCreate, session: SessionDep) -> BookRead:
    row = Book(**book.model_dump())
    session.add(row)
    await session.commit()
    return BookRead.model_validate(row)


@app.get("/books/{book_id}")
async def read_book(book_id: int, session: SessionDep) -> BookRead:
    book = await session.get(Book, book_id)
    if book is None:
        raise HTTPException(status_code=404, detail="Book not found")
    return BookRead.model_validate(book)


@app.post("/books/import")
async def import_feed(feed: list[dict], session: SessionDep) -> ImportReport:
    rows, rejected = [], []
    for position, entry in enumerate(feed):
        try:
            book = BookCreate.model_validate(entry)
        except ValidationError:
            rejected.append(position)
            continue
        rows.append(Book(**book.model_dump()))
    session.add_all(rows)
    await session.commit()
    return ImportReport(imported=[row.id for row in rows], rejected=rejected)

# %% tags=["kata", "decoy:dict-left-in-the-import"]
# "Schemas migrated, endpoints migrated." All but one call: the import still turns each entry
# into a dict the Pydantic 1 way. It works today, with a deprecation warning on every entry of
# every feed, and it stops working in Pydantic 3.
from pydantic import ConfigDict, field_validator

app = FastAPI(lifespan=lifespan)


class BookCreate(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, json_schema_extra={"example": EXAMPLE_BOOK})

    isbn: str
    title: str
    author_id: int
    price_cents: int

    @field_validator("isbn")
    @classmethod
    def isbn_is_13_digits(cls, value: str) -> str:
        return isbn_digits(value)


class BookRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    isbn: str
    title: str
    author_id: int
    price_cents: int


@app.post("/books", status_code=201)
async def create_book(book: BookCreate, session: SessionDep) -> BookRead:
    row = Book(**book.model_dump())
    session.add(row)
    await session.commit()
    return BookRead.model_validate(row)


@app.get("/books/{book_id}")
async def read_book(book_id: int, session: SessionDep) -> BookRead:
    book = await session.get(Book, book_id)
    if book is None:
        raise HTTPException(status_code=404, detail="Book not found")
    return BookRead.model_validate(book)


@app.post("/books/import")
async def import_feed(feed: list[dict], session: SessionDep) -> ImportReport:
    rows, rejected = [], []
    for position, entry in enumerate(feed):
        try:
            book = BookCreate.model_validate(entry)
        except ValidationError:
            rejected.append(position)
            continue
        rows.append(Book(**book.dict()))
    session.add_all(rows)
    await session.commit()
    return ImportReport(imported=[row.id for row in rows], rejected=rejected)

# %% tags=["kata", "decoy:pattern-instead-of-validator"]
# "The validator is what warns: a pattern on the field checks the ISBN without one." It checks it
# too well: an ISBN with hyphens, as printed on every book and as publishers send it, is refused
# instead of cleaned.
from pydantic import ConfigDict, Field

app = FastAPI(lifespan=lifespan)


class BookCreate(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, json_schema_extra={"example": EXAMPLE_BOOK})

    isbn: str = Field(pattern=r"^\d{13}$")
    title: str
    author_id: int
    price_cents: int


class BookRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    isbn: str
    title: str
    author_id: int
    price_cents: int


@app.post("/books", status_code=201)
async def create_book(book: BookCreate, session: SessionDep) -> BookRead:
    row = Book(**book.model_dump())
    session.add(row)
    await session.commit()
    return BookRead.model_validate(row)


@app.get("/books/{book_id}")
async def read_book(book_id: int, session: SessionDep) -> BookRead:
    book = await session.get(Book, book_id)
    if book is None:
        raise HTTPException(status_code=404, detail="Book not found")
    return BookRead.model_validate(book)


@app.post("/books/import")
async def import_feed(feed: list[dict], session: SessionDep) -> ImportReport:
    rows, rejected = [], []
    for position, entry in enumerate(feed):
        try:
            book = BookCreate.model_validate(entry)
        except ValidationError:
            rejected.append(position)
            continue
        rows.append(Book(**book.model_dump()))
    session.add_all(rows)
    await session.commit()
    return ImportReport(imported=[row.id for row in rows], rejected=rejected)

# %% tags=["kata", "alternative:string-constraints"]
# Only the title is stripped, by its type, instead of every string of the model by a setting:
# `Title` strips wherever it is used.
from pydantic import ConfigDict, StringConstraints, field_validator

app = FastAPI(lifespan=lifespan)

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class BookCreate(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": EXAMPLE_BOOK})

    isbn: str
    title: Title
    author_id: int
    price_cents: int

    @field_validator("isbn")
    @classmethod
    def isbn_is_13_digits(cls, value: str) -> str:
        return isbn_digits(value)


class BookRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    isbn: str
    title: str
    author_id: int
    price_cents: int


@app.post("/books", status_code=201)
async def create_book(book: BookCreate, session: SessionDep) -> BookRead:
    row = Book(**book.model_dump())
    session.add(row)
    await session.commit()
    return BookRead.model_validate(row)


@app.get("/books/{book_id}")
async def read_book(book_id: int, session: SessionDep) -> BookRead:
    book = await session.get(Book, book_id)
    if book is None:
        raise HTTPException(status_code=404, detail="Book not found")
    return BookRead.model_validate(book)


@app.post("/books/import")
async def import_feed(feed: list[dict], session: SessionDep) -> ImportReport:
    rows, rejected = [], []
    for position, entry in enumerate(feed):
        try:
            book = BookCreate.model_validate(entry)
        except ValidationError:
            rejected.append(position)
            continue
        rows.append(Book(**book.model_dump()))
    session.add_all(rows)
    await session.commit()
    return ImportReport(imported=[row.id for row in rows], rejected=rejected)

# %% tags=["kata", "alternative:before-validator"]
# The ISBN cleaning travels with a reusable type, run on the raw input before any other check;
# each field documents its own example; a plain dict is a ConfigDict too.
from pydantic import BeforeValidator, Field

app = FastAPI(lifespan=lifespan)

Isbn = Annotated[str, BeforeValidator(lambda value: isbn_digits(value) if isinstance(value, str) else value)]


class BookCreate(BaseModel):
    model_config = {"str_strip_whitespace": True}

    isbn: Isbn = Field(examples=[EXAMPLE_BOOK["isbn"]])
    title: str = Field(examples=[EXAMPLE_BOOK["title"]])
    author_id: int = Field(examples=[EXAMPLE_BOOK["author_id"]])
    price_cents: int = Field(examples=[EXAMPLE_BOOK["price_cents"]])


class BookRead(BaseModel):
    model_config = {"from_attributes": True}

    id: int
    isbn: str
    title: str
    author_id: int
    price_cents: int


@app.post("/books", status_code=201)
async def create_book(book: BookCreate, session: SessionDep) -> BookRead:
    row = Book(**book.model_dump())
    session.add(row)
    await session.commit()
    return BookRead.model_validate(row)


@app.get("/books/{book_id}")
async def read_book(book_id: int, session: SessionDep) -> BookRead:
    book = await session.get(Book, book_id)
    if book is None:
        raise HTTPException(status_code=404, detail="Book not found")
    return BookRead.model_validate(book)


@app.post("/books/import")
async def import_feed(feed: list[dict], session: SessionDep) -> ImportReport:
    rows, rejected = [], []
    for position, entry in enumerate(feed):
        try:
            book = BookCreate.model_validate(entry)
        except ValidationError:
            rejected.append(position)
            continue
        rows.append(Book(**book.model_dump()))
    session.add_all(rows)
    await session.commit()
    return ImportReport(imported=[row.id for row in rows], rejected=rejected)

# %% tags=["kata", "alternative:shared-base-class"]
# One base class holds the settings every catalogue schema shares; each schema adds its own.
# Pydantic 2 merges a class's `model_config` with its bases'.
from pydantic import ConfigDict, field_validator

app = FastAPI(lifespan=lifespan)


class CatalogueModel(BaseModel):
    model_config = ConfigDict(from_attributes=True, str_strip_whitespace=True)


class BookCreate(CatalogueModel):
    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE_BOOK]})

    isbn: str
    title: str
    author_id: int
    price_cents: int

    @field_validator("isbn", mode="before")
    @classmethod
    def isbn_is_13_digits(cls, value: object) -> object:
        return isbn_digits(value) if isinstance(value, str) else value


class BookRead(CatalogueModel):
    id: int
    isbn: str
    title: str
    author_id: int
    price_cents: int


@app.post("/books", status_code=201)
async def create_book(book: BookCreate, session: SessionDep) -> BookRead:
    row = Book(**book.model_dump())
    session.add(row)
    await session.commit()
    return BookRead.model_validate(row)


@app.get("/books/{book_id}")
async def read_book(book_id: int, session: SessionDep) -> BookRead:
    book = await session.get(Book, book_id)
    if book is None:
        raise HTTPException(status_code=404, detail="Book not found")
    return BookRead.model_validate(book)


@app.post("/books/import")
async def import_feed(feed: list[dict], session: SessionDep) -> ImportReport:
    rows, rejected = [], []
    for position, entry in enumerate(feed):
        try:
            book = BookCreate.model_validate(entry)
        except ValidationError:
            rejected.append(position)
            continue
        rows.append(Book(**book.model_dump()))
    session.add_all(rows)
    await session.commit()
    return ImportReport(imported=[row.id for row in rows], rejected=rejected)

# %% [markdown]
# ## The evidence
#
# First, what Pydantic itself says. The next cell creates a small model the Pydantic 1 way,
# recording the warnings it gets, and then looks at what the model actually does.

# %% tags=["evidence"]
import re

import pydantic
from pydantic import validator as v1_validator


def gist(warning) -> str:
    """What a warning says is wrong, without the advice that follows (the hints have that)."""
    text = " ".join(str(warning.message).split())
    renamed = re.findall(r"'(\w+)' has been renamed", text)
    if renamed:
        return f"Valid config keys have changed in V2: {', '.join(renamed)} (renamed)"
    for advice in (" You should", ", use ", "; use ", " Deprecated in"):
        text = text.split(advice)[0]
    return text

with warnings.catch_warnings(record=True) as said:
    warnings.simplefilter("always")

    class Probe(BaseModel):
        title: str

        class Config:
            orm_mode = True
            anystr_strip_whitespace = True

        @v1_validator("title")
        def shout(cls, value):
            return value.upper()


print(f"Pydantic {pydantic.VERSION}, creating a model the Pydantic 1 way, says (in short):")
for line in dict.fromkeys(f"{warning.category.__name__}: {gist(warning)}" for warning in said):
    print(f"  {line}")
print(f"and then the model's settings are {Probe.model_config}")
unread = sorted(set(Probe.model_config) - set(pydantic.ConfigDict.__annotations__))
print(f"settings Pydantic 2 does not read (not among the keys of its ConfigDict): {unread}")
print(f"a title sent as ' dune ' comes out as {Probe(title=' dune ').title!r}  (validated: yes; stripped: no)")


class Row:  # an object with attributes, as an ORM row is
    title = "Dune"


try:
    Probe.model_validate(Row())
    print("model_validate(an ORM-like object): accepted")
except ValidationError as error:
    print(f"model_validate(an ORM-like object): {error.errors()[0]['msg']}")

# %% [markdown]
# The settings are all there, under their old names, and none of them is applied; the old
# validator runs, with a deprecation warning. Now the catalogue itself: a publisher posts a book
# with spaces around its title, the book page is read, the API docs are opened, and a feed is
# imported. Under it: what the database stored, and the deprecation warnings Pydantic gave while
# the requests were being handled.

# %% tags=["evidence"]
from bookshop.client import describe, shop_client
from bookshop.db import database_url
from bookshop.observe import run_sql
from pydantic.warnings import PydanticDeprecationWarning

NEW_ISBNS = "('9780765326355', '9780765365279')"
run_sql(database_url(), f"DELETE FROM books WHERE isbn IN {NEW_ISBNS}")  # the same start on every run

with warnings.catch_warnings(record=True) as during, shop_client(app) as client:
    warnings.simplefilter("always")
    created = client.post("/books", json={"isbn": "978-0-7653-2635-5", "title": "  The Way of Kings  ",
                                          "author_id": 2, "price_cents": 1299})
    page = client.get("/books/3")
    feed = client.post("/books/import", json=[
        {"isbn": "978-0-7653-6527-9", "title": "Words of Radiance", "author_id": 2, "price_cents": 1499},
        {"isbn": "not an isbn", "title": "A Typo", "author_id": 2, "price_cents": 999},
    ])
    docs = client.get("/openapi.json")

print(f"POST /books        -> {describe(created)}")
print(f"GET /books/3       -> {describe(page)}")
print(f"POST /books/import -> {describe(feed)}")
print("titles stored:", [title for (title,) in run_sql(database_url(), f"SELECT title FROM books WHERE isbn IN {NEW_ISBNS}")])
try:
    schema = docs.json()["components"]["schemas"]["BookCreate"]
    print("example in the API docs for BookCreate:", schema.get("example") or schema.get("examples") or "none")
except (ValueError, KeyError, TypeError):
    print(f"GET /openapi.json -> {describe(docs)}")
deprecations = [w for w in during if issubclass(w.category, PydanticDeprecationWarning)]
print(f"Pydantic deprecation warnings while handling these requests: {len(deprecations)}")
for message in sorted({gist(w) for w in deprecations}):
    print(f"  {message}")

# %% [markdown]
# With the starter: the title is stored with its spaces, the book page is a 500 (Pydantic 2
# refuses to read an object's attributes unless told to), the docs show no example, and every
# request that calls `.dict()` or `.parse_obj()` warns. The validator still cleans the ISBNs:
# Pydantic 2 keeps the old decorator working, for now.
#
# ## The check
#
# Run it. Each failing test says what it saw and why it matters in production. Fix the kata
# cell, run it again, then re-run this cell until every test passes.

# %% tags=["check"]
%%ipytest
from checks.pydantic_v2 import *

# %% [markdown]
# ## Hints
#
# Stuck? Each click opens one more level: a nudge, then the concept, then a sketch of
# the code. In a terminal, `kata hint pydantic-v2` opens the same levels.

# %% [markdown] tags=["hint"]
# ### Hint 1: a nudge
#
# Print `BookRead.model_config` and `BookCreate.model_config`: Pydantic 2 stores every setting you
# give it, known or not. Which of those names does Pydantic 2 know? Then look at the evidence's
# warnings: each names a method or decorator Pydantic 2 has replaced.

# %% [markdown] tags=["hint"]
# ### Hint 2: the concept
#
# Pydantic 2 reads a model's settings from a class attribute, `model_config`, a `ConfigDict`;
# the nested `class Config` still works but is deprecated and goes in Pydantic 3. Several settings
# were renamed, and **an old name is kept but not applied**, with a `UserWarning` at class
# creation only: `orm_mode` is now `from_attributes`, `anystr_strip_whitespace` is
# `str_strip_whitespace`, `schema_extra` is `json_schema_extra`. The methods were renamed too:
# `.dict()` → `.model_dump()`, `.parse_obj()` → `.model_validate()`, `.from_orm()` →
# `.model_validate()` with `from_attributes`; and `@validator` → `@field_validator`.
#
# Read: Pydantic, [Migration guide](https://docs.pydantic.dev/2.14/migration/) and
# [Configuration](https://docs.pydantic.dev/2.14/concepts/config/).

# %% [markdown] tags=["hint"]
# ### Hint 3: a sketch
#
# ```python
# from pydantic import ConfigDict, field_validator
#
# class BookCreate(BaseModel):
#     model_config = ConfigDict(str_strip_whitespace=True, json_schema_extra={"example": EXAMPLE_BOOK})
#     ...
#     @field_validator("isbn")
#     @classmethod
#     def isbn_is_13_digits(cls, value: str) -> str:
#         return isbn_digits(value)
#
# class BookRead(BaseModel):
#     model_config = ConfigDict(from_attributes=True)
#     ...
# ```
# Then, in the endpoints: `.dict()` becomes `.model_dump()`, `.parse_obj(...)` becomes
# `.model_validate(...)`.

# %% [markdown]
# ## The walkthrough

# %% [markdown] tags=["walkthrough"]
# ### The fix, step by step
#
# 1. **Settings go in `model_config`.** `model_config = ConfigDict(...)` is where Pydantic 2
#    looks. `ConfigDict` is a `TypedDict` whose keys are every setting Pydantic 2 reads: the
#    evidence compares a model's settings with them.
# 2. **Use the Pydantic 2 names.** `from_attributes=True` lets `model_validate(row)` read an ORM
#    object's attributes; `str_strip_whitespace=True` strips every `str` field;
#    `json_schema_extra={"example": ...}` puts the example in the JSON schema, and so in
#    FastAPI's docs.
# 3. **`@field_validator`, a classmethod.** Same job as `@validator`; `mode="before"` runs it on
#    the raw input, the default (`"after"`) on the value already parsed as the field's type.
# 4. **The methods.** `model_dump()` for `dict()`, `model_validate()` for `parse_obj()` and
#    `from_orm()`, `model_dump_json()` for `json()`, `model_copy()` for `copy()`.
#
# Why not keep `class Config` with the new names? It works, today: Pydantic 2 reads it and
# warns that it is deprecated (since 2.0) and will be removed in Pydantic 3. That warning comes
# once, at startup, where nobody looks; the day Pydantic 3 is installed, the schemas break
# again, all at once. The migration costs the same now and later; only now is it calm. Why not
# fix `orm_mode` alone, since it is the 500? Because the other two settings fail silently: the
# titles keep their spaces and the docs lose their example, and no error will ever point at
# them. And why not replace the validator with a `pattern=` on the field? A pattern checks;
# it does not clean: ISBNs with hyphens, as printed on every book, would be refused.
#
# **How to find the rest in your own code.** Run your tests with
# `-W error::pydantic.warnings.PydanticDeprecatedSince20` (and `-W error::UserWarning` while
# migrating): every leftover becomes an error at the line that has it. And compare each model's
# `model_config` with the keys of `ConfigDict`.
#
# Other right ways: `Annotated[str, StringConstraints(strip_whitespace=True)]` strips one field
# rather than all of them; `Annotated[str, BeforeValidator(...)]` attaches the ISBN cleaning to
# a reusable type; `Field(examples=[...])` documents each field; a base class with the shared
# `model_config`, which Pydantic merges into each subclass's.
#
# Read more: Pydantic, [Migration guide](https://docs.pydantic.dev/2.14/migration/),
# [Configuration](https://docs.pydantic.dev/2.14/concepts/config/),
# [Validators](https://docs.pydantic.dev/2.14/concepts/validators/); FastAPI,
# [Declare request example data](https://fastapi.tiangolo.com/tutorial/schema-extra-example/).
#
# ### What to remember
# - Pydantic 2 keeps settings it does not know and does not apply them: a renamed setting fails
#   silently, with one `UserWarning` at import.
# - `model_config = ConfigDict(...)`, `from_attributes`, `str_strip_whitespace`,
#   `json_schema_extra`; `@field_validator`; `model_dump()`, `model_validate()`.
# - Treat `PydanticDeprecatedSince20` as an error in your tests: deprecated code works until the
#   day it does not.
