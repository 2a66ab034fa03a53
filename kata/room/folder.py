"""The room as a shared folder, for a JupyterHub where learners cannot reach a URL the teacher runs
but share a disk: `kata join /srv/room --name Ada` and `kata room serve --dir /srv/room`.

    /srv/room/learners/<learner>.json          {"name": ...}, written once at join
    /srv/room/results/<learner>/<uid>.json     one result each (the same JSON as the HTTP API's)
    /srv/room/reveals/<kata id>.md             a revealed walkthrough, written by the room

Every file is written to a temporary name and moved into place, so a reader never sees half of
one. The room reads the folder every `scan_every` seconds into its database, through the same
validation and storage as the HTTP API (kata.room.reader): a file that does not validate is
skipped (and logged). This module is the folder's layout and the learner's side: it imports
nothing a learner's `kata check` would wait for.
"""

import json
import os
import tempfile
from pathlib import Path


def write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, scratch = tempfile.mkstemp(prefix=".part-", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(scratch, 0o644)
        os.replace(scratch, path)
    except BaseException:
        Path(scratch).unlink(missing_ok=True)
        raise


# --- the learner's side -------------------------------------------------------------------------


def join(folder: Path, learner: str, name: str) -> None:
    write_atomically(folder / "learners" / f"{learner}.json", json.dumps({"name": name}))


def deliver(folder: Path, learner: str, result: dict) -> None:
    write_atomically(folder / "results" / learner / f"{result['uid']}.json", json.dumps(result))


def revealed(folder: Path, kata_id: str) -> str | None:
    try:
        return (folder / "reveals" / f"{kata_id}.md").read_text(encoding="utf-8")
    except OSError:
        return None


# --- what the room writes ------------------------------------------------------------------------


def publish_reveal(folder: Path, kata_id: str, text: str) -> None:
    write_atomically(folder / "reveals" / f"{kata_id}.md", text)
