"""Check: the registry's blocking `lookup` runs off the event loop, so the shop keeps answering."""

import asyncio
import threading
from dataclasses import dataclass

import anyio
import anyio.to_thread
import pytest

from bookshop.registry import RegistryRecord
from bookshop.client import open_client
from checks.harness import learner

__all__ = [
    "test_the_blocking_registry_lookup_does_not_run_on_the_event_loop_thread",
    "test_the_shop_answers_other_requests_while_a_lookup_waits_for_the_registry",
    "test_a_lookup_asks_the_registry_once_and_returns_its_answer",
]

DUNE = "9780441172719"
# A lookup stuck in the event loop's thread can never be released by this test (the test runs
# on that same loop), so there it gives up after this bound. Anywhere else the test releases it.
STUCK_ON_THE_LOOP = 0.25  # only a lookup already seen on the loop thread waits this: nothing can release it
SAFETY = 10.0  # never reached by working code: it only keeps a broken one from hanging the check


@dataclass
class _Call:
    isbn: str
    on_the_loop: bool  # an asyncio event loop was running in the thread that called lookup


class _RegistrySpy:
    """Stands in for the app's IsbnRegistry: records who calls `lookup`, from which thread.

    With ``park=True`` each lookup waits (on a threading.Event) until the test releases it,
    like a registry that is slow today; ``log`` records, in order, what happened meanwhile.
    """

    def __init__(self, *, park: bool = False):
        self.park = park
        self.calls: list[_Call] = []
        self.log: list[str] = []
        self.parked = threading.Event()  # also set when the request ends without parking
        self.released = threading.Event()

    def lookup(self, isbn: str) -> RegistryRecord | None:
        try:
            asyncio.get_running_loop()
            on_the_loop = True
        except RuntimeError:
            on_the_loop = False
        self.calls.append(_Call(isbn, on_the_loop))
        if self.park:
            self.log.append(f"GET /isbn/{isbn}: the lookup starts waiting for the registry")
            self.parked.set()
            if self.released.wait(STUCK_ON_THE_LOOP if on_the_loop else SAFETY):
                self.log.append("the test lets the registry answer")
            else:
                self.log.append("the lookup gives up: the test, stuck on the same loop, never got a turn to release it")
        if isbn.endswith("0000000"):
            return None  # an ISBN the registry does not know
        return RegistryRecord(isbn=isbn, title=f"Registry title of {isbn}", publisher=f"Publisher {isbn[-4:]}")


def _app_with(kata_ns, spy: _RegistrySpy):
    app = learner(kata_ns, "app")
    app.dependency_overrides[learner(kata_ns, "get_registry")] = lambda: spy
    return app


def _asked_once(spy: _RegistrySpy, status: int) -> None:
    assert len(spy.calls) == 1, (
        f"GET /isbn/{DUNE} answered {status} after calling the registry's lookup {len(spy.calls)} "
        "time(s); it must look the ISBN up exactly once, with the registry `RegistryDep` gives it."
    )


@pytest.mark.anyio
async def test_the_blocking_registry_lookup_does_not_run_on_the_event_loop_thread(kata_ns, shop_db):
    spy = _RegistrySpy()
    async with open_client(_app_with(kata_ns, spy)) as client:
        response = await client.get(f"/isbn/{DUNE}")
    _asked_once(spy, response.status_code)
    assert not spy.calls[0].on_the_loop, (
        "`registry.lookup(...)` ran in the thread that runs the event loop, so until the registry "
        "answers, that thread is stuck and no other request makes progress. An `async def` "
        "endpoint (or an `async def` helper) runs its body on the loop; `await` in front of it "
        "does not move a blocking call anywhere. Make the endpoint a plain `def` (FastAPI runs it "
        "in a worker thread), or `await anyio.to_thread.run_sync(registry.lookup, isbn)`."
    )


@pytest.mark.anyio
async def test_the_shop_answers_other_requests_while_a_lookup_waits_for_the_registry(kata_ns, shop_db):
    spy = _RegistrySpy(park=True)
    lookup_status: list[int] = []
    async with open_client(_app_with(kata_ns, spy)) as client:
        async with anyio.create_task_group() as tg:

            async def look_dune_up() -> None:
                response = await client.get(f"/isbn/{DUNE}")
                lookup_status.append(response.status_code)
                spy.parked.set()  # answered without ever parking: stop waiting for it

            tg.start_soon(look_dune_up)
            await anyio.to_thread.run_sync(spy.parked.wait, SAFETY)
            book = None
            with anyio.move_on_after(SAFETY):
                book = await client.get("/books/1")
                spy.log.append(f"GET /books/1 is answered {book.status_code}")
            spy.released.set()
    _asked_once(spy, lookup_status[0] if lookup_status else 0)
    timeline = "\n".join(f"  {number}. {event}" for number, event in enumerate(spy.log, start=1))
    assert book is not None and book.status_code == 200, (
        f"GET /books/1 got no answer while a registry lookup was waiting, or not a 200:\n{timeline}"
    )
    answered = spy.log.index(f"GET /books/1 is answered {book.status_code}")
    lookup_ended = next(i for i, e in enumerate(spy.log) if e.startswith(("the test lets", "the lookup gives")))
    assert answered < lookup_ended, (
        "While one GET /isbn/... waited for the registry, GET /books/1 could not be answered: the "
        f"blocking lookup held the event loop, and every other request queued behind it.\n{timeline}\n"
        "Run the lookup in a worker thread (a plain `def` endpoint, or "
        "`await anyio.to_thread.run_sync(registry.lookup, isbn)`) so that the loop stays free."
    )
    assert lookup_status == [200], (
        f"Once the registry answered, GET /isbn/{DUNE} answered {lookup_status}; expected 200."
    )


@pytest.mark.anyio
async def test_a_lookup_asks_the_registry_once_and_returns_its_answer(kata_ns, shop_db):
    spy = _RegistrySpy()
    unknown = "9780000000000"
    async with open_client(_app_with(kata_ns, spy)) as client:
        found = {isbn: await client.get(f"/isbn/{isbn}") for isbn in (DUNE, "9781101947883")}
        missing = await client.get(f"/isbn/{unknown}")
    asked = [call.isbn for call in spy.calls]
    assert asked == [DUNE, "9781101947883", unknown], (
        f"Three GET /isbn/... requests asked the registry for {asked}: each request must look its "
        "own ISBN up, once, with the registry that `RegistryDep` provides (not a copy, not a cache)."
    )
    for isbn, response in found.items():
        expected = {"isbn": isbn, "title": f"Registry title of {isbn}", "publisher": f"Publisher {isbn[-4:]}"}
        assert response.status_code == 200 and response.json() == expected, (
            f"GET /isbn/{isbn} answered {response.status_code} {response.text[:120]}; it must return "
            f"the registry's record, {expected}."
        )
    assert missing.status_code == 404, (
        f"GET /isbn/{unknown}, an ISBN the registry does not know, answered {missing.status_code}; "
        "expected 404."
    )
