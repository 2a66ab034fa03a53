"""The `kata` command as a learner meets it, on a copy of the workbook: where you are, a check,
hints and the walkthrough, reset, update, watch, verify and doctor. (What happens when the
learner's code or files misbehave is in test_faults.py.)"""

import json
import os
import subprocess

import pytest

from tests.conftest import KATAS, ROOT, append_to_kata_cell, edit_cell, kata, learner_notebook, set_source, solve

FIRST = KATAS[0]

# --- where you are -----------------------------------------------------------------------------


def test_list_shows_every_kata_the_current_one_and_a_progress_bar(book):
    out = kata(book, check=0).stdout
    assert out == kata(book, "list", check=0).stdout
    assert f" >  1  {FIRST.title}" in out and f"0/{len(KATAS)} done" in out and "kata check 1" in out


def test_list_json_shape(book):
    data = json.loads(kata(book, "list", "--json", check=0).stdout)
    assert data["total"] == len(data["katas"]) == len(KATAS) and data["done"] == 0
    first = data["katas"][0]
    assert set(first) == {"number", "id", "title", "module", "state", "current", "notebook", "minutes"}
    assert data["track"] == "full" and data["minutes_left"] == sum(k.minutes or 0 for k in KATAS)
    assert first["current"] and first["state"] == "not started"


# --- check --------------------------------------------------------------------------------------


def test_check_of_the_starter_shows_the_findings_and_leaves_the_kata_not_started(book):
    done = kata(book, "check", "1", check=1)
    assert f"FAILED  kata 1 ({FIRST.id}): {len(FIRST.fails)} of" in done.stdout and "kata hint 1" in done.stdout
    assert "✗ " in done.stdout and "Observed: " in done.stdout and "Why it matters: " in done.stdout
    assert "does not count as an attempt" in done.stdout
    assert "not started" in kata(book, "list", check=0).stdout


def test_a_changed_notebook_that_fails_is_marked_failing_with_an_attempt(book):
    edit_cell(learner_notebook(book), "kata", append_to_kata_cell("# my first idea"))
    kata(book, "check", "1", check=1)
    kata(book, "check", "1", check=1)
    entry = json.loads((book / ".kata" / "progress.json").read_text())["katas"][FIRST.id]
    assert entry["state"] == "failing" and entry["attempts"] == 2
    assert entry["first_check"] <= entry["last_check"] and entry["last_check"].endswith("Z")


def test_check_passes_the_solution_and_names_the_next_kata(book):
    solve(book)
    done = kata(book, "check", FIRST.id, check=0)
    assert f"PASSED  kata 1 ({FIRST.id})" in done.stdout and "Next: kata 2" in done.stdout
    assert "kata walkthrough 1" in done.stdout
    assert f"1/{len(KATAS)} done" in kata(book, "list", check=0).stdout


def test_check_json_has_the_documented_shape_and_nothing_else_on_stdout(book):
    data = json.loads(kata(book, "check", "1", "--json", check=1).stdout)
    assert set(data) == {"kata", "number", "notebook", "status", "tests", "error"}
    assert data["status"] == "failed" and data["error"] is None
    assert all(set(t) == {"name", "status", "message"} for t in data["tests"])
    failing = [t for t in data["tests"] if t["status"] == "failed"]
    assert {t["name"] for t in failing} == set(FIRST.fails)
    assert all(t["message"].startswith("Observed: ") and "\nWhy it matters: " in t["message"] for t in failing)


@pytest.mark.parametrize("key", ["nope", "99", "0"])
def test_unknown_kata_names_the_known_ones(book, key):
    done = kata(book, "check", key, check=2)
    assert f"There is no kata {key!r}" in done.stderr and "kata list" in done.stderr


# --- hints and the walkthrough --------------------------------------------------------------------


def test_hints_open_one_level_at_a_time_and_the_level_is_recorded(book):
    titles = [kata(book, "hint", "1", check=0).stdout.splitlines()[0] for _ in range(4)]
    assert [t.split(", ", 1)[1] for t in titles] == [
        "Hint 1: a nudge (1 of 3)", "Hint 2: the concept (2 of 3)", "Hint 3: a sketch (3 of 3)", "Hint 3: a sketch (3 of 3)"]
    assert json.loads((book / ".kata" / "progress.json").read_text())["katas"][FIRST.id]["hint"] == 3


def test_an_opened_hint_level_adds_each_findings_nudge_to_the_check(book):
    before = kata(book, "check", "1", check=1).stdout
    kata(book, "hint", "1", check=0)
    after = kata(book, "check", "1", check=1).stdout
    assert "Hint 1: " not in before and "Hint 1: " in after


def test_the_walkthrough_is_shown_on_asking_and_recorded(book):
    done = kata(book, "walkthrough", "1", check=0)
    assert "What to remember" in done.stdout
    assert json.loads((book / ".kata" / "progress.json").read_text())["katas"][FIRST.id]["walkthrough"] is True


# --- reset and update -----------------------------------------------------------------------------


def test_reset_backs_the_notebook_up_first_and_resets_the_mark(book):
    path = learner_notebook(book)
    edit_cell(path, "kata", append_to_kata_cell("my_precious_work = 42\n"))
    kata(book, "check", "1", check=1)
    done = kata(book, "reset", "1", check=0)
    backups = list((book / ".kata" / "backups").rglob(path.name))
    assert len(backups) == 1 and "my_precious_work = 42" in backups[0].read_text()
    assert str(backups[0].relative_to(book)) in done.stdout
    assert path.read_text() == (book / FIRST.notebook.relative_to(ROOT)).read_text()
    assert "not started" in kata(book, "list", check=0).stdout.split("\n")[2]


def _release_new_version(book, kata_cell=None):
    """What a `git pull` does to the starters: new prose, maybe a new starter for the kata cell."""
    starter = book / FIRST.notebook.relative_to(ROOT)
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
    assert f"kata 1 ({FIRST.id}): refreshed" in done.stdout
    cells = json.loads(path.read_text())["cells"]
    assert "".join(cells[0]["source"]).startswith("# The engine belongs to the lifespan (new edition)")
    assert any("".join(c["source"]) == "my_precious_work = 42\n" for c in cells)
    assert list((book / ".kata" / "backups").rglob(path.name))


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


@pytest.mark.parametrize("change, word", [
    (lambda d, c: d["cells"].remove(c), "deleted"),
    (lambda d, c: c.update(source="%%ipytest\nfrom checks.lifespan import test_books_are_still_read_from_the_database\n"), "edited"),
])
def test_deleted_or_edited_check_cell_is_reported_and_update_restores_it(book, change, word):
    path = learner_notebook(book)
    edit_cell(path, "kata", append_to_kata_cell("# my note"))
    edit_cell(path, "check", change)
    done = kata(book, "check", "1", check=2)
    assert "the `check` cell (cell" in done.stderr and word in done.stderr and "kata update 1" in done.stderr
    kata(book, "update", "1", check=1)  # 1: something to tell the learner about
    cells = json.loads(path.read_text())["cells"]
    assert any("# my note" in "".join(c["source"]) for c in cells), "the learner's code was kept"
    assert kata(book, "check", "1").returncode == 1, "the check runs again"
    assert list((book / ".kata" / "backups").rglob(path.name)), "the edited notebook was backed up"


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
    edit_cell(path, "kata", append_to_kata_cell("# tried something"))
    before = path.read_text()
    done = kata(book, "reset", "1", check=2, prefix=read_only)
    assert "Cannot back" in done.stderr or "Cannot write" in done.stderr
    checked = kata(book, "check", "1", check=1, prefix=read_only)
    assert "could not save progress" in checked.stderr and "FAILED  kata 1" in checked.stdout
    assert path.read_text() == before


# --- watch, verify, doctor ------------------------------------------------------------------------


def test_watch_checks_and_moves_on_when_a_kata_passes(book):
    solve(book)
    done = kata(book, "watch", "1", "--max-checks", "2", check=0, timeout=120)
    assert "PASSED  kata 1" in done.stdout and "=== kata 2 (" in done.stdout and "FAILED  kata 2" in done.stdout


def test_verify_json_has_one_result_per_kata_and_marks_nothing_for_untouched_starters(book):
    solve(book)
    data = json.loads(kata(book, "verify", "1", "2", "--json", check=1).stdout)
    assert data["status"] == "failed" and [k["status"] for k in data["katas"]] == ["passed", "failed"]
    states = json.loads(kata(book, "list", "--json", check=0).stdout)["katas"]
    assert [k["state"] for k in states[:2]] == ["done", "not started"]


def test_doctor_reports_versions_and_the_kernel(book):
    out = kata(book, "doctor", check=0).stdout
    assert "fastapi 0.165" in out and "the python3 kernel" in out and "All good." in out


def test_outside_a_workbook_says_where_to_run(tmp_path):
    done = kata(tmp_path, "list", check=2)
    assert "No katas.toml" in done.stderr
