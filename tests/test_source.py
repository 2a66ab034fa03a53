"""The source format and the build: golden cases for the parser and variant selection."""

import pytest

from kata import KataError
from kata.build import select
from kata.source import parse

SOURCE = '''# %% [markdown]
# # Title
#
# Some *prose*.

# %%
import os

# %% tags=["kata", "starter"]
x = 1

# %% tags=["kata", "solution"]
x = 2

# %% tags=["kata", "decoy:three"]
x = 3

# %% [markdown] tags=["hint"]
# <details>hint</details>
'''


def test_parse_reads_kinds_tags_and_markdown(tmp_path):
    path = tmp_path / "k.py"
    path.write_text(SOURCE)
    cells = parse(path)
    assert [c.kind for c in cells] == ["markdown", "code", "code", "code", "code", "markdown"]
    assert cells[0].text == "# Title\n\nSome *prose*."
    assert cells[1].text == "import os"
    assert [c.variant for c in cells] == [None, None, "starter", "solution", "decoy:three", None]
    assert cells[5].tags == ["hint"]


@pytest.mark.parametrize("variant, value", [("starter", "x = 1"), ("solution", "x = 2"), ("decoy:three", "x = 3")])
def test_select_keeps_one_variant_of_each_kata_group(tmp_path, variant, value):
    path = tmp_path / "k.py"
    path.write_text(SOURCE)
    chosen = select(parse(path), variant, path)
    assert [c.text for c in chosen if "kata" in c.tags] == [value]
    assert len(chosen) == 4


def test_a_decoy_without_its_own_cell_takes_the_solution(tmp_path):
    path = tmp_path / "k.py"
    path.write_text(SOURCE)
    chosen = select(parse(path), "decoy:other", path)
    assert [c.text for c in chosen if "kata" in c.tags] == ["x = 2"]


def test_bad_header_names_file_and_line(tmp_path):
    path = tmp_path / "k.py"
    path.write_text("# %% [markdown]\n# ok\n# %%% oops\n")
    with pytest.raises(KataError, match=r"k\.py:3"):
        parse(path)
