"""Check: the book page calls the price and review services concurrently, matches each answer to
its service whatever order they arrive in, and still fails loudly when a service fails or is slow."""

import asyncio
import threading
from collections.abc import Iterator
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass

import anyio
import anyio.to_thread
import pytest
from fastapi import FastAPI

from bookshop.client import open_client
from bookshop.observe import MeetingPoint, clock_runs_out, run_sql
from bookshop.prices import price_service, todays_prices
from bookshop.reviews import review_service, review_summaries
from bookshop.upstream import serve_all
from checks.feedback import expect, fail
from checks.harness import brief, json_of, learner

__all__ = [
    "shop_upstream_servers",
    "shop_upstreams",
    "test_the_price_and_review_calls_are_in_flight_at_the_same_time",
    "test_each_answer_is_used_for_its_own_service_whichever_arrives_first",
    "test_the_book_page_shows_the_price_and_the_reviews",
    "test_a_failing_price_or_review_service_is_answered_502_not_hidden",
    "test_a_service_too_slow_to_answer_is_an_error_not_made_up_data",
]

# Sequential calls can never meet, so the first service gives up waiting after this. Calls that
# are started together never wait for it: the app has sent both before either can arrive.
MEET_LIMIT = 0.3
HOLD_LIMIT = 0.3  # a held service gives up after this: only an app with no timeout at all waits it out
SAFETY = 5.0  # never reached by working code: it only keeps a broken one from hanging the check
NAMES = {"prices": "price service", "reviews": "review site"}

CONCURRENCY = ("Read Python's asyncio documentation, 'Running tasks concurrently' (gather) and 'Task "
               "groups', and AnyIO's 'Creating and managing tasks'.")


@dataclass
class _Upstreams:
    prices: FastAPI
    reviews: FastAPI

    @property
    def urls(self) -> dict[str, str]:
        return {"prices": self.prices.state.url, "reviews": self.reviews.state.url}


@dataclass
class _Book:
    """A book only this test's database has, with answers only this test's services give."""

    id: int
    isbn: str
    title: str
    price_cents: int
    rating: float
    review_count: int

    @property
    def page(self) -> str:
        return f"/books/{self.id}/page"

    def expected(self) -> dict:
        return {"id": self.id, "title": self.title, "price_cents": self.price_cents, "rating": self.rating,
                "review_count": self.review_count}


# --- what the page does with its tasks ------------------------------------------------------------


class _InCompletionOrder(set):
    """The set ``asyncio.wait`` returns, iterated in the order its tasks finished.

    A set's order is whatever the hashes of its members make it (for tasks: their memory
    addresses), so code that takes a set's first task for the price is right or wrong by luck.
    Any order is a set's right; the check fixes it to the order the services answered in, which
    the check chooses, so the same code gets the same verdict on every run."""

    def __init__(self, members, order: list):
        super().__init__(members)
        self._order = [member for member in order if member in self]
        self._order += [member for member in members if member not in self._order]

    def __iter__(self):
        return iter([member for member in self._order if set.__contains__(self, member)])

    def pop(self):
        for member in self:
            self.discard(member)
            return member
        raise KeyError("pop from an empty set")


def _retrieved(task: asyncio.Task) -> None:
    if not task.cancelled():
        task.exception()  # read: asyncio no longer reports it as "never retrieved"


@contextmanager
def _page_tasks() -> Iterator[list[asyncio.Task]]:
    """While the page is viewed: ``asyncio.wait`` hands back its sets in the order the tasks
    finished; and every task started meanwhile is kept, so that the error of a call the page left
    running (which nobody reads) is read here, when it ends, instead of being reported by asyncio
    whenever the task happens to be collected, in this test or a later one. Call it on the event
    loop that serves the app."""
    loop = asyncio.get_running_loop()
    original = asyncio.wait
    previous = loop.get_task_factory()
    started: list[asyncio.Task] = []

    async def ordered_wait(fs, *args, **kwargs):
        futures = list(fs)
        finished: list = []
        for future in futures:
            if isinstance(future, asyncio.Future):
                future.add_done_callback(finished.append)
        done, pending = await original(futures, *args, **kwargs)
        order = finished + [future for future in futures if future in done and future not in finished]
        return _InCompletionOrder(done, order), _InCompletionOrder(pending, futures)

    def kept(loop, coro, **kwargs):
        task = previous(loop, coro, **kwargs) if previous is not None else asyncio.Task(coro, loop=loop, **kwargs)
        task.add_done_callback(_retrieved)
        started.append(task)
        return task

    asyncio.wait = asyncio.tasks.wait = ordered_wait
    loop.set_task_factory(kept)
    try:
        yield started
    finally:
        asyncio.wait = asyncio.tasks.wait = original
        loop.set_task_factory(previous)


@pytest.fixture(scope="module")
def shop_upstream_servers() -> Iterator[_Upstreams]:
    """The two services, served by uvicorn on 127.0.0.1 once for the whole check."""
    upstreams = _Upstreams(price_service(), review_service())
    with serve_all(upstreams.prices, upstreams.reviews) as (prices_url, reviews_url):
        upstreams.prices.state.url, upstreams.reviews.state.url = prices_url, reviews_url
        yield upstreams


@pytest.fixture
def shop_upstreams(shop_upstream_servers, monkeypatch) -> Iterator[_Upstreams]:
    """The two services as new (today's data, no meeting point, no failure, no calls yet),
    and the bookshop's settings pointing at them for apps started during this test."""
    servers = shop_upstream_servers
    for app, answers in ((servers.prices, todays_prices()), (servers.reviews, review_summaries())):
        app.state.answers, app.state.meeting, app.state.fail_with = answers, None, None
        app.state.calls, app.state.client_ports = [], []
    monkeypatch.setenv("BOOKSHOP_PRICES_URL", servers.prices.state.url)
    monkeypatch.setenv("BOOKSHOP_REVIEWS_URL", servers.reviews.state.url)
    yield servers
    for app in (servers.prices, servers.reviews):
        if app.state.meeting is not None:
            app.state.meeting.release()
        app.state.meeting = None


def _book(shop_db: str, upstreams: _Upstreams, number: int) -> _Book:
    """Each test asks about a book of its own: a late request of another test never counts here."""
    book = _Book(200 + number, f"97899900{number:05d}", f"A Book Only Test {number} Knows", 1200 + number,
                 3.5, 300 + number)
    run_sql(shop_db, "INSERT INTO books (id, isbn, title, author_id, price_cents, stock) "
                     f"VALUES ({book.id}, '{book.isbn}', '{book.title}', 1, 9999, 3)")
    upstreams.prices.state.answers[book.isbn] = {"isbn": book.isbn, "price_cents": book.price_cents}
    upstreams.reviews.state.answers[book.isbn] = {"isbn": book.isbn, "average": book.rating,
                                                  "count": book.review_count}
    return book


def _meet(upstreams: _Upstreams, meeting: MeetingPoint) -> MeetingPoint:
    upstreams.prices.state.meeting = upstreams.reviews.state.meeting = meeting
    return meeting


@pytest.mark.anyio
async def test_the_price_and_review_calls_are_in_flight_at_the_same_time(kata_ns, shop_db, shop_upstreams):
    # Each service holds its answer until the other service's request has arrived: only two
    # calls in flight together can meet. A call made after the other answered never can.
    book = _book(shop_db, shop_upstreams, 1)
    meeting = _meet(shop_upstreams, MeetingPoint(MEET_LIMIT, isbn=book.isbn, order=("prices", "reviews")))
    with _page_tasks(), meeting.watching_app(**shop_upstreams.urls):
        async with open_client(learner(kata_ns, "app")) as client:
            response = await client.get(book.page)
    expect(
        response.status_code == 200,
        f"GET {book.page} answered {brief(response)}.",
        "The page must still be built from the price service and the review site while you change "
        "how it calls them.",
        nudge="Read the error the server raised: which line of the page failed, and on what value?",
    )
    never = [NAMES[service] for service in NAMES if service not in meeting.spans()]
    expect(
        not never,
        f"GET {book.page} never called the {' or the '.join(never)}. What the services saw: "
        f"{meeting.sequence()}.",
        "The page shows today's price from the price service and the rating from the review site: "
        "a page built without asking them shows numbers nobody gave.",
    )
    expect(
        meeting.overlapped(),
        "The book page called the price service and the review site one after the other: the second "
        f"call started only after the first had answered. What the services saw: {meeting.sequence()}.",
        "Neither call needs the other's answer, yet the page waits for the sum of both instead of the "
        "slower one: every slow afternoon of the review site comes on top of the price service's "
        "time, on every page view.",
        nudge="Does the review call use anything the price call returns? Then what makes it wait "
              "until the price has arrived?",
        concept="await suspends the function until that one result is ready: two awaits in a row are "
                "two calls in a row. To overlap independent calls, start them all, then wait for all. "
                + CONCURRENCY,
    )


@pytest.mark.anyio
async def test_each_answer_is_used_for_its_own_service_whichever_arrives_first(kata_ns, shop_db, shop_upstreams):
    # The review site answers first; the price service only once the app has that answer back.
    book = _book(shop_db, shop_upstreams, 2)
    meeting = _meet(shop_upstreams, MeetingPoint(0, isbn=book.isbn, order=("reviews", "prices")))
    with _page_tasks(), meeting.watching_app(**shop_upstreams.urls):
        async with open_client(learner(kata_ns, "app")) as client:
            response = await client.get(book.page)
    reviews_first = meeting.overlapped()
    expect(
        response.status_code == 200 and json_of(response) == book.expected(),
        f"This time the review site answered{' first, while the price call was still in flight' if reviews_first else ''}: "
        f"GET {book.page} answered {brief(response, 160)}, not {book.expected()}.",
        "Answers come back in whatever order the network delivers them. A page that takes the first "
        "answer back for the price shows a rating as a price, or fails, whenever the review site is "
        "the quicker one: a bug that comes and goes with the traffic.",
        nudge="When both answers are back, how does your code know which one is the price?",
        concept="Results taken in the order the calls finish (as_completed, the first task done) carry "
                "no label; gather returns its results in the order the calls were passed, whichever "
                "finished first. " + CONCURRENCY,
    )


@pytest.mark.anyio
async def test_the_book_page_shows_the_price_and_the_reviews(kata_ns, shop_db, shop_upstreams):
    # Numbers that only these services know: a page built without asking them cannot show them.
    book = _book(shop_db, shop_upstreams, 3)
    meeting = _meet(shop_upstreams, MeetingPoint(0, isbn=book.isbn, order=("prices", "reviews")))
    with _page_tasks(), meeting.watching_app(**shop_upstreams.urls):
        async with open_client(learner(kata_ns, "app")) as client:
            response = await client.get(book.page)
            missing = await client.get("/books/999/page")
    expect(
        response.status_code == 200 and json_of(response) == book.expected(),
        f"GET {book.page} answered {brief(response, 160)}, not {book.expected()}.",
        "The page shows the title from the database, the price from the price service, and the "
        "rating and review count from the review site.",
        nudge="Which value of the page comes from which call?",
    )
    calls = {NAMES[service]: getattr(shop_upstreams, service).state.calls.count(book.isbn) for service in NAMES}
    expect(
        set(calls.values()) == {1},
        f"One view of the page asked each service this many times for the book: {calls}.",
        "Each page view should ask each service once: more calls are more load on the distributor "
        "and the review site, and more time for the customer.",
        nudge="How many times does the page call each service?",
    )
    expect(missing.status_code == 404, f"GET /books/999/page answered {brief(missing)}, not 404.",
           "A book that does not exist is a 404 the client can act on, and needs no upstream call.")


async def _until_nothing_is_in_flight(meeting: MeetingPoint) -> None:
    """A call the page left running (its result no longer wanted) ends before the app stops, so
    what it does on its way out is the same on every run."""
    with anyio.move_on_after(SAFETY):
        while meeting.in_flight():
            await anyio.sleep(0.001)  # polls; decides nothing


def _says(status: int, truth: str) -> str:
    """Why an error status that tells the client something else than what happened matters."""
    if status == 500:
        said = ("500 says the shop itself is broken: the monitoring pages the shop's developers, and the "
                "client cannot tell a bug in the shop from a service the shop depends on failing.")
    elif status == 503:
        said = "503 Service Unavailable says the shop itself cannot serve right now (overloaded, in maintenance)."
    elif status == 504:
        said = "504 Gateway Timeout says a service the shop called was too slow."
    elif 400 <= status < 500:
        said = f"{status} tells the client that its own request was wrong, and it was not."
    else:
        said = f"{status} is not an error status a client or a monitor reads as an upstream failure."
    return f"{said} {truth}"


def _not_502(name: str, page: str, response, good_page) -> None:
    """The finding for a page that answered something else than 502 while the ``name`` failed."""
    status = response.status_code
    observed = f"With the {name} failing (it answered 503), GET {page} answered {brief(response, 160)}"
    nudge = "What does your code do with an error from one of the two calls? Where does the value shown in its place come from?"
    concept = ("gather re-raises the first error unless told to return errors as values; filling in defaults "
               "for a failed call hides the failure. " + CONCURRENCY)
    if 200 <= status < 300 and good_page is not None and json_of(response) == good_page:
        fail(
            f"{observed}: the page it had built before the {name} failed, shown again.",
            f"The customer is shown numbers the {name} no longer vouches for, as if nothing had gone "
            "wrong, and nobody learns that the service is down. A failed upstream is a 502 the client "
            "and the monitoring can see.",
            nudge="Where does the page come from when a call fails? Is it still today's answer?",
            concept="A page kept from an earlier view is a cache: showing it when the service fails hides "
                    "the failure, and it is stale the moment a price changes. " + CONCURRENCY,
        )
    if 200 <= status < 300:
        fail(
            f"{observed}.",
            f"The customer is shown a page built without the {name}'s answer, as if nothing had gone "
            "wrong, and nobody learns that the service is down. A failed upstream is a 502 the client "
            "and the monitoring can see.",
            nudge=nudge, concept=concept,
        )
    fail(
        f"{observed}.",
        _says(status, f"The {name} answered at once, with an error: 502 Bad Gateway says exactly that, to the "
                      "client and to the monitoring."),
        nudge="Which error does a failed call raise in Upstreams, and what happens to it on its way to "
              "FastAPI?",
        concept="Let the HTTPException(502) that Upstreams raises reach FastAPI as it is, or raise your own "
                "with the same status. " + CONCURRENCY,
    )


@pytest.mark.anyio
async def test_a_failing_price_or_review_service_is_answered_502_not_hidden(kata_ns, shop_db, shop_upstreams):
    book = _book(shop_db, shop_upstreams, 4)
    with _page_tasks():
        async with open_client(learner(kata_ns, "app"), raise_server_exceptions=True) as client:
            # The page is viewed once while both services work: a page kept from that view is no answer.
            meeting = _meet(shop_upstreams, MeetingPoint(0, isbn=book.isbn, order=("prices", "reviews")))
            try:
                with meeting.watching_app(**shop_upstreams.urls):
                    good = await client.get(book.page)
                    await _until_nothing_is_in_flight(meeting)
            except Exception:  # noqa: BLE001 - the other tests judge the page itself
                good = None
            good_page = json_of(good) if good is not None and good.status_code == 200 else None
            for service, name in NAMES.items():
                broken = getattr(shop_upstreams, service)
                meeting = _meet(shop_upstreams, MeetingPoint(0, isbn=book.isbn, order=("prices", "reviews")))
                escaped = response = None
                broken.state.fail_with = 503
                try:
                    with meeting.watching_app(**shop_upstreams.urls):
                        try:
                            response = await client.get(book.page)
                        except Exception as error:  # noqa: BLE001 - an error that escaped the app is what we look for
                            escaped = error
                        await _until_nothing_is_in_flight(meeting)
                finally:
                    broken.state.fail_with = None
                if escaped is not None:
                    grouped = isinstance(escaped, BaseExceptionGroup)
                    fail(
                        f"With the {name} failing (it answered 503), the book page's error escaped the app as "
                        f"{type(escaped).__name__}{' (a group of errors)' if grouped else ''}: {escaped!r:.160}; "
                        "the client got a 500.",
                        "A 500 says the shop is broken; the truth is that an upstream service failed, which is "
                        "what 502 Bad Gateway tells the client, and the monitoring, apart.",
                        nudge="The Upstreams calls raise an HTTPException with status 502 when a service fails. "
                              "Does that exception reach FastAPI as it is?"
                              + (" What does a task group do with the errors of its tasks?" if grouped else ""),
                        concept="FastAPI turns an HTTPException into its response, but only one raised as it is: "
                                "an ExceptionGroup (what task groups raise) is an unknown error, a 500. gather "
                                "re-raises the first error unchanged; with a task group, unwrap the group "
                                "(except*). " + CONCURRENCY,
                    )
                if response.status_code != 502:
                    _not_502(name, book.page, response, good_page)


@pytest.mark.anyio
async def test_a_service_too_slow_to_answer_is_an_error_not_made_up_data(kata_ns, shop_db, shop_upstreams):
    book = _book(shop_db, shop_upstreams, 5)
    async with AsyncExitStack() as stack:
        stack.enter_context(_page_tasks())
        client = await stack.enter_async_context(open_client(learner(kata_ns, "app")))
        for held in ("reviews", "prices"):
            name = NAMES[held]
            meeting = _meet(shop_upstreams, MeetingPoint(0, isbn=book.isbn, hold=held, hold_limit=HOLD_LIMIT))
            result: dict = {}
            done = threading.Event()
            moved_on = False
            with meeting.watching_app(**shop_upstreams.urls):
                async with anyio.create_task_group() as tg:

                    async def view_page() -> None:
                        try:
                            result["page"] = await client.get(book.page)
                        finally:
                            done.set()

                    tg.start_soon(view_page)
                    # The held request has arrived, and the other call, if the app made it meanwhile, is back.
                    with anyio.move_on_after(SAFETY):
                        while not done.is_set() and not meeting.ready_for_the_clock():
                            await anyio.sleep(0.001)  # polls; decides nothing
                    if not done.is_set():
                        moved_on = True
                        with clock_runs_out():
                            await anyio.to_thread.run_sync(done.wait, SAFETY)
                    meeting.release()
                await _until_nothing_is_in_flight(meeting)
            response = result.get("page")
            expect(response is not None, f"GET {book.page} got no answer at all while the {name} was slow.",
                   "A page that never answers holds its connection and the customer forever.")
            expect(
                not meeting.gave_up_holding,
                f"The {name} did not answer, and the check moved the app's clock on by hours at a time, "
                f"yet GET {book.page} waited until the {name} itself gave up holding its answer "
                f"({brief(response)}).",
                f"Nothing in the page ever gives up on a slow {name}: when it hangs, every page view hangs "
                "with it, each holding a connection, until the customers give up instead.",
                nudge="Which timeout applies to the calls the page makes, and what could switch it off?",
                concept="httpx gives each request a timeout (the app's client sets 10 s); asyncio.timeout or "
                        "AnyIO's fail_after bound a whole block. Read HTTPX's 'Timeouts'.",
            )
            if response.status_code == 200:
                value = "price" if held == "prices" else "rating and review count"
                fail(
                    f"The {name} did not answer in time"
                    f"{' (the check moved the clock on until every timeout in the app had run out)' if moved_on else ''}: "
                    f"GET {book.page} answered {brief(response, 160)}, with a {value} the {name} never gave.",
                    f"The customer sees made-up numbers as if they were real, and nobody learns that the {name} "
                    "is too slow: the monitoring counts a success. A missing answer is an error the client can "
                    "see, 502 Bad Gateway or 504 Gateway Timeout.",
                    nudge="What does your code do when a call takes too long? Where does the value it shows "
                          "then come from?",
                    concept="A timeout turns a slow upstream into an error; catching that error and filling in "
                            "defaults hides it. Let it reach the client. Read FastAPI's 'Handling Errors' "
                            "and HTTPX's 'Timeouts'.",
                )
            expect(
                response.status_code in (502, 504),
                f"The {name} did not answer in time: GET {book.page} answered {brief(response, 160)}.",
                _says(response.status_code, f"The {name} was too slow: 502 Bad Gateway or 504 Gateway Timeout "
                                            "says that, and the client and the monitoring can tell it apart "
                                            "from a bug in the shop."),
                nudge="Which error does a timed-out call raise, and does it reach FastAPI as it is?",
            )
