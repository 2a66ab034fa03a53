"""The room's API in-process (TestClient runs its lifespan): what it stores, and everything it
refuses, with nothing stored and nothing lost: malformed and oversized bodies, forged or missing
tokens, unknown katas, a learner reaching for the teacher's view."""

import json
import sqlite3
import uuid
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from kata.room.app import build
from kata.room.settings import RoomSettings
from tests.conftest import KATAS, ROOT

TEACHER = "teacher-secret-" + "x" * 20
FIRST = KATAS[0]


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("KATA_ROOM_TEACHER_TOKEN", TEACHER)
    monkeypatch.setenv("KATA_ROOM_DATA", str(tmp_path / "room"))
    monkeypatch.setenv("KATA_ROOM_WORKBOOK", str(ROOT))
    monkeypatch.setenv("KATA_ROOM_TRACK", "full")
    return tmp_path / "room"


@pytest.fixture
def room(env):
    with TestClient(build()) as client:
        yield client


def rows(data, table: str) -> int:
    with sqlite3.connect(data / "room.sqlite3") as db:
        return db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def joined(room, name="Ada") -> dict:
    answer = room.post("/api/join", json={"name": name})
    assert answer.status_code == 201, answer.text
    return {"Authorization": f"Bearer {answer.json()['token']}"}


def result(kata=FIRST.id, status="failed", **extra) -> dict:
    failing = [{"test": FIRST.fails[0], "sentence": "The engine is disposed", "observed": "It was not."}] if status == "failed" else []
    return {"uid": uuid.uuid4().hex, "kata": kata, "kind": "check", "status": status, "failing": failing,
            "attempts": 1, "hint": 0, "first_check": "2026-11-30T10:00:00Z", "last_check": "2026-11-30T10:00:00Z",
            "at": datetime.now(UTC).isoformat(), **extra}


def summary(room) -> dict:
    answer = room.get("/api/summary", headers={"Authorization": f"Bearer {TEACHER}"})
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_the_room_refuses_to_start_without_the_teachers_token(env, monkeypatch):
    monkeypatch.delenv("KATA_ROOM_TEACHER_TOKEN")
    with pytest.raises(ValidationError, match="teacher_token"):
        RoomSettings()
    monkeypatch.setenv("KATA_ROOM_TEACHER_TOKEN", "short")
    with pytest.raises(ValidationError, match="teacher_token"):
        RoomSettings()


def test_alive_ready_and_a_learners_results_reach_the_summary(room, env):
    assert room.get("/livez").json() == {"status": "alive"} and room.get("/readyz").json() == {"status": "ready"}
    ada, bob = joined(room, "Ada"), joined(room, "Bob")
    assert room.post("/api/results", json={"results": [result()]}, headers=ada).json() == {"stored": 1, "already": 0}
    assert room.post("/api/results", json={"results": [result(status="passed")]}, headers=bob).status_code == 200
    data = summary(room)
    first = data["katas"][0]
    assert data["learners"] == 2 and (first["done"], first["failing"], first["not_started"]) == (1, 1, 0)
    assert first["common_failure"]["sentence"] == "The engine is disposed"
    assert data["most_common_failure"]["test"] == FIRST.fails[0]
    assert [s["learner"] for s in data["stuck"]] == ["Ada"] and data["stuck"][0]["sentence"] == "The engine is disposed"
    assert [l["name"] for l in data["class"]] == ["Ada", "Bob"]
    assert data["katas"][1]["not_started"] == 2


def test_a_result_sent_twice_counts_once(room, env):
    ada = joined(room)
    once = result()
    room.post("/api/results", json={"results": [once]}, headers=ada)
    assert room.post("/api/results", json={"results": [once]}, headers=ada).json() == {"stored": 0, "already": 1}
    assert rows(env, "results") == 1 and summary(room)["katas"][0]["failing"] == 1


def test_an_older_result_arriving_late_does_not_undo_a_newer_one(room, env):
    ada = joined(room)
    earlier = result(at="2026-11-30T10:00:00+00:00")
    later = result(status="passed", at="2026-11-30T10:05:00+00:00")
    room.post("/api/results", json={"results": [later]}, headers=ada)
    room.post("/api/results", json={"results": [earlier]}, headers=ada)
    assert summary(room)["katas"][0]["done"] == 1 and rows(env, "results") == 2


@pytest.mark.parametrize("headers", [
    {}, {"Authorization": "Bearer "}, {"Authorization": "Bearer 1.forged"}, {"Authorization": "Bearer 999.x"},
    {"Authorization": "Bearer not-a-token"}, {"Authorization": f"Bearer {TEACHER}"}, {"Authorization": "Basic YTpi"},
], ids=["missing", "empty", "forged-secret", "unknown-learner", "garbage", "teachers-token", "basic"])
def test_forged_or_missing_learner_tokens_store_nothing(room, env, headers):
    joined(room)
    answer = room.post("/api/results", json={"results": [result()]}, headers=headers)
    assert answer.status_code == 401 and rows(env, "results") == 0


def test_a_learner_can_only_write_their_own_results_and_never_read_the_class(room, env):
    ada = joined(room)
    assert room.get("/api/summary", headers=ada).status_code == 401
    assert room.get("/api/summary").status_code == 401
    assert room.post(f"/api/katas/{FIRST.id}/reveal", headers=ada).status_code == 401
    room.post("/api/results", json={"results": [result()]}, headers=ada)
    with sqlite3.connect(env / "room.sqlite3") as db:
        assert db.execute("SELECT DISTINCT learner_id FROM results").fetchall() == [(1,)]
        assert all(len(h) == 64 for (h,) in db.execute("SELECT token_hash FROM learners")), "only hashes are kept"


@pytest.mark.parametrize("body", [
    b"{not json", b"[]", b'{"results": []}', b'{"results": [{}]}',
    json.dumps({"results": [result(status="maybe")]}).encode(),
    json.dumps({"results": [result(hint=9)]}).encode(),
    json.dumps({"results": [result(code="print('my solution')")]}).encode(),  # no field for code, ever
    json.dumps({"results": [result(uid="../../etc")]}).encode(),
    json.dumps({"results": [result(at="yesterday")]}).encode(),
    json.dumps({"results": [result(at="2026-11-30T10:00:00")]}).encode(),  # a time without its zone
    json.dumps({"results": [result(failing=[{"test": "t", "sentence": "s" * 5000}])]}).encode(),
    json.dumps({"results": [result() for _ in range(51)]}).encode(),
], ids=["malformed", "list", "empty", "empty-result", "status", "hint", "extra-field", "uid", "time", "naive-time",
        "long-text", "too-many"])
def test_malformed_results_are_refused_with_422_and_nothing_stored(room, env, body):
    ada = joined(room)
    answer = room.post("/api/results", content=body, headers={**ada, "Content-Type": "application/json"})
    assert answer.status_code == 422 and rows(env, "results") == 0


def test_an_unknown_kata_refuses_the_whole_batch(room, env):
    ada = joined(room)
    answer = room.post("/api/results", json={"results": [result(), result(kata="no-such-kata")]}, headers=ada)
    assert answer.status_code == 422 and "no-such-kata" in answer.json()["detail"] and rows(env, "results") == 0
    assert room.post("/api/katas/no-such-kata/reveal", headers={"Authorization": f"Bearer {TEACHER}"}).status_code == 404


def test_oversized_bodies_are_refused_whether_declared_or_streamed(room, env):
    ada = joined(room)
    big = json.dumps({"results": [result()], "padding": "x" * 70_000}).encode()
    assert room.post("/api/results", content=big, headers={**ada, "Content-Type": "application/json"}).status_code == 413

    def chunks():  # no Content-Length: the limit holds on what arrives
        for _ in range(80):
            yield b" " * 1024

    assert room.post("/api/results", content=chunks(), headers={**ada, "Content-Type": "application/json"}).status_code == 413
    assert room.post("/api/join", content=b'{"name": "' + b"a" * 70_000 + b'"}').status_code == 413
    assert rows(env, "results") == 0 and rows(env, "learners") == 1
    assert room.get("/readyz").status_code == 200, "the room is fine afterwards"


@pytest.mark.parametrize("name", ["", " ", "a" * 41, "<script>", "Ada\nBob", "../x"])
def test_bad_names_cannot_join(room, env, name):
    assert room.post("/api/join", json={"name": name}).status_code == 422 and rows(env, "learners") == 0


def test_a_taken_name_is_refused(room, env):
    joined(room, "Ada")
    assert room.post("/api/join", json={"name": "Ada"}).status_code == 409 and rows(env, "learners") == 1


def test_walkthroughs_are_held_until_the_teacher_reveals_them(room, env):
    ada, teacher = joined(room), {"Authorization": f"Bearer {TEACHER}"}
    assert room.get(f"/api/katas/{FIRST.id}/walkthrough", headers=ada).status_code == 403
    assert room.get("/api/reveals", headers=ada).json() == {"revealed": []}
    assert room.post(f"/api/katas/{FIRST.id}/reveal", headers=teacher).status_code == 200
    answer = room.get(f"/api/katas/{FIRST.id}/walkthrough", headers=ada)
    assert answer.status_code == 200 and "What to remember" in answer.json()["text"]
    assert room.get("/api/reveals", headers=ada).json() == {"revealed": [FIRST.id]}
    assert summary(room)["katas"][0]["revealed"] is True
    assert room.get(f"/api/katas/{FIRST.id}/walkthrough").status_code == 401


def test_the_teacher_page_is_served_and_logs_never_hold_a_token(room, env, capfd):
    page = room.get("/teacher")
    assert page.status_code == 200 and "/api/summary" in page.text and TEACHER not in page.text
    ada = joined(room)
    room.get(f"/api/summary?token={TEACHER}", headers={"Authorization": f"Bearer {TEACHER}"})
    room.post("/api/results", json={"results": [result()]}, headers=ada)
    logged = capfd.readouterr().err
    lines = [json.loads(line) for line in logged.splitlines() if line.startswith("{")]
    assert {"joined", "results", "request"} <= {line["event"] for line in lines}
    assert TEACHER not in logged and ada["Authorization"].split(" ")[1] not in logged


def test_a_room_too_busy_to_write_soon_says_so_at_once_and_stores_nothing(room, env):
    from kata.room.app import WAITING_LIMIT

    ada = joined(room)
    app = room.app.app.app  # inside the access log and the body limit
    app.state.waiting = WAITING_LIMIT  # as many requests as it takes are already waiting to write
    answer = room.post("/api/results", json={"results": [result()]}, headers=ada)
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "2" and rows(env, "results") == 0
    app.state.waiting = 0
    assert room.post("/api/results", json={"results": [result()]}, headers=ada).status_code == 200
