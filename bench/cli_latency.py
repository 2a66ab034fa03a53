"""Benchmark (not a test): `kata check N` wall time against the bare import floor.

The floor is what any check must pay before it can run at all: starting Python and importing
the libraries a kata uses. The two commands are run alternately, so drift in the machine's load
hits both alike.

    .venv/bin/python bench/cli_latency.py [--rounds 9] [KATA ...]
"""

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLOOR = [sys.executable, "-c", "import fastapi, httpx, pytest, sqlalchemy, aiosqlite"]


def wall(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("katas", nargs="*", default=["1"])
    args = parser.parse_args()
    subprocess.run([sys.executable, "-m", "kata.cli", "update", "--quiet"], cwd=ROOT, stdout=subprocess.DEVNULL)
    for kata in args.katas:
        check = [sys.executable, "-m", "kata.cli", "check", kata]
        wall(FLOOR), wall(check)  # warm the file cache
        floors, checks = [], []
        for _ in range(args.rounds):
            floors.append(wall(FLOOR))
            checks.append(wall(check))
        floor, median = statistics.median(floors), statistics.median(checks)
        print(f"kata check {kata}: median {median:.3f}s; import floor {floor:.3f}s; ratio {median / floor:.2f}x "
              f"(check min {min(checks):.3f}s, floor min {min(floors):.3f}s, {args.rounds} rounds)")


if __name__ == "__main__":
    main()
