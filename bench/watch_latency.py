"""Benchmark (not a test): from a save to `kata watch`'s verdict.

In a scratch copy of the workbook, `kata watch N` runs for each kata while this script saves the
learner's notebook again and again (the starter with one more comment in its kata cell each time,
as a learner's edit would be; each check fails, so the watch stays on that kata). For each save
it records when the watch began the check (its `===` line) and when the verdict was printed.

    .venv/bin/python bench/watch_latency.py [--saves 9] [KATA ...]      (default: module 1)
"""

import argparse
import json
import os
import queue
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kata.manifest import load, lookup  # noqa: E402
from kata.workspace import Workspace  # noqa: E402

WORKBOOK = ("katas.toml", "notebooks", "solutions", "checks", "bookshop", "kata", "data")


def _lines(stream, into: queue.Queue) -> None:
    for line in stream:
        into.put((time.perf_counter(), line))


def _wait_for(lines: queue.Queue, prefix: str, limit: float = 60) -> float:
    deadline = time.perf_counter() + limit
    while True:
        stamp, line = lines.get(timeout=max(0.01, deadline - time.perf_counter()))
        if line.startswith(prefix):
            return stamp


def measure(book: Path, kata, saves: int) -> tuple[list[float], list[float]]:
    notebook = Workspace(book).notebook(kata)
    document = json.loads(kata.notebook.read_text())
    cell = next(c for c in document["cells"] if "kata" in c["metadata"].get("tags", []))
    original = "".join(cell["source"])
    env = {**os.environ, "PYTHONPATH": str(book)}
    watch = subprocess.Popen([sys.executable, "-m", "kata.cli", "watch", str(kata.number)], cwd=book, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=_lines, args=(watch.stdout, lines), daemon=True).start()
    started, verdicts = [], []
    try:
        _wait_for(lines, "FAILED")  # the first check, of the notebook as it was
        for number in range(saves):
            cell["source"] = f"{original}\n# edit {number}\n"
            scratch = notebook.with_suffix(".tmp")
            scratch.write_text(json.dumps(document))
            saved = time.perf_counter()
            os.replace(scratch, notebook)  # as Jupyter saves: the whole file at once
            started.append(_wait_for(lines, "===") - saved)
            verdicts.append(_wait_for(lines, "FAILED") - saved)
    finally:
        watch.kill()
        watch.wait()
    return started, verdicts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--saves", type=int, default=9)
    parser.add_argument("katas", nargs="*", help="numbers or ids (default: module 1)")
    args = parser.parse_args()
    katas = load(ROOT)
    chosen = [lookup(katas, k) for k in args.katas] if args.katas else [k for k in katas if k.module == katas[0].module]
    with tempfile.TemporaryDirectory(prefix="kata-watch-bench-") as scratch:
        book = Path(scratch)
        for name in WORKBOOK:
            (shutil.copytree if (ROOT / name).is_dir() else shutil.copyfile)(ROOT / name, book / name)
        subprocess.run([sys.executable, "-m", "kata.cli", "update", "--quiet"], cwd=book, stdout=subprocess.DEVNULL,
                       env={**os.environ, "PYTHONPATH": str(book)})
        print(f"{'kata':<28} {'re-check begins':>16} {'verdict':>10}   ({args.saves} saves, medians)")
        verdict_medians = []
        for kata in chosen:
            started, verdicts = measure(book, lookup(load(book), kata.id), args.saves)
            verdict_medians.append(statistics.median(verdicts))
            print(f"{kata.label:<28} {statistics.median(started):>15.3f}s {statistics.median(verdicts):>9.3f}s")
        print(f"median from a save to the verdict: {statistics.median(verdict_medians):.3f}s")


if __name__ == "__main__":
    main()
