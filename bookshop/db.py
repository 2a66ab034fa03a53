"""Where the bookshop's data lives: a freshly seeded SQLite file, and the lifespan that serves it.

Every check gets its own copy of the seeded database, so no check sees another's writes.
The URL comes from the environment variable ``BOOKSHOP_DATABASE_URL``; without it, each Python
process gets one private, seeded database in a temporary folder, so a notebook runs as it is.
"""

import functools
import json
import os
import shutil
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from pathlib import Path
from typing import TypedDict

from sqlalchemy.dialects import sqlite
from sqlalchemy.schema import CreateIndex, CreateTable
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from bookshop.models import Author, Base, Book, User
from bookshop.scratch import scratch_folder

DATABASE_URL_ENV = "BOOKSHOP_DATABASE_URL"
DATA_DIR = Path(__file__).resolve().parent.parent / "data"
SEEDS = {Author: "authors.json", Book: "books.json", User: "users.json"}


def seed_rows(model: type[Base]) -> list[dict]:
    return json.loads((DATA_DIR / SEEDS[model]).read_text(encoding="utf-8"))


def _seed(path: Path) -> None:
    # Plain sqlite3, no SQLAlchemy engine: the katas count engines, and this one is not the app's.
    dialect = sqlite.dialect()
    with closing(sqlite3.connect(path)) as conn, conn:
        for table in Base.metadata.sorted_tables:
            conn.execute(str(CreateTable(table).compile(dialect=dialect)))
            for index in table.indexes:
                conn.execute(str(CreateIndex(index).compile(dialect=dialect)))
        for model, rows in ((m, seed_rows(m)) for m in SEEDS):
            columns = list(rows[0])
            conn.executemany(
                f"INSERT INTO {model.__tablename__} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                [tuple(row[c] for c in columns) for row in rows],
            )


@functools.cache
def _template() -> Path:
    # Seeding costs a schema build and three inserts; copying the result costs a file copy.
    path = scratch_folder("bookshop-") / "template.db"
    _seed(path)
    return path


def fresh_database(directory: Path) -> str:
    """Copy the seeded bookshop into ``directory`` and return its async SQLAlchemy URL."""
    path = Path(directory) / "bookshop.db"
    shutil.copyfile(_template(), path)
    return f"sqlite+aiosqlite:///{path}"


@functools.cache
def _process_database() -> str:
    return fresh_database(scratch_folder("bookshop-"))


def database_url() -> str:
    """The database this process should serve, read when it is called (not at import)."""
    return os.environ.get(DATABASE_URL_ENV) or _process_database()


class ShopState(TypedDict):
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]


@asynccontextmanager
async def lifespan(app) -> AsyncIterator[ShopState]:
    """The engine lives exactly as long as the app: created at startup, disposed at shutdown."""
    engine = create_async_engine(database_url())
    try:
        yield {"engine": engine, "sessionmaker": async_sessionmaker(engine, expire_on_commit=False)}
    finally:
        await engine.dispose()
