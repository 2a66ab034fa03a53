"""The `kata` command: where you are, check a kata, get a hint, watch, reset, update, verify.

Exit codes: 0 passed / nothing wrong, 1 a check failed, 2 bad input or a problem to fix first,
130 stopped with Ctrl+C. Every check runs in a process of its own (see ``kata.isolated``); this
process imports only what it needs to talk to you, so a check costs little more than its imports.
"""

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

from kata import KataError
from kata.manifest import Kata, find_root, load, lookup
from kata.notebook import identify, read_notebook, source_of, tags_of
from kata.progress import Progress
from kata.workspace import STATE, Workspace

DEFAULT_TIMEOUT = 60.0  # seconds a check may run before it is stopped (an infinite loop, not a slow check)


class Workbook:
    def __init__(self) -> None:
        self.root = find_root()
        self.katas = load(self.root)
        self.workspace = Workspace(self.root)
        self.progress = Progress(self.root / STATE / "progress.json")
        self._track = None

    @property
    def track(self):
        """The track this workspace follows (see kata.tracks); the whole workbook by default."""
        if self._track is None:
            from kata.tracks import chosen

            self._track = chosen(self.root, self.katas)
        return self._track

    def use_track(self, name: str | None) -> None:
        if name:
            from kata.tracks import load_track

            self._track = load_track(self.root, name, self.katas)

    @property
    def chosen(self) -> list[Kata]:
        return list(self.track.katas)

    def kata(self, key: str) -> Kata:
        return lookup(self.katas, key)

    def current(self) -> Kata | None:
        return next((k for k in self.chosen if self.progress.state(k.id) != "done"), None)

    def next_after(self, kata: Kata) -> Kata | None:
        """The first kata of the track not done yet after ``kata``, else the first one not done before it."""
        order = self.chosen
        at = order.index(kata) if kata in order else -1
        later = order[at + 1:] + order[:max(at, 0)]
        return next((k for k in later if k is not kata and self.progress.state(k.id) != "done"), None)

    def rel(self, path: Path) -> str:
        try:
            return str(Path(path).relative_to(self.root))
        except ValueError:
            return str(path)

    def ensure_workspace(self) -> None:
        if not self.workspace.folder.exists():
            for kata in self.chosen:
                self.workspace.update(kata)
            print(f"Created your own copies of the notebooks in {self.rel(self.workspace.folder)}/.", file=sys.stderr)

    def note_progress_problem(self) -> None:
        if self.progress.problem:
            print(f"note: {self.progress.problem}", file=sys.stderr)


def _emit(data: dict) -> None:
    print(json.dumps(data, indent=2))


def _seconds(text: str) -> float:
    """--timeout: a positive, finite number of seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds (for example 30)") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds (for example 30)")
    return value


# --- list ---------------------------------------------------------------------------------------


def _bar(done: int, total: int, width: int = 30) -> str:
    filled = round(width * done / total) if total else 0
    return f"[{'#' * filled}{'-' * (width - filled)}] {done}/{total} done"


def _minutes(value: int | None) -> str:
    return f"{value} min" if value else "? min"


def cmd_list(args, book: Workbook) -> int:
    book.use_track(args.track)
    current = book.current()
    rows = [
        {
            "number": k.number, "id": k.id, "title": k.title, "module": k.module,
            "state": book.progress.state(k.id), "current": k is current,
            "notebook": book.rel(book.workspace.notebook(k)), "minutes": k.minutes,
        }
        for k in book.chosen
    ]
    done = sum(r["state"] == "done" for r in rows)
    left = sum(r["minutes"] or 0 for r in rows if r["state"] != "done")
    if args.json:
        _emit({"katas": rows, "done": done, "total": len(rows), "track": book.track.name, "minutes_left": left})
        return 0
    if book.track.name != "full":
        print(f"Track: {book.track.title} ({book.track.name}, {len(rows)} katas, about {book.track.minutes} minutes)")
    module, width = None, max(len(r["title"]) for r in rows)
    for row in rows:
        if row["module"] != module:
            module = row["module"]
            print(f"\n{module}")
        marker = ">" if row["current"] else " "
        print(f" {marker} {row['number']:>2}  {row['title']:<{width}}  {_minutes(row['minutes']):>7}  {row['state']}")
    print(f"\n{_bar(done, len(rows))}, about {left} minutes left")
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


def _starter(book: Workbook, kata: Kata) -> dict:
    try:
        return read_notebook(kata.notebook, next_step="")
    except KataError as error:
        raise KataError(
            f"The workbook's own starter {book.rel(kata.notebook)} is broken: {error} This is not your "
            f"notebook. If you changed the workbook's files (a merge, a pull), `git status` shows what; "
            f"`git checkout -- {book.rel(kata.notebook)}` restores it."
        ) from None


def _kata_cells(cells: list[dict], reference: list[dict]) -> dict:
    """The sources of the cells that correspond to the reference's `kata` cells, by id."""
    matched = identify(cells, reference)
    kata_ids = {c.get("id") for c in reference if "kata" in tags_of(c)}
    return {cell_id: source_of(cell) for cell, cell_id in zip(cells, matched) if cell_id in kata_ids}


def inspect_notebook(book: Workbook, kata: Kata) -> bool:
    """Raise KataError for what must be fixed before a check can run; True when the learner's
    `kata` cells are still exactly the starter's (nothing tried yet)."""
    notebook = book.workspace.notebook(kata)
    again = f"`kata reset {kata.number}` makes it again from the starter (after a backup)."
    if not notebook.exists() and not notebook.is_symlink():
        raise KataError(f"{book.rel(notebook)} does not exist. {again}")
    mine = read_notebook(notebook, next_step=f"Fix it, or {again}")["cells"]
    starter = _starter(book, kata)["cells"]
    if tampered := book.workspace.tampered_cells(kata, mine, starter):
        raise KataError(
            f"In {book.rel(notebook)}, {'; '.join(tampered)}. Those cells belong to the workbook. "
            f"`kata update {kata.number}` puts them back and keeps your code (after a backup)."
        )
    return _kata_cells(mine, starter) == _kata_cells(starter, starter)


def check_one(book: Workbook, kata: Kata, *, quiet: bool, timeout: float) -> dict:
    """Check the learner's notebook in a child process; record the mark; return the result."""
    from kata.isolated import run_isolated

    notebook = book.workspace.notebook(kata)
    base = {"kata": kata.id, "number": kata.number, "notebook": book.rel(notebook), "tests": [], "error": None}
    try:
        untouched = inspect_notebook(book, kata)
    except KataError as error:
        return {**base, "status": "error", "error": str(error)}
    level = book.progress.hint(kata.id)
    result = {**base, **run_isolated(kata, notebook, timeout=timeout, level=level, quiet=quiet), "level": level}
    result["untouched"] = untouched
    if result["status"] in ("passed", "failed") and not untouched:
        book.progress.record_check(kata.id, result["status"] == "passed")
        _tell_the_room(book, kata, "check", result["tests"])
    return result


def _tell_the_room(book: Workbook, kata: Kata, kind: str, tests=()) -> None:
    """Queue the event for the room this workbook joined, if any; sent in the background."""
    if not (book.root / STATE / "room.json").exists():  # not in a room: nothing to import, nothing to do
        return
    from kata.room.client import record_event

    record_event(book.root, kata.id, kind, book.progress.entry(kata.id), tests)


def _public(result: dict) -> dict:
    """The result in the documented JSON shape."""
    keep = ("kata", "number", "notebook", "status", "error")
    return {**{k: result.get(k) for k in keep},
            "tests": [{"name": t["name"], "status": t["status"], "message": t.get("message", "")} for t in result["tests"]]}


def _verdict(book: Workbook, kata: Kata, result: dict) -> str:
    from kata.report import headline, render

    status = result["status"]
    if status not in ("passed", "failed"):
        return f"kata {kata.label}: {result['error']}"
    lines = [render(result["tests"], result.get("level", 0)), ""]
    if status == "passed":
        following = book.next_after(kata)
        then = (f"Next: kata {following.number}, {following.title} ({book.rel(book.workspace.notebook(following))})."
                if following else "Every kata is done. `kata list` shows your progress.")
        lines.append(f"PASSED  kata {kata.label}: {headline(result['tests'])}. "
                     f"`kata walkthrough {kata.number}` explains the fix. {then}")
    else:
        lines.append(f"FAILED  kata {kata.label}: {headline(result['tests'])}. Fix the cells tagged `kata` in "
                     f"{result['notebook']}, save, and run `kata check {kata.number}` again. "
                     f"Stuck? `kata hint {kata.number}`.")
        if result.get("untouched"):
            lines.append("(Your `kata` cells are still the starter, so this does not count as an attempt.)")
    return "\n".join(lines)


def cmd_check(args, book: Workbook) -> int:
    kata = book.kata(args.kata)
    book.ensure_workspace()
    result = check_one(book, kata, quiet=args.json, timeout=args.timeout)
    if args.json:
        _emit(_public(result))
    else:
        ok = result["status"] in ("passed", "failed")
        print(_verdict(book, kata, result), file=sys.stdout if ok else sys.stderr)
        book.note_progress_problem()
    return {"passed": 0, "failed": 1}.get(result["status"], 2)


# --- hint and walkthrough -------------------------------------------------------------------------


def cmd_hint(args, book: Workbook) -> int:
    from kata.help import help_for

    kata = book.kata(args.kata)
    levels = help_for(kata).hints
    if not levels:
        raise KataError(f"Kata {kata.label} has no hints.")
    level = min(book.progress.hint(kata.id) + 1, len(levels))
    book.progress.record_hint(kata.id, level)
    _tell_the_room(book, kata, "hint")
    title, body = levels[level - 1]
    print(f"kata {kata.label}, {title} ({level} of {len(levels)})\n\n{body}\n")
    if level < len(levels):
        print(f"Still stuck? `kata hint {kata.number}` again gives the next level.")
    else:
        print(f"That was the last hint. `kata walkthrough {kata.number}` shows the fix step by step.")
    book.note_progress_problem()
    return 0


def cmd_walkthrough(args, book: Workbook) -> int:
    from kata.held import HELD_MESSAGE, ask_the_room, is_held
    from kata.help import help_for

    kata = book.kata(args.kata)
    text = help_for(kata).walkthrough
    if is_held(book.root, kata.id):
        text = ask_the_room(book.root, kata.id)
        if not text:
            print(f"kata {kata.label}: {HELD_MESSAGE} `kata hint {kata.number}` opens the next hint.")
            return 0
    if not text:
        raise KataError(f"Kata {kata.label} has no walkthrough.")
    book.progress.record_walkthrough(kata.id)
    _tell_the_room(book, kata, "walkthrough")
    print(f"kata {kata.label}: {kata.title}, the walkthrough\n\n{text}")
    book.note_progress_problem()
    return 0


# --- watch ---------------------------------------------------------------------------------------


def _stamp(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


def cmd_watch(args, book: Workbook) -> int:
    from kata.isolated import warm_up

    book.ensure_workspace()
    kata = book.kata(args.kata) if args.kata else book.current()
    if kata is None:
        print("Every kata is done. `kata verify` re-checks them all.")
        return 0
    print("Watching: save the notebook (Ctrl/Cmd+S) to re-check; JupyterLab's autosave is slow. Ctrl+C stops.",
          flush=True)
    warm_up(book.katas)  # once: every check after this starts in a warm process
    checks, seen = 0, None
    while args.max_checks is None or checks < args.max_checks:
        notebook = book.workspace.notebook(kata)
        stamp = _stamp(notebook)
        if stamp == seen:
            time.sleep(args.interval)
            continue
        seen, checks = stamp, checks + 1
        print(f"\n=== kata {kata.label}: {kata.title} ({book.rel(notebook)})", flush=True)
        book.progress = Progress(book.progress.path)
        result = check_one(book, kata, quiet=False, timeout=args.timeout)
        ok = result["status"] in ("passed", "failed")
        print(_verdict(book, kata, result), file=sys.stdout if ok else sys.stderr, flush=True)
        if result["status"] == "passed" and not result.get("untouched"):
            book.progress = Progress(book.progress.path)
            kata = book.next_after(kata)
            if kata is None:
                return 0
            seen = None
    return 0


# --- reset and update ----------------------------------------------------------------------------


def cmd_reset(args, book: Workbook) -> int:
    kata = book.kata(args.kata)
    saved = book.workspace.reset(kata)
    book.progress.reset(kata.id)
    if saved:
        print(f"Your notebook was saved to {book.rel(saved)}.")
    print(f"{book.rel(book.workspace.notebook(kata))} is the starter again. If it is open in JupyterLab, "
          "choose File → Reload Notebook from Disk.")
    book.note_progress_problem()
    return 0


def cmd_update(args, book: Workbook) -> int:
    if args.track:
        from kata.tracks import record

        book.use_track(args.track)
        record(book.root, book.track.name)
        print(f"Following the track {book.track.name!r}: {book.track.title} ({len(book.chosen)} katas). "
              "`kata list` shows it.")
    chosen = [book.kata(k) for k in args.katas] if args.katas else book.chosen
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


def _rule_verdicts(args, book: Workbook, chosen: list[Kata]) -> list:
    """kata.rules, the rules the test suite holds every kata to: the manifest's, then each kata's."""
    from kata.rules import kata_problems, manifest_problems
    from kata.verify import Verdict

    verdicts = [Verdict("manifest", "rules", manifest_problems(book.katas, book.root))]
    verdicts += [Verdict(kata.id, "rules", kata_problems(kata, book.root)) for kata in chosen]
    if not args.json:
        for verdict in verdicts:
            print(f"{'ok  ' if verdict.ok else 'FAIL'} {verdict.kata} {verdict.variant}", flush=True)
            for problem in verdict.problems:
                print(f"       {problem}")
    return verdicts


def _authoring(args, book: Workbook, chosen: list[Kata]) -> int:
    from kata.isolated import run_isolated, warm_up
    from kata.verify import verify_kata

    warm_up(chosen)

    def run(kata: Kata, notebook: Path) -> dict:
        return run_isolated(kata, notebook, timeout=args.timeout)

    verdicts = _rule_verdicts(args, book, chosen)  # what the files say, before any check runs
    for kata in chosen:
        for verdict in verify_kata(kata, run):
            verdicts.append(verdict)
            if not args.json:
                print(f"{'ok  ' if verdict.ok else 'FAIL'} {verdict.kata} {verdict.variant}", flush=True)
                for problem in verdict.problems:
                    print(f"       {problem}")
    ok = all(v.ok for v in verdicts)
    if args.json:
        _emit({"status": "passed" if ok else "failed",
               "katas": [{"kata": v.kata, "variant": v.variant, "ok": v.ok, "problems": v.problems} for v in verdicts]})
    return 0 if ok else 1


def cmd_verify(args, book: Workbook) -> int:
    chosen = [book.kata(k) for k in args.katas] if args.katas else (book.katas if args.authoring else book.chosen)
    if args.authoring:
        return _authoring(args, book, chosen)
    from kata.isolated import warm_up

    book.ensure_workspace()
    warm_up(chosen)
    results = []
    for kata in chosen:
        result = check_one(book, kata, quiet=True, timeout=args.timeout)
        results.append(result)
        if not args.json:
            failing = [t["name"] for t in result["tests"] if t["status"] != "passed"]
            detail = (result.get("error") or "").splitlines()[0][:160] if result.get("error") else ", ".join(failing)
            print(f"{result['status']:<8} {kata.number:>2} {kata.title:<56} {detail}".rstrip(), flush=True)
    passed = all(r["status"] == "passed" for r in results)
    if args.json:
        _emit({"status": "passed" if passed else "failed", "katas": [_public(r) for r in results]})
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


def cmd_new(args, book: Workbook) -> int:
    from kata.build import build
    from kata.scaffold import new_kata

    made = new_kata(book.root, args.id, args.module, title=args.title, check=args.check, shipped=args.shipped)
    kata = lookup(load(book.root), args.id)
    written = build([kata])
    for path in [*made.files, made.manifest, *written]:
        print(f"wrote {book.rel(path)}")
    print(f"\nKata {kata.label} is a small working example (a missing book answered 200): it already passes\n"
          f"`kata verify --authoring {kata.id}`. Replace it part by part (AUTHORING.md walks through it):\n"
          f"  1. its row in {book.rel(made.manifest)}: title, module, minutes, fails, decoys\n"
          f"  2. {book.rel(made.files[0])}: the story, the code under review, the evidence, hints, walkthrough\n"
          f"  3. {book.rel(made.files[1])}: the check, one test per behaviour\n"
          f"then `kata build {kata.id}` and `kata verify --authoring {kata.id}` after each step.")
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="kata", description="FastAPI Katas from the terminal. `kata` alone shows where you are.")
    sub = top.add_subparsers(dest="command")
    key_help = "the number `kata list` shows, or the kata's id"
    timeout_help = f"stop a check after this many seconds (default {DEFAULT_TIMEOUT:g})"

    def add(name, run, help_text):
        command = sub.add_parser(name, help=help_text, description=help_text)
        command.set_defaults(run=run)
        return command

    listing = add("list", cmd_list, "every kata with its state, and what to do next")
    listing.add_argument("--json", action="store_true", help="print the list as JSON")
    listing.add_argument("--track", help="show this track's katas (tracks/NAME.toml) instead of the recorded one")
    check = add("check", cmd_check, "check a kata on your notebook (as last saved), without a kernel")
    check.add_argument("kata", help=key_help)
    check.add_argument("--json", action="store_true", help="print the result as JSON, and nothing else")
    check.add_argument("--timeout", type=_seconds, default=DEFAULT_TIMEOUT, help=timeout_help)
    hint = add("hint", cmd_hint, "show the next hint for a kata (a nudge, the concept, then a sketch)")
    hint.add_argument("kata", help=key_help)
    walk = add("walkthrough", cmd_walkthrough, "show a kata's walkthrough: the fix step by step")
    walk.add_argument("kata", help=key_help)
    watch = add("watch", cmd_watch, "re-check a kata every time you save its notebook")
    watch.add_argument("kata", nargs="?", help=f"{key_help} (default: the first kata not done)")
    watch.add_argument("--interval", type=_seconds, default=0.05, help=argparse.SUPPRESS)
    watch.add_argument("--max-checks", type=int, default=None, help=argparse.SUPPRESS)
    watch.add_argument("--timeout", type=_seconds, default=DEFAULT_TIMEOUT, help=timeout_help)
    reset = add("reset", cmd_reset, "start a kata again from its starter (your notebook is backed up first)")
    reset.add_argument("kata", help=key_help)
    update = add("update", cmd_update, "refresh your notebooks after the workbook changed, keeping your code")
    update.add_argument("katas", nargs="*", help="numbers or ids (default: all)")
    update.add_argument("--quiet", action="store_true", help="say only what changed")
    update.add_argument("--track", help="follow this track from now on (tracks/NAME.toml; `full` is every kata)")
    verify = add("verify", cmd_verify, "check every kata of your workbook")
    verify.add_argument("katas", nargs="*", help="numbers or ids (default: all)")
    verify.add_argument("--authoring", action="store_true",
                        help="(authors) starters fail as declared, solutions and alternatives pass, decoys fail")
    verify.add_argument("--json", action="store_true", help="print the results as JSON, and nothing else")
    verify.add_argument("--timeout", type=_seconds, default=DEFAULT_TIMEOUT, help=timeout_help)
    add("doctor", cmd_doctor, "check Python, the libraries, the Jupyter kernel and the workbook")
    new = add("new", cmd_new, "(authors) start a new kata: its source, its check, its manifest row, its notebooks")
    new.add_argument("id", help="the new kata's id, a lowercase slug such as idempotent-payments")
    new.add_argument("--module", required=True, help="the module (chapter) it belongs to: an existing one, or a new one")
    new.add_argument("--title", help="what learners and other katas call it (default: from the id)")
    new.add_argument("--check", help="its check module (default: checks.<id with underscores>)")
    new.add_argument("--shipped", action="store_true",
                     help="write the row to katas.toml (the workbook's own), not to the team's katas.local.toml")
    build_ = add("build", cmd_build, "(authors) regenerate notebooks/ and solutions/ from sources/")
    build_.add_argument("katas", nargs="*", help="numbers or ids (default: all)")
    build_.add_argument("--check", action="store_true", help="only report stale notebooks")
    from kata.room.commands import add_commands  # join, report, edition, room: for classes and teams

    add_commands(add, sub)
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
    except KeyboardInterrupt:
        print("\nStopped.", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `kata list | head`: the reader left; nothing is wrong
        sys.stdout = open(os.devnull, "w")
        return 0


if __name__ == "__main__":
    sys.exit(main())
