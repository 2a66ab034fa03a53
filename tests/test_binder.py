"""Binder (repo2docker) builds the learner's environment from binder/ and opens the first kata of
the learner's workspace. No Docker here: these tests check what repo2docker reads and run
binder/postBuild in a scratch copy, with `pip` a stub (the lock's packages are this environment's)."""

import os
import re
import shutil
import subprocess
import sys
import venv

import pytest

import workbook
from tests.conftest import KATAS, ROOT, WORKBOOK, copy_workbook

BADGE = re.compile(r"\(https://mybinder\.org/v2/gh/[\w.-]+/[\w.-]+/HEAD\?urlpath=lab/tree/(workspace/[\w./-]+\.ipynb)\)")


def test_binder_holds_only_what_repo2docker_reads():
    # With a binder/ folder, repo2docker reads only it: environment.yml at the root is for conda.
    assert {p.name for p in (ROOT / "binder").iterdir()} == {"postBuild", "requirements.txt", "runtime.txt"}
    assert os.access(ROOT / "binder" / "postBuild", os.X_OK)
    subprocess.run(["bash", "-n", str(ROOT / "binder" / "postBuild")], check=True)


def test_the_readme_badge_opens_the_first_kata_of_the_workspace():
    found = BADGE.findall((ROOT / "README.md").read_text())
    assert found, "README.md has a Binder badge whose urlpath opens lab/tree/workspace/..."
    first = KATAS[0].notebook.relative_to(ROOT / "notebooks").as_posix()
    assert set(found) == {f"workspace/{first}"} and workbook.FIRST_KATA == first


def test_postbuild_installs_the_workbook_and_makes_the_workspace_the_badge_opens(tmp_path):
    book = tmp_path / "book"
    book.mkdir()
    copy_workbook(book, *WORKBOOK, "workbook.py", "binder", "README.md")
    prefix, stubs, log = tmp_path / "image", tmp_path / "stubs", tmp_path / "pip.log"
    venv.create(prefix, with_pip=False, symlinks=True)  # the image's Python: its sys.prefix gets the settings
    stubs.mkdir()
    for name, body in {"pip": f'echo "$*" >> {log}', "kata": f'exec {sys.executable} -m kata.cli "$@"',
                       "python": f'exec {prefix / "bin" / "python"} "$@"'}.items():
        (stubs / name).write_text(f"#!/bin/sh\n{body}\n")
        (stubs / name).chmod(0o755)
    env = {**os.environ, "PATH": f"{stubs}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(book)}
    done = subprocess.run(["binder/postBuild"], cwd=book, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert log.read_text().splitlines() == ["install --no-deps --no-compile -e ."]
    assert (prefix / "share/jupyter/lab/settings/overrides.json").is_file()
    (opened,) = set(BADGE.findall((book / "README.md").read_text()))
    assert (book / opened).is_file() and all((book / "workspace" / k.notebook.relative_to(ROOT / "notebooks")).is_file()
                                             for k in KATAS)


REPO2DOCKER = os.environ.get("WORKBOOK_REPO2DOCKER") or shutil.which("jupyter-repo2docker")


@pytest.mark.skipif(not REPO2DOCKER, reason="opt-in: WORKBOOK_REPO2DOCKER=<path to jupyter-repo2docker> (not in the locks)")
def test_repo2docker_plans_the_learners_lock_then_postbuild(tmp_path):
    """repo2docker's own plan (the Dockerfile it would build; `--no-build` needs no Docker)."""
    book = tmp_path / "book"
    book.mkdir()
    copy_workbook(book, *WORKBOOK, "workbook.py", "binder", "README.md", "pyproject.toml", "requirements.lock")
    done = subprocess.run([REPO2DOCKER, "--no-build", "--no-run", "--debug", "--user-id", "1000", "--user-name", "jovyan",
                           str(book)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    plan = done.stdout + done.stderr
    assert "Building conda environment for python=3.11" in plan
    assert 'pip install --no-cache-dir -r "binder/requirements.txt"' in plan and "RUN ./binder/postBuild" in plan
    assert plan.index("binder/requirements.txt") < plan.index("RUN ./binder/postBuild")
