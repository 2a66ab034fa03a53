"""Benchmark (not a test): `kata check N` wall time against the bare import floor.

The floor is what any check pays before it can run at all: starting Python and importing the
libraries the kata uses. Two floors are measured: the generic one (fastapi, httpx, pytest,
sqlalchemy, aiosqlite), and the kata's own (pytest, plus every import statement of the cells
`kata check` runs: what the notebook itself imports, the kata's check module included). The
commands run alternately, so drift in the machine's load hits them alike. Each kata is measured
on its starter (what a learner meets first) and on its solution (the check a learner re-runs
while fixing), in a scratch copy of the workbook.

    .venv/bin/python bench/cli_latency.py [--rounds 9] [KATA ...]
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kata.manifest import load, lookup  # noqa: E402
from kata.workspace import Workspace  # noqa: E402

FLOOR = [sys.executable, "-c", "import fastapi, httpx, pytest, sqlalchemy, aiosqlite"]


def kata_floor(kata) -> list[str]:
    """Python importing exactly what this kata's check needs: the notebook's imports and its check."""
    import ast
    import json

    from kata.notebook import SKIPPED_TAGS, source_of, tags_of

    lines = ["import pytest", f"import {kata.check}"]
    for cell in json.loads(kata.solution.read_text())["cells"]:
        if cell["cell_type"] != "code" or SKIPPED_TAGS & set(tags_of(cell)):
            continue
        for node in ast.walk(ast.parse(source_of(cell))):
            if isinstance(node, (ast.Import, ast.ImportFrom)) and node.col_offset == 0:
                lines.append(ast.unparse(node))
    return [sys.executable, "-c", "\n".join(dict.fromkeys(lines))]


def wall(command: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("katas", nargs="*", help="numbers or ids (default: all)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kata-bench-") as scratch:
        book = Path(scratch)
        for name in ("katas.toml", "notebooks", "solutions", "checks", "bookshop", "kata", "data"):
            (shutil.copytree if (ROOT / name).is_dir() else shutil.copyfile)(ROOT / name, book / name)
        katas = load(book)
        chosen = [lookup(katas, key) for key in args.katas] if args.katas else katas
        subprocess.run([sys.executable, "-m", "kata.cli", "update", "--quiet"], cwd=book, stdout=subprocess.DEVNULL)
        # The copy runs its own harness, as a learner's clone does.
        os.environ["PYTHONPATH"] = str(book)
        print(f"{'kata':<30} {'side':<9} {'check':>7} {'generic floor':>14} {'ratio':>6} {'kata floor':>11} {'ratio':>6}"
              f"   ({args.rounds} rounds, medians)")
        ratios = {"starter": [], "solution": []}
        for kata in chosen:
            own = kata_floor(kata)
            for side in ("starter", "solution"):
                shutil.copyfile(kata.notebook if side == "starter" else kata.solution, Workspace(book).notebook(kata))
                check = [sys.executable, "-m", "kata.cli", "check", str(kata.number)]
                wall(FLOOR, book), wall(own, book), wall(check, book)  # warm the file cache
                floors, owns, checks = [], [], []
                for _ in range(args.rounds):
                    floors.append(wall(FLOOR, book))
                    owns.append(wall(own, book))
                    checks.append(wall(check, book))
                floor, kata_own, median = (statistics.median(x) for x in (floors, owns, checks))
                ratios[side].append(median / kata_own)
                print(f"{kata.label:<30} {side:<9} {median:>6.3f}s {floor:>13.3f}s {median / floor:>5.2f}x "
                      f"{kata_own:>10.3f}s {median / kata_own:>5.2f}x")
        for side, values in ratios.items():
            print(f"{side}s against the kata's floor: median ratio {statistics.median(values):.2f}x, worst {max(values):.2f}x")


if __name__ == "__main__":
    main()
