"""The deployment katas start real servers: no `kata check` leaves one running, whether it fails,
runs out of time or is stopped with Ctrl+C (the two-sided test finds none left by any variant of
any kata, checked in-process). See ``tests.conftest.left_behind``."""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import (KATAS, MARK, as_a_terminal_starts_it, edit_cell, kata, learner_notebook, left_behind,
                            marked, set_source)

# The first deployment kata: its starter fails, and its check starts a real server.
FIRST_DEPLOY = next(k.number for k in KATAS if "deploy" in k.module.lower())
pytestmark = pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="reads /proc (Linux)")


def test_a_failing_check_leaves_no_process_behind(book, monkeypatch):
    mark = uuid.uuid4().hex
    monkeypatch.setenv(MARK, mark)
    done = kata(book, "check", str(FIRST_DEPLOY), timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    assert not left_behind(mark)


def _started(book, mark: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "kata.cli", "check", *args], cwd=book, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=as_a_terminal_starts_it,
                            env={**os.environ, "PYTHONPATH": str(book), MARK: mark})


def _wait_for_a_server(mark: str) -> None:
    for _ in range(300):  # bounded: the check starts its first server within seconds
        if any("uvicorn" in line or "fastapi" in line for line in marked(mark)):
            return
        time.sleep(0.05)
    pytest.fail("the check never started a server")


def test_a_check_stopped_with_ctrl_c_leaves_no_process_behind(book):
    # A server that listens on a Unix socket, never on the port the check waits for: the check is
    # still waiting for it (15 s at most) when Ctrl+C comes, however soon it would have ended.
    command = 'CMD = ["uvicorn", "shop:app", "--uds", "shop.sock"]\n'
    edit_cell(learner_notebook(book, FIRST_DEPLOY), "kata", set_source(command))
    mark = uuid.uuid4().hex
    process = _started(book, mark, str(FIRST_DEPLOY))
    _wait_for_a_server(mark)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130 and err.strip() == "Stopped.", out + err
    assert not left_behind(mark)


def test_a_check_that_runs_out_of_time_leaves_no_process_behind(book):
    mark = uuid.uuid4().hex
    process = _started(book, mark, str(FIRST_DEPLOY), "--timeout", "1")
    out, err = process.communicate(timeout=60)
    assert process.returncode != 0 and "Traceback" not in out + err, out + err
    assert not left_behind(mark)
