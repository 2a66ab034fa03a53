#!/usr/bin/env python3
"""Resolve the two locks, and write every file that repeats the learner's lock.

    python3 tools/lock.py           resolve again from pyproject.toml (keeps every pin it can)
    python3 tools/lock.py --upgrade resolve from scratch: the newest versions inside the ranges
    python3 tools/lock.py --write   only rewrite environment.yml and binder/ from requirements.lock

`requirements.lock` is the learner's environment: pyproject.toml's `dependencies`, resolved.
`requirements-dev.lock` is that plus the [dev] extra (it starts with `-r requirements.lock` and
lists only what the extra adds). `environment.yml` (conda) and `binder/requirements.txt`
(repo2docker) repeat the learner's pins. Resolution is pip's own (`pip install --dry-run
--ignore-installed --report`), in the Python running this script, which must be 3.11 (the
workbook's tested Python). tests/test_consistency.py checks all of them against each other.
"""

import json
import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LEARNER, DEV = ROOT / "requirements.lock", ROOT / "requirements-dev.lock"
ENVIRONMENT, BINDER = ROOT / "environment.yml", ROOT / "binder" / "requirements.txt"

LEARNER_HEADER = """\
# The learner's environment, exactly: what `python3 workbook.py lab` installs (Python 3.11).
# pyproject.toml's `dependencies`, resolved by pip. requirements-dev.lock adds the test tools.
# Made by `python3 tools/lock.py`, which also repeats these pins in environment.yml and
# binder/requirements.txt; tests/test_consistency.py checks that they all agree.
"""
DEV_HEADER = """\
# The developer's environment, exactly: the learner's lock plus the test tools, what
# `python3 workbook.py test` installs (Python 3.11). pyproject.toml's `dependencies` and its [dev]
# extra, resolved with the learner's pins kept; below is only what the [dev] extra adds.
# Made by `python3 tools/lock.py`; tests/test_consistency.py checks that the two locks agree.
-r requirements.lock
"""
ENVIRONMENT_HEADER = """\
# The workbook's environment for conda: Python 3.11 and the learner's lock, pin for pin.
# Made by `python3 tools/lock.py` from requirements.lock (tests/test_consistency.py checks it).
# After creating it: `pip install --no-deps -e . && kata update` (see README.md).
name: fastapi-katas
channels:
  - conda-forge
dependencies:
  - python=3.11
  - pip
  - pip:
"""
BINDER_HEADER = """\
# Binder (repo2docker): the learner's lock, pin for pin (made by `python3 tools/lock.py` from
# requirements.lock; tests/test_consistency.py checks it). binder/postBuild installs the workbook.
"""


def key(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path) -> dict[str, str]:
    """name -> version of the `name==version` lines of a lock (not of the files it includes)."""
    found = {}
    if not path.is_file():
        return found
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            name, version = line.split("==")
            found[name.strip()] = version.strip()
    return found


def resolve(requirements: list[str], constraints: dict[str, str]) -> dict[str, str]:
    with tempfile.TemporaryDirectory() as folder:
        wanted, kept, report = Path(folder, "in.txt"), Path(folder, "constraints.txt"), Path(folder, "report.json")
        wanted.write_text("\n".join(requirements) + "\n")
        kept.write_text("".join(f"{n}=={v}\n" for n, v in constraints.items()))
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--dry-run", "--ignore-installed",
                        "--report", str(report), "-r", str(wanted), "-c", str(kept)], check=True)
        return {i["metadata"]["name"]: i["metadata"]["version"] for i in json.loads(report.read_text())["install"]}


def lines(found: dict[str, str]) -> str:
    return "".join(f"{name}=={found[name]}\n" for name in sorted(found, key=key))


def write_repeats() -> None:
    learner = lines(pins(LEARNER))
    ENVIRONMENT.write_text(ENVIRONMENT_HEADER + "".join(f"      - {line}\n" for line in learner.splitlines()))
    BINDER.write_text(BINDER_HEADER + learner)


def main(argv: list[str]) -> int:
    if sys.version_info[:2] != (3, 11):
        print("Run this with Python 3.11, the workbook's tested Python.", file=sys.stderr)
        return 2
    if "--write" not in argv:
        project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
        old = {} if "--upgrade" in argv else {**pins(LEARNER), **pins(DEV)}
        try:
            learner = resolve(project["dependencies"], old)
            dev = resolve(project["dependencies"] + project["optional-dependencies"]["dev"], {**old, **learner})
        except subprocess.CalledProcessError:
            print("pip could not resolve with the current pins kept: when a range in pyproject.toml moved past "
                  "a pin, run `python3 tools/lock.py --upgrade`.", file=sys.stderr)
            return 1
        LEARNER.write_text(LEARNER_HEADER + lines(learner))
        DEV.write_text(DEV_HEADER + lines({n: v for n, v in dev.items() if n not in learner}))
    write_repeats()
    for path in (ENVIRONMENT, BINDER) if "--write" in argv else (LEARNER, DEV, ENVIRONMENT, BINDER):
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
