"""The room's database: SQLite in a folder of its own, through SQLAlchemy async (aiosqlite).

    learners  one row per learner who joined; only a hash of their token is kept
    results   every result ever received, once (its `uid`, made by the learner, keeps re-sends
              from counting twice): the history nothing is removed from
    states    per learner and kata, the latest of it: what the summary reads
    reveals   the katas whose walkthrough the teacher revealed
"""

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint, event, select
from sqlalchemy.dialects.sqlite import insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Learner(Base):
    __tablename__ = "learners"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    joined: Mapped[str] = mapped_column(String(32))


class Result(Base):
    __tablename__ = "results"
    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(64), unique=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("learners.id"), index=True)
    kata: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str | None] = mapped_column(String(16))
    failing: Mapped[str] = mapped_column(Text)  # JSON: [{"test", "sentence", "observed"}]
    attempts: Mapped[int] = mapped_column(Integer)
    hint: Mapped[int] = mapped_column(Integer)
    at: Mapped[str] = mapped_column(String(32))  # when it happened, on the learner's clock
    received: Mapped[str] = mapped_column(String(32))  # when the room got it


class State(Base):
    __tablename__ = "states"
    __table_args__ = (UniqueConstraint("learner_id", "kata"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("learners.id"), index=True)
    kata: Mapped[str] = mapped_column(String(80))
    status: Mapped[str | None] = mapped_column(String(16))  # None: not checked yet (a hint only)
    failing: Mapped[str] = mapped_column(Text, default="[]")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    hint: Mapped[int] = mapped_column(Integer, default=0)
    walkthrough: Mapped[bool] = mapped_column(default=False)
    first_check: Mapped[str | None] = mapped_column(String(32))
    last_check: Mapped[str | None] = mapped_column(String(32))
    failing_since: Mapped[str | None] = mapped_column(String(32))  # the first failing check since the last pass
    checked_at: Mapped[str | None] = mapped_column(String(32))  # the `at` of the result the status came from


class Reveal(Base):
    __tablename__ = "reveals"
    kata: Mapped[str] = mapped_column(String(80), primary_key=True)
    at: Mapped[str] = mapped_column(String(32))


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def make_engine(folder: Path) -> AsyncEngine:
    folder.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(f"sqlite+aiosqlite:///{folder / 'room.sqlite3'}", connect_args={"timeout": 30})

    @event.listens_for(engine.sync_engine, "connect")
    def _pragmas(connection, _record) -> None:  # many writers, one reader page: WAL keeps them apart
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return engine


async def create_tables(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)


async def store_result(session: AsyncSession, learner_id: int, result) -> bool:
    """Keep one result (a schemas.ResultIn) and fold it into the learner's state for that kata.
    Returns False when it was already stored (a re-send): nothing changes then."""
    failing = json.dumps([f.model_dump() for f in result.failing])
    at = result.at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    kept = await session.execute(
        insert(Result).values(uid=result.uid, learner_id=learner_id, kata=result.kata, kind=result.kind,
                              status=result.status, failing=failing, attempts=result.attempts, hint=result.hint,
                              at=at, received=now())
        .on_conflict_do_nothing(index_elements=["uid"]))
    if kept.rowcount == 0:
        return False
    state = await session.scalar(select(State).where(State.learner_id == learner_id, State.kata == result.kata))
    if state is None:
        state = State(learner_id=learner_id, kata=result.kata, failing="[]", attempts=0, hint=0, walkthrough=False)
        session.add(state)
    state.hint = max(state.hint or 0, result.hint)
    state.walkthrough = bool(state.walkthrough or result.walkthrough)
    state.attempts = max(state.attempts or 0, result.attempts)
    state.first_check = state.first_check or result.first_check
    state.last_check = max(filter(None, (state.last_check, result.last_check)), default=None)
    if result.kind == "check" and result.status and (state.checked_at is None or at >= state.checked_at):
        if result.status == "failed" and state.status != "failed":
            state.failing_since = at
        state.status, state.failing, state.checked_at = result.status, failing, at
    return True
