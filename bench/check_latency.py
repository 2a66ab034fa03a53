"""Benchmark (not a test): how fast a learner gets feedback.

For each kata, starter and solution: run the notebook in one real kernel, then re-run its check
cell ``--repeat`` times in that warm kernel and report the median wall time per check. (A starter
whose anti-pattern can never finish includes the check's bounded wait.) Then time the
full two-sided verification (in-process and in kernels) as the test suite runs it.

    .venv/bin/python bench/check_latency.py [--repeat 7] [--skip-suite]
"""

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kata.manifest import load  # noqa: E402


def warm_check_latency(path: Path, repeat: int) -> list[float]:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    timings = []
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)
        check = next(i for i, c in enumerate(nb.cells) if "check" in c.metadata.get("tags", []))
        for _ in range(repeat):
            started = time.perf_counter()
            client.execute_cell(nb.cells[check], check)
            timings.append(time.perf_counter() - started)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--skip-suite", action="store_true")
    args = parser.parse_args()
    katas = load(ROOT)
    print(f"{'kata':<28} {'side':<9} {'warm check, median':>19} {'min':>8} {'max':>8}")
    for kata in katas:
        for side, notebook in (("starter", kata.notebook), ("solution", kata.solution)):
            timings = warm_check_latency(notebook, args.repeat)
            print(f"{kata.label:<28} {side:<9} {statistics.median(timings):>18.3f}s "
                  f"{min(timings):>7.3f}s {max(timings):>7.3f}s")
    if args.skip_suite:
        return
    command = [sys.executable, "-m", "pytest", "-q", "tests/test_two_sided.py", "tests/test_kernel.py"]
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    total = time.perf_counter() - started
    print(f"full two-sided verification (in-process + kernel, {len(katas)} katas): "
          f"{total:.1f}s wall, {total / len(katas):.2f}s per kata")


if __name__ == "__main__":
    main()
