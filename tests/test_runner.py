"""The in-process runner on a learner's bad input: a clear message naming file and cell; and the
report it produces, the same in the notebook and the terminal."""

import json
import shutil

import pytest

from kata import KataError
from kata.report import explain, render, sentence
from kata.runner import run_check
from tests.conftest import KATAS

KATA = KATAS[0]


def _edited(tmp_path, edit):
    path = tmp_path / KATA.notebook.name
    shutil.copyfile(KATA.notebook, path)
    document = json.loads(path.read_text())
    cell = next(c for c in document["cells"] if "kata" in c["metadata"].get("tags", []))
    edit(cell)
    path.write_text(json.dumps(document))
    return path, document["cells"].index(cell) + 1


def test_syntax_error_names_the_cell_and_line(tmp_path):
    path, number = _edited(tmp_path, lambda c: c.update(source="def broken(:\n    pass\n"))
    with pytest.raises(KataError, match=rf"cell {number} \(the `kata` cell\), line 1: .*kata check 1"):
        run_check(KATA, path)


def test_magic_in_a_kata_cell_is_explained(tmp_path):
    path, number = _edited(tmp_path, lambda c: c.update(source="%time x = 1\n"))
    with pytest.raises(KataError, match=rf"cell {number}.*magics"):
        run_check(KATA, path)


def test_corrupted_notebook_is_reported_not_raised(tmp_path):
    path = tmp_path / "broken.ipynb"
    path.write_text('{"cells": [')
    with pytest.raises(KataError, match="broken.ipynb is not a readable notebook"):
        run_check(KATA, path)


def test_error_while_running_a_cell_names_the_cell(tmp_path):
    rename = lambda c: c.update(source="".join(c["source"]).replace("app = FastAPI", "shop = FastAPI"))  # noqa: E731
    path, number = _edited(tmp_path, rename)
    with pytest.raises(KataError, match=r"cell \d+ (\(the `kata` cell\) )?raised an error when run:(.|\n)*NameError: name 'app'"):
        run_check(KATA, path)


def test_missing_object_fails_the_check_with_a_finding(tmp_path):
    path = tmp_path / KATA.notebook.name
    document = json.loads(KATA.notebook.read_text())
    document["cells"].append({"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                              "source": "shop = app\ndel app\n"})
    path.write_text(json.dumps(document))
    result = run_check(KATA, path)
    assert result.status == "failed"
    failing = [t for t in result.tests if t["status"] != "passed"]
    assert failing and all(t["finding"] and "The check needs `app`" in t["finding"]["observed"] for t in failing)


def test_the_report_shows_sentences_findings_and_only_the_help_asked_for():
    tests = [
        {"name": "test_the_engine_is_disposed_when_the_app_shuts_down[asyncio]", "status": "failed",
         "finding": {"observed": "1 engine was left open.", "why": "Pools leak.", "nudge": "What runs at shutdown?",
                     "concept": "An engine has a lifetime."}, "server": "RuntimeError: boom"},
        {"name": "test_books_are_read", "status": "passed"},
    ]
    assert sentence(tests[0]["name"]) == "The engine is disposed when the app shuts down (asyncio)"
    plain = render(tests, level=0)
    assert plain.startswith("✗ The engine is disposed") and "✓ Books are read" in plain
    assert "Observed: 1 engine was left open." in plain and "The server raised: RuntimeError: boom" in plain
    assert "Hint 1" not in plain and "Hint 2" not in plain
    assert "Hint 1: What runs at shutdown?" in explain(tests[0], 1) and "Hint 2" not in explain(tests[0], 1)
    assert "Hint 2: An engine has a lifetime." in explain(tests[0], 2)
