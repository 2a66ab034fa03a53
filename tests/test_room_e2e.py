"""The room for real: `kata room serve` as its own process on 127.0.0.1, three learners with workspaces
of their own joining it and running real `kata check`s and hints, and the teacher's page in
Debian's headless Chromium (Playwright), live, with a walkthrough revealed from it. Then the room
is closed and the reports are written. Screenshot: artifacts/room/teacher-page.png."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import KATAS, ROOT, WORKBOOK, append_to_kata_cell, copy_workbook, edit_cell, kata, learner_notebook

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
ARTIFACTS = ROOT / "artifacts" / "room"
FIRST = KATAS[0]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _workbook(folder: Path) -> Path:
    folder.mkdir()
    return copy_workbook(folder, *WORKBOOK, "tracks")


@pytest.fixture
def served(tmp_path):
    """`kata room serve` in the teacher's workbook; yields (address, teacher token, teacher's workbook)."""
    teacher = _workbook(tmp_path / "teacher")
    port = _free_port()
    log = (tmp_path / "room.log").open("w")
    server = subprocess.Popen([sys.executable, "-m", "kata.cli", "room", "serve", "--port", str(port), "--track", "workshop-3h"],
                              cwd=teacher, stdout=subprocess.PIPE, stderr=log, text=True, start_new_session=True,
                              env={**os.environ, "PYTHONPATH": str(teacher)})
    try:
        printed = ""
        for line in server.stdout:  # it prints the join command and the page's address, then serves
            printed += line
            if "#token=" in line:
                break
        token = printed.split("#token=")[1].split()[0]
        assert f"kata join http://127.0.0.1:{port} --name" in printed
        url = f"http://127.0.0.1:{port}"
        for _ in range(200):  # a bounded wait for it to answer
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        yield url, token, teacher, server
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
        log.close()


def _summary(url, token):
    return httpx.get(f"{url}/api/summary", headers={"Authorization": f"Bearer {token}"}, timeout=5).json()


@pytest.mark.long
def test_three_learners_check_and_the_teacher_watches_reveals_and_reports(served, tmp_path):
    url, token, teacher, server = served
    learners = {name: _workbook(tmp_path / name.lower()) for name in ("Ada", "Bob", "Cy")}
    for name, book in learners.items():
        kata(book, "update", "--quiet", check=0)
        kata(book, "join", url, "--name", name, check=0)
    shutil.copyfile(FIRST.solution, learner_notebook(learners["Ada"]))
    for name in ("Bob", "Cy"):
        edit_cell(learner_notebook(learners[name]), "kata", append_to_kata_cell(f"# {name}'s first idea"))
    kata(learners["Cy"], "hint", "1", check=0)
    kata(learners["Cy"], "hint", "1", check=0)
    env = {**os.environ}
    checks = {name: subprocess.Popen([sys.executable, "-m", "kata.cli", "check", "1"], cwd=book, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**env, "PYTHONPATH": str(book)})
              for name, book in learners.items()}
    verdicts = {name: (p.wait(timeout=180), p.stdout.read()) for name, p in checks.items()}
    assert [verdicts[n][0] for n in ("Ada", "Bob", "Cy")] == [0, 1, 1], verdicts

    for _ in range(300):  # the results arrive in the background, within moments
        first = _summary(url, token)["katas"][0]
        if (first["done"], first["failing"]) == (1, 2):
            break
        time.sleep(0.1)
    data = _summary(url, token)
    assert (first["done"], first["failing"], first["not_started"]) == (1, 2, 0), data
    assert {s["learner"] for s in data["stuck"]} == {"Bob", "Cy"}
    assert data["most_common_failure"]["test"] in FIRST.fails and data["most_common_failure"]["learners"] == 2
    assert "first idea" not in json.dumps(data), "never the learner's code"

    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("CI must have Debian's chromium (.ci/run installs it)", pytrace=False)
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("dialog", lambda dialog: dialog.accept())
            page.goto(f"{url}/teacher#token={token}")
            row = page.locator(f'#katas tr[data-kata="{FIRST.id}"]')
            row.locator(".done-count", has_text="1").wait_for(timeout=15_000)
            assert row.locator(".failing-count").inner_text() == "2"
            assert page.locator("#stuck").inner_text().count("The engine belongs to the lifespan") == 2
            assert data["most_common_failure"]["sentence"] in page.locator("#common").inner_text()
            assert "3 learner(s)" in page.locator("#status").inner_text()
            page.screenshot(path=str(ARTIFACTS / "teacher-page.png"), full_page=True)

            # Live: Bob fixes it; the page shows it without a reload.
            shutil.copyfile(FIRST.solution, learner_notebook(learners["Bob"]))
            kata(learners["Bob"], "check", "1", check=0)
            row.locator(".done-count", has_text="2").wait_for(timeout=15_000)

            row.locator("button.reveal").click()
            row.get_by_text("revealed").wait_for(timeout=10_000)
            page.screenshot(path=str(ARTIFACTS / "teacher-page-revealed.png"), full_page=True)
        finally:
            browser.close()
    answer = httpx.get(f"{url}/api/katas/{FIRST.id}/walkthrough", timeout=5,
                       headers={"Authorization": f"Bearer {json.loads((learners['Cy'] / '.kata' / 'room.json').read_text())['token']}"})
    assert answer.status_code == 200 and "What to remember" in answer.json()["text"]

    os.killpg(server.pid, signal.SIGINT)  # Ctrl+C: the workshop ends; the reports come from the room's database
    assert server.wait(timeout=15) in (0, 130), "closed cleanly"
    assert '"event": "room stopped"' in (tmp_path / "room.log").read_text(), "the lifespan disposed of the engine"
    report = kata(teacher, "room", "report", "--track", "workshop-3h", check=0).stdout
    assert "| 1 | The engine belongs to the lifespan | 2 | 1 | 0 |" in report and "Cy" in report
    rows = kata(teacher, "room", "report", "--format", "csv", check=0).stdout.splitlines()
    assert rows[0].startswith("learner,number,kata") and any(r.startswith("Cy,1,lifespan") and ",failing," in r for r in rows)
    mine = kata(learners["Ada"], "report", check=0).stdout
    assert "# Progress of Ada" in mine and "| 1 | The engine belongs to the lifespan | done | 1 |" in mine
