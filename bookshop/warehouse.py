"""The warehouse's shipments table: the row the packers work from. No row, no parcel.

Its table is created by this module's ``lifespan`` (the shop's ``bookshop.db.lifespan`` plus the
``shipments`` table), or by ``create_shipments_table`` on a database the app has not started on.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import ForeignKey, create_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bookshop.db import ShopState
from bookshop.db import lifespan as shop_lifespan
from bookshop.models import Order


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
