"""End to end in a real browser: JupyterLab started as the README starts it, driven by
Playwright in Debian's headless Chromium. Open the first kata, Run All, read the failing check,
open the first hint, fix the kata cell, Run All again, see it pass and the walkthrough open.
Screenshots go to artifacts/browser/."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import KATAS, ROOT, WORKBOOK, copy_workbook

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
         "--disable-component-update", "--disable-sync", "--disable-quic"]
ARTIFACTS = ROOT / "artifacts" / "browser"
KATA = KATAS[0]

if not CHROMIUM.exists():
    if os.environ.get("CI"):
        pytest.fail("CI must have Debian's chromium (.ci/run installs it)", pytrace=False)
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def lab(tmp_path):
    """`python3 workbook.py lab` on a copy of the workbook that shares this environment."""
    copy_workbook(tmp_path, *WORKBOOK, "workbook.py", "pyproject.toml", "requirements.lock")
    # This environment, as the copy's own: its programs, and a stamp saying it is up to date, so
    # workbook.py installs nothing (an install would point the shared environment at this copy).
    venv = tmp_path / ".venv"
    venv.mkdir()
    (venv / "bin").symlink_to(Path(sys.prefix) / "bin")
    fingerprint = subprocess.run([sys.executable, "-c", "import workbook; print(workbook._fingerprint())"],
                                 cwd=tmp_path, capture_output=True, text=True, check=True).stdout.strip()
    (venv / ".workbook-stamp").write_text(fingerprint)
    port = _free_port()
    command = [sys.executable, "workbook.py", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
               "--IdentityProvider.token=", "--ServerApp.password=", "--allow-root",
               f"--LabApp.workspaces_dir={tmp_path / 'lab-workspaces'}"]
    log = (tmp_path / "lab.log").open("w")
    # The kernel imports this copy's checks and harness, so its marks go to this copy's .kata/.
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    server = subprocess.Popen(command, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):  # a bounded wait for the server to come up, not a speed test
            if server.poll() is not None:
                pytest.fail(f"JupyterLab exited: {(tmp_path / 'lab.log').read_text()[-2000:]}")
            try:
                urllib.request.urlopen(f"{url}/api/status", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        yield url, tmp_path
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
        log.close()


def _kata_cell(path: Path) -> tuple[int, str]:
    cells = json.loads(path.read_text())["cells"]
    index = next(i for i, c in enumerate(cells) if "kata" in c["metadata"].get("tags", []))
    return index, "".join(cells[index]["source"])


def _run_all(page) -> None:
    page.locator(".lm-MenuBar-item", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()


def _check_output(page, pattern: str):
    """Wait until an output matches ``pattern`` (the check's summary line); return that output.
    textContent, not innerText: JupyterLab skips rendering the cells out of view, and an output
    that is not rendered has no innerText while Run All moves on to the cells below it."""
    page.wait_for_function(
        "(pattern) => [...document.querySelectorAll('.jp-OutputArea-output')].some(e => new RegExp(pattern, 'm').test(e.textContent))",
        arg=pattern, timeout=180_000,
    )
    output = page.locator(".jp-OutputArea-output").filter(has_text=re.compile(pattern, re.M)).last
    output.scroll_into_view_if_needed()
    return output


def _visible(page, text: str) -> bool:
    return page.locator(".jp-OutputArea-output", has_text=text).count() > 0


@pytest.mark.long
def test_a_learner_fixes_the_first_kata_in_jupyterlab(lab):
    from playwright.sync_api import sync_playwright

    url, workbook = lab
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    relative = KATA.notebook.relative_to(ROOT / "notebooks").as_posix()
    index, _ = _kata_cell(KATA.notebook)
    _, solution = _kata_cell(KATA.solution)
    help_texts = json.loads(KATA.notebook.read_text())["metadata"]["kata"]["help"]
    first_hint = help_texts["hints"][0]["text"].split("\n")[0][:40]
    remember = help_texts["walkthrough"].split("### What to remember", 1)[1].strip().split("\n")[0].lstrip("- ").replace("`", "")[:30]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{url}/lab/tree/{relative}")
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
            page.wait_for_function(
                "() => (document.querySelector('#jp-main-statusbar')?.innerText || '').includes('Idle')", timeout=120_000)
            assert page.locator("text=official Jupyter news").count() == 0, "JupyterLab asked about news"

            _run_all(page)
            output = _check_output(page, rf"{len(KATA.fails)} of \d+ tests fail")
            text = output.inner_text()
            assert "Observed: GET /featured answered 500" in text and "Why it matters:" in text
            assert "Traceback" not in text and "checks/" not in text
            button = page.get_by_role("button", name="Show hint 1: a nudge")
            button.wait_for(timeout=60_000)
            assert not _visible(page, first_hint) and not _visible(page, remember), "help shows unasked"
            page.screenshot(path=str(ARTIFACTS / "01-starter-check-fails.png"))

            button.click()
            page.locator(".jp-OutputArea-output", has_text=first_hint).first.wait_for(timeout=30_000)
            page.get_by_role("button", name="Show hint 2: the concept").wait_for(timeout=30_000)
            progress = json.loads((workbook / ".kata" / "progress.json").read_text())
            assert progress["katas"][KATA.id]["hint"] == 1, "the notebook recorded the hint level"
            page.screenshot(path=str(ARTIFACTS / "02-first-hint-open.png"))

            editor = page.locator(".jp-Notebook .jp-Cell").nth(index).locator(".cm-content")
            editor.scroll_into_view_if_needed()
            editor.click()
            page.keyboard.press("Control+A")
            page.keyboard.insert_text(solution)
            page.keyboard.press("Escape")
            page.keyboard.press("Control+S")
            _run_all(page)
            output = _check_output(page, r"Passed: all \d+ tests pass")
            assert "✗" not in output.inner_text()
            page.locator(".jp-OutputArea-output", has_text=remember).first.wait_for(timeout=60_000)
            page.screenshot(path=str(ARTIFACTS / "03-solution-passes-walkthrough-open.png"))
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "failure.png"))
            raise
        finally:
            browser.close()
    progress = json.loads((workbook / ".kata" / "progress.json").read_text())["katas"][KATA.id]
    assert progress["state"] == "done" and progress["attempts"] >= 1, progress
    # What the learner saved is what `kata check` sees: the fix is on disk, and it passes there too.
    done = subprocess.run([sys.executable, "-m", "kata.cli", "check", "1"], cwd=workbook, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(workbook)})
    assert done.returncode == 0, done.stdout + done.stderr
