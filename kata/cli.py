"""The `kata` command: where you are, check a kata, get a hint, watch, reset, update, verify.

Exit codes: 0 passed / nothing wrong, 1 a check failed, 2 bad input or a problem to fix first.
Commands import what they need when they run: nbformat alone costs more than a whole check.
"""

import argparse
import gc
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

from kata import KataError, current_phase
from kata.manifest import Kata, find_root, load, lookup
from kata.notebook import source_of, tags_of
from kata.progress import Progress
from kata.workspace import STATE, Workspace

DEFAULT_TIMEOUT = 60  # seconds a check may run before it is stopped (an infinite loop, not a slow check)


class Workbook:
    def __init__(self) -> None:
        self.root = find_root()
        self.katas = load(self.root)
        self.workspace = Workspace(self.root)
        self.progress = Progress(self.root / STATE / "progress.json")

    def kata(self, key: str) -> Kata:
        return lookup(self.katas, key)

    def current(self) -> Kata | None:
        return next((k for k in self.katas if self.progress.state(k.id) != "done"), None)

    def next_after(self, kata: Kata) -> Kata | None:
        """The first kata not done yet after ``kata``, else the first one not done before it."""
        later = [k for k in self.katas if k.number > kata.number] + [k for k in self.katas if k.number < kata.number]
        return next((k for k in later if self.progress.state(k.id) != "done"), None)

    def rel(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)

    def ensure_workspace(self) -> None:
        if not self.workspace.folder.exists():
            for kata in self.katas:
                self.workspace.update(kata)
            print(f"Created your own copies of the notebooks in {self.rel(self.workspace.folder)}/.", file=sys.stderr)

    def save_progress(self) -> None:
        if not self.progress.save():
            print(f"note: {self.progress.problem}", file=sys.stderr)


def _emit(data: dict) -> None:
    print(json.dumps(data, indent=2))


# --- list ---------------------------------------------------------------------------------------


def _bar(done: int, total: int, width: int = 30) -> str:
    filled = round(width * done / total) if total else 0
    return f"[{'#' * filled}{'-' * (width - filled)}] {done}/{total} done"


def cmd_list(args, book: Workbook) -> int:
    current = book.current()
    rows = [
        {
            "number": k.number, "id": k.id, "title": k.title, "module": k.module,
            "state": book.progress.state(k.id), "current": k is current,
            "notebook": book.rel(book.workspace.notebook(k)),
        }
        for k in book.katas
    ]
    done = sum(r["state"] == "done" for r in rows)
    if args.json:
        _emit({"katas": rows, "done": done, "total": len(rows)})
        return 0
    module, width = None, max(len(r["title"]) for r in rows)
    for row in rows:
        if row["module"] != module:
            module = row["module"]
            print(f"\n{module}")
        marker = ">" if row["current"] else " "
        print(f" {marker} {row['number']:>2}  {row['title']:<{width}}  {row['state']}")
    print(f"\n{_bar(done, len(rows))}")
    if book.progress.problem:
        print(f"note: {book.progress.problem}")
    if outdated := [k for k in book.katas if book.workspace.outdated(k)]:
        print(f"The workbook was updated ({len(outdated)} notebook(s) changed): run `kata update` "
              "to refresh your copies. Your code is kept, and everything is backed up first.")
    if current:
        print(f"Next: open {book.rel(book.workspace.notebook(current))} "
              f"(or run `kata watch {current.number}`), then `kata check {current.number}`.")
    else:
        print("Every kata is done. `kata verify` re-checks them all.")
    return 0


# --- check ---------------------------------------------------------------------------------------


def _stop_after(seconds: float, kata: Kata, as_json: bool) -> threading.Event:
    """Start a watchdog that ends this process if the check is still running after ``seconds``.

    A learner's infinite loop cannot be interrupted from inside Python, but the process can end.
    Returns the event that tells the watchdog the check finished in time.
    """
    finished = threading.Event()

    def watch() -> None:
        if finished.wait(seconds):
            return
        message = (f"The check was stopped after {seconds:g} s in {current_phase()}, which never finished. "
                   "Is there an infinite loop, or a wait for something that never comes? "
                   f"Fix it, save the notebook, and run `kata check {kata.number}` again.")
        if as_json:
            print(json.dumps({"kata": kata.id, "number": kata.number, "status": "timeout", "tests": [], "error": message}))
        else:
            print(f"\nkata {kata.label}: {message}", file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(2)

    threading.Thread(target=watch, name="kata-time-limit", daemon=True).start()
    return finished


def run_here(kata: Kata, notebook: Path, *, quiet: bool, timeout: float) -> dict:
    """Run the check in this process, under the time limit."""
    from dataclasses import asdict

    # The libraries a check needs create objects by the hundred thousand while importing, none of
    # them garbage; collecting meanwhile only costs time. Freeze them out of later collections.
    gc.disable()
    try:
        from kata.runner import run_check
    finally:
        gc.freeze()
        gc.enable()

    finished = _stop_after(timeout, kata, as_json=quiet)
    try:
        return asdict(run_check(kata, notebook, echo=not quiet))
    except KataError as error:
        return {"kata": kata.id, "status": "error", "tests": [], "error": str(error)}
    finally:
        finished.set()


def run_elsewhere(book: Workbook, kata: Kata, *, timeout: float) -> dict:
    """Run `kata check` in a child process, so that one kata's infinite loop ends only that check."""
    done = subprocess.run([sys.executable, "-m", "kata.cli", "check", str(kata.number), "--json", "--timeout", str(timeout)],
                          cwd=book.root, capture_output=True, text=True)
    try:
        return json.loads(done.stdout)
    except json.JSONDecodeError:
        return {"kata": kata.id, "number": kata.number, "status": "error", "tests": [],
                "error": (done.stderr.strip().splitlines() or ["the check ended without a result"])[-1]}


def check_one(book: Workbook, kata: Kata, *, quiet: bool, timeout: float) -> dict:
    notebook = book.workspace.notebook(kata)
    base = {"kata": kata.id, "number": kata.number, "notebook": book.rel(notebook), "tests": []}
    if not notebook.exists():
        return {**base, "status": "error", "error": (
            f"{book.rel(notebook)} does not exist. `kata reset {kata.number}` makes it again from the starter.")}
    try:
        tampered = book.workspace.tampered_cells(kata)
    except KataError:
        tampered = []  # an unreadable notebook is reported by the run itself, with the same words
    if tampered:
        return {**base, "status": "error", "error": (
            f"In {book.rel(notebook)}, {'; '.join(tampered)}. Those cells belong to the workbook. "
            f"`kata update {kata.number}` puts them back and keeps your code (after a backup).")}
    result = run_here(kata, notebook, quiet=quiet, timeout=timeout)
    result.update(number=kata.number, notebook=book.rel(notebook))
    result.setdefault("error", None)
    result.pop("output", None)
    if result["status"] in ("passed", "failed"):
        book.progress.mark(kata.id, result["status"] == "passed")
    return result


def _verdict(book: Workbook, kata: Kata, result: dict) -> str:
    if result["status"] == "passed":
        following = book.next_after(kata)
        then = (f"Next: kata {following.number}, {following.title} ({book.rel(book.workspace.notebook(following))})."
                if following else "Every kata is done. `kata list` shows your progress.")
        return f"PASSED  kata {kata.label}: every test passes. {then}"
    if result["status"] == "failed":
        failing = [t for t in result["tests"] if t["status"] != "passed"]
        return (f"FAILED  kata {kata.label}: {len(failing)} of {len(result['tests'])} tests fail. Fix the cells tagged "
                f"`kata` in {result['notebook']}, save, and run `kata check {kata.number}` again. "
                f"Stuck? `kata hint {kata.number}`.")
    return f"kata {kata.label}: {result['error']}"


def cmd_check(args, book: Workbook) -> int:
    kata = book.kata(args.kata)
    book.ensure_workspace()
    result = check_one(book, kata, quiet=args.json, timeout=args.timeout)
    book.save_progress()
    if args.json:
        _emit(result)
    else:
        print(_verdict(book, kata, result), file=sys.stdout if result["status"] in ("passed", "failed") else sys.stderr)
    return {"passed": 0, "failed": 1}.get(result["status"], 2)


# --- hint ----------------------------------------------------------------------------------------

TAG = re.compile(r"</?(details|summary|b)>")


def hints(kata: Kata) -> list[tuple[str, str]]:
    """(title, text) for each hint cell of the starter, in order."""
    found = []
    for cell in json.loads(kata.notebook.read_text(encoding="utf-8"))["cells"]:
        if "hint" in tags_of(cell):
            text = source_of(cell)
            summary = re.search(r"<summary>(.*?)</summary>", text, flags=re.S)
            title = TAG.sub("", summary.group(1)).strip() if summary else "Hint"
            body = TAG.sub("", text.replace(summary.group(0), "") if summary else text).strip()
            found.append((title, body))
    return found


def cmd_hint(args, book: Workbook) -> int:
    kata = book.kata(args.kata)
    levels = hints(kata)
    if not levels:
        raise KataError(f"Kata {kata.label} has no hints.")
    level = book.progress.next_hint(kata.id, len(levels))
    title, body = levels[level - 1]
    print(f"kata {kata.label}, {title} ({level} of {len(levels)})\n\n{body}\n")
    if level < len(levels):
        print(f"Still stuck? `kata hint {kata.number}` again gives the next level.")
    else:
        print("That was the last hint. The notebook's walkthrough explains the fix step by step.")
    book.save_progress()
    return 0


# --- watch ---------------------------------------------------------------------------------------


def cmd_watch(args, book: Workbook) -> int:
    book.ensure_workspace()
    kata = book.kata(args.kata) if args.kata else book.current()
    if kata is None:
        print("Every kata is done. `kata verify` re-checks them all.")
        return 0
    checks = 0
    print("Watching: save the notebook (Ctrl/Cmd+S) to re-check; JupyterLab's autosave is slow. Ctrl+C stops.")
    seen = None
    try:
        while args.max_checks is None or checks < args.max_checks:
            notebook = book.workspace.notebook(kata)
            stamp = notebook.stat().st_mtime_ns if notebook.exists() else None
            if stamp != seen:
                seen = stamp
                checks += 1
                print(f"\n=== kata {kata.label}: {kata.title} ({book.rel(notebook)})", flush=True)
                # each check in a process of its own: an infinite loop ends that check, not the watch
                code = subprocess.run([sys.executable, "-m", "kata.cli", "check", str(kata.number),
                                       "--timeout", str(args.timeout)], cwd=book.root).returncode
                book.progress = Progress(book.progress.path)
                if code == 0:
                    kata = book.next_after(kata)
                    if kata is None:
                        return 0
                    seen = None
                    continue
            time.sleep(args.interval)
    except KeyboardInterrupt:
        print("\nStopped watching.")
    return 0


# --- reset and update ----------------------------------------------------------------------------


def cmd_reset(args, book: Workbook) -> int:
    kata = book.kata(args.kata)
    saved = book.workspace.reset(kata)
    if saved:
        print(f"Your notebook was saved to {book.rel(saved)}.")
    print(f"{book.rel(book.workspace.notebook(kata))} is the starter again. If it is open in JupyterLab, "
          "choose File → Reload Notebook from Disk.")
    return 0


def cmd_update(args, book: Workbook) -> int:
    chosen = [book.kata(k) for k in args.katas] if args.katas else book.katas
    clashes = 0
    for kata in chosen:
        try:
            update = book.workspace.update(kata)
        except KataError as error:
            print(f"kata {kata.label}: {error}", file=sys.stderr)
            clashes += 1
            continue
        if update.action != "unchanged" or update.notes or not args.quiet:
            line = f"kata {kata.label}: {update.action}"
            if update.backup:
                line += f" (your previous version: {book.rel(update.backup)})"
            print(line)
        for note in update.notes:
            print(f"    {note}")
        clashes += bool(update.notes)
    return 1 if clashes else 0


# --- verify --------------------------------------------------------------------------------------


def cmd_verify(args, book: Workbook) -> int:
    chosen = [book.kata(k) for k in args.katas] if args.katas else book.katas
    if args.authoring:
        from kata.verify import verify_kata

        verdicts = [v for kata in chosen for v in verify_kata(kata)]
        if args.json:
            _emit({"status": "passed" if all(v.ok for v in verdicts) else "failed",
                   "katas": [{"kata": v.kata, "variant": v.variant, "ok": v.ok, "problems": v.problems} for v in verdicts]})
        else:
            for v in verdicts:
                print(f"{'ok  ' if v.ok else 'FAIL'} {v.kata} {v.variant}")
                for problem in v.problems:
                    print(f"       {problem}")
        return 0 if all(v.ok for v in verdicts) else 1
    book.ensure_workspace()
    results = [run_elsewhere(book, kata, timeout=args.timeout) for kata in chosen]
    passed = all(r["status"] == "passed" for r in results)
    if args.json:
        _emit({"status": "passed" if passed else "failed", "katas": results})
    else:
        for kata, result in zip(chosen, results):
            failing = [t["name"] for t in result["tests"] if t["status"] != "passed"]
            detail = result.get("error") or (", ".join(failing) if failing else "")
            print(f"{result['status']:<8} {kata.number:>2} {kata.title:<48} {detail}")
    return 0 if passed else 1


# --- doctor and build ------------------------------------------------------------------------------


def cmd_doctor(args, book: Workbook) -> int:
    from kata.doctor import diagnose

    problems = 0
    for ok, what, advice in diagnose(book.root):
        print(f"{'ok     ' if ok else 'PROBLEM'} {what}")
        if not ok:
            print(f"        {advice}")
            problems += 1
    print("\nAll good." if not problems else f"\n{problems} problem(s): fix them, then run `kata doctor` again.")
    return 0 if not problems else 2


def cmd_build(args, book: Workbook) -> int:
    from kata.build import build, stale

    katas = [book.kata(k) for k in args.katas] if args.katas else book.katas
    if args.check:
        outdated = stale(katas)
        for path in outdated:
            print(f"stale: {book.rel(path)} (run `kata build`)")
        return 1 if outdated else 0
    for path in build(katas):
        print(f"wrote {book.rel(path)}")
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="kata", description="FastAPI Katas from the terminal. `kata` alone shows where you are.")
    sub = top.add_subparsers(dest="command")
    key_help = "the number `kata list` shows, or the kata's id"

    def add(name, run, help_text):
        command = sub.add_parser(name, help=help_text, description=help_text)
        command.set_defaults(run=run)
        return command

    listing = add("list", cmd_list, "every kata with its state, and what to do next")
    listing.add_argument("--json", action="store_true", help="print the list as JSON")
    check = add("check", cmd_check, "check a kata on your notebook (as last saved), without a kernel")
    check.add_argument("kata", help=key_help)
    check.add_argument("--json", action="store_true", help="print the result as JSON")
    check.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="stop a check after this many seconds")
    hint = add("hint", cmd_hint, "show the next hint for a kata (a nudge, the concept, then a sketch)")
    hint.add_argument("kata", help=key_help)
    watch = add("watch", cmd_watch, "re-check a kata every time you save its notebook")
    watch.add_argument("kata", nargs="?", help=f"{key_help} (default: the first kata not done)")
    watch.add_argument("--interval", type=float, default=0.5, help=argparse.SUPPRESS)
    watch.add_argument("--max-checks", type=int, default=None, help=argparse.SUPPRESS)
    watch.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="stop a check after this many seconds")
    reset = add("reset", cmd_reset, "start a kata again from its starter (your notebook is backed up first)")
    reset.add_argument("kata", help=key_help)
    update = add("update", cmd_update, "refresh your notebooks after the workbook changed, keeping your code")
    update.add_argument("katas", nargs="*", help="numbers or ids (default: all)")
    update.add_argument("--quiet", action="store_true", help="say only what changed")
    verify = add("verify", cmd_verify, "check every kata of your workbook")
    verify.add_argument("katas", nargs="*", help="numbers or ids (default: all)")
    verify.add_argument("--authoring", action="store_true", help="(authors) starters fail as declared, solutions pass")
    verify.add_argument("--json", action="store_true", help="print the results as JSON")
    verify.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="stop a check after this many seconds")
    add("doctor", cmd_doctor, "check Python, the libraries, the Jupyter kernel and the workbook")
    build_ = add("build", cmd_build, "(authors) regenerate notebooks/ and solutions/ from sources/")
    build_.add_argument("katas", nargs="*", help="numbers or ids (default: all)")
    build_.add_argument("--check", action="store_true", help="only report stale notebooks")
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command is None:
        args = parser().parse_args(["list"])
    try:
        return args.run(args, Workbook())
    except KataError as error:
        print(f"kata: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `kata list | head`: the reader left; nothing is wrong
        sys.stdout = open(os.devnull, "w")
        return 0


if __name__ == "__main__":
    sys.exit(main())
