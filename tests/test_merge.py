"""The cell-aware refresh: a new version of the workbook never costs the learner a line."""

from kata.merge import refresh


def cell(cell_id, source, *tags, outputs=()):
    return {"id": cell_id, "cell_type": "code", "source": source, "metadata": {"tags": list(tags)},
            "outputs": list(outputs), "execution_count": None}


BASE = [cell("intro", "# v1"), cell("kata-1", "starter = 1", "kata"), cell("check-1", "%%ipytest", "check")]


def test_nothing_to_do_when_nothing_changed():
    result = refresh(BASE, BASE, BASE)
    assert not result.changed and not result.notes and result.cells == BASE


def test_workbook_cells_refresh_and_the_learners_code_stays():
    mine = [BASE[0], cell("kata-1", "mine = 2", "kata"), BASE[2]]
    upstream = [cell("intro", "# v2"), BASE[1], cell("check-1", "%%ipytest\n# v2", "check")]
    result = refresh(BASE, upstream, mine)
    assert [c["source"] for c in result.cells] == ["# v2", "mine = 2", "%%ipytest\n# v2"]
    assert not result.notes


def test_an_untouched_kata_cell_takes_the_new_starter():
    upstream = [BASE[0], cell("kata-1", "starter = 2", "kata"), BASE[2]]
    assert refresh(BASE, upstream, BASE).cells[1]["source"] == "starter = 2"


def test_a_clash_in_the_kata_cell_keeps_the_learners_version_and_says_so():
    mine = [BASE[0], cell("kata-1", "mine = 2", "kata"), BASE[2]]
    upstream = [BASE[0], cell("kata-1", "starter = 2", "kata"), BASE[2]]
    result = refresh(BASE, upstream, mine)
    assert result.cells[1]["source"] == "mine = 2"
    assert len(result.notes) == 1 and "Kept yours" in result.notes[0]


def test_an_edited_workbook_cell_is_replaced_and_reported():
    mine = [BASE[0], BASE[1], cell("check-1", "%%ipytest\nfrom checks.x import test_one", "check")]
    result = refresh(BASE, BASE, mine)
    assert result.cells[2]["source"] == "%%ipytest" and "Your edit is in the backup" in result.notes[0]


def test_a_deleted_workbook_cell_is_restored():
    result = refresh(BASE, BASE, BASE[:2])
    assert [c["id"] for c in result.cells] == ["intro", "kata-1", "check-1"] and "restored" in result.notes[0]


def test_cells_the_learner_added_stay_where_they_were():
    mine = [BASE[0], cell("scratch-a", "print(1)"), BASE[1], cell("scratch-b", "x"), cell("scratch-c", "y"), BASE[2]]
    upstream = [cell("intro", "# v2"), cell("new", "# new section"), BASE[1], BASE[2]]
    ids = [c["id"] for c in refresh(BASE, upstream, mine).cells]
    assert ids == ["intro", "scratch-a", "new", "kata-1", "scratch-b", "scratch-c", "check-1"]


def test_a_cell_removed_upstream_but_edited_by_the_learner_is_kept():
    base = [*BASE, cell("kata-2", "old = 1", "kata")]
    mine = [*BASE, cell("kata-2", "mine = 1", "kata")]
    result = refresh(base, BASE, mine)
    assert result.cells[-1]["source"] == "mine = 1" and "kept it" in result.notes[0]


def test_a_cell_removed_upstream_and_untouched_goes():
    base = [*BASE, cell("hint-9", "old hint", "hint")]
    assert [c["id"] for c in refresh(base, BASE, base).cells] == ["intro", "kata-1", "check-1"]


def test_outputs_of_unchanged_cells_are_kept():
    mine = [cell("intro", "# v1", outputs=[{"output_type": "stream", "text": "hi"}]), BASE[1], BASE[2]]
    assert refresh(BASE, BASE, mine).cells[0]["outputs"] == [{"output_type": "stream", "text": "hi"}]
