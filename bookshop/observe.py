"""Spies that watch an app from outside: which engines it used, what SQL it ran, when it answered.

The evidence cells print what these record; the checks assert on it. Nothing here reads a clock.
"""

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import Pool


@contextmanager
def engine_events(*names: str) -> Iterator[list[tuple]]:
    """Record SQLAlchemy events from every engine: ``(name, engine id, detail)`` in order.

    Supported names: ``connect``, ``sql``, ``commit``, ``rollback``, ``disposed``.
    """
    log: list[tuple] = []
    hooks = {
        "connect": ("engine_connect", lambda conn: log.append(("connect", id(conn.engine), None))),
        "sql": (
            "before_cursor_execute",
            lambda conn, cursor, statement, params, context, many: log.append(
                ("sql", id(conn.engine), statement)
            ),
        ),
        "commit": ("commit", lambda conn: log.append(("commit", id(conn.engine), None))),
        "rollback": ("rollback", lambda conn: log.append(("rollback", id(conn.engine), None))),
        "disposed": ("engine_disposed", lambda engine: log.append(("disposed", id(engine), None))),
    }
    chosen = [hooks[name] for name in names]
    for identifier, hook in chosen:
        event.listen(Engine, identifier, hook)
    try:
        yield log
    finally:
        for identifier, hook in chosen:
            event.remove(Engine, identifier, hook)


class PoolLedger:
    """Connections taken from and given back to every pool: ``out`` is how many are still taken."""

    def __init__(self) -> None:
        self.taken = 0
        self.returned = 0

    @property
    def out(self) -> int:
        return self.taken - self.returned


@contextmanager
def pool_connections() -> Iterator[PoolLedger]:
    """Count connections checked out of, and back into, any SQLAlchemy pool meanwhile. A
    connection the garbage collector reclaims was never given back: it is not counted as returned."""
    ledger = PoolLedger()

    def taken(*_args) -> None:
        ledger.taken += 1

    def returned(*_args) -> None:
        ledger.returned += 1

    event.listen(Pool, "checkout", taken)
    event.listen(Pool, "checkin", returned)
    try:
        yield ledger
    finally:
        event.remove(Pool, "checkout", taken)
        event.remove(Pool, "checkin", returned)


def response_spy(app, log: list):
    """Wrap an ASGI app so that ``log`` gets ``("response-start", status)`` when it answers."""

    async def spy(scope, receive, send):
        async def spying_send(message):
            if message["type"] == "http.response.start":
                log.append(("response-start", message["status"]))
            await send(message)

        await app(scope, receive, spying_send)

    return spy


def run_sql(url: str, *statements: str) -> list[tuple]:
    """Run statements on the SQLite file behind ``url``, outside any app; return the last rows."""
    rows: list[tuple] = []
    with sqlite3.connect(url.split(":///", 1)[1]) as conn:
        for statement in statements:
            rows = conn.execute(statement).fetchall()
    return rows
