"""`kata new <id> --module <name>`: a new kata's three files, made to the workbook's conventions.

It writes `sources/<id>.py` and `checks/<id with underscores>.py`, appends the kata's row to the
team's own manifest, `katas.local.toml` (to `katas.toml` with ``shipped=True``: for the
workbook's own authors), and builds the notebooks. What it writes is a small kata that already
passes `kata verify --authoring` (a missing book answered 200), so the author starts from
something that works and replaces it part by part, verifying as they go.
"""

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from kata import KataError
from kata.manifest import LOCAL_MANIFEST, MANIFEST, load
from kata.rules import SLUG

FAILS = "test_an_unknown_book_is_answered_404"
GUARD = "test_a_known_book_is_answered_with_its_title"

SOURCE = '''\
# %% [markdown]
# # {title}
#
# **The story.** (The scaffold's example: replace it with your kata's.) A customer followed an
# old link to a book the shop no longer sells. The page answered `200` with an empty body, the
# shop's front end crashed trying to show it, and the support desk got the ticket.
#
# **You will learn**
# - what a client decides from a status code alone.
#
# Run the cells from the top (**Run → Run All Cells**), read the evidence, then make the check pass.

# %% tags=["setup"]
from checks import setup_notebook

setup_notebook()

# %% [markdown]
# ## The bookshop around the problem
#
# The shop's books are `bookshop.models.Book` rows. The shop's lifespan opens the database and
# puts a `sessionmaker` in `request.state`; `get_session` hands each request a session.

# %%
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request
from sqlalchemy.ext.asyncio import AsyncSession

from bookshop.db import lifespan
from bookshop.models import Book


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.state.sessionmaker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]

# %% [markdown]
# ## The code under review
#
# This is the cell you will change. What does a client receive for a book the shop does not have?

# %% tags=["kata", "starter"]
app = FastAPI(lifespan=lifespan)


@app.get("/books/{{book_id}}")
async def read_book(book_id: int, session: SessionDep):
    book = await session.get(Book, book_id)
    return None if book is None else {{"id": book.id, "title": book.title}}

# %% tags=["kata", "solution"]
app = FastAPI(lifespan=lifespan)


@app.get("/books/{{book_id}}")
async def read_book(book_id: int, session: SessionDep):
    book = await session.get(Book, book_id)
    if book is None:
        raise HTTPException(status_code=404, detail="Book not found")
    return {{"id": book.id, "title": book.title}}

# %% tags=["kata", "decoy:always-404"]
# Believes: "a missing book must be a 404", so every answer is one. Wrong: the books the shop
# has disappear too.
app = FastAPI(lifespan=lifespan)


@app.get("/books/{{book_id}}")
async def read_book(book_id: int, session: SessionDep):
    raise HTTPException(status_code=404, detail="Book not found")

# %% [markdown]
# ## The evidence
#
# One book the shop has, one it does not: look at the status codes.

# %% tags=["evidence"]
from bookshop.client import describe, shop_client

with shop_client(app) as client:
    print("GET /books/1      ->", describe(client.get("/books/1")))
    print("GET /books/999999 ->", describe(client.get("/books/999999")))

# %% [markdown]
# ## The check
#
# Run it. Each failing test names the behaviour and says what it observed and why it matters.

# %% tags=["check"]
%%ipytest
from {check} import *

# %% [markdown]
# ## Hints
#
# Stuck? Each click opens one more level: a nudge, then the concept, then a sketch of the code.
# In a terminal, `kata hint {id}` opens the same levels.

# %% [markdown] tags=["hint"]
# ### Hint 1: a nudge
#
# Follow `read_book` for an id that has no row: what does it return, and what status goes with it?

# %% [markdown] tags=["hint"]
# ### Hint 2: the concept
#
# A missing resource is a `404 Not Found`, which FastAPI sends when the endpoint raises
# `HTTPException`. See FastAPI's docs, "Handling Errors".

# %% [markdown] tags=["hint"]
# ### Hint 3: a sketch
#
# ```python
# if book is None:
#     raise HTTPException(status_code=404, detail="Book not found")
# ```

# %% [markdown]
# ## The walkthrough

# %% [markdown] tags=["walkthrough"]
# ### The fix, step by step
#
# 1. Raise `HTTPException(status_code=404)` when there is no row, before building the answer.
# 2. Keep answering the books that exist: answering 404 to everything is the tempting wrong fix.
#
# ### What to remember
#
# - The status code is the first thing a client reads: `200` promises the thing exists.
'''

CHECK = '''\
"""Check: a book the shop does not have is answered 404; a book it has still is answered 200
with its title. (The scaffold's example: replace it with your kata's check.)"""

import pytest

from bookshop.client import open_client
from checks.feedback import expect
from checks.harness import brief, json_of, learner

__all__ = [
    "{fails}",
    "{guard}",
]


@pytest.mark.anyio
async def {fails}(kata_ns, shop_db):
    async with open_client(learner(kata_ns, "app")) as client:
        response = await client.get("/books/999999")
    expect(
        response.status_code == 404,
        f"GET /books/999999, a book the shop does not have, answered {{brief(response)}}.",
        "A client reads the status code first: a 200 tells it the book exists, so it shows nothing, or crashes.",
        nudge="What does the endpoint answer when there is no such row?",
        concept="The status code of a missing resource; FastAPI's docs, 'Handling Errors'.",
    )


@pytest.mark.anyio
async def {guard}(kata_ns, shop_db):
    async with open_client(learner(kata_ns, "app")) as client:
        response = await client.get("/books/1")
    body = json_of(response)
    expect(
        response.status_code == 200 and isinstance(body, dict) and bool(body.get("title")),
        f"GET /books/1, a book the shop sells, answered {{brief(response)}}.",
        "Fixing the missing book must not lose the books the shop has.",
        nudge="Does the endpoint still answer the books that exist?",
    )
'''

ROW = '''
[[kata]]
id = "{id}"
title = "{title}"
module = "{module}"
minutes = {minutes}
source = "sources/{id}.py"
notebook = "notebooks/{folder}/{number:02d}-{id}.ipynb"
solution = "solutions/{folder}/{number:02d}-{id}.ipynb"
check = "{check}"
fails = ["{fails}"]
[[kata.decoy]]
name = "always-404"
fails = ["{guard}"]
'''


@dataclass
class Made:
    files: list[Path]
    manifest: Path


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _folder(katas, module: str) -> str:
    """The module's folder: the one its katas use, or the next number's for a new module."""
    for kata in katas:
        if kata.module == module:
            return kata.notebook.parent.name
    numbers = [int(m.group(1)) for k in katas if (m := re.match(r"(\d+)-", k.notebook.parent.name))]
    return f"{max(numbers, default=0) + 1}-{_slug(module)}"


def _toml_string(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def new_kata(root: Path, kata_id: str, module: str, *, title: str | None = None, check: str | None = None,
             minutes: int = 20, shipped: bool = False) -> Made:
    if not SLUG.fullmatch(kata_id):
        raise KataError(f"{kata_id!r} is not an id: use a lowercase slug such as 'idempotent-payments'.")
    katas = load(root)
    if any(k.id == kata_id for k in katas):
        raise KataError(f"There is already a kata {kata_id!r}. Choose another id.")
    modules = [k.module for k in katas]
    if module in modules and modules[-1] != module:
        raise KataError(f"The module {module!r} is not the last one, and a new kata goes after every other "
                        f"(the rows of {LOCAL_MANIFEST} come after {MANIFEST}'s): put the team's katas in a "
                        "module of their own, or add the row by hand next to that module's in katas.toml.")
    check = check or f"checks.{kata_id.replace('-', '_')}"
    if not re.fullmatch(r"checks\.[a-z_][a-z0-9_]*", check):
        raise KataError(f"{check!r} is not a check module name such as 'checks.idempotent_payments'.")
    source = root / "sources" / f"{kata_id}.py"
    check_file = root / (check.replace(".", "/") + ".py")
    for path in (source, check_file):
        if path.exists():
            raise KataError(f"{path.relative_to(root)} already exists: remove it or choose another id.")
    manifest = root / (MANIFEST if shipped else LOCAL_MANIFEST)
    title = title or kata_id.replace("-", " ").capitalize()
    fields = {"id": kata_id, "title": _toml_string(title), "module": _toml_string(module), "minutes": minutes,
              "folder": _folder(katas, module), "number": len(katas) + 1, "check": check, "fails": FAILS,
              "guard": GUARD}
    row = ROW.format(**fields)
    tomllib.loads(row)  # never write a row that does not read back
    source.parent.mkdir(exist_ok=True)
    source.write_text(SOURCE.format(title=title, check=check, id=kata_id), encoding="utf-8")
    check_file.write_text(CHECK.format(fails=FAILS, guard=GUARD), encoding="utf-8")
    if not manifest.exists():
        manifest.write_text(f"# The team's own katas, after the workbook's ({MANIFEST}); the same format. The workbook "
                            "never ships this file,\n# so its updates never touch it. See AUTHORING.md.\n",
                            encoding="utf-8")
    with manifest.open("a", encoding="utf-8") as out:
        out.write(row)
    return Made([source, check_file], manifest)
