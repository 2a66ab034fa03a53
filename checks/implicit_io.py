"""Check: the authors page answers every author with their books, in as many SQL statements for 54
authors as for 4 (no query per author); a new author is answered 201 with its details, and saved."""

import re

import pytest

from bookshop.client import open_client
from bookshop.observe import engine_events, run_sql
from checks.feedback import expect
from checks.harness import brief, json_of, learner

__all__ = [
    "test_the_authors_page_lists_every_author_with_their_books",
    "test_the_authors_page_sends_as_many_statements_for_54_authors_as_for_4",
    "test_a_new_author_is_answered_201_with_their_details",
    "test_a_new_author_is_saved",
]

JEMISIN = {"name": "N. K. Jemisin"}
MORE_AUTHORS = 50

IO_CONCEPT = ("Under asyncio, SQLAlchemy never does I/O behind an attribute access: a relationship "
              "that was not loaded by the query, or an attribute expired by a commit, cannot be "
              "read outside an await, and reading it raises MissingGreenlet. Load what the answer "
              "needs explicitly, in the query or with an awaited call. SQLAlchemy docs: 'Asynchronous "
              "I/O (asyncio)', section 'Preventing Implicit IO when Using AsyncSession'.")
N_PLUS_ONE_CONCEPT = ("The N+1 query problem: one query for the list, then one per row for its "
                      "relationship. An eager loader in the query fetches the relationship for every "
                      "row at once, in a fixed number of statements. SQLAlchemy docs: 'Relationship "
                      "Loading Techniques' (select IN loading, joined eager loading).")


def _catalogue(url: str) -> dict:
    """{author id: (name, {book id: title})}, as the database has it."""
    authors = {author_id: (name, {}) for author_id, name in run_sql(url, "SELECT id, name FROM authors")}
    for book_id, title, author_id in run_sql(url, "SELECT id, title, author_id FROM books"):
        authors[author_id][1][book_id] = title
    return authors


def _page(response) -> dict | None:
    """The authors page in the same shape, or None when it is not a list of authors with books."""
    body = json_of(response)
    if not isinstance(body, list):
        return None
    page = {}
    for author in body:
        if not (isinstance(author, dict) and isinstance(author.get("books"), list)
                and all(isinstance(book, dict) for book in author["books"])):
            return None
        page[author.get("id")] = (author.get("name"), {book.get("id"): book.get("title") for book in author["books"]})
    return page if len(page) == len(body) else None


def _implicit_io(errors: list) -> str:
    """What the server raised, when it was implicit I/O: which attributes needed the database."""
    attributes, seen = [], False
    for error in errors:
        details = error.errors() if callable(getattr(error, "errors", None)) else []
        for detail in details if isinstance(details, (list, tuple)) else []:
            message = str(detail.get("msg", "")) if isinstance(detail, dict) else ""
            if "greenlet" in message.lower():
                seen = True
                names = [str(part) for part in detail.get("loc", ()) if isinstance(part, str) and part != "response"]
                if names and names[-1] not in attributes:
                    attributes.append(names[-1])
        if "greenlet" in f"{type(error).__name__} {error}".lower():
            seen = True
    if not seen:
        return ""
    where = f" reading {', '.join(repr(a) for a in attributes)}" if attributes else " an attribute"
    return (f" The server raised MissingGreenlet: while the answer was being built,{where} needed a "
            "query, and nothing awaited it.")


def _add_authors(url: str, count: int) -> None:
    """``count`` more authors: a third of them with no book yet, a third with one, a third with two."""
    statements, book_id = [], 1000
    for n in range(1, count + 1):
        author_id = 100 + n
        statements.append(f"INSERT INTO authors (id, name) VALUES ({author_id}, 'Author {n}')")
        for copy in range(n % 3):
            book_id += 1
            statements.append(
                "INSERT INTO books (id, isbn, title, author_id, price_cents, stock) VALUES "
                f"({book_id}, '{9790000000000 + book_id}', 'Book {copy + 1} of Author {n}', {author_id}, 999, 1)")
    run_sql(url, *statements)


async def _authors_page(client) -> tuple:
    with engine_events("sql") as log:
        response = await client.get("/authors")
    return response, [statement for _, _, statement in log if not statement.lstrip().upper().startswith("PRAGMA")]


def _expect_the_page(response, errors: list, url: str, authors: int) -> None:
    expect(
        response.status_code == 200,
        f"GET /authors, with {authors} authors in the shop, answered {brief(response)}."
        f"{_implicit_io(errors)}",
        "The authors page is down for every visitor, and nothing in the endpoint's code looks "
        "wrong: the failure happens after it returned, while FastAPI reads the objects to build "
        "the JSON.",
        nudge="Which attributes does the response model read from each author, and which of them "
              "did the query load?",
        concept=IO_CONCEPT,
    )
    page, catalogue = _page(response), _catalogue(url)
    expect(
        page == catalogue,
        f"GET /authors answered {brief(response, 160)}: {_mismatch(page, catalogue)}",
        "The page lists each author once, with exactly their books, including authors who have "
        "none yet.",
    )


def _mismatch(page: dict | None, catalogue: dict) -> str:
    if page is None:
        return "not a list of authors, each listed once, with an id, a name and a list of books."
    missing = [catalogue[a][0] for a in catalogue if a not in page]
    extra = [str(a) for a in page if a not in catalogue]
    wrong = [f"{catalogue[a][0]} with books {sorted(page[a][1].values())} instead of {sorted(catalogue[a][1].values())}"
             for a in catalogue if a in page and page[a] != catalogue[a]]
    found = []
    if missing:
        without = sum(1 for a in catalogue if a not in page and not catalogue[a][1])
        names = f"{', '.join(missing[:4])}{', ...' if len(missing) > 4 else ''}"
        books = ("" if not without else ", an author with no books yet" if len(missing) == 1
                 else ", every one of them an author with no books yet" if without == len(missing)
                 else f", {without} of them with no books yet")
        found.append(f"{len(missing)} of the {len(catalogue)} authors "
                     f"{'is' if len(missing) == 1 else 'are'} not on the page ({names}){books}")
    if extra:
        found.append(f"ids that are no author: {', '.join(extra[:4])}")
    if wrong:
        found.append(f"{len(wrong)} author(s) listed wrongly: {'; '.join(wrong[:2])}")
    return "; ".join(found) + "."


@pytest.mark.anyio
async def test_the_authors_page_lists_every_author_with_their_books(kata_ns, shop_db):
    # The 4 authors of the shop, and one added this morning, with no book yet.
    run_sql(shop_db, "INSERT INTO authors (id, name) VALUES (5, 'Becky Chambers')")
    async with open_client(learner(kata_ns, "app")) as client:
        response = await client.get("/authors")
    _expect_the_page(response, client.server_errors, shop_db, 5)


@pytest.mark.anyio
async def test_the_authors_page_sends_as_many_statements_for_54_authors_as_for_4(kata_ns, shop_db):
    async with open_client(learner(kata_ns, "app")) as client:
        few, few_sql = await _authors_page(client)
        _expect_the_page(few, client.server_errors, shop_db, 4)
        _add_authors(shop_db, MORE_AUTHORS)
        many, many_sql = await _authors_page(client)
        _expect_the_page(many, client.server_errors, shop_db, 4 + MORE_AUTHORS)
    repeated = max(many_sql, key=many_sql.count, default="")  # the first of the most sent
    sample = re.sub(r"^SELECT .*? FROM ", "SELECT ... FROM ", " ".join(repeated.split()))[:110]
    expect(
        len(many_sql) == len(few_sql),
        f"GET /authors sent {len(few_sql)} SQL statements with 4 authors and {len(many_sql)} with "
        f"{4 + MORE_AUTHORS}. The statement sent most often ({many_sql.count(repeated)} times): {sample}",
        "One query per author: the page gets slower with every author the shop adds, each query a "
        "round trip to the database while the request waits, and a page of a few thousand authors "
        "holds a connection for thousands of queries. It passes every test with a small database "
        "and fails in production.",
        nudge="Which statement is repeated, and which line of the endpoint sends it once per author?",
        concept=N_PLUS_ONE_CONCEPT,
    )


@pytest.mark.anyio
async def test_a_new_author_is_answered_201_with_their_details(kata_ns, shop_db):
    async with open_client(learner(kata_ns, "app")) as client:
        response = await client.post("/authors", json=JEMISIN)
        errors = list(client.server_errors)
    body = json_of(response)
    expect(
        response.status_code == 201,
        f"POST /authors with {{\"name\": \"{JEMISIN['name']}\"}} answered {brief(response)}.{_implicit_io(errors)}",
        "The author was created, yet the client was told the server failed: it retries and "
        "creates a duplicate, or gives up and never learns the new author's id.",
        nudge="After the commit, what does the session know about the new author's attributes, "
              "and what is there to know about its books?",
        concept=IO_CONCEPT,
    )
    expect(
        isinstance(body, dict) and isinstance(body.get("id"), int) and body.get("name") == JEMISIN["name"]
        and body.get("books") == [],
        f"POST /authors answered {brief(response, 200)}, not the new author with its id, its name and "
        "an empty list of books.",
        "The client needs the new author as it was saved, with the id the database gave it.",
    )


@pytest.mark.anyio
async def test_a_new_author_is_saved(kata_ns, shop_db):
    async with open_client(learner(kata_ns, "app")) as client:
        response = await client.post("/authors", json=JEMISIN)
    stored = run_sql(shop_db, f"SELECT id, name FROM authors WHERE name = '{JEMISIN['name']}'")
    expect(
        len(stored) == 1,
        f"After POST /authors answered {response.status_code}, the database holds {len(stored)} "
        f"author(s) named {JEMISIN['name']}, not one.",
        "Creating an author must store it, once.",
    )
