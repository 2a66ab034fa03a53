"""Check: injection payloads sent as searches. None reveals a hidden book or a user's data; a spy on
the engine sees the search text travel as a parameter, never inside the SQL text; LIKE's wildcards
are searched as themselves; and customers still find what they look for, apostrophes included."""

import pytest

from bookshop.client import open_client
from bookshop.observe import engine_events, run_sql
from checks.feedback import expect, fail
from checks.harness import brief, json_of, learner

__all__ = [
    "test_a_title_with_an_apostrophe_is_found",
    "test_an_always_true_condition_reveals_no_book_the_search_hides",
    "test_a_union_payload_reads_no_email_or_password_hash",
    "test_the_search_text_reaches_the_database_as_a_parameter_never_as_sql",
    "test_percent_and_underscore_are_searched_as_themselves",
    "test_the_search_still_finds_books_in_stock_whatever_the_case",
]

LILITH = ("INSERT INTO books (id, isbn, title, author_id, price_cents, stock) "
          "VALUES (9, '9781455566860', 'Lilith''s Brood', 3, 1999, 2)")
OUT_OF_STOCK = "Parable of the Sower"
ALWAYS_TRUE = "' OR 1=1 --"
UNION = "' UNION SELECT id, email || ' ' || hashed_password, 0 FROM users --"
MARKER = "zq7x"  # in no title, no column name, no SQL keyword
SPIED = f"{MARKER}' OR '{MARKER}'='{MARKER}"

BIND_CONCEPT = ("Bound parameters: the SQL text holds a placeholder (:name in text()), the value is "
                "passed next to it, and the driver sends the two apart, so the database never parses "
                "the value as SQL. The ORM binds every value by itself. SQLAlchemy docs: 'Using Textual "
                "SQL'; OWASP: 'SQL Injection Prevention Cheat Sheet'.")
LIKE_CONCEPT = ("In a LIKE pattern, % means any text and _ any one character. A pattern made from a "
                "customer's text needs those characters (and the escape character) escaped, with an "
                "ESCAPE clause; SQLAlchemy's contains(..., autoescape=True) does it, and instr() has no "
                "wildcards at all. SQLite docs: 'The LIKE operator'.")


async def _search(app, q: str):
    async with open_client(app) as client:
        return await client.get("/books/search", params={"q": q})


def _titles(response) -> list | None:
    hits = json_of(response)
    if not isinstance(hits, list):
        return None
    return [hit.get("title") if isinstance(hit, dict) else hit for hit in hits]


def _broke(q: str, response) -> None:
    if response.status_code >= 500:
        fail(
            f"The search for {q!r} answered {brief(response)}: the text broke the SQL statement.",
            "A statement that a customer's text can break is a statement that text can rewrite: the "
            "database parsed the search text as SQL. The next payload will not break it, it will "
            "change what it does.",
            nudge="Where does q end up: inside the SQL text, or next to it?",
            concept=BIND_CONCEPT,
        )


@pytest.mark.anyio
async def test_a_title_with_an_apostrophe_is_found(kata_ns, shop_db):
    run_sql(shop_db, LILITH)
    response = await _search(learner(kata_ns, "app"), "lilith's")
    _broke("lilith's", response)
    expect(
        response.status_code == 200 and _titles(response) == ["Lilith's Brood"],
        f"With Lilith's Brood in stock, the search for \"lilith's\" answered {brief(response)}, not "
        "that one book.",
        "Titles and names have apostrophes (Lilith's Brood, O'Brien, Hitchhiker's): the search must "
        "find them like any other text, not refuse them.",
        nudge="What does the search do with an apostrophe: treat it as part of the text, or as "
              "something to keep out?",
        concept=BIND_CONCEPT,
    )


@pytest.mark.anyio
async def test_an_always_true_condition_reveals_no_book_the_search_hides(kata_ns, shop_db):
    response = await _search(learner(kata_ns, "app"), ALWAYS_TRUE)
    _broke(ALWAYS_TRUE, response)
    titles = _titles(response) or []
    hidden = " It includes " + OUT_OF_STOCK + ", which is out of stock and must never be listed." if OUT_OF_STOCK in titles else ""
    expect(
        not titles,
        f"The search for {ALWAYS_TRUE!r} answered {len(titles)} book(s): {titles}.{hidden} No title "
        "contains that text: the text rewrote the statement's condition.",
        "A condition the customer can rewrite is a filter the customer can remove: today the stock "
        "filter, tomorrow the one that keeps each customer to their own orders.",
        nudge="Which part of the statement did the search text end, and which part did it comment out?",
        concept=BIND_CONCEPT,
    )


@pytest.mark.anyio
async def test_a_union_payload_reads_no_email_or_password_hash(kata_ns, shop_db):
    response = await _search(learner(kata_ns, "app"), UNION)
    _broke(UNION, response)
    users = run_sql(shop_db, "SELECT email, hashed_password FROM users")
    leaked = [email for email, hashed in users if email in response.text or hashed in response.text]
    expect(
        not leaked and "$argon2" not in response.text,
        f"The search for {UNION!r} answered {brief(response, 180)}: the users table, served as book "
        f"titles ({len(leaked)} account(s): {', '.join(leaked)}).",
        "Anyone with a browser reads every customer's email and password hash: a phishing list, and "
        "hashes to crack offline. Every table the database user can read is one UNION away.",
        nudge="What does the database do with a UNION that arrives inside the SQL text, and what "
              "would it do with the same characters as a value?",
        concept=BIND_CONCEPT,
    )
    expect(
        _titles(response) == [],
        f"The search for {UNION!r} answered {brief(response, 160)}, not an empty list: no title "
        "contains that text.",
        "A search for text no title contains finds nothing; any other answer means the text was read "
        "as SQL.",
        nudge="Where does q end up: inside the SQL text, or next to it?",
        concept=BIND_CONCEPT,
    )


@pytest.mark.anyio
async def test_the_search_text_reaches_the_database_as_a_parameter_never_as_sql(kata_ns, shop_db):
    app = learner(kata_ns, "app")
    with engine_events("statement") as statements:
        response = await _search(app, SPIED)
    sent = [(sql, parameters) for _, _, (sql, parameters) in statements]
    in_text = [" ".join(sql.split()) for sql, _ in sent if MARKER in sql]
    if in_text:
        fail(
            f"The check searched for {SPIED!r} and watched the engine. The search text arrived inside "
            f"the SQL text: {in_text[0][:240]}",
            "Whatever is in the SQL text, the database parses as SQL. Quoting it by hand makes the "
            "app safe only as long as every character is escaped right, on this database, in every "
            "query anyone writes; one miss and the text is code again.",
            nudge="Can the SQL text stay exactly the same for every search, with the customer's text "
                  "sent some other way?",
            concept=BIND_CONCEPT,
        )
    as_value = [parameters for _, parameters in sent if MARKER in repr(parameters)]
    expect(
        as_value,
        f"The check searched for {SPIED!r} (answered {brief(response, 60)}) and watched the engine: "
        f"{len(sent)} statement(s) were sent, and none carried the search text as a parameter.",
        "A search must look for the customer's text in the database, as a value: an answer that "
        "never asks the database with that text is not a search.",
        nudge="Does the search still send the customer's text to the database, and how?",
        concept=BIND_CONCEPT,
    )


@pytest.mark.anyio
async def test_percent_and_underscore_are_searched_as_themselves(kata_ns, shop_db):
    app = learner(kata_ns, "app")
    found = {}
    for q in ("D_ne", "Du%ah", "%"):
        response = await _search(app, q)
        _broke(q, response)
        found[q] = (response, _titles(response))
    wrong = [f"{q!r} found {titles}" if titles is not None else f"{q!r} answered {brief(response, 90)}"
             for q, (response, titles) in found.items() if titles != []]
    expect(
        not wrong,
        f"No title contains the characters D_ne, Du%ah or %, yet the searches for {'; '.join(wrong)}.",
        "In the search box every character means itself. Read as LIKE wildcards, % finds everything "
        "and _ finds anything: a customer gets books they did not ask for, and a single % makes the "
        "database read the whole catalogue on every request, an easy way to load it on purpose.",
        nudge="The text is a value now: what does LIKE itself do with a % or an _ inside the pattern "
              "it receives?",
        concept=LIKE_CONCEPT,
    )


@pytest.mark.anyio
async def test_the_search_still_finds_books_in_stock_whatever_the_case(kata_ns, shop_db):
    app = learner(kata_ns, "app")
    expected = {
        "dune": ["Dune", "Dune Messiah"],
        "the": ["Stories of Your Life and Others", "The Dispossessed", "The Left Hand of Darkness"],
        "PARABLE": [],
    }
    for q, titles in expected.items():
        response = await _search(app, q)
        expect(
            response.status_code == 200 and _titles(response) == titles,
            f"The search for {q!r} answered {brief(response, 160)}, not {titles}.",
            "The search finds the books in stock whose title contains the text, whatever its case, "
            f"ordered by title; {OUT_OF_STOCK} is out of stock. Customers must keep finding books.",
            nudge="Does the statement still keep the stock filter, the order, and a comparison that "
                  "ignores case?",
        )
