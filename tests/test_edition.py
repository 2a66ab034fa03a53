"""`kata edition student DIR`: a copy to hand out, without the answers; walkthroughs held until the
teacher reveals them (here through the shared-folder room, as on a JupyterHub)."""

import json

from kata.room import folder as shared
from tests.conftest import KATAS, ROOT, WORKBOOK, copy_workbook, kata

FIRST = KATAS[0]


def test_a_student_edition_has_no_answers_and_holds_the_walkthroughs(tmp_path):
    (tmp_path / "teacher").mkdir()
    teacher = copy_workbook(tmp_path / "teacher", *WORKBOOK, "tracks", "sources", "README.md")
    edition = tmp_path / "edition"
    done = kata(teacher, "edition", "student", str(edition), "--hold-walkthroughs", "--track", "workshop-3h", check=0)
    assert "no solutions/ or sources/" in done.stdout and "walkthroughs held" in done.stdout
    assert not (edition / "solutions").exists() and not (edition / "sources").exists()
    assert (edition / "README.md").is_file() and (edition / "checks").is_dir() and (edition / "tracks").is_dir()
    held = json.loads((edition / FIRST.notebook.relative_to(ROOT)).read_text())
    assert held["metadata"]["kata"]["help"]["walkthrough"] == "" and held["metadata"]["kata"]["help"]["hints"]
    assert "What to remember" not in json.dumps(held)

    # The learner's side: the track is the edition's, the walkthrough is held, the hints are not.
    assert json.loads(kata(edition, "list", "--json", check=0).stdout)["track"] == "workshop-3h"
    kata(edition, "update", "--quiet", check=0)
    said = kata(edition, "walkthrough", "1", check=0).stdout
    assert "holding this walkthrough back" in said and "What to remember" not in said
    assert "Hint 1" in kata(edition, "hint", "1", check=0).stdout

    # The teacher reveals it in a room the class shares as a folder: the learner gets it on asking.
    room = tmp_path / "room"
    room.mkdir()
    kata(edition, "join", str(room), "--name", "Ada", check=0)
    assert "holding this walkthrough back" in kata(edition, "walkthrough", "1", check=0).stdout
    from kata.help import help_for

    shared.publish_reveal(room, FIRST.id, help_for(FIRST).walkthrough)
    assert "What to remember" in kata(edition, "walkthrough", "1", check=0).stdout
    assert (edition / ".kata" / "revealed" / f"{FIRST.id}.md").is_file(), "kept for later, and for the notebook"


def test_an_edition_refuses_a_folder_that_is_not_empty(tmp_path):
    teacher = tmp_path / "teacher"
    teacher.mkdir()
    copy_workbook(teacher, *WORKBOOK)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "something").write_text("mine")
    done = kata(teacher, "edition", "student", str(tmp_path / "full"), check=2)
    assert "is not empty" in done.stderr and (tmp_path / "full" / "something").read_text() == "mine"
