"""The deployment katas start real servers: no check leaves one running, whether it fails, runs
out of time or is stopped with Ctrl+C. Every process a check starts inherits a mark in its
environment, so what is left of a check can be found in /proc, whatever it is called."""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import KATAS, as_a_terminal_starts_it, edit_cell, kata, learner_notebook, set_source

DEPLOY = [pytest.param(number, id=k.id) for number, k in enumerate(KATAS, 1) if "deploy" in k.module.lower()]
MARK = "KATA_TEST_PROCESS_MARK"


def _marked(mark: str) -> list[str]:
    """The processes (pid and command line) whose environment carries ``mark``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if f"{MARK}={mark}".encode() in (entry / "environ").read_bytes().split(b"\0"):
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                if (entry / "stat").read_text().split(") ", 1)[-1][:1] != "Z":
                    found.append(f"{entry.name}: {command.strip()}")
        except OSError:  # ended meanwhile, or not ours to read
            continue
    return found


def _left_behind(mark: str) -> list[str]:
    # A group's last members may still be on their way out when the command returns: give them
    # a moment, bounded, and report whatever is still there then.
    for _ in range(50):
        if not (left := _marked(mark)):
            return []
        time.sleep(0.1)
    return left


pytestmark = pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="reads /proc (Linux)")


@pytest.mark.parametrize("number", DEPLOY)
def test_a_failing_check_leaves_no_process_behind(book, number, monkeypatch):
    mark = uuid.uuid4().hex
    monkeypatch.setenv(MARK, mark)
    done = kata(book, "check", str(number), timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    assert not _left_behind(mark)


def _started(book, mark: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "kata.cli", "check", *args], cwd=book, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=as_a_terminal_starts_it,
                            env={**os.environ, "PYTHONPATH": str(book), MARK: mark})


def _wait_for_a_server(mark: str) -> None:
    for _ in range(300):  # bounded: the check starts its first server within seconds
        if any("uvicorn" in line or "fastapi" in line for line in _marked(mark)):
            return
        time.sleep(0.05)
    pytest.fail("the check never started a server")


def test_a_check_stopped_with_ctrl_c_leaves_no_process_behind(book):
    # A server that listens on a Unix socket, never on the port the check waits for: the check is
    # still waiting for it (15 s at most) when Ctrl+C comes, however soon it would have ended.
    number = DEPLOY[0].values[0]
    command = 'CMD = ["uvicorn", "shop:app", "--uds", "shop.sock"]\n'
    edit_cell(learner_notebook(book, number), "kata", set_source(command))
    mark = uuid.uuid4().hex
    process = _started(book, mark, str(number))
    _wait_for_a_server(mark)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130 and err.strip() == "Stopped.", out + err
    assert not _left_behind(mark)


def test_a_check_that_runs_out_of_time_leaves_no_process_behind(book):
    mark = uuid.uuid4().hex
    process = _started(book, mark, str(DEPLOY[0].values[0]), "--timeout", "1")
    out, err = process.communicate(timeout=60)
    assert process.returncode != 0 and "Traceback" not in out + err, out + err
    assert not _left_behind(mark)
