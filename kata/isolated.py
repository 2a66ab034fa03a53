"""Run a check in a process of its own, which the command ends, with everything it started.

A learner's cell can do anything: loop for ever, start threads or servers that never stop, end
the process, print. So ``kata check``, ``watch`` and ``verify`` run each check in a child process
in a session of its own, and talk to it over a pipe only: the child says what it is running
(each cell, each test) and, at the end, the verdict as JSON. The parent waits for the verdict
within the time limit, then ends the child's whole process group. No verdict means no pass: a
child that exits, crashes or runs out of time is reported with the cell or test it was in. The
child's temporary files go to a folder of its own, which the parent removes: a child that is
ended never runs its own clean-up.

Where it can, the parent forks: a parent that has already imported the libraries (``watch``,
``verify``) hands each child a warm interpreter, and a check starts at once. A parent with
threads cannot fork safely; it starts ``python -m kata.isolated`` instead.
"""

import contextlib
import gc
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict
from pathlib import Path

from kata import KataError, listen_to_phases
from kata.manifest import Kata, find_root, load, lookup


def warm_up(katas: list[Kata], *, first_uses: bool = True) -> None:
    """Import what these katas' checks need, once, so that forked children start warm; with
    ``first_uses``, also run a small suite of the workbook's own (``checks.mutation.WARM_UP``), so
    that no child pays the first pytest session, lifespan and request itself (60-80 ms a check).
    A process that runs one check only (a spawned child) gains nothing from that."""
    gc.disable()
    try:
        from kata.runner import import_check

        for kata in katas:
            with contextlib.suppress(KataError):
                import_check(kata)
        if first_uses:
            from checks.mutation import warm_up as make_the_first_uses

            make_the_first_uses()
    finally:
        gc.freeze()  # imported objects are never garbage: keep them out of every later collection
        gc.enable()


def _child(kata: Kata, notebook: Path, level: int, channel: int) -> None:
    out = os.fdopen(channel, "w", buffering=1, encoding="utf-8")

    def send(message: dict) -> None:
        out.write(json.dumps(message) + "\n")
        out.flush()

    listen_to_phases(lambda phase: send({"phase": phase}))
    try:
        warm_up([kata], first_uses=False)  # a forked child's parent has made them; a spawned one runs one check
        from kata.runner import run_check

        send({"result": asdict(run_check(kata, notebook, level=level))})
    except KataError as error:
        send({"error": str(error)})
    except BaseException as error:  # noqa: BLE001 - whatever happened, the parent must hear of it
        send({"error": f"The check could not run ({type(error).__name__}: {error}). This is a problem in "
                       "the workbook, not in your notebook: run `kata doctor`, and report it."})


def _start(kata: Kata, notebook: Path, level: int, quiet: bool, scratch: str) -> tuple[int, int, subprocess.Popen | None]:
    """Start the child, with ``scratch`` as its temporary folder; returns (pid, the read end of
    its channel, the Popen when spawned)."""
    reading, writing = os.pipe()
    if hasattr(os, "fork") and threading.active_count() == 1:
        pid = os.fork()
        if pid == 0:  # the child: never returns into the parent's code
            try:
                _interrupts(signal.SIG_UNBLOCK)
                os.close(reading)
                os.setsid()
                os.environ["TMPDIR"] = tempfile.tempdir = scratch
                os.environ["KATA_SERVERS"] = os.path.join(scratch, "servers")
                if quiet:
                    devnull = os.open(os.devnull, os.O_WRONLY)
                    os.dup2(devnull, 1)
                    os.dup2(devnull, 2)
                _child(kata, notebook, level, writing)
            finally:
                os._exit(0)
        os.close(writing)
        return pid, reading, None
    output = subprocess.DEVNULL if quiet else None
    process = subprocess.Popen(
        [sys.executable, "-m", "kata.isolated", str(find_root(kata.notebook.parent)), kata.id, str(notebook),
         str(level), str(writing)],
        pass_fds=[writing], start_new_session=True, stdout=output, stderr=output, stdin=subprocess.DEVNULL,
        env={**os.environ, "TMPDIR": scratch, "KATA_SERVERS": os.path.join(scratch, "servers")},
    )
    os.close(writing)
    return process.pid, reading, process


def _end(pid: int, process: subprocess.Popen | None) -> int | None:
    """End the child and everything in its process group; its wait status."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    if process is not None:
        process.wait()
        return process.returncode
    with contextlib.suppress(ChildProcessError):
        return os.waitpid(pid, 0)[1]
    return None


def _interrupts(how: int) -> None:
    """Hold back Ctrl+C (``signal.SIG_BLOCK``) or let it through again (``SIG_UNBLOCK``)."""
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(how, {signal.SIGINT})


def run_isolated(kata: Kata, notebook: Path, *, timeout: float, level: int = 0, quiet: bool = True) -> dict:
    """The check's result: ``status`` passed, failed, error or timeout; ``tests``; ``error``."""
    again = f"Fix it, save the notebook, and run `kata check {kata.number}` again."
    scratch = tempfile.mkdtemp(prefix="kata-check-")
    pid = reading = process = None
    phase, pending, message = "the check", b"", None
    deadline = time.monotonic() + timeout
    # A Ctrl+C while the child starts would leave it running, unknown to this process: it is held
    # back until the child is known, then ends the child like any other.
    _interrupts(signal.SIG_BLOCK)
    try:
        pid, reading, process = _start(kata, notebook, level, quiet, scratch)
        _interrupts(signal.SIG_UNBLOCK)
        while message is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return {"kata": kata.id, "status": "timeout", "tests": [], "error": (
                    f"The check was stopped after {timeout:g} s in {phase}, which never finished. Is there an "
                    f"infinite loop, or a wait for something that never comes? {again}")}
            ready, _, _ = select.select([reading], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(reading, 1 << 16)
            if not chunk:
                break
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                data = json.loads(line)
                phase = data.get("phase", phase)
                if "result" in data or "error" in data:
                    message = data
    finally:
        _interrupts(signal.SIG_UNBLOCK)
        if reading is not None:
            os.close(reading)
        status = _end(pid, process) if pid is not None else None
        from bookshop.serving import end_noted_servers  # servers the check started: ended with it

        end_noted_servers(os.path.join(scratch, "servers"))
        shutil.rmtree(scratch, ignore_errors=True)
    if message is None:
        how = ""
        if status is not None and os.WIFSIGNALED(status) and os.WTERMSIG(status) != signal.SIGKILL:
            how = f" (it was killed by signal {os.WTERMSIG(status)})"
        return {"kata": kata.id, "status": "error", "tests": [], "error": (
            f"The check ended without a verdict while it ran {phase}: something there ended the Python "
            f"process{how}. A kata cell must let the notebook go on (no os._exit(), no crash). {again}")}
    if "error" in message:
        return {"kata": kata.id, "status": "error", "tests": [], "error": message["error"]}
    result = message["result"]
    return {"kata": kata.id, "status": result["status"], "tests": result["tests"]}


def _spawned(root: str, kata_id: str, notebook: str, level: str, channel: str) -> None:
    _interrupts(signal.SIG_UNBLOCK)  # held back in the parent while it started this process
    os.chdir(root)
    _child(lookup(load(Path(root)), kata_id), Path(notebook), int(level), int(channel))


if __name__ == "__main__":
    try:
        _spawned(*sys.argv[1:6])
    finally:
        os._exit(0)
