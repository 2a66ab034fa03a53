"""The learner's side of the room: join once, then every check, hint and walkthrough is sent.

`kata join URL --name Ada` (or a shared folder instead of a URL) keeps what the room gave in
`.kata/room.json`. After that, each event is written to `.kata/outbox/` and a sender process is
started in the background (`python -m kata.room.send`): the check that caused it has already
given its verdict and does not wait. The sender tries briefly (a short timeout); what it could
not send stays in the outbox and goes with the next event, or the next `kata room flush`. What
the room refuses (a token it does not know, a kata it does not have) moves to
`.kata/outbox/refused/`, with the reason, so one bad result never blocks the rest.

A result holds the kata, the status, the failing tests' sentences and what the check observed,
attempts, the hint level, and times. Never the learner's code.
"""

import contextlib
import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

from kata import KataError
from kata.room.folder import write_atomically
from kata.workspace import STATE

TIMEOUT = 2.0  # seconds the sender waits for the room, per request
BATCH = 50  # results per request (the room takes up to 50)

try:
    import fcntl
except ImportError:  # Windows: no lock; two senders may send the same result, which the room ignores
    fcntl = None


def room_file(root: Path) -> Path:
    return Path(root) / STATE / "room.json"


def outbox(root: Path) -> Path:
    return Path(root) / STATE / "outbox"


def joined(root: Path) -> dict | None:
    try:
        data = json.loads(room_file(root).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and ("url" in data or "folder" in data) else None


def is_url(target: str) -> bool:
    return target.startswith(("http://", "https://"))


def join(root: Path, target: str, name: str) -> dict:
    """Join the room at ``target`` (a URL, or a shared folder) as ``name``; returns what was kept."""
    if is_url(target):
        import httpx

        url = target.rstrip("/")
        try:
            answer = httpx.post(f"{url}/api/join", json={"name": name}, timeout=10)
        except httpx.HTTPError as error:
            raise KataError(f"Cannot reach the room at {url} ({error}). Is the address right, and is "
                            "`kata room serve` running there?") from None
        if answer.status_code != 201:
            try:
                detail = answer.json().get("detail")
            except ValueError:
                detail = answer.text[:200]
            if isinstance(detail, list):  # a validation error: the name
                detail = "a name is 1 to 40 letters, digits, spaces, dots, dashes or apostrophes"
            raise KataError(f"The room refused to let you join: {detail}")
        data = {"url": url, "name": name, "token": answer.json()["token"]}
    else:
        folder = Path(target).expanduser().resolve()
        if not folder.is_dir():
            raise KataError(f"{folder} is not a folder. Your teacher gives you the room's address or its folder.")
        from kata.room.schemas import NAME
        import re

        if not re.match(NAME, name):
            raise KataError("A name is 1 to 40 letters, digits, spaces, dots, dashes or apostrophes.")
        learner = uuid.uuid4().hex
        try:
            from kata.room import folder as shared

            shared.join(folder, learner, name)
        except OSError as error:
            raise KataError(f"Cannot write to the room's folder {folder} ({error.strerror or error}).") from None
        data = {"folder": str(folder), "name": name, "learner": learner}
    write_atomically(room_file(root), json.dumps(data, indent=2))
    os.chmod(room_file(root), 0o600)  # the token is the learner's own
    return data


def _failing(tests) -> list[dict]:
    """The failing tests as sentences, with what the check observed. Not the server's traceback,
    not an error message: those can quote the learner's code."""
    from kata.report import sentence

    found = []
    for test in tests or ():
        if test.get("status") == "passed":
            continue
        observed = (test.get("finding") or {}).get("observed") or ""
        found.append({"test": test["name"][:200], "sentence": sentence(test["name"])[:300], "observed": observed[:600]})
    return found[:40]


def event(kata_id: str, kind: str, entry: dict, tests=()) -> dict:
    """One result, as the room's API takes it (see kata.room.schemas.ResultIn)."""
    state = entry.get("state")
    return {
        "uid": uuid.uuid4().hex, "kata": kata_id, "kind": kind,
        "status": {"done": "passed", "failing": "failed"}.get(state) if kind == "check" else None,
        "failing": _failing(tests) if kind == "check" and state == "failing" else [],
        "attempts": entry.get("attempts", 0), "hint": entry.get("hint", 0),
        "walkthrough": bool(entry.get("walkthrough")),
        "first_check": entry.get("first_check"), "last_check": entry.get("last_check"),
        "at": datetime.now(UTC).isoformat(),
    }


def record_event(root: Path, kata_id: str, kind: str, entry: dict, tests=()) -> None:
    """Queue the event and start the sender in the background, when this workbook joined a room.
    Never raises, never waits: the room is a convenience, the learner's work is not."""
    try:
        if joined(root) is None:
            return
        result = event(kata_id, kind, entry, tests)
        write_atomically(outbox(root) / f"{result['at'][:26].replace(':', '')}-{result['uid']}.json", json.dumps(result))
        start_sender(root)
    except Exception:  # noqa: BLE001 - see the docstring
        pass


def start_sender(root: Path) -> None:
    subprocess.Popen([sys.executable, "-m", "kata.room.send", str(Path(root).resolve())], cwd=str(root),
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                     start_new_session=True, env={**os.environ, "PYTHONPATH": _package_path()})


def _package_path() -> str:
    here = str(Path(__file__).resolve().parents[2])
    rest = os.environ.get("PYTHONPATH")
    return f"{here}{os.pathsep}{rest}" if rest else here


def queued(root: Path) -> list[Path]:
    return sorted(outbox(root).glob("*.json"))


def _refuse(path: Path, reason: str) -> None:
    target = path.parent / "refused" / path.name
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(path, target)
    target.with_suffix(".reason").write_text(reason[:500] + "\n", encoding="utf-8")


@contextlib.contextmanager
def _sending(root: Path, wait: bool):
    """One sender at a time per workspace; yields False when another one is at work already."""
    path = outbox(root) / ".lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as lock:
        if fcntl is None:
            yield True
            return
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def flush(root: Path, wait: bool = False, timeout: float = TIMEOUT) -> tuple[int, int]:
    """Send what the outbox holds. Returns (sent, still queued)."""
    room = joined(root)
    if room is None:
        return 0, len(queued(root))
    sent = 0
    with _sending(root, wait) as mine:
        if not mine:
            return 0, len(queued(root))
        while batch := queued(root)[:BATCH]:
            done = _send(room, batch, timeout)
            if not done:
                break
            sent += done
    return sent, len(queued(root))


def _send(room: dict, batch: list[Path], timeout: float) -> int:
    """Send one batch; returns how many left the outbox (0: the room is down, keep them all)."""
    results, paths = [], []
    for path in batch:
        try:
            results.append(json.loads(path.read_text(encoding="utf-8")))
            paths.append(path)
        except (OSError, ValueError):
            _refuse(path, "not readable")
    if not results:
        return len(batch)
    if "folder" in room:
        from kata.room import folder as shared

        try:
            for path, result in zip(paths, results):
                shared.deliver(Path(room["folder"]), room["learner"], result)
                path.unlink()
        except OSError:
            return 0
        return len(paths)
    import httpx

    try:
        answer = httpx.post(f"{room['url']}/api/results", json={"results": results}, timeout=timeout,
                            headers={"Authorization": f"Bearer {room['token']}"})
    except httpx.HTTPError:
        return 0
    if answer.status_code == 200:
        for path in paths:
            path.unlink(missing_ok=True)
        return len(paths)
    if answer.status_code in (401, 403, 413, 422):  # refused for good: set them aside, with why
        for path in paths:
            _refuse(path, f"{answer.status_code}: {answer.text}")
        return len(paths)
    return 0  # 5xx, 409, anything else: the room will take them later


def fetch_walkthrough(root: Path, kata_id: str, timeout: float = 3.0) -> str | None:
    """The walkthrough's text if the teacher revealed it; None when held, or the room is out of reach."""
    room = joined(root)
    if room is None:
        return None
    if "folder" in room:
        from kata.room import folder as shared

        return shared.revealed(Path(room["folder"]), kata_id)
    import httpx

    try:
        answer = httpx.get(f"{room['url']}/api/katas/{kata_id}/walkthrough", timeout=timeout,
                           headers={"Authorization": f"Bearer {room['token']}"})
    except httpx.HTTPError:
        return None
    return answer.json().get("text") if answer.status_code == 200 else None
