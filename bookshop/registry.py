"""The national ISBN registry, as the bookshop reaches it: through a legacy, synchronous client.

``IsbnRegistry.lookup`` blocks the thread that calls it until the registry answers, as the
vendor's client does with its blocking socket. ``ParkedRegistry`` is a stand-in for evidence
cells: its lookups wait, without a clock, until the cell releases them.
"""

import asyncio
import threading
import time

from pydantic import BaseModel

# What the registry knows about the shop's books (the seeded ones), by ISBN.
_RECORDS = {
    "9780441478125": ("The Left Hand of Darkness", "Ace Books"),
    "9780060512750": ("The Dispossessed", "Harper Perennial"),
    "9780441172719": ("Dune", "Ace Books"),
    "9780441104024": ("Dune Messiah", "Ace Books"),
    "9780807083697": ("Kindred", "Beacon Press"),
    "9780446675505": ("Parable of the Sower", "Grand Central Publishing"),
    "9781101972120": ("Stories of Your Life and Others", "Vintage"),
    "9781101947883": ("Exhalation", "Knopf"),
}


class RegistryRecord(BaseModel):
    isbn: str
    title: str
    publisher: str


def _record(isbn: str) -> RegistryRecord | None:
    if isbn not in _RECORDS:
        return None
    title, publisher = _RECORDS[isbn]
    return RegistryRecord(isbn=isbn, title=title, publisher=publisher)


class IsbnRegistry:
    """The vendor's client. It has no async API: every call holds its thread until it returns.
    Like any network client, it raises (``ConnectionError``, ``TimeoutError``) when the registry
    cannot be reached; the checks make a stand-in of it do exactly that."""

    def __init__(self, round_trip: float = 0.2):
        self.round_trip = round_trip

    def lookup(self, isbn: str) -> RegistryRecord | None:
        """The registry's record for ``isbn``, or None if the registry does not know it."""
        time.sleep(self.round_trip)  # stands in for the client's blocking socket round trip
        return _record(isbn)


def _where() -> str:
    """Which thread is calling, and whether an event loop runs in it."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return f"in thread {threading.current_thread().name!r}, where no event loop runs"
    return "in THE EVENT LOOP'S THREAD"


class ParkedRegistry(IsbnRegistry):
    """A registry whose lookups wait until ``release()``: a registry that is slow today.

    ``parked`` is set when a lookup starts waiting; ``log`` records what happened, in order.
    A lookup never waits longer than ``limit`` seconds, so a cell that forgets to release it
    still finishes.
    """

    def __init__(self, limit: float = 10.0):
        super().__init__(round_trip=0)
        self.limit = limit
        self.log: list[str] = []
        self.parked = threading.Event()
        self._released = threading.Event()

    def lookup(self, isbn: str) -> RegistryRecord | None:
        self.log.append(f"lookup({isbn}) waits for the registry, {_where()}")
        self.parked.set()
        self._released.wait(self.limit)
        self.log.append(f"lookup({isbn}) got the registry's answer")
        return _record(isbn)

    def release(self) -> None:
        self.log.append("the registry answers")
        self._released.set()
