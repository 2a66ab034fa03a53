"""The `kata` command against everything a learner's code and files can do wrong: it never says
"passed" to broken code, never hangs, never lets a print into its JSON, never shows a traceback
of its own, and never loses a mark or a cell."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import (KATAS, ROOT, append_to_kata_cell, as_a_terminal_starts_it, edit_cell, kata,
                            learner_notebook, set_source, solve)

FIRST = KATAS[0]


def _solved_plus(book, code: str) -> int:
    """The learner's notebook is the solution plus ``code`` at the end of its kata cell."""
    solve(book)
    return edit_cell(learner_notebook(book), "kata", append_to_kata_cell(code))


def _json(done) -> dict:
    """The one JSON document on stdout: nothing else may be there."""
    return json.loads(done.stdout)


# --- no false pass, ever ----------------------------------------------------------------------------


EXITS = {
    "sys.exit()": "import sys\nsys.exit()",
    "exit()": "exit()",
    "SystemExit(0)": "raise SystemExit(0)",
    "os._exit(0)": "import os\nos._exit(0)",
    "KeyboardInterrupt": "raise KeyboardInterrupt",
}


@pytest.mark.parametrize("code", EXITS.values(), ids=EXITS.keys())
def test_a_cell_that_ends_the_process_is_no_pass_and_is_named(book, code):
    number = _solved_plus(book, code)
    done = kata(book, "check", "1", check=2)
    assert f"cell {number} (the `kata` cell)" in done.stderr and "PASSED" not in done.stdout
    data = _json(kata(book, "check", "1", "--json", check=2))
    assert data["status"] == "error" and f"cell {number} (the `kata` cell)" in data["error"]


@pytest.mark.parametrize("code", EXITS.values(), ids=EXITS.keys())
def test_an_endpoint_that_ends_the_process_during_a_test_is_no_pass(book, code):
    body = "\n".join(f"    {line}" for line in code.splitlines())
    _solved_plus(book, f"from fastapi import Request\n\n\n@app.middleware('http')\nasync def stop(request: Request, call_next):\n{body}\n")
    done = kata(book, "check", "1", "--json")
    data = _json(done)
    assert done.returncode in (1, 2) and data["status"] in ("failed", "error"), data


@pytest.mark.parametrize("code", [
    "import checks.lifespan as c\nfor name in c.__all__:\n    setattr(c, name, lambda *a, **k: None)",
    "import checks.harness as h\nh.passed = lambda results: True\nh._complete = lambda: None",
    "import pytest\n\n@pytest.fixture\ndef shop_db():\n    return 'sqlite+aiosqlite://'",
], ids=["tests-replaced", "harness-patched", "fixture-shadowed"])
def test_a_cell_that_replaces_what_the_check_relies_on_does_not_pass(book, code):
    edit_cell(learner_notebook(book), "kata", append_to_kata_cell(code))  # the starter: it must fail
    data = _json(kata(book, "check", "1", "--json"))
    assert data["status"] in ("failed", "error"), data


def test_watch_does_not_move_on_from_a_cell_that_exits(book):
    _solved_plus(book, "import sys\nsys.exit(0)")
    done = kata(book, "watch", "1", "--max-checks", "1", timeout=120)
    assert "PASSED" not in done.stdout and "=== kata 2" not in done.stdout and "the `kata` cell" in done.stderr


# --- nothing hangs ---------------------------------------------------------------------------------

LEFT_RUNNING = """
import subprocess, threading, time
threading.Thread(target=time.sleep, args=(3600,)).start()  # not a daemon: would hold the process open
SLEEPER = subprocess.Popen(["sleep", "3600"])
open("sleeper.pid", "w").write(str(SLEEPER.pid))
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie is no longer running
        return stat.read().split(")")[-1].split()[0] != "Z"


def test_threads_and_processes_left_running_end_with_the_check(book):
    _solved_plus(book, LEFT_RUNNING)
    done = kata(book, "check", "1", check=0, timeout=60)
    assert "PASSED" in done.stdout
    pid = int((learner_notebook(book).parent / "sleeper.pid").read_text())
    assert not _alive(pid), "the learner's child process outlived the check"


def test_verify_reports_a_kata_that_never_finishes_and_goes_on(book):
    edit_cell(learner_notebook(book, 1), "kata", set_source("while True:\n    pass\n"))
    solve(book, 2)
    data = _json(kata(book, "verify", "1", "2", "--json", "--timeout", "3", check=1, timeout=120))
    first, second = data["katas"]
    assert first["status"] == "timeout" and "cell" in first["error"] and "(the `kata` cell)" in first["error"]
    assert second["status"] == "passed"


@pytest.mark.parametrize("value", ["abc", "-1", "0", "inf", "nan", ""])
def test_timeout_must_be_a_positive_finite_number_of_seconds(book, value):
    done = kata(book, "check", "1", "--timeout", value, check=2)
    assert "--timeout" in done.stderr and "seconds" in done.stderr


def test_ctrl_c_stops_a_check_with_one_line(book):
    edit_cell(learner_notebook(book), "kata", set_source("import time\nwhile True:\n    time.sleep(0.01)\n"))
    process = subprocess.Popen([sys.executable, "-m", "kata.cli", "check", "1"], cwd=book, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=as_a_terminal_starts_it,
                               env={**os.environ, "PYTHONPATH": str(book)})
    time.sleep(2)  # let the check reach the loop; what is tested is what Ctrl+C then does
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 130 and err.strip() == "Stopped." and "Traceback" not in out + err


# --- learner output stays out of the machine channel --------------------------------------------------


def test_prints_in_a_kata_cell_do_not_break_json(book):
    _solved_plus(book, "print('debugging {')\nimport sys\nprint('and on stderr', file=sys.stderr)")
    data = _json(kata(book, "check", "1", "--json", check=0))
    assert data["status"] == "passed"
    verify = _json(kata(book, "verify", "1", "--json", check=0))
    assert verify["status"] == "passed"


# --- file faults get a message, never a traceback ------------------------------------------------------


def test_a_folder_in_place_of_the_notebook(book):
    path = learner_notebook(book)
    path.unlink()
    path.mkdir()
    done = kata(book, "check", "1", check=2)
    assert "is a folder, not a notebook" in done.stderr and "kata reset 1" in done.stderr
    kata(book, "reset", "1", check=0)
    assert path.is_file() and list((book / ".kata" / "backups").rglob(path.name))


def test_a_file_that_is_not_text(book):
    path = learner_notebook(book)
    path.write_bytes(b"\xff\xfe\x00garbage")
    done = kata(book, "check", "1", check=2)
    assert "is not a readable notebook" in done.stderr
    assert path.read_bytes() == b"\xff\xfe\x00garbage", "left as it was"


def test_a_notebook_that_cannot_be_opened(book):
    path = learner_notebook(book)
    path.unlink()
    path.symlink_to(path.name)  # a link to itself: opening it fails with ELOOP, as EACCES would
    done = kata(book, "check", "1", check=2)
    assert "cannot be read (" in done.stderr and "kata reset 1" in done.stderr


def test_a_notebook_without_read_permission(tmp_path, monkeypatch):
    # Root reads through permissions, so the refusal is made where the notebook is read.
    from kata import KataError
    from kata.notebook import read_notebook

    path = tmp_path / "mine.ipynb"
    path.write_text("{}")

    def refuse(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(type(path), "read_text", refuse)
    with pytest.raises(KataError, match=r"mine.ipynb cannot be read \(Permission denied\)\. next"):
        read_notebook(path, next_step="next")


def test_null_sources_and_tags_written_as_a_string(book):
    path = learner_notebook(book)
    document = json.loads(path.read_text())
    for cell in document["cells"]:
        if cell["cell_type"] == "markdown":
            cell["source"] = None
    kata_cell = next(c for c in document["cells"] if "kata" in c["metadata"].get("tags", []))
    kata_cell["metadata"]["tags"] = "kata"
    path.write_text(json.dumps(document))
    done = kata(book, "check", "1", check=1)
    assert "FAILED  kata 1" in done.stdout


def test_a_broken_starter_in_the_workbook_is_not_blamed_on_the_learner(book):
    starter = book / FIRST.notebook.relative_to(ROOT)
    starter.write_text(starter.read_text()[:500] + "\n<<<<<<< HEAD\n")
    for command in (("check", "1"), ("update",), ("reset", "1")):
        done = kata(book, *command, check=None)
        assert done.returncode != 0 and "starter" in done.stderr and "git" in done.stderr, command


def test_a_progress_file_with_entries_of_the_wrong_type(book):
    (book / ".kata").mkdir(exist_ok=True)
    (book / ".kata" / "progress.json").write_text(json.dumps({"version": 1, "katas": {
        FIRST.id: {"state": 7, "attempts": "many", "hint": True}, KATAS[1].id: "done", "ghost": {"state": "done"}}}))
    out = kata(book, "list", check=0).stdout
    assert "ignored what could not be read" in out and f"0/{len(KATAS)} done" in out
    kata(book, "hint", "1", check=0)
    entry = json.loads((book / ".kata" / "progress.json").read_text())["katas"][FIRST.id]
    assert entry == {"hint": 1}


def test_a_corrupted_progress_file_costs_only_the_marks(book):
    (book / ".kata" / "progress.json").write_text("{not json")
    out = kata(book, "list", check=0).stdout
    assert "could not be read" in out and f"0/{len(KATAS)} done" in out


def _without_ids(path):
    document = json.loads(path.read_text())
    document["nbformat_minor"] = 4
    for cell in document["cells"]:
        cell.pop("id", None)
    path.write_text(json.dumps(document))
    return document


def test_an_older_notebook_without_cell_ids_is_updated_without_losing_a_cell(book):
    path = learner_notebook(book)
    edit_cell(path, "kata", append_to_kata_cell("# mine"))
    document = _without_ids(path)
    document["cells"].insert(3, {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                                 "source": "scratch = 'my own cell'"})
    path.write_text(json.dumps(document))
    done = kata(book, "update", "1")
    assert "deleted" not in done.stdout + done.stderr and "missing" not in done.stdout + done.stderr
    sources = ["".join(c["source"]) for c in json.loads(path.read_text())["cells"]]
    assert any("# mine" in s for s in sources) and "scratch = 'my own cell'" in sources
    assert kata(book, "check", "1").returncode == 1


def test_cells_with_repeated_ids_are_all_kept(book):
    path = learner_notebook(book)
    document = json.loads(path.read_text())
    kata_cell = next(c for c in document["cells"] if "kata" in c["metadata"].get("tags", []))
    copy = {**kata_cell, "source": "# a copy I made of the kata cell\n"}
    document["cells"].insert(document["cells"].index(kata_cell) + 1, copy)
    path.write_text(json.dumps(document))
    kata(book, "update", "1")
    sources = ["".join(c["source"]) for c in json.loads(path.read_text())["cells"]]
    assert "# a copy I made of the kata cell\n" in sources and "".join(kata_cell["source"]) in sources
    ids = [c["id"] for c in json.loads(path.read_text())["cells"]]
    assert len(ids) == len(set(ids))


# --- the notebook and the terminal agree ----------------------------------------------------------------


def test_top_level_await_and_display_work_as_in_jupyter(book):
    _solved_plus(book, "import asyncio\nawait asyncio.sleep(0)\ndisplay('shown')\nAWAITED = True")
    done = kata(book, "check", "1", check=0)
    assert "'shown'" in done.stdout and "PASSED" in done.stdout


# --- honest progress ------------------------------------------------------------------------------------


def test_marks_from_checks_that_finish_together_are_never_lost(book):
    """Eight processes record 25 checks each on one kata, all at once: 200 attempts recorded."""
    script = ("import sys\nfrom pathlib import Path\nfrom kata.progress import Progress\n"
              "p = Progress(Path('.kata/progress.json'))\n"
              "for _ in range(25):\n    assert p.record_check(sys.argv[1], False)\n")
    env = {**os.environ, "PYTHONPATH": str(book)}
    workers = [subprocess.Popen([sys.executable, "-c", script, FIRST.id], cwd=book, env=env) for _ in range(8)]
    assert all(w.wait(timeout=120) == 0 for w in workers)
    data = json.loads((book / ".kata" / "progress.json").read_text())
    assert data["version"] == 1 and data["katas"][FIRST.id]["attempts"] == 200
    assert not list((book / ".kata").glob(".progress-*")), "no temporary file left behind"
