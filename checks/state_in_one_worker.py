"""Check: a customer's cart is the same whichever worker serves the request. The notebook's app
runs in two uvicorn processes, each in a folder of its own (as two workers, or two containers
behind a load balancer, are), sharing only the shop's database; the check writes through one and
reads through the other.

`uvicorn --workers 2` on one port would be the story's own setup, but there the kernel picks the
worker for each new connection, so which worker answered would decide the verdict. Two ports
make the choice the check's. Both processes start at once, once per check.
"""

import contextlib
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import make_url

from bookshop import serving
from bookshop.db import DATABASE_URL_ENV, fresh_database
from bookshop.serving import (LATE_COMMITS_HELD, LATE_COMMITS_LET_GO, LATE_COMMITS_LOG, ServerFailed, free_port, launch,
                              shop_module, wait_until_serving)
from checks.feedback import expect, fail
from checks.harness import brief, json_of

__all__ = [
    "kata_workers",
    "test_a_book_added_through_one_worker_is_in_the_cart_through_the_other",
    "test_each_worker_shows_the_cart_as_it_is_now",
    "test_a_worker_shows_what_was_added_through_it",
    "test_a_book_the_shop_does_not_sell_is_not_put_in_a_cart",
]

KATA = "state-in-one-worker"
ALICE, BOB, CAROL = 1, 2, 3
DUNE, KINDRED, LEFT_HAND, DISPOSSESSED = 3, 5, 1, 2
TITLES = {DUNE: "Dune", KINDRED: "Kindred", LEFT_HAND: "The Left Hand of Darkness", DISPOSSESSED: "The Dispossessed"}
WRAPPER = '''"""The shop, served so that the check can hold a COMMIT sent after the answer."""
from bookshop.serving import database_faults, mark_requests

database_faults()

from shop import app as shop_app  # noqa: E402

app = mark_requests(shop_app)
'''


@dataclass
class Workers:
    """Two processes serving the notebook's app, A and B, on one database."""

    urls: dict[str, str] = field(default_factory=dict)  # "A" and "B"
    folders: dict[str, Path] = field(default_factory=dict)
    problem: str = ""  # why they could not be started, with the server's output
    database: Path | None = None  # the SQLite file both serve

    def cart_rows(self, user: int) -> int:
        """The rows the database holds for ``user``'s cart, whatever either worker answers."""
        with contextlib.closing(sqlite3.connect(f"file:{self.database}?mode=ro", uri=True)) as connection:
            return connection.execute("SELECT count(*) FROM cart_items WHERE user_id = ?", (user,)).fetchone()[0]

    @contextlib.contextmanager
    def late_commits_held(self) -> Iterator[None]:
        """Meanwhile, a COMMIT a worker sends after it has started its answer waits: whether the
        next request sees that write is then decided, the same way every time (it does not)."""
        self._late_before = {worker: self._late(worker) for worker in self.folders}
        for folder in self.folders.values():
            (folder / LATE_COMMITS_HELD).touch()
        try:
            yield
        finally:
            for folder in self.folders.values():
                (folder / LATE_COMMITS_HELD).unlink(missing_ok=True)
            # The next request must not meet a COMMIT still held from this one (its lock would
            # keep a write waiting for SQLite's busy timeout): a held COMMIT goes on within a
            # hundredth of a second; the bound is for a worker that died meanwhile.
            deadline = time.monotonic() + 5
            while any(self._late(w) > self._late(w, LATE_COMMITS_LET_GO) for w in self.folders):
                if time.monotonic() > deadline:
                    break
                time.sleep(0.005)

    def _late(self, worker: str, name: str = LATE_COMMITS_LOG) -> int:
        log = self.folders[worker] / name
        return len(log.read_text().splitlines()) if log.is_file() else 0

    def committed_late(self, worker: str) -> bool:
        """Whether ``worker`` sent a COMMIT after its answer during the last hold."""
        return self._late(worker) > getattr(self, "_late_before", {}).get(worker, 0)


@contextlib.contextmanager
def two_workers(ns: dict, folder: Path) -> Iterator[Workers]:
    """Serve the notebook's ``app`` from two processes, A and B, each in a folder of its own,
    sharing a freshly seeded database in a third one."""
    folder = Path(folder)
    (folder / "database").mkdir()
    url = fresh_database(folder / "database")
    environment = {DATABASE_URL_ENV: url}
    workers = Workers(database=Path(make_url(url).database))
    with contextlib.ExitStack() as stack:
        servers = {}
        for name in ("A", "B"):
            home = folder / f"worker-{name}"
            home.mkdir()
            workers.folders[name] = home
            shop_module(ns, home, kata=KATA)
            (home / "served.py").write_text(WRAPPER, encoding="utf-8")
            port = free_port()
            command = ["uvicorn", "served:app", "--host", "127.0.0.1", "--port", str(port)]
            servers[name] = stack.enter_context(launch(command, folder=home, port=port, env=environment, ready=False))
        try:
            for name, server in servers.items():
                wait_until_serving(server)
                workers.urls[name] = server.url
        except ServerFailed as error:
            workers.problem = str(error)
        yield workers


@pytest.fixture(scope="module")
def kata_workers(request, tmp_path_factory) -> Iterator[Workers]:
    with two_workers(vars(request.module), tmp_path_factory.mktemp("workers")) as workers:
        yield workers


def _serving(workers: Workers) -> None:
    if workers.problem:
        first, _, log = workers.problem.partition("\n")
        log = " ".join(log.split())
        fail(
            f"The check could not start the notebook's app as a server process: {first.rstrip(':')}."
            + (f" The server said: …{log[-400:]}" if log else ""),
            "Every worker imports the same code: it must start on its own, from the file.",
            nudge="Does every cell run from top to bottom without an error, and does it define `app`?",
        )


def _titles(response: httpx.Response) -> list[str] | None:
    """The titles of the books in a cart answer, or None when the answer is no cart."""
    body = json_of(response)
    books = body.get("books") if isinstance(body, dict) else None
    if response.status_code >= 300 or not isinstance(books, list):
        return None
    return [book.get("title") for book in books if isinstance(book, dict)]


def _request(workers: Workers, worker: str, method: str, path: str) -> httpx.Response:
    return serving.request(method, f"{workers.urls[worker]}{path}", timeout=10)


def _added(workers: Workers, worker: str, user: int, book: int) -> None:
    response = _request(workers, worker, "POST", f"/carts/{user}/books/{book}")
    expect(
        response.status_code == 201,
        f"POST /carts/{user}/books/{book} through worker {worker} answered {brief(response)}, not "
        "201 with the cart.",
        "Customers must still be able to put books in their cart.",
    )


def _cart(workers: Workers, worker: str, user: int) -> tuple[httpx.Response, list[str]]:
    response = _request(workers, worker, "GET", f"/carts/{user}")
    titles = _titles(response)
    if titles is None:
        fail(
            f"GET /carts/{user} through worker {worker} answered {brief(response)}, not 200 with the "
            "cart: an object whose `books` is the list of books in it.",
            "Customers must still be able to see their cart.",
        )
    return response, titles


STATE_CONCEPT = ("Each worker is a process with memory of its own: a module-level variable, "
                 "app.state or a cache exists once per worker, and dies with it. What every worker "
                 "must see belongs in a store they share, here the shop's database, read on every "
                 "request. FastAPI docs: 'Server Workers'; the Twelve-Factor App: 'Processes'.")
LATE_CONCEPT = ("Code after a dependency's yield runs once the response has been sent: a COMMIT there "
                "comes after the customer has the answer, and after the next request may have read "
                "the cart. FastAPI docs: 'Dependencies with yield'.")


def _unless_late(workers: Workers, writer: str, book: str, reader: str) -> None:
    """When the writer committed after its answer, that is what the customer's next request met."""
    if workers.committed_late(writer):
        fail(
            f"Worker {writer} answered 201 for {book} before it had committed it: its COMMIT came after "
            f"the answer (the check held that COMMIT until worker {reader} had answered), so worker "
            f"{reader} did not find {book} in the cart.",
            "The customer's next page can come before the write is done, on any worker: the cart "
            "misses the book now and then, and if the COMMIT fails, the customer was told it was added.",
            nudge="When does the COMMIT of the cart's new row run: before or after the 201 is sent?",
            concept=LATE_CONCEPT,
        )


def _holds_exactly(titles: list[str], expected: list[str], request: str) -> None:
    """The cart is what its customer put in it, in that order, and nothing else (each test's
    customer starts with an empty cart)."""
    expect(
        titles == expected,
        f"{request} answered with the books {titles}; the customer had put in {expected}, in that order.",
        "A cart holds what its customer put in it, in the order it was put there, and nothing else: "
        "another customer's books, or books nobody chose, end up charged at the checkout.",
        nudge="Which rows does the cart's answer read, and in what order?",
    )


def test_a_book_added_through_one_worker_is_in_the_cart_through_the_other(kata_workers):
    _serving(kata_workers)
    with kata_workers.late_commits_held():
        _added(kata_workers, "A", ALICE, DUNE)
        response, titles = _cart(kata_workers, "B", ALICE)
    if TITLES[DUNE] not in titles:
        _unless_late(kata_workers, "A", "Dune", "B")
    expect(
        TITLES[DUNE] in titles,
        f"Alice put Dune in her cart through worker A (POST /carts/{ALICE}/books/{DUNE}: 201). Worker B "
        f"then answered GET /carts/{ALICE} with {brief(response, 160)}: no Dune.",
        "With several workers, each request goes to whichever one is free: the customer's cart "
        "empties and fills again from one page to the next, and the checkout charges for a cart "
        "the customer has never seen.",
        nudge="Where does worker A keep what Alice put in her cart, and can worker B read that place?",
        concept=STATE_CONCEPT,
    )
    _holds_exactly(titles, [TITLES[DUNE]], f"Worker B, asked GET /carts/{ALICE},")


def test_each_worker_shows_the_cart_as_it_is_now(kata_workers):
    _serving(kata_workers)
    _cart(kata_workers, "B", BOB)
    with kata_workers.late_commits_held():
        _added(kata_workers, "A", BOB, KINDRED)
        response, titles = _cart(kata_workers, "B", BOB)
    if TITLES[KINDRED] not in titles:
        _unless_late(kata_workers, "A", "Kindred", "B")
    expect(
        TITLES[KINDRED] in titles,
        f"Worker B showed Bob his cart; then Bob put Kindred in it through worker A (201). Asked again, "
        f"worker B answered GET /carts/{BOB} with {brief(response, 160)}: no Kindred.",
        "A worker that answers from what it saw earlier shows a cart as it was, not as it is: the "
        "customer sees a book vanish, or pays for one they removed.",
        nudge="When worker B answers, does it read the cart, or remember it?",
        concept=STATE_CONCEPT,
    )
    with kata_workers.late_commits_held():
        _added(kata_workers, "B", BOB, LEFT_HAND)
        response, titles = _cart(kata_workers, "A", BOB)
    if TITLES[LEFT_HAND] not in titles:
        _unless_late(kata_workers, "B", "The Left Hand of Darkness", "A")
    expect(
        TITLES[KINDRED] in titles and TITLES[LEFT_HAND] in titles,
        f"Bob's cart held Kindred, and he put The Left Hand of Darkness in it through worker B (201). "
        f"Worker A then answered GET /carts/{BOB} with {brief(response, 200)}.",
        "Every worker must show the cart as it is now, whichever worker changed it last.",
        nudge="When worker A answers, does it read the cart, or remember it?",
        concept=STATE_CONCEPT,
    )
    _holds_exactly(titles, [TITLES[KINDRED], TITLES[LEFT_HAND]], f"Worker A, asked GET /carts/{BOB},")


def test_a_worker_shows_what_was_added_through_it(kata_workers):
    _serving(kata_workers)
    with kata_workers.late_commits_held():
        _added(kata_workers, "A", CAROL, DISPOSSESSED)
        response, titles = _cart(kata_workers, "A", CAROL)
    if TITLES[DISPOSSESSED] not in titles:
        _unless_late(kata_workers, "A", "The Dispossessed", "A")
    expect(
        TITLES[DISPOSSESSED] in titles,
        f"Carol put The Dispossessed in her cart through worker A (201), and worker A itself then "
        f"answered GET /carts/{CAROL} with {brief(response, 160)}.",
        "A cart must keep what was put in it.",
    )
    _holds_exactly(titles, [TITLES[DISPOSSESSED]], f"Worker A, asked GET /carts/{CAROL},")


def test_a_book_the_shop_does_not_sell_is_not_put_in_a_cart(kata_workers):
    _serving(kata_workers)
    _, before = _cart(kata_workers, "A", ALICE)
    rows = kata_workers.cart_rows(ALICE)
    response = _request(kata_workers, "A", "POST", f"/carts/{ALICE}/books/999")
    expect(
        response.status_code == 404,
        f"POST /carts/{ALICE}/books/999, a book the shop does not have, answered {brief(response)}, not 404.",
        "A cart must only hold books the shop sells: the checkout could not charge for the others.",
    )
    _, after = _cart(kata_workers, "A", ALICE)
    expect(
        after == before and kata_workers.cart_rows(ALICE) == rows,
        f"Alice's cart held {before} (cart_items rows of hers: {rows}). POST /carts/{ALICE}/books/999 answered 404, "
        f"and then her cart held {after} (rows: {kata_workers.cart_rows(ALICE)}).",
        "A refused request must leave nothing behind: what it wrote before refusing is still in the "
        "database, and the next page or the checkout meets it.",
        nudge="What has the endpoint already written by the time it finds out the shop does not sell the book?",
    )
