# %% [markdown]
# # Bound parameters, never f-strings
#
# **The story.** A customer wrote in: searching the shop for *Lilith's Brood* shows "Something
# went wrong". The server's log has the answer, `sqlite3.OperationalError: near "s": syntax error`,
# and the SQL it ran: the customer's apostrophe ended a string literal in the middle of the
# statement. The search endpoint builds its SQL with an f-string, "because `text()` is faster than
# the ORM". The security team, asked to look, needed ten minutes to go further: a search for
# `' OR 1=1 --` lists books the shop does not sell any more, and a search starting with
# `' UNION SELECT` lists every customer's email address next to their password hash.
#
# What the search must do: `GET /books/search?q=...` answers the books **in stock** whose title
# contains the text, whatever its case (`dune` finds *Dune*), ordered by title. The text is a
# customer's text: any character may be in it, and each one means itself. An apostrophe is an
# apostrophe, and `%` or `_` are characters to find in a title, not patterns (a search for `D_ne`
# finds no book: no title contains "D_ne").
#
# **You will learn**
# - what SQL injection is, and why quoting by hand is not the fix;
# - how bound parameters keep a value out of the SQL text, in `text()` and in the ORM;
# - why `LIKE` needs one more step: its own wildcards, escaped.
#
# Run the cells from the top (**Run → Run All Cells**), read the evidence, then make the check pass.

# %% [markdown]
# ## The threat model
#
# **Injection**: API8:2019 in the OWASP API Security Top 10 (the 2023 edition no longer gives it an
# entry of its own), and A03:2021 in the OWASP Top 10. The attacker needs nothing but the search
# box, or `curl`: no account, no token. What they gain: every table the database user
# can read (the `users` table with its emails and password hashes, orders, addresses), and with
# some databases and drivers, the right to change or delete them. The apostrophe bug is the same
# hole seen by an honest customer.

# %% tags=["setup"]
from checks import setup_notebook

setup_notebook()

# %% [markdown]
# ## The bookshop around the problem
#
# `lifespan` is the shop's own, from "The engine belongs to the lifespan". `text()` is SQLAlchemy's
# way to run SQL written by hand; `BookHit` is what the search answers for each book.

# %%
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from pydantic import BaseModel
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from bookshop.db import lifespan
from bookshop.models import Book


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.state.sessionmaker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


class BookHit(BaseModel):
    id: int
    title: str
    price_cents: int

# %% [markdown]
# ## The code under review
#
# This is the cell you will change. Read it first: the customer's `q` ends up inside the SQL
# text. What can a customer write in `q` that changes what the statement *says*, not only what it
# searches for?

# %% tags=["kata", "starter"]
app = FastAPI(lifespan=lifespan)


@app.get("/books/search")
async def search_books(q: str, session: SessionDep) -> list[BookHit]:
    rows = await session.execute(text(
        "SELECT id, title, price_cents FROM books "
        f"WHERE stock > 0 AND title LIKE '%{q}%' "
        "ORDER BY title"
    ))
    return [BookHit(id=row.id, title=row.title, price_cents=row.price_cents) for row in rows]

# %% tags=["kata", "solution"]
def contains_pattern(value: str) -> str:
    """A LIKE pattern matching titles that contain ``value``, each of its characters taken as
    itself: LIKE's own wildcards (% and _) and the escape character are escaped."""
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# The SQL text is a constant: the customer's text never becomes part of it. `:pattern` is a bound
# parameter, sent to the database apart from the statement, as a value and nothing else.
SEARCH = text(
    "SELECT id, title, price_cents FROM books "
    "WHERE stock > 0 AND title LIKE :pattern ESCAPE '\\' "
    "ORDER BY title"
)


app = FastAPI(lifespan=lifespan)


@app.get("/books/search")
async def search_books(q: str, session: SessionDep) -> list[BookHit]:
    rows = await session.execute(SEARCH, {"pattern": contains_pattern(q)})
    return [BookHit(id=row.id, title=row.title, price_cents=row.price_cents) for row in rows]

# %% tags=["kata", "decoy:double-the-quotes"]
# "An apostrophe ends the string: double it, the way SQL escapes quotes." SQLite reads '' as one
# apostrophe, so these payloads stay inside the string. The customer's text is still SQL text: one
# forgotten replace, one other database, one number or column name spliced in the same way, and the
# hole is back. And % and _ still act as patterns.
app = FastAPI(lifespan=lifespan)


@app.get("/books/search")
async def search_books(q: str, session: SessionDep) -> list[BookHit]:
    quoted = q.replace("'", "''")
    rows = await session.execute(text(
        "SELECT id, title, price_cents FROM books "
        f"WHERE stock > 0 AND title LIKE '%{quoted}%' "
        "ORDER BY title"
    ))
    return [BookHit(id=row.id, title=row.title, price_cents=row.price_cents) for row in rows]

# %% tags=["kata", "decoy:backslash-the-quotes"]
# "Escape the quote with a backslash", the MySQL habit. SQLite's strings know no backslash escapes:
# \' is a backslash, then the end of the string. Every payload gets through, plus a backslash.
app = FastAPI(lifespan=lifespan)


@app.get("/books/search")
async def search_books(q: str, session: SessionDep) -> list[BookHit]:
    quoted = q.replace("'", "\\'")
    rows = await session.execute(text(
        "SELECT id, title, price_cents FROM books "
        f"WHERE stock > 0 AND title LIKE '%{quoted}%' "
        "ORDER BY title"
    ))
    return [BookHit(id=row.id, title=row.title, price_cents=row.price_cents) for row in rows]

# %% tags=["kata", "decoy:format-instead-of-f-string"]
# "f-strings are the problem: use str.format." Same string, built the same way: the customer's text
# is pasted into the SQL before the database sees it.
SEARCH = (
    "SELECT id, title, price_cents FROM books "
    "WHERE stock > 0 AND title LIKE '%{q}%' "
    "ORDER BY title"
)


app = FastAPI(lifespan=lifespan)


@app.get("/books/search")
async def search_books(q: str, session: SessionDep) -> list[BookHit]:
    rows = await session.execute(text(SEARCH.format(q=q)))
    return [BookHit(id=row.id, title=row.title, price_cents=row.price_cents) for row in rows]

# %% tags=["kata", "decoy:refuse-quotes"]
# "No quote, no injection: refuse searches that contain one." Injection through this string needs a
# quote, true; but Lilith's Brood, O'Brien and every title with an apostrophe can no longer be found,
# and the next query that splices a number or a column name needs no quote at all.
from fastapi import HTTPException


app = FastAPI(lifespan=lifespan)


@app.get("/books/search")
async def search_books(q: str, session: SessionDep) -> list[BookHit]:
    if "'" in q or "--" in q or ";" in q:
        raise HTTPException(status_code=422, detail="The search contains forbidden characters")
    rows = await session.execute(text(
        "SELECT id, title, price_cents FROM books "
        f"WHERE stock > 0 AND title LIKE '%{q}%' "
        "ORDER BY title"
    ))
    return [BookHit(id=row.id, title=row.title, price_cents=row.price_cents) for row in rows]

# %% tags=["kata", "decoy:bound-but-wildcards-left"]
# "Bound parameter, pattern built in SQL: '%' || :q || '%'." No injection any more: the text is a
# value. But LIKE still reads % and _ in that value as wildcards: D_ne finds Dune, and a search for
# a lone % lists the whole catalogue.
app = FastAPI(lifespan=lifespan)


@app.get("/books/search")
async def search_books(q: str, session: SessionDep) -> list[BookHit]:
    rows = await session.execute(
        text(
            "SELECT id, title, price_cents FROM books "
            "WHERE stock > 0 AND title LIKE '%' || :q || '%' "
            "ORDER BY title"
        ),
        {"q": q},
    )
    return [BookHit(id=row.id, title=row.title, price_cents=row.price_cents) for row in rows]

# %% tags=["kata", "decoy:orm-contains"]
# "Let the ORM build it: title.contains(q)." Bound, so no injection; but contains() makes a LIKE
# pattern and, unless asked, leaves % and _ in q as wildcards.
app = FastAPI(lifespan=lifespan)


@app.get("/books/search")
async def search_books(q: str, session: SessionDep) -> list[BookHit]:
    rows = await session.execute(
        select(Book.id, Book.title, Book.price_cents)
        .where(Book.stock > 0, Book.title.contains(q))
        .order_by(Book.title)
    )
    return [BookHit(id=row.id, title=row.title, price_cents=row.price_cents) for row in rows]

# %% tags=["kata", "alternative:orm-contains-autoescape"]
# The ORM: every value is a bound parameter, and autoescape=True escapes LIKE's wildcards in q.
# (SQLite's LIKE ignores the case of ASCII letters; on PostgreSQL use icontains for the same.)
app = FastAPI(lifespan=lifespan)


@app.get("/books/search")
async def search_books(q: str, session: SessionDep) -> list[BookHit]:
    rows = await session.execute(
        select(Book.id, Book.title, Book.price_cents)
        .where(Book.stock > 0, Book.title.contains(q, autoescape=True))
        .order_by(Book.title)
    )
    return [BookHit(id=row.id, title=row.title, price_cents=row.price_cents) for row in rows]

# %% tags=["kata", "alternative:instr-without-like"]
# No LIKE at all: instr() finds a substring, and has no wildcards to escape. lower() on both sides
# for the case (ASCII letters, as SQLite's LIKE).
SEARCH = text(
    "SELECT id, title, price_cents FROM books "
    "WHERE stock > 0 AND instr(lower(title), lower(:q)) > 0 "
    "ORDER BY title"
)


app = FastAPI(lifespan=lifespan)


@app.get("/books/search")
async def search_books(q: str, session: SessionDep) -> list[BookHit]:
    rows = await session.execute(SEARCH, {"q": q})
    return [BookHit(id=row.id, title=row.title, price_cents=row.price_cents) for row in rows]

# %% tags=["kata", "alternative:bindparams"]
# text() with its parameter declared by bindparams(), the escaping done by a small helper.
def contains_pattern(value: str) -> str:
    return "%" + value.replace("/", "//").replace("%", "/%").replace("_", "/_") + "%"


app = FastAPI(lifespan=lifespan)


@app.get("/books/search")
async def search_books(q: str, session: SessionDep) -> list[BookHit]:
    statement = text(
        "SELECT id, title, price_cents FROM books "
        "WHERE stock > 0 AND title LIKE :pattern ESCAPE '/' "
        "ORDER BY title"
    ).bindparams(pattern=contains_pattern(q))
    rows = await session.execute(statement)
    return [BookHit(id=row.id, title=row.title, price_cents=row.price_cents) for row in rows]

# %% [markdown]
# ## The evidence
#
# The next cell adds *Lilith's Brood* to the catalogue (in stock), then searches the way customers
# and the security team did. For each search it prints the status and the titles found, and, from
# a spy on the database engine, the SQL text the app sent and the parameters it sent apart from
# that text. *Parable of the Sower* is out of stock: the search must never show it.

# %% tags=["evidence"]
from bookshop.client import describe, shop_client
from bookshop.db import database_url
from bookshop.observe import engine_events, run_sql
from checks.harness import json_of

run_sql(database_url(), "DELETE FROM books WHERE id = 9",  # the same start on every run
        "INSERT INTO books (id, isbn, title, author_id, price_cents, stock) "
        "VALUES (9, '9781455566860', 'Lilith''s Brood', 3, 1999, 2)")

SEARCHES = [
    "dune",
    "Lilith's Brood",
    "' OR 1=1 --",
    "' UNION SELECT id, email || ' ' || hashed_password, 0 FROM users --",
    "D_ne",
    "%",
]

with shop_client(app) as client:
    for q in SEARCHES:
        with engine_events("statement") as statements:
            response = client.get("/books/search", params={"q": q})
        hits = json_of(response)
        titles = [str(hit.get("title"))[:45] for hit in hits if isinstance(hit, dict)] if isinstance(hits, list) else None
        print(f"q = {q}")
        print(f"  -> {f'{response.status_code} {titles}' if titles is not None else describe(response, 70)}")
        for _, _, (sql, parameters) in statements:
            if "books" in sql:
                print(f"  SQL sent:   {' '.join(sql.split())}")
                print(f"  parameters: {parameters}")

# %% [markdown]
# With the starter, `Lilith's Brood` breaks the statement (`500`), `' OR 1=1 --` turns the
# condition into "true" and comments out the rest (the out-of-stock *Parable of the Sower* appears),
# and the `UNION` payload appends the `users` table to the results: emails and Argon2 hashes, served
# as book titles. In every case the spy shows the same thing: the customer's text *inside* the SQL,
# and no parameters at all. Once fixed, the SQL text is the same for every search, the text travels
# as a parameter, and each search simply finds nothing.
#
# ## The check
#
# The check is a set of attacks: each payload is sent as a search, and the spy watches what
# reaches the database. It also searches the way customers do. Fix the kata cell, run it again,
# then re-run this cell until every test passes.

# %% tags=["check"]
%%ipytest
from checks.sql_injection import *

# %% [markdown]
# ## Hints
#
# Stuck? Each click opens one more level: a nudge, then the concept, then a sketch of
# the code. In a terminal, `kata hint sql-injection` opens the same levels.

# %% [markdown] tags=["hint"]
# ### Hint 1: a nudge
#
# As long as the customer's text is pasted into the SQL string, escaping it is a race you must
# win on every character of every database. Can the SQL string stay exactly the same for every
# search, with the text handed to the database some other way? And once it is, which characters
# does `LIKE` itself still treat as special?

# %% [markdown] tags=["hint"]
# ### Hint 2: the concept
#
# *Bound parameters*: the statement holds a placeholder (`:name` in `text()`), and the value is
# passed next to it (`session.execute(statement, {"name": value})`). The driver sends the two
# apart, and the database never parses the value as SQL. The ORM (`select(...).where(...)`) binds
# every value this way by itself. `LIKE` adds one twist: `%` and `_` in the *pattern* are
# wildcards, so a pattern built from the customer's text needs those characters escaped, with an
# `ESCAPE` character (SQLAlchemy's `contains(..., autoescape=True)` does it), or no `LIKE` at all.
#
# Read: SQLAlchemy, [Using Textual SQL](https://docs.sqlalchemy.org/en/21/tutorial/data_select.html#tutorial-select-arbitrary-text)
# and [`ColumnOperators.contains`](https://docs.sqlalchemy.org/en/21/core/sqlelement.html#sqlalchemy.sql.expression.ColumnOperators.contains);
# SQLite, [The LIKE operator](https://www.sqlite.org/lang_expr.html#like); OWASP,
# [SQL Injection Prevention Cheat Sheet](https://cheatsheetseries.owasp.org/cheatsheets/SQL_Injection_Prevention_Cheat_Sheet.html).

# %% [markdown] tags=["hint"]
# ### Hint 3: a sketch
#
# ```python
# def contains_pattern(value: str) -> str:
#     escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
#     return f"%{escaped}%"
#
# SEARCH = text(
#     "SELECT id, title, price_cents FROM books "
#     "WHERE stock > 0 AND title LIKE :pattern ESCAPE '\\' "
#     "ORDER BY title"
# )
#
# rows = await session.execute(SEARCH, {"pattern": contains_pattern(q)})
# ```
# Or the ORM: `.where(Book.stock > 0, Book.title.contains(q, autoescape=True))`.

# %% [markdown]
# ## The walkthrough

# %% [markdown] tags=["walkthrough"]
# ### The fix, step by step
#
# 1. **The SQL text is a constant.** Write the statement once, with a placeholder where the value
#    goes: `title LIKE :pattern`. Whatever a customer searches for, the database receives the same
#    text, and parses it before it ever sees the value. An apostrophe, `--`, `UNION`: the value is
#    a value, compared with titles, and nothing else.
# 2. **The value goes next to it.** `await session.execute(SEARCH, {"pattern": ...})` (or
#    `text(...).bindparams(pattern=...)`). The spy in the evidence shows the difference: the
#    parameters travel in their own field, `('%dune%',)`, instead of inside the SQL.
# 3. **Escape what LIKE treats as special, in the value.** Binding protects the *statement*; it does
#    not change what `LIKE` does with the pattern it receives. In a `LIKE` pattern `%` means "any
#    text" and `_` "any one character". To find them as characters, escape them (and the escape
#    character itself) and declare the escape with `ESCAPE`. The ORM does it with
#    `contains(q, autoescape=True)`; `instr()` avoids patterns altogether.
# 4. **Keep the filter in the statement.** `stock > 0` and `ORDER BY title` are fixed parts of the
#    SQL text: a payload can no longer comment them out.
#
# Why not double the quotes (`q.replace("'", "''")`)? On SQLite, in this one string literal, it
# happens to hold. But the customer's text is still SQL text: the next query that splices in a
# number (`LIMIT {n}`), a column name, or runs on a database with other escaping rules is open again,
# and every developer must remember it every time. Why not a backslash (`\'`)? That is MySQL's
# habit; SQLite and standard SQL have no backslash escapes, so `\'` ends the string and the payload
# runs. Why not `str.format` or `%`-formatting? They build the same string as the f-string. Why not
# refuse searches with a quote in them? Customers search for *Lilith's Brood*; a blocklist refuses
# them and still misses the payloads that need no quote. Why not `'%' || :q || '%'` or
# `contains(q)`? Both are bound (no injection), but `%` and `_` in `q` stay wildcards: `D_ne`
# finds *Dune*, and a search for `%` dumps the whole catalogue, one way to make the database work
# hard on purpose.
#
# Read more: SQLAlchemy, [Using Textual SQL](https://docs.sqlalchemy.org/en/21/tutorial/data_select.html#tutorial-select-arbitrary-text)
# and [`ColumnOperators.contains`](https://docs.sqlalchemy.org/en/21/core/sqlelement.html#sqlalchemy.sql.expression.ColumnOperators.contains);
# SQLite, [The LIKE operator](https://www.sqlite.org/lang_expr.html#like); OWASP,
# [SQL Injection Prevention Cheat Sheet](https://cheatsheetseries.owasp.org/cheatsheets/SQL_Injection_Prevention_Cheat_Sheet.html)
# and [Query Parameterization Cheat Sheet](https://cheatsheetseries.owasp.org/cheatsheets/Query_Parameterization_Cheat_Sheet.html).
#
# ### What to remember
# - Never build SQL from input with f-strings, `.format` or `+`: keep the SQL text constant and
#   pass values as bound parameters (`:name` in `text()`; the ORM does it for you).
# - Escaping by hand is not a fix: it is a promise to get every character right, on every database,
#   in every query, forever.
# - `LIKE` patterns have wildcards of their own: escape `%`, `_` and the escape character in the
#   value (`contains(..., autoescape=True)`), or search with `instr()`.
