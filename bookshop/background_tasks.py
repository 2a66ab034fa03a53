"""The bookshop's mail relay and its warehouse's shipments table, for the background-tasks kata.

``Mailer`` stands in for the client of an SMTP relay: ``await mailer.send(to, subject, body)``.
A ``Mailer(down=True)`` behaves like a relay that refuses connections: ``send`` raises
``MailerError``. Give a mailer an ``events`` list and it notes there, in order, each email it
sent or failed to send, so that a timeline can show *when* the email went out.

``Shipment`` is the row the warehouse's packers work from: no row, no parcel. Its table is
created by this module's ``lifespan`` (the workbook's ``bookshop.db.lifespan`` plus that table).
"""

import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field

from anyio.lowlevel import checkpoint
from sqlalchemy import ForeignKey, create_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bookshop.db import ShopState
from bookshop.db import lifespan as shop_lifespan
from bookshop.models import Order


class MailerError(ConnectionError):
    """The mail relay could not be reached or refused the message."""


@dataclass(frozen=True)
class Email:
    to: str
    subject: str
    body: str


@dataclass
class Mailer:
    """A client for the shop's mail relay. ``sent`` lists what it delivered."""

    down: bool = False
    events: list | None = None
    sent: list[Email] = field(default_factory=list)

    async def send(self, to: str, subject: str, body: str) -> None:
        await checkpoint()  # talking to the relay is I/O: other tasks may run meanwhile
        if self.down:
            self._note("email-failed", to)
            raise MailerError(f"the mail relay refused the connection (sending {subject!r} to {to})")
        self.sent.append(Email(to, subject, body))
        self._note("email-sent", to)

    def _note(self, kind: str, to: str) -> None:
        if self.events is not None:
            self.events.append((kind, to))


class WarehouseBase(DeclarativeBase):
    """The warehouse's tables, kept apart from ``bookshop.models`` so other katas never see them."""


class Shipment(WarehouseBase):
    """One parcel to pack: the warehouse ships exactly the orders that have a row here."""

    __tablename__ = "shipments"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey(Order.id), unique=True)


def create_shipments_table(url: str) -> None:
    """Create the ``shipments`` table in the database behind ``url`` if it is not there yet."""
    engine = create_engine(url.replace("+aiosqlite", ""))
    try:
        WarehouseBase.metadata.create_all(engine)
    finally:
        engine.dispose()


@asynccontextmanager
async def lifespan(app) -> AsyncIterator[ShopState]:
    """The workbook's lifespan (engine and sessionmaker in ``request.state``), plus ``shipments``."""
    async with shop_lifespan(app) as state:
        async with state["engine"].begin() as connection:
            await connection.run_sync(WarehouseBase.metadata.create_all)
        yield state


class _Collect(logging.Handler):
    def __init__(self, events: list):
        super().__init__(logging.WARNING)
        self.events = events

    def emit(self, record: logging.LogRecord) -> None:
        self.events.append(("log", record.levelname, record.getMessage()))


@contextmanager
def logged_warnings(events: list) -> Iterator[list]:
    """Note ``("log", level, message)`` in ``events`` for every warning or error logged meanwhile."""
    handler = _Collect(events)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield events
    finally:
        root.removeHandler(handler)
