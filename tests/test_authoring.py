"""The authoring kit, in a scratch copy of the workbook: `kata new` scaffolds a kata that passes
`kata verify --authoring` as it is; then every rule the test suite holds katas to is broken at
once, and `verify --authoring` reports each of them, as the suite would."""

import json
import re
import shutil
import tomllib

import pytest

from kata import KataError
from kata.manifest import load
from kata.rules import RULES
from kata.scaffold import new_kata
from tests.conftest import ROOT, copy_workbook, kata

KATA_ID = "missing-books"


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    root = tmp_path_factory.mktemp("authoring")
    copy_workbook(root, "katas.toml", "notebooks", "solutions", "checks", "bookshop", "kata", "data", "sources")
    made = kata(root, "new", KATA_ID, "--module", "Our own API", "--title", "A missing book is a 404", check=0)
    return root, made.stdout


def _verify(root):
    done = kata(root, "verify", "--authoring", KATA_ID, "--json")
    return done.returncode, json.loads(done.stdout)


def test_kata_new_writes_the_three_files_and_the_row_in_the_teams_own_manifest(scratch):
    root, said = scratch
    local = tomllib.loads((root / "katas.local.toml").read_text())["kata"]
    assert [row["id"] for row in local] == [KATA_ID]
    shipped = tomllib.loads((root / "katas.toml").read_text())["kata"]
    assert KATA_ID not in [row["id"] for row in shipped], "the workbook's own manifest is left alone"
    row = local[0]
    for path in (row["source"], row["notebook"], row["solution"], row["check"].replace(".", "/") + ".py"):
        assert (root / path).is_file() and path in said
    assert row["notebook"] == f"notebooks/7-our-own-api/{len(shipped) + 1:02d}-{KATA_ID}.ipynb"
    assert f"kata verify --authoring {KATA_ID}" in said


def test_the_new_kata_is_numbered_after_the_workbooks_and_kata_new_refuses_what_would_break_a_rule(scratch):
    root, _ = scratch
    katas = load(root)
    assert katas[-1].id == KATA_ID and katas[-1].manifest == "katas.local.toml"
    assert [k.number for k in katas] == list(range(1, len(katas) + 1))
    for key, module, refusal in [(KATA_ID, "Our own API", "already a kata"), ("Bad_Id", "Our own API", "not an id"),
                                 ("late-lifespan", katas[0].module, "module of their own")]:
        with pytest.raises(KataError, match=refusal):
            new_kata(root, key, module)


@pytest.mark.long
def test_the_scaffold_passes_verify_authoring_then_each_broken_rule_is_reported(scratch):
    root, _ = scratch
    code, report = _verify(root)
    assert code == 0 and report["status"] == "passed", report
    assert {v["variant"] for v in report["katas"]} == {"rules", "starter", "solution", "decoy:always-404"}

    _break_every_rule(root)
    code, report = _verify(root)
    assert code == 1 and report["status"] == "failed"
    problems = [p for v in report["katas"] for p in v["problems"]]
    reported = {m.group(1) for p in problems if (m := re.match(r"\[([\w-]+)\]", p))}
    assert reported == {r.name for r in RULES}, "\n".join(problems)
    two_sided = {v["variant"]: v["problems"] for v in report["katas"] if v["variant"] != "rules"}
    starter = " ".join(two_sided["starter"])
    assert "gives the fix's code away" in starter, "a finding that names the fix"
    assert "failed without a finding" in starter and "failed but not declared" in starter, "a bare assert"


def _edit(path, old, new):
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def _break_every_rule(root):
    local, source = root / "katas.local.toml", root / "sources" / f"{KATA_ID}.py"
    check = root / "checks" / "missing_books.py"
    # The row: no minutes, no decoy, an alternative without a cell of its own, the source elsewhere.
    _edit(local, "minutes = 20\n", "")
    _edit(local, '[[kata.decoy]]\nname = "always-404"\nfails = ["test_a_known_book_is_answered_with_its_title"]\n',
          'alternatives = ["same-as-the-solution"]\n')
    _edit(local, f'source = "sources/{KATA_ID}.py"', f'source = "sources/{KATA_ID}-draft.py"')
    source = source.rename(source.with_name(f"{KATA_ID}-draft.py"))
    # A second row: not a slug, in a module that ended long before, in this module's folder.
    text = local.read_text()
    local.write_text(text + text.split("\n\n", 1)[1].replace(f'id = "{KATA_ID}"', 'id = "Bad_Id"')
                     .replace('module = "Our own API"', 'module = "Dependency injection & lifespan"'))
    # The check: a helper exported to the learner's namespace, a finding that names the fix, a bare assert.
    _edit(check, "__all__ = [\n", '__all__ = [\n    "helper",\n    "test_the_answer_is_a_404_page",\n')
    _edit(check, "answered {brief(response)}.\",\n        \"A client reads",
          "answered {brief(response)}; it should raise `HTTPException`.\",\n        \"A client reads")
    check.write_text(check.read_text() + "\n\nhelper = 1\n\n\n@pytest.mark.anyio\nasync def test_the_answer_is_a_404_page("
                     "kata_ns, shop_db):\n    async with open_client(learner(kata_ns, \"app\")) as client:\n"
                     "        assert (await client.get(\"/books/999999\")).status_code == 404\n")
    # The source: two hint levels, built; then the story changed and not built again.
    _edit(source, "# %% [markdown] tags=[\"hint\"]\n# ### Hint 3: a sketch", "# %% [markdown]\n# ### A sketch")
    kata(root, "build", KATA_ID, check=0)
    _edit(source, "A customer followed", "A reader followed")
    # The solution notebook: a change outside the kata cells.
    solution = next((root / "solutions").glob(f"*/*-{KATA_ID}.ipynb"))
    document = json.loads(solution.read_text())
    document["cells"][0]["source"] += "\nEdited by hand."
    solution.write_text(json.dumps(document))
    shutil.rmtree(root / ".kata", ignore_errors=True)


def test_authoring_md_states_every_rule():
    text = (ROOT / "AUTHORING.md").read_text()
    assert all(f"| `{r.name}` |" in text for r in RULES), "AUTHORING.md's table of rules lacks one of kata/rules.py"
    assert "katas.local.toml" in text and "kata new" in text
