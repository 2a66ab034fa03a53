"""The learner's side of the room: a check never waits for it or depends on it; what cannot be sent
is kept and sent later; what the room refuses is set aside with the reason; the shared-folder
transport reaches the same summary. A real room runs here on 127.0.0.1, in a thread."""

import json
import socket
import threading
import time

import pytest
import uvicorn
from fastapi.testclient import TestClient

from kata.room import client
from kata.room.app import build
from tests.conftest import KATAS, ROOT, append_to_kata_cell, edit_cell, kata, learner_notebook

TEACHER = "teacher-secret-" + "y" * 20
FIRST = KATAS[0]


def _settings(monkeypatch, data, folder=None):
    monkeypatch.setenv("KATA_ROOM_TEACHER_TOKEN", TEACHER)
    monkeypatch.setenv("KATA_ROOM_DATA", str(data))
    monkeypatch.setenv("KATA_ROOM_WORKBOOK", str(ROOT))
    monkeypatch.setenv("KATA_ROOM_TRACK", "full")
    if folder:
        monkeypatch.setenv("KATA_ROOM_FOLDER", str(folder))
        monkeypatch.setenv("KATA_ROOM_SCAN_EVERY", "0.05")


@pytest.fixture
def silent_port():
    """A port that takes connections and never answers: the worst a room can do."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(100)
        yield sock.getsockname()[1]


@pytest.fixture
def room(tmp_path, monkeypatch):
    """A real room on a free port on 127.0.0.1, served by uvicorn in a thread."""
    _settings(monkeypatch, tmp_path / "room-data")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(build(), host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):  # a bounded wait for it to come up
        if server.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def _summary(url):
    import httpx

    return httpx.get(f"{url}/api/summary", headers={"Authorization": f"Bearer {TEACHER}"}).json()


def test_recording_never_waits_for_a_room_that_does_not_answer_and_keeps_the_result(tmp_path, silent_port):
    root = tmp_path
    client.room_file(root).parent.mkdir(parents=True)
    client.room_file(root).write_text(json.dumps({"url": f"http://127.0.0.1:{silent_port}", "name": "Ada", "token": "1.x"}))
    started = time.perf_counter()
    client.record_event(root, FIRST.id, "hint", {"hint": 1})
    assert time.perf_counter() - started < 0.5, "queued and handed to a background sender, not sent here"
    assert len(client.queued(root)) == 1
    started = time.perf_counter()
    assert client.flush(root, wait=True, timeout=0.3) == (0, 1), "kept for later"
    assert time.perf_counter() - started < 3


def test_a_check_with_the_room_down_gives_the_same_verdict_and_the_result_goes_later(book, room):
    edit_cell(learner_notebook(book), "kata", append_to_kata_cell("# my first idea"))
    kata(book, "join", room, "--name", "Ada", check=0)
    saved = json.loads(client.room_file(book).read_text())
    client.room_file(book).write_text(json.dumps({**saved, "url": "http://127.0.0.1:9"}))  # the room is down
    down = json.loads(kata(book, "check", "1", "--json", check=1).stdout)
    assert down["status"] == "failed" and {t["name"] for t in down["tests"] if t["status"] == "failed"} == set(FIRST.fails)
    assert client.flush(book, wait=True, timeout=0.2) == (0, 1), "kept while the room is down"
    assert _summary(room)["katas"][0]["failing"] == 0
    client.room_file(book).write_text(json.dumps(saved))  # the room is back
    done = kata(book, "room", "flush", check=0)  # (or the next event's sender: whichever comes first)
    assert "still queued 0" in done.stdout and not client.queued(book)
    first = _summary(room)["katas"][0]
    assert first["failing"] == 1 and first["common_failure"]["test"] in FIRST.fails
    sent = json.dumps(_summary(room))
    assert "my first idea" not in sent, "never the learner's code"


def test_what_the_room_refuses_is_set_aside_with_the_reason(tmp_path, room):
    client.room_file(tmp_path).parent.mkdir(parents=True)
    client.room_file(tmp_path).write_text(json.dumps({"url": room, "name": "Ada", "token": "1.forged"}))
    client.record_event(tmp_path, FIRST.id, "hint", {"hint": 1})
    for _ in range(100):
        if not client.queued(tmp_path):
            break
        time.sleep(0.05)
    refused = list((tmp_path / ".kata" / "outbox" / "refused").glob("*.reason"))
    assert not client.queued(tmp_path) and len(refused) == 1 and "401" in refused[0].read_text()


def test_the_shared_folder_transport_reaches_the_same_summary(book, tmp_path, monkeypatch):
    folder = tmp_path / "shared-room"
    folder.mkdir()
    kata(book, "join", str(folder), "--name", "Ada", check=0)
    kata(book, "hint", "1", check=0)
    failing = [{"name": FIRST.fails[0], "status": "failed", "finding": {"observed": "It was not.", "why": "..."}}]
    client.record_event(book, FIRST.id, "check", {"state": "failing", "attempts": 1, "hint": 1}, failing)
    assert client.flush(book, wait=True) == (0, 0) or not client.queued(book)
    assert len(list((folder / "results").rglob("*.json"))) == 2
    _settings(monkeypatch, tmp_path / "room-data", folder)
    with TestClient(build()) as room:
        for _ in range(200):  # the room reads the folder every 0.05 s here
            data = room.get("/api/summary", headers={"Authorization": f"Bearer {TEACHER}"}).json()
            # The first scan may still be writing when the first summary is read: wait for all of it.
            if data["learners"] == 1 and data["katas"][0]["failing"] == 1:
                break
            time.sleep(0.05)
        assert data["learners"] == 1 and data["class"][0]["name"] == "Ada" and data["katas"][0]["failing"] == 1, data
        assert data["stuck"][0]["hint"] == 1
        assert room.post(f"/api/katas/{FIRST.id}/reveal", headers={"Authorization": f"Bearer {TEACHER}"}).status_code == 200
    assert "What to remember" in (folder / "reveals" / f"{FIRST.id}.md").read_text()


def test_the_notebooks_hints_and_checks_reach_the_room_too(book, tmp_path):
    """What the notebook's buttons and check cell call (kata.help), run in the learner's workspace."""
    folder = tmp_path / "shared-room"
    folder.mkdir()
    kata(book, "join", str(folder), "--name", "Ada", check=0)
    code = ("from kata import help as h; h.open_hint('lifespan', 1); h.checked_in_notebook('lifespan', False); "
            "from kata.room.client import flush; from pathlib import Path; flush(Path('..'), wait=True)")
    import os
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", code], cwd=book / "workspace", capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(book)})
    assert done.returncode == 0, done.stderr
    sent = [json.loads(p.read_text()) for p in (folder / "results").rglob("*.json")]
    assert sorted(r["kind"] for r in sent) == ["check", "hint"] and all(r["kata"] == FIRST.id for r in sent)
    assert next(r for r in sent if r["kind"] == "check")["status"] == "failed"


def test_joining_a_room_that_is_not_there_says_what_to_check(tmp_path):
    from tests.conftest import WORKBOOK, copy_workbook

    book = copy_workbook(tmp_path, *WORKBOOK)
    done = kata(book, "join", "http://127.0.0.1:9", "--name", "Ada", check=2)
    assert "Cannot reach the room at http://127.0.0.1:9" in done.stderr and "kata room serve" in done.stderr
    done = kata(book, "join", str(tmp_path / "nowhere"), "--name", "Ada", check=2)
    assert "is not a folder" in done.stderr
    assert "has not joined a room" in kata(book, "room", "flush", check=2).stderr
    assert "No room database" in kata(book, "room", "report", check=2).stderr
    assert not client.room_file(book).exists()
