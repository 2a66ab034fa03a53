"""The room reading a shared folder (see kata.room.folder for its layout) into its database, every
`scan_every` seconds, through the same validation and storage as the HTTP API. A file that does
not validate, or names a kata the workbook does not have, is skipped and logged; a learner's
name already taken gets the start of their folder id after it."""

import asyncio
import json
import re
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy import select

from kata.room.guard import note
from kata.room.schemas import NAME, ResultIn
from kata.room.store import Learner, now, store_result

LEARNER = re.compile(r"^[0-9a-f]{32}$")


async def scan(app, seen: set[Path]) -> int:
    """Read what is new in the folder into the database; returns how many results were stored."""
    folder: Path = app.state.settings.folder
    stored = 0
    async with app.state.writing, app.state.sessions() as db:
        learners = {}
        for path in sorted((folder / "learners").glob("*.json")):
            if not LEARNER.match(path.stem):
                continue
            try:
                name = json.loads(path.read_text(encoding="utf-8"))["name"]
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if not isinstance(name, str) or not re.match(NAME, name):
                continue
            row = await db.scalar(select(Learner).where(Learner.token_hash == f"folder:{path.stem}"))
            if row is None:
                taken = await db.scalar(select(Learner.id).where(Learner.name == name))
                row = Learner(name=name if taken is None else f"{name[:30]} ({path.stem[:6]})",
                              token_hash=f"folder:{path.stem}", joined=now())
                db.add(row)
                await db.flush()
            learners[path.stem] = row.id
        for learner, learner_id in learners.items():
            for path in sorted((folder / "results" / learner).glob("*.json")):
                if path in seen:
                    continue
                try:
                    result = ResultIn.model_validate_json(path.read_bytes())
                except (OSError, ValidationError):
                    note("skipped", file=path.name, reason="not a valid result")
                    seen.add(path)
                    continue
                if result.kata not in app.state.known:
                    note("skipped", file=path.name, reason="unknown kata")
                    seen.add(path)
                    continue
                stored += await store_result(db, learner_id, result)
                seen.add(path)
        await db.commit()
    return stored


async def scan_forever(app) -> None:
    seen: set[Path] = set()
    while True:
        try:
            if stored := await scan(app, seen):
                note("folder read", stored=stored)
        except Exception as error:  # noqa: BLE001 - a bad moment on a shared disk: try again next time
            note("folder not read", reason=repr(error)[:200])
        await asyncio.sleep(app.state.settings.scan_every)
