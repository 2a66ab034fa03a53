"""Benchmark (not a test): `kata check N` wall time against the bare import floor.

The floor is what any check pays before it can run at all: starting Python and importing the
libraries a kata uses. The two commands run alternately, so drift in the machine's load hits
both alike. Each kata is measured on its starter (what a learner meets first; a starter that
can never finish includes the check's bounded wait) and on its solution (the check a learner
re-runs while fixing), in a scratch copy of the workbook.

    .venv/bin/python bench/cli_latency.py [--rounds 9] [KATA ...]
"""

import argparse
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
        for name in ("katas.toml", "notebooks", "solutions"):
            (shutil.copytree if (ROOT / name).is_dir() else shutil.copyfile)(ROOT / name, book / name)
        katas = load(book)
        chosen = [lookup(katas, key) for key in args.katas] if args.katas else katas
        subprocess.run([sys.executable, "-m", "kata.cli", "update", "--quiet"], cwd=book, stdout=subprocess.DEVNULL)
        print(f"{'kata':<26} {'side':<9} {'check':>7} {'floor':>7} {'ratio':>6}   ({args.rounds} rounds, medians)")
        ratios = {"starter": [], "solution": []}
        for kata in chosen:
            for side in ("starter", "solution"):
                shutil.copyfile(kata.notebook if side == "starter" else kata.solution, Workspace(book).notebook(kata))
                check = [sys.executable, "-m", "kata.cli", "check", str(kata.number)]
                wall(FLOOR, book), wall(check, book)  # warm the file cache
                floors, checks = [], []
                for _ in range(args.rounds):
                    floors.append(wall(FLOOR, book))
                    checks.append(wall(check, book))
                floor, median = statistics.median(floors), statistics.median(checks)
                ratios[side].append(median / floor)
                print(f"{kata.label:<26} {side:<9} {median:>6.3f}s {floor:>6.3f}s {median / floor:>5.2f}x")
        for side, values in ratios.items():
            print(f"{side}s: median ratio {statistics.median(values):.2f}x, worst {max(values):.2f}x")


if __name__ == "__main__":
    main()
