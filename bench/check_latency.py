"""Benchmark (not a test): how fast a learner gets feedback.

1. For each kata, starter and solution: run the notebook in one real kernel, then re-run its
   check cell ``--repeat`` times in that warm kernel; the median wall time per check (a testing
   kata grades the learner's suite afresh each time, as after an edit).
2. For each kata, every variant that must fail (the starter and each decoy): the check's wall
   time in this (warm) process, and the slowest of them: no wrong fix may take more than 2 s to
   be failed.

    .venv/bin/python bench/check_latency.py [--repeat 7] [--skip-kernel] [KATA ...]
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kata.build import render  # noqa: E402
from kata.manifest import load, lookup  # noqa: E402
from kata.runner import run_check  # noqa: E402


# A testing kata keeps the grading of the suite it last graded: re-run unchanged, its check answers
# at once. A learner re-runs it after changing the tests, so each timed run grades afresh.
FORGET_THE_GRADING = "import sys\nif 'checks.mutation' in sys.modules:\n    sys.modules['checks.mutation']._cache.clear()"


def warm_check_latency(path: Path, repeat: int) -> list[float]:
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(FORGET_THE_GRADING))
    forget = len(nb.cells) - 1
    client = NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    timings = []
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells[:forget]):
            client.execute_cell(cell, index)
        check = next(i for i, c in enumerate(nb.cells) if "check" in c.metadata.get("tags", []))
        for _ in range(repeat):
            client.execute_cell(nb.cells[forget], forget)
            started = time.perf_counter()
            client.execute_cell(nb.cells[check], check)
            timings.append(time.perf_counter() - started)
    return timings


def failing_checks(kata) -> list[tuple[str, float]]:
    """(variant, seconds) for the starter and every decoy, each checked once after a warm-up."""
    timings = []
    with tempfile.TemporaryDirectory() as folder:
        run_check(kata, kata.solution)  # imports and first-use costs are not what a learner waits for
        for variant in ["starter", *(f"decoy:{d.name}" for d in kata.decoys)]:
            path = kata.notebook if variant == "starter" else Path(folder) / kata.notebook.parent.name / f"{variant[6:]}.ipynb"
            if variant != "starter":
                path.parent.mkdir(exist_ok=True)
                path.write_text(render(kata, variant))
            started = time.perf_counter()
            result = run_check(kata, path)
            timings.append((variant, time.perf_counter() - started))
            assert result.status == "failed", f"{kata.id} {variant} passed"
    return timings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--skip-kernel", action="store_true")
    parser.add_argument("katas", nargs="*")
    args = parser.parse_args()
    katas = load(ROOT)
    chosen = [lookup(katas, k) for k in args.katas] if args.katas else katas
    if not args.skip_kernel:
        print(f"{'kata':<30} {'side':<9} {'warm check, median':>19} {'min':>8} {'max':>8}")
        for kata in chosen:
            for side, notebook in (("starter", kata.notebook), ("solution", kata.solution)):
                timings = warm_check_latency(notebook, args.repeat)
                print(f"{kata.label:<30} {side:<9} {statistics.median(timings):>18.3f}s "
                      f"{min(timings):>7.3f}s {max(timings):>7.3f}s")
    print(f"\n{'kata':<30} {'slowest failing variant':<40} {'seconds':>8}")
    slowest = []
    for kata in chosen:
        variant, seconds = max(failing_checks(kata), key=lambda item: item[1])
        slowest.append((seconds, kata.label, variant))
        print(f"{kata.label:<30} {variant:<40} {seconds:>7.3f}s")
    seconds, label, variant = max(slowest)
    print(f"slowest failing check overall: {label} {variant}, {seconds:.3f}s")


if __name__ == "__main__":
    main()
