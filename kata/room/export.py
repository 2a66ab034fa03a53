"""Reports: `kata room report` (the class, after the session: Markdown or CSV) and `kata report`
(one learner's own page, from their progress marks: for them, or for the lead onboarding them)."""

import csv
import io
import json
from datetime import datetime

from kata.manifest import Kata
from kata.progress import Progress
from kata.room.schemas import SummaryOut


def _stamp(text: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None
    except ValueError:
        return None


def _span(first: str | None, last: str | None) -> str:
    start, end = _stamp(first), _stamp(last)
    if not start or not end:
        return ""
    return f"{round((end - start).total_seconds() / 60)} min"


# --- the class ----------------------------------------------------------------------------------


def class_markdown(summary: SummaryOut) -> str:
    lines = [f"# Kata room report: track {summary.track}", "",
             f"{summary.learners} learner(s); made {summary.generated:%Y-%m-%d %H:%M} UTC.", "",
             "| # | Kata | Done | Failing | Not started | Most common failing test | Walkthrough |",
             "|---|---|---|---|---|---|---|"]
    for k in summary.katas:
        common = f"{k.common_failure.sentence} ({k.common_failure.learners})" if k.common_failure else ""
        lines.append(f"| {k.number} | {k.title} | {k.done} | {k.failing} | {k.not_started} | {common} | "
                     f"{'revealed' if k.revealed else 'held'} |")
    if summary.most_common_failure:
        c = summary.most_common_failure
        lines += ["", "## Most common failing test", "",
                  f"Kata {c.number}: **{c.sentence}** ({c.learners} learner(s)). {c.observed}"]
    if summary.stuck:
        lines += ["", "## Still stuck at the end", "", "| Learner | Kata | Failing for | On | Attempts | Hint |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {s.learner} | {s.number} {s.title} | {round(s.minutes)} min | {s.sentence} | {s.attempts} | {s.hint} |"
                  for s in summary.stuck]
    lines += ["", "## The class", "", "| Learner | Done | Failing | Hints opened | Last check |", "|---|---|---|---|---|"]
    lines += [f"| {l.name} | {l.done} | {l.failing} | {l.hints} | {l.last_seen or ''} |" for l in summary.class_]
    return "\n".join(lines) + "\n"


def class_csv(rows: list[dict]) -> str:
    """One row per learner and kata they touched (see commands.room_rows)."""
    out = io.StringIO()
    fields = ["learner", "number", "kata", "title", "status", "attempts", "hint", "walkthrough", "first_check",
              "last_check", "failing_tests"]
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: row.get(k, "") for k in fields})
    return out.getvalue()


def state_rows(states, learners: dict[int, str], katas: list[Kata]) -> list[dict]:
    by_id = {k.id: k for k in katas}
    rows = []
    for s in states:
        kata = by_id.get(s.kata)
        rows.append({"learner": learners.get(s.learner_id, "?"), "number": kata.number if kata else "",
                     "kata": s.kata, "title": kata.title if kata else "",
                     "status": {"passed": "done", "failed": "failing"}.get(s.status, "not started"),
                     "attempts": s.attempts, "hint": s.hint, "walkthrough": "yes" if s.walkthrough else "",
                     "first_check": s.first_check or "", "last_check": s.last_check or "",
                     "failing_tests": "; ".join(t["sentence"] for t in json.loads(s.failing or "[]"))})
    rows.sort(key=lambda r: (r["learner"].lower(), r["number"] if r["number"] != "" else 10**6))
    return rows


# --- one learner ---------------------------------------------------------------------------------


def learner_markdown(progress: Progress, katas: list[Kata], track_title: str, name: str | None = None) -> str:
    done = [k for k in katas if progress.state(k.id) == "done"]
    left = sum(k.minutes or 0 for k in katas if k not in done)
    lines = [f"# Progress{f' of {name}' if name else ''}: {track_title}", "",
             f"{len(done)} of {len(katas)} katas done; about {left} minutes of katas left.", "",
             "| # | Kata | State | Attempts | Hints | Walkthrough | First check | Last check | Between |",
             "|---|---|---|---|---|---|---|---|---|"]
    for k in katas:
        entry = progress.entry(k.id)
        lines.append(f"| {k.number} | {k.title} | {progress.state(k.id)} | {entry.get('attempts', 0)} | "
                     f"{entry.get('hint', 0)} | {'opened' if entry.get('walkthrough') else ''} | "
                     f"{entry.get('first_check', '')} | {entry.get('last_check', '')} | "
                     f"{_span(entry.get('first_check'), entry.get('last_check'))} |")
    hard = [k for k in katas if progress.entry(k.id).get("hint", 0) >= 3 or progress.entry(k.id).get("attempts", 0) >= 5]
    if hard:
        lines += ["", "Worth talking through (the last hint opened, or five attempts or more): "
                  + ", ".join(f"{k.number} {k.title}" for k in hard) + "."]
    return "\n".join(lines) + "\n"
