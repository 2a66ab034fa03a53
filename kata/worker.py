"""Runs one check in a child process, so that `kata check` can stop a check that never ends.

    python -m kata.worker <workbook root> <kata id> <notebook> <result.json> [--quiet]

The parent starts it in a scratch folder: pytest (through ipytest) writes a placeholder module
file into the current folder, and the workbook itself may be read-only.

Prints what the notebook's check cell would print (unless --quiet) and writes the result as
JSON. While it works it keeps `<result.json>.phase` up to date (the cell or test it is in), so
the parent can say where a check got stuck.
"""

import json
import os
import sys
from dataclasses import asdict
from pathlib import Path

PHASE_ENV = "KATA_PHASE_FILE"


def report_phase(text: str) -> None:
    """Note what is running now, for the parent's time-out message; silent when not a worker."""
    path = os.environ.get(PHASE_ENV)
    if path:
        Path(path).write_text(text, encoding="utf-8")


def main(argv: list[str]) -> int:
    root, kata_id, notebook, result_path = argv[:4]
    quiet = "--quiet" in argv
    os.environ[PHASE_ENV] = result_path + ".phase"
    from kata import KataError
    from kata.manifest import load, lookup
    from kata.runner import run_check

    try:
        kata = lookup(load(Path(root)), kata_id)
        result = asdict(run_check(kata, Path(notebook), echo=not quiet))
    except KataError as error:
        result = {"kata": kata_id, "notebook": notebook, "status": "error", "error": str(error), "tests": []}
    Path(result_path).write_text(json.dumps(result), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
