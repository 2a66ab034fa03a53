"""The `kata` command as a learner meets it, on a copy of the workbook: every bad input gets a
message that names the file, the cell and the next command, a non-zero exit, no traceback from
the workbook's code, and loses nothing."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import KATAS, ROOT, copy_workbook


@pytest.fixture
def book(tmp_path):
    # A whole workbook: its own checks and harness run, as in a learner's clone.
    copy_workbook(tmp_path, "katas.toml", "notebooks", "solutions", "checks", "bookshop", "kata", "data")
    kata(tmp_path, "update")
    return tmp_path


def kata(root, *args, check=None, prefix=(), **kwargs):
    command = [*prefix, sys.executable, "-m", "kata.cli", *args]
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run(command, cwd=root, capture_output=True, text=True, env=env, **kwargs)
    assert "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr
    if check is not None:
        assert done.returncode == check, done.stdout + done.stderr
    return done


def learner_notebook(root, number=1):
    return next((root / "workspace").glob(f"*/{number:02d}-*.ipynb"))


def edit_cell(path, tag, change):
    document = json.loads(path.read_text())
    cells = [c for c in document["cells"] if tag in c["metadata"].get("tags", [])]
    change(document, cells[0])
    path.write_text(json.dumps(document))
    return document["cells"].index(cells[0]) + 1 if cells[0] in document["cells"] else None


def set_source(text):
    return lambda document, cell: cell.update(source=text)


# --- where you are -----------------------------------------------------------------------------


def test_list_shows_every_kata_the_current_one_and_a_progress_bar(book):
    out = kata(book, check=0).stdout
    assert out == kata(book, "list", check=0).stdout
    assert " >  1  The engine belongs to the lifespan" in out and f"0/{len(KATAS)} done" in out and "kata check 1" in out


def test_list_json_shape(book):
    data = json.loads(kata(book, "list", "--json", check=0).stdout)
    assert data["total"] == len(data["katas"]) and data["done"] == 0
    first = data["katas"][0]
    assert set(first) == {"number", "id", "title", "module", "state", "current", "notebook"}
    assert first["current"] and first["state"] == "not started"


def test_a_corrupted_progress_file_costs_only_the_marks(book):
    (book / ".kata" / "progress.json").write_text("{not json")
    out = kata(book, "list", check=0).stdout
    assert "could not be read" in out and f"0/{len(KATAS)} done" in out


# --- check --------------------------------------------------------------------------------------


def test_check_fails_the_starter_with_the_teaching_message_and_marks_progress(book):
    done = kata(book, "check", "1", check=1)
    assert "skipped silently" in done.stdout and "FAILED  kata 1 (lifespan): 4 of 6 tests fail" in done.stdout
    assert "kata hint 1" in done.stdout
    assert "failing" in kata(book, "list", check=0).stdout


def test_check_passes_the_solution_and_names_the_next_kata(book):
    shutil.copyfile(book / "solutions/1-dependency-injection/01-lifespan.ipynb", learner_notebook(book))
    done = kata(book, "check", "lifespan", check=0)
    assert "PASSED  kata 1 (lifespan)" in done.stdout and "Next: kata 2" in done.stdout
    assert f"1/{len(KATAS)} done" in kata(book, "list", check=0).stdout


def test_check_json_shape(book):
    data = json.loads(kata(book, "check", "1", "--json", check=1).stdout)
    assert {"kata", "number", "notebook", "status", "tests", "error"} <= set(data)
    assert data["status"] == "failed" and data["error"] is None
    assert all(set(t) == {"name", "status", "message"} for t in data["tests"])
    assert any("skipped silently" in t["message"] for t in data["tests"] if t["status"] == "failed")


@pytest.mark.parametrize("key", ["nope", "99", "0"])
def test_unknown_kata_names_the_known_ones(book, key):
    done = kata(book, "check", key, check=2)
    assert f"There is no kata {key!r}" in done.stderr and "kata list" in done.stderr


def test_missing_notebook_says_how_to_get_it_back(book):
    learner_notebook(book).unlink()
    done = kata(book, "check", "1", check=2)
    assert "01-lifespan.ipynb does not exist" in done.stderr and "kata reset 1" in done.stderr


def test_corrupted_notebook_is_reported_and_left_as_it_is(book):
    path = learner_notebook(book)
    path.write_text('{"cells": [ {"cell_type": "code", "sour')
    done = kata(book, "check", "1", check=2)
    assert "01-lifespan.ipynb is not a readable notebook" in done.stderr and "kata check 1" in done.stderr
    assert path.read_text() == '{"cells": [ {"cell_type": "code", "sour'


def test_syntax_error_names_the_cell_and_line(book):
    number = edit_cell(learner_notebook(book), "kata", set_source("engine = (\n"))
    done = kata(book, "check", "1", check=2)
    assert f"cell {number} (the `kata` cell), line 1" in done.stderr and "kata check 1" in done.stderr


def test_magic_in_the_kata_cell_is_explained(book):
    number = edit_cell(learner_notebook(book), "kata", set_source("%load_ext autoreload\n"))
    done = kata(book, "check", "1", check=2)
    assert f"cell {number} (the `kata` cell), line 1" in done.stderr and "magics" in done.stderr


def test_renamed_object_names_the_cell_that_needed_it(book):
    edit_cell(learner_notebook(book), "kata", lambda d, c: c.update(source="".join(c["source"]).replace("app = FastAPI", "shop = FastAPI").replace("@app.", "@shop.")))
    done = kata(book, "check", "1", check=2)
    assert "raised an error when run" in done.stderr and "NameError: name 'app' is not defined" in done.stderr
    assert "kata check 1" in done.stderr


def test_infinite_loop_is_stopped_and_located(book):
    number = edit_cell(learner_notebook(book), "kata", set_source("while True:\n    pass\n"))
    # A loop that can never finish: the time limit is the only way out, not a speed test.
    done = kata(book, "check", "1", "--timeout", "5", check=2)
    assert f"stopped after 5 s in " in done.stderr and f"cell {number} (the `kata` cell)" in done.stderr
    assert "infinite loop" in done.stderr


@pytest.mark.parametrize("change, word", [
    (lambda d, c: d["cells"].remove(c), "deleted"),
    (lambda d, c: c.update(source="%%ipytest\nfrom checks.lifespan import test_books_are_still_read_from_the_database\n"), "edited"),
])
def test_deleted_or_edited_check_cell_is_reported_and_update_restores_it(book, change, word):
    path = learner_notebook(book)
    edit_cell(path, "kata", lambda d, c: c.update(source="".join(c["source"]) + "\n# my note\n"))
    edit_cell(path, "check", change)
    done = kata(book, "check", "1", check=2)
    assert f"the `check` cell (cell" in done.stderr and word in done.stderr and "kata update 1" in done.stderr
    kata(book, "update", "1", check=1)  # 1: something to tell the learner about
    cells = json.loads(path.read_text())["cells"]
    assert any("# my note" in "".join(c["source"]) for c in cells), "the learner's code was kept"
    assert kata(book, "check", "1").returncode == 1, "the check runs again"
    assert list((book / ".kata" / "backups").rglob("01-lifespan.ipynb")), "the edited notebook was backed up"


# --- hint, reset, update --------------------------------------------------------------------------


def test_hints_come_one_level_at_a_time(book):
    levels = [kata(book, "hint", "1", check=0).stdout.splitlines()[0] for _ in range(4)]
    assert levels == [
        "kata 1 (lifespan), Hint 1: a nudge (1 of 3)",
        "kata 1 (lifespan), Hint 2: the concept (2 of 3)",
        "kata 1 (lifespan), Hint 3: a sketch (3 of 3)",
        "kata 1 (lifespan), Hint 3: a sketch (3 of 3)",
    ]


def test_reset_backs_the_notebook_up_first(book):
    path = learner_notebook(book)
    edit_cell(path, "kata", set_source("my_precious_work = 42\n"))
    done = kata(book, "reset", "1", check=0)
    backups = list((book / ".kata" / "backups").rglob("01-lifespan.ipynb"))
    assert len(backups) == 1 and "my_precious_work = 42" in backups[0].read_text()
    assert str(backups[0].relative_to(book)) in done.stdout
    assert path.read_text() == (book / "notebooks/1-dependency-injection/01-lifespan.ipynb").read_text()


def _release_new_version(book, kata_cell=None):
    """What a `git pull` does to the starters: new prose, maybe a new starter for the kata cell."""
    starter = book / "notebooks/1-dependency-injection/01-lifespan.ipynb"
    document = json.loads(starter.read_text())
    document["cells"][0]["source"] = "# The engine belongs to the lifespan (new edition)\n"
    if kata_cell is not None:
        next(c for c in document["cells"] if "kata" in c["metadata"].get("tags", []))["source"] = kata_cell
    starter.write_text(json.dumps(document, indent=1))


def test_update_refreshes_prose_and_keeps_the_learners_code(book):
    path = learner_notebook(book)
    edit_cell(path, "kata", set_source("my_precious_work = 42\n"))
    _release_new_version(book)
    assert "kata update" in kata(book, "list", check=0).stdout
    done = kata(book, "update", check=0)
    assert "kata 1 (lifespan): refreshed" in done.stdout
    cells = json.loads(path.read_text())["cells"]
    assert "".join(cells[0]["source"]).startswith("# The engine belongs to the lifespan (new edition)")
    assert any("".join(c["source"]) == "my_precious_work = 42\n" for c in cells)
    assert list((book / ".kata" / "backups").rglob("01-lifespan.ipynb"))


def test_update_reports_a_clash_and_keeps_the_learners_version(book):
    path = learner_notebook(book)
    edit_cell(path, "kata", set_source("my_precious_work = 42\n"))
    _release_new_version(book, kata_cell="new_starter = 1\n")
    done = kata(book, "update", check=1)
    assert "the starter of this cell changed" in done.stdout and "Kept yours" in done.stdout
    sources = ["".join(c["source"]) for c in json.loads(path.read_text())["cells"]]
    assert "my_precious_work = 42\n" in sources and "new_starter = 1\n" not in sources


def test_update_takes_a_new_starter_where_the_learner_had_not_started(book):
    _release_new_version(book, kata_cell="new_starter = 1\n")
    kata(book, "update", check=0)
    assert any("".join(c["source"]) == "new_starter = 1\n" for c in json.loads(learner_notebook(book).read_text())["cells"])


@pytest.fixture
def read_only(book):
    """A command prefix under which the copied workbook is read-only, even for root."""
    if os.geteuid() != 0:
        folders = [book, *(p for p in book.rglob("*") if p.is_dir())]
        for folder in folders:
            folder.chmod(0o555)
        yield ()
        for folder in folders:
            folder.chmod(0o755)
        return
    # root writes through permissions: bind-mount the folder read-only in a private namespace
    prefix = ("unshare", "-m", "sh", "-c", 'mount --bind -o ro "$0" "$0" && exec "$@"', str(book))
    if subprocess.run([*prefix, "true"], capture_output=True).returncode != 0:
        pytest.skip("cannot make a read-only mount here (unshare/mount not permitted)")
    yield prefix


def test_read_only_workbook_gets_a_clear_message_and_keeps_the_notebook(book, read_only):
    path = learner_notebook(book)
    before = path.read_text()
    done = kata(book, "reset", "1", check=2, prefix=read_only)
    assert "Cannot write" in done.stderr and "read-only" in done.stderr
    checked = kata(book, "check", "1", check=1, prefix=read_only)
    assert "could not save progress" in checked.stderr and "FAILED  kata 1" in checked.stdout
    assert path.read_text() == before


# --- watch, verify, doctor ------------------------------------------------------------------------


def test_watch_checks_and_moves_on_when_a_kata_passes(book):
    shutil.copyfile(book / "solutions/1-dependency-injection/01-lifespan.ipynb", learner_notebook(book))
    done = kata(book, "watch", "1", "--max-checks", "2", "--interval", "0.05", check=0, timeout=120)
    assert "PASSED  kata 1" in done.stdout and "=== kata 2 (" in done.stdout and "FAILED  kata 2" in done.stdout


def test_verify_json_covers_every_kata(book):
    data = json.loads(kata(book, "verify", "--json", check=1).stdout)
    assert data["status"] == "failed" and len(data["katas"]) == len(KATAS)
    assert all(k["status"] == "failed" for k in data["katas"])


def test_doctor_reports_versions_and_the_kernel(book):
    out = kata(book, "doctor", check=0).stdout
    assert "fastapi 0.165" in out and "the python3 kernel" in out and "All good." in out


def test_outside_a_workbook_says_where_to_run(tmp_path):
    done = kata(tmp_path, "list", check=2)
    assert "No katas.toml" in done.stderr
