import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

import kata.build  # noqa: F401 - before nbclient imports nbformat: see there
from kata.manifest import load

ROOT = Path(__file__).resolve().parent.parent
KATAS = load(ROOT)
WORKBOOK = ("katas.toml", "notebooks", "solutions", "checks", "bookshop", "kata", "data")


def _copy_if_still_there(source, target):
    # Kernel tests run notebooks in place, and ipytest writes (then removes) a t_<hex>.py module
    # beside each one: a file listed a moment ago may be gone when its turn comes.
    try:
        return shutil.copy2(source, target)
    except FileNotFoundError:
        return target


def copy_workbook(target: Path, *names: str) -> Path:
    """Copy these top-level files and folders of the workbook into ``target``, with their bytecode:
    Python never writes any where PYTHONDONTWRITEBYTECODE is set (as on CI machines), and every
    process in the copy would compile the workbook's modules again."""
    for name in names:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name, copy_function=_copy_if_still_there,
                            ignore=shutil.ignore_patterns("t_*.py", ".ipynb_checkpoints"))
        else:
            shutil.copyfile(source, target / name)
    return target


# Every process a test starts inherits this mark in its environment (``monkeypatch.setenv``), so
# what is left of it can be found in /proc, whatever it is called and whoever adopted it.
MARK = "KATA_TEST_PROCESS_MARK"


def marked(mark: str) -> list[str]:
    """The processes (pid and command line) whose environment carries ``mark``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if f"{MARK}={mark}".encode() in (entry / "environ").read_bytes().split(b"\0"):
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                if (entry / "stat").read_text().split(") ", 1)[-1][:1] != "Z":
                    found.append(f"{entry.name}: {command.strip()}")
        except OSError:  # ended meanwhile, or not ours to read
            continue
    return found


def left_behind(mark: str) -> list[str]:
    # A group's last members may still be on their way out when the command returns: give them
    # a moment, bounded, and report whatever is still there then.
    for _ in range(50):
        if not (left := marked(mark)):
            return []
        time.sleep(0.1)
    return left


def kata_params():
    return [pytest.param(kata, id=kata.id) for kata in KATAS]


def pytest_xdist_auto_num_workers(config):
    # Most of this suite waits (kernels starting, checks' bounded waits), not computes: twice as
    # many workers as cores finishes sooner, even on 2 cores.
    return min(max(4, 2 * (os.cpu_count() or 1)), 12)


def pytest_collection_modifyitems(items):
    # Longest first, so that no worker is still on a long run when the others have nothing left:
    # the tests marked `long`, then the tests of each kata (its two-sided and kernel runs are the
    # suite's longest), the last katas first (the later modules start real servers and grade
    # learners' suites in a dozen processes), then the rest as collected. Every worker must order
    # alike, and does: the order depends on the collection only.
    def key(item):
        if item.get_closest_marker("long"):
            return -len(KATAS) - 1
        kata = getattr(item, "callspec", None) and item.callspec.params.get("kata")
        return -kata.number if kata is not None and hasattr(kata, "number") else 0

    items.sort(key=key)


# --- a learner's copy of the workbook, and the `kata` command run in it ---------------------------


@pytest.fixture
def book(tmp_path):
    """A whole workbook, its own checks and harness included, with the learner's workspace made."""
    copy_workbook(tmp_path, *WORKBOOK)
    kata(tmp_path, "update", check=0)
    return tmp_path


def as_a_terminal_starts_it() -> None:
    """For ``preexec_fn``: Ctrl+C as a shell gives a command it starts in the foreground (the
    default action, not blocked), whatever this worker process was given."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def kata(root, *args, check=None, prefix=(), **kwargs):
    """Run `kata ARGS` in ``root``; no traceback may ever reach the learner."""
    command = [*prefix, sys.executable, "-m", "kata.cli", *args]
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run(command, cwd=root, capture_output=True, text=True, env=env, **kwargs)
    assert "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr
    if check is not None:
        assert done.returncode == check, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def learner_notebook(root, number=1):
    return next((Path(root) / "workspace").glob(f"*/{number:02d}-*.ipynb"))


def edit_cell(path, tag, change):
    """Change the first cell tagged ``tag``; returns its 1-based number."""
    document = json.loads(Path(path).read_text())
    cells = [c for c in document["cells"] if tag in c["metadata"].get("tags", [])]
    number = document["cells"].index(cells[0]) + 1
    change(document, cells[0])
    Path(path).write_text(json.dumps(document))
    return number


def set_source(text):
    return lambda document, cell: cell.update(source=text)


def append_to_kata_cell(text):
    return lambda document, cell: cell.update(source="".join(cell["source"]) + "\n" + text)


def solve(root, number=1):
    """The learner's notebook becomes the reference solution."""
    kata_ = KATAS[number - 1]
    shutil.copyfile(Path(root) / kata_.solution.relative_to(ROOT), learner_notebook(root, number))
