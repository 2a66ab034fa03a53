"""Benchmark (not a test): where the test command's time goes, per test file and per test.

The suite is bound by the CPU on 2 cores: its wall time is about its CPU time over the cores. As a
pytest plugin this records, for each test, its wall time and the CPU time of its worker and of the
processes the test waited for (kernels, servers, `kata` commands, a learner's suite's runs);
run as a script it sums them up.

    python3 workbook.py test -p bench.suite_cpu        (writes artifacts/suite-cpu.jsonl)
    .venv/bin/python bench/suite_cpu.py [FILE] [--top 20]
"""

import argparse
import collections
import json
import os
import time
from pathlib import Path

import pytest

OUT = Path(__file__).resolve().parent.parent / "artifacts" / "suite-cpu.jsonl"


def pytest_sessionstart(session):
    if not os.environ.get("PYTEST_XDIST_WORKER"):  # the controller starts afresh; workers append
        OUT.parent.mkdir(exist_ok=True)
        OUT.unlink(missing_ok=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    before, start = os.times(), time.monotonic()
    yield
    after, end = os.times(), time.monotonic()
    record = {
        "test": item.nodeid,
        "worker": os.environ.get("PYTEST_XDIST_WORKER", "-"),
        "start": start,
        "wall": round(end - start, 3),
        "cpu": round(after.user - before.user + after.system - before.system, 3),
        "children": round(after.children_user - before.children_user
                          + after.children_system - before.children_system, 3),
    }
    with OUT.open("a", encoding="utf-8") as out:
        out.write(json.dumps(record) + "\n")



def summary(path: Path, top: int) -> None:
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    by_file = collections.defaultdict(lambda: [0, 0.0, 0.0])
    for record in records:
        entry = by_file[record["test"].split("::")[0]]
        entry[0] += 1
        entry[1] += record["cpu"] + record["children"]
        entry[2] += record["wall"]
    total = sum(cpu for _, cpu, _ in by_file.values())
    print(f"{'file':34} {'tests':>5} {'CPU s':>7} {'share':>6} {'wall s':>7}")
    for name, (count, cpu, wall) in sorted(by_file.items(), key=lambda item: -item[1][1]):
        print(f"{name:34} {count:5} {cpu:7.1f} {cpu / total:6.0%} {wall:7.1f}")
    first = min(r["start"] for r in records)
    ends = collections.defaultdict(float)
    for record in records:
        ends[record["worker"]] = max(ends[record["worker"]], record["start"] + record["wall"] - first)
    ended = ", ".join(f"{t:.0f}" for t in sorted(ends.values()))
    print(f"\nCPU in all: {total:.0f} s; the workers ended at {ended} s")
    print(f"\nthe {top} tests that took the most CPU (their own and their processes'):")
    for record in sorted(records, key=lambda r: -(r["cpu"] + r["children"]))[:top]:
        print(f"{record['cpu'] + record['children']:6.1f} s CPU {record['wall']:6.1f} s wall  {record['test']}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", default=str(OUT))
    parser.add_argument("--top", type=int, default=20)
    arguments = parser.parse_args()
    summary(Path(arguments.file), arguments.top)
