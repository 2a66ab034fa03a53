"""Check: new arrivals come newest first, in pages of at most `limit` books (1 to 100, anything else
refused with 422), and following `next` shows every book once, even while books are added and
withdrawn between two pages."""

from collections.abc import Callable

import httpx
import pytest

from bookshop.client import open_client
from bookshop.observe import run_sql
from checks.feedback import expect, fail
from checks.harness import brief, json_of, learner

__all__ = [
    "test_a_limit_outside_1_to_100_is_refused_with_422",
    "test_following_next_lists_every_book_once_newest_first",
    "test_a_book_added_between_two_pages_makes_no_book_appear_twice",
    "test_a_book_withdrawn_between_two_pages_makes_no_book_go_missing",
    "test_each_entry_is_the_book_the_catalogue_has",
]

NEWEST_FIRST = [8, 7, 6, 5, 4, 3, 2, 1]  # the seeded catalogue: ids grow as books arrive
LIMIT = 3
MOST_PAGES = 12  # eight books in pages of three need four; a `next` that never ends is stopped here
ADDED = ("INSERT INTO books (id, isbn, title, author_id, price_cents, stock, added_on) "
         "VALUES (100, '9780765326355', 'The Way of Kings', 2, 1299, 5, '2026-01-15')")

ORDER_CONCEPT = ("SQL promises no order without ORDER BY, and a sort on a key that ties (a day "
                 "several books share) leaves the tied rows in any order. Sort on a unique key, or "
                 "end the sort with one. SQLite docs: 'The ORDER BY clause'.")
CURSOR_CONCEPT = ("Keyset (cursor) pagination: the next page starts after the last row the client "
                  "saw, named by its sort key, instead of after a count of rows; rows added or removed "
                  "elsewhere cannot move it. Put the cursor in the next link. Read Markus Winand, "
                  "'Paging through results' (use-the-index-luke.com).")


class Walk:
    """What following `next` from the first page showed: each page's ids, and how it ended."""

    def __init__(self) -> None:
        self.pages: list[list] = []
        self.sizes: list[int] = []
        self.ended = False

    @property
    def seen(self) -> list:
        return [book_id for page in self.pages for book_id in page]

    def shown(self) -> str:
        return " | ".join(str(page) for page in self.pages) or "no page"


async def _walk(client, limit: int = LIMIT, between: Callable[[list], None] | None = None) -> Walk:
    walk, url = Walk(), f"/books/new?limit={limit}"
    while len(walk.pages) < MOST_PAGES:
        try:
            response = await client.get(url)
        except (httpx.InvalidURL, httpx.UnsupportedProtocol, ValueError):
            fail(
                f"Page {len(walk.pages)} gave {url!r} as its next, which is not a URL the app can call.",
                "The app follows next exactly as it is given: a link it cannot call ends the screen for "
                "every reader.",
                nudge="How is the next URL built?",
            )
        body = json_of(response)
        books = body.get("books") if isinstance(body, dict) else None
        if response.status_code != 200 or not isinstance(books, list):
            where = "the first page" if not walk.pages else f"page {len(walk.pages) + 1}, the `next` of page {len(walk.pages)},"
            fail(
                f"GET {url} ({where}) answered {brief(response)}. The app expects 200 with "
                '{"books": [...], "next": "<URL>" or null}.',
                "The app follows `next` and nothing else: a page it cannot read ends the screen for "
                "every reader.",
                nudge="What does the endpoint return, and does every `next` it gives out lead to a page?",
            )
        walk.pages.append([book.get("id") if isinstance(book, dict) else None for book in books])
        walk.sizes.append(len(books))
        following = body.get("next")
        if following is None:
            walk.ended = True
            return walk
        if not isinstance(following, str) or not following:
            fail(
                f"GET {url} answered a page whose next is {following!r}, not a URL or null.",
                "The app calls `next` as it is given; anything but a URL or null breaks the scroll.",
            )
        if between is not None and len(walk.pages) == 1:
            between(walk.pages[0])
        url = following
    return walk


def _expect_well_formed(walk: Walk, limit: int = LIMIT) -> None:
    expect(
        walk.ended,
        f"Following next from GET /books/new?limit={limit}, the app was still given a next after "
        f"{len(walk.pages)} pages: {walk.shown()}.",
        "A next that never becomes null keeps the app asking for ever, page after page of the same "
        "books.",
        nudge="What does the last page's next say, and when is it null?",
    )
    too_big = [(number, size) for number, size in enumerate(walk.sizes, start=1) if size > limit]
    if too_big:
        number, size = too_big[0]
        fail(
            f"The app asked for pages of {limit} books (GET /books/new?limit={limit}) and followed next; "
            f"page {number} held {size} books. The pages were: {walk.shown()}.",
            "The app sized its screen and its memory for the pages it asked for; a next that loses the "
            "limit serves whatever the default is.",
            nudge="Which parameters does the next URL carry from the request that made it?",
        )


def _problems(walk: Walk, expected: list[int], extra: set[int] = frozenset()) -> tuple[list, list, bool]:
    """(ids seen twice, ids expected but never seen, whether what was seen is newest first)."""
    seen = walk.seen
    twice = sorted({book_id for book_id in seen if seen.count(book_id) > 1}, key=str)
    never = [book_id for book_id in expected if book_id not in seen]
    known = [book_id for book_id in seen if book_id in set(expected) | set(extra)]
    in_order = all(isinstance(a, int) and isinstance(b, int) and a > b for a, b in zip(known, known[1:]))
    return twice, never, in_order and len(known) == len(seen)


def _expect_newest_first(walk: Walk, expected: list[int], context: str) -> None:
    expect(
        _problems(walk, expected, {100})[2],
        f"{context} the pages were: {walk.shown()}. Newest first (a higher id is a newer book), the "
        f"catalogue reads {', '.join(map(str, expected))}.",
        "The screen is 'New arrivals': a reader opens it to see what came in last, and gets the shop's "
        "oldest books, or books in whatever order the database happens to use that day.",
        nudge="In which order does the query ask the database for the books?",
        concept=ORDER_CONCEPT,
    )


@pytest.mark.anyio
async def test_a_limit_outside_1_to_100_is_refused_with_422(kata_ns, shop_db):
    async with open_client(learner(kata_ns, "app")) as client:
        answers = {limit: await client.get(f"/books/new?limit={limit}") for limit in (101, 1_000_000, 0, 100)}
    for limit in (101, 1_000_000, 0):
        response = answers[limit]
        body = json_of(response)
        books = body.get("books") if isinstance(body, dict) else None
        served = f"a page of {len(books)} books" if response.status_code == 200 and isinstance(books, list) else brief(response)
        expect(
            response.status_code == 422,
            f"GET /books/new?limit={limit} answered {served}, not 422. The API promises pages of 1 to 100 "
            "books and refuses anything else.",
            "With a catalogue of a million books, one request for a page of a million reads the whole "
            "table and builds the whole answer in memory; a few such requests take the API down. A size "
            "quietly changed is no better: the client asked for something the API does not serve and "
            "was not told." if limit != 0 else
            "A page of no books answers nothing and still costs a request; the client has a bug, and a "
            "422 says which parameter.",
            nudge="Who checks the value of limit before the query runs, and what does the signature say "
                  "about its bounds?",
            concept="FastAPI validates a query parameter against the bounds declared with it (greater "
                    "or equal, less or equal) and answers 422 with the reason. FastAPI docs: 'Query "
                    "Parameters and String Validations', 'Numeric validations'.",
        )
    largest = answers[100]
    body = json_of(largest)
    expect(
        largest.status_code == 200 and isinstance(body, dict) and isinstance(body.get("books"), list),
        f"GET /books/new?limit=100 answered {brief(largest)}: the largest page the API promises is refused.",
        "Clients that ask for 100 books a page, as the API allows, get nothing.",
    )


@pytest.mark.anyio
async def test_following_next_lists_every_book_once_newest_first(kata_ns, shop_db):
    async with open_client(learner(kata_ns, "app")) as client:
        walk = await _walk(client)
    _expect_well_formed(walk)
    twice, never, _ = _problems(walk, NEWEST_FIRST)
    _expect_newest_first(walk, NEWEST_FIRST, f"Following next from GET /books/new?limit={LIMIT}, with nobody "
                                             "changing the catalogue,")
    expect(
        not twice and not never and walk.seen == NEWEST_FIRST,
        f"Following next from GET /books/new?limit={LIMIT}, with nobody changing the catalogue, the pages "
        f"were: {walk.shown()}. Seen twice: {twice or 'none'}; never seen: {never or 'none'}.",
        "Every book in the shop must be reachable by scrolling, once: a book the screen never shows is "
        "a book nobody discovers.",
        nudge="Where does each page start, and can two pages overlap or leave a gap?",
        concept=ORDER_CONCEPT,
    )


@pytest.mark.anyio
async def test_a_book_added_between_two_pages_makes_no_book_appear_twice(kata_ns, shop_db):
    async with open_client(learner(kata_ns, "app")) as client:
        walk = await _walk(client, between=lambda first_page: run_sql(shop_db, ADDED))
    _expect_well_formed(walk)
    twice, never, in_order = _problems(walk, NEWEST_FIRST, {100})
    context = (f"The check followed next from GET /books/new?limit={LIMIT} and, after the first page, "
               "added book 100 (the newest);")
    expect(
        not twice,
        f"{context} the pages were: {walk.shown()}. Seen twice: {twice}.",
        "The staff add books all day, and readers scroll all day: each reader caught in between sees "
        "a book again that they have just scrolled past, and an app that keys its list by id may "
        "drop an entry or crash on the duplicate.",
        nudge="How does the next page say where it starts: by a count of rows, or by the last book "
              "the reader saw?",
        concept=CURSOR_CONCEPT,
    )
    expect(
        not never,
        f"{context} the pages were: {walk.shown()}. Never seen: {never}.",
        "A book that was in the catalogue the whole time was never shown to the reader: it is missing "
        "from the screen, with no error anywhere.",
        nudge="Where does each page start, and can a book added at the top move that place?",
        concept=CURSOR_CONCEPT,
    )
    _expect_newest_first(walk, NEWEST_FIRST, context)


@pytest.mark.anyio
async def test_a_book_withdrawn_between_two_pages_makes_no_book_go_missing(kata_ns, shop_db):
    withdrawn: list = []

    def withdraw_the_first_book_shown(first_page: list) -> None:
        if first_page and isinstance(first_page[0], int):
            withdrawn.append(first_page[0])
            run_sql(shop_db, f"DELETE FROM books WHERE id = {first_page[0]}")

    async with open_client(learner(kata_ns, "app")) as client:
        walk = await _walk(client, between=withdraw_the_first_book_shown)
    _expect_well_formed(walk)
    twice, never, in_order = _problems(walk, NEWEST_FIRST)
    context = (f"The check followed next from GET /books/new?limit={LIMIT} and, after the first page, "
               f"withdrew book {withdrawn[0] if withdrawn else '(none)'}, which that page had shown;")
    expect(
        not never,
        f"{context} the pages were: {walk.shown()}. Never seen: {never}.",
        "Books are withdrawn every day (sold out for good, recalled, listed by mistake). A reader "
        "scrolling at that moment never sees a book that is still in the shop: it is missing from the "
        "screen, with no error anywhere, and nobody can tell why.",
        nudge="How does the next page say where it starts: by a count of rows, or by the last book "
              "the reader saw?",
        concept=CURSOR_CONCEPT,
    )
    expect(
        not twice,
        f"{context} the pages were: {walk.shown()}. Seen twice: {twice}.",
        "The reader sees the same book twice on one screen.",
        nudge="Where does each page start, and can a book withdrawn meanwhile move that place?",
        concept=CURSOR_CONCEPT,
    )
    _expect_newest_first(walk, NEWEST_FIRST, context)


@pytest.mark.anyio
async def test_each_entry_is_the_book_the_catalogue_has(kata_ns, shop_db):
    async with open_client(learner(kata_ns, "app")) as client:
        response = await client.get("/books/new?limit=100")
    body = json_of(response)
    books = body.get("books") if isinstance(body, dict) else None
    expect(
        response.status_code == 200 and isinstance(books, list),
        f"GET /books/new?limit=100 answered {brief(response)}, not a page of books.",
        "The app's screen of new arrivals must still work.",
    )
    catalogue = {book_id: (title, added_on) for book_id, title, added_on in
                 run_sql(shop_db, "SELECT id, title, added_on FROM books")}
    for entry in books:
        ok = (isinstance(entry, dict) and isinstance(entry.get("id"), int) and entry["id"] in catalogue
              and (entry.get("title"), entry.get("added_on")) == catalogue[entry["id"]])
        expect(
            ok,
            f"GET /books/new?limit=100 listed {entry!r}; the catalogue has no such book with that title "
            "and arrival day.",
            "The screen shows each book's title and the day it arrived, as the catalogue has them.",
        )
    expect(
        len(books) == len(catalogue),
        f"GET /books/new?limit=100 listed {len(books)} books; the catalogue has {len(catalogue)}, all "
        "of which fit on one page of 100.",
        "A page as large as the whole catalogue shows it whole.",
    )
