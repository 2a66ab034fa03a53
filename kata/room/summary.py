"""The class at a glance, from the `states` table: per kata how many are done, failing, not started,
and which test most of them fail; who has been stuck longest, on which test; each learner's tally."""

import json
from collections import Counter
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kata.manifest import Kata
from kata.room.schemas import FailureOut, KataOut, LearnerOut, StuckOut, SummaryOut
from kata.room.store import Learner, Reveal, State

STUCK_SHOWN = 10


def _parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def _failure(kata: Kata, rows: list[State]) -> FailureOut | None:
    """The failing test most of these learners are on, with what the check observed."""
    counts: Counter[str] = Counter()
    example: dict[str, dict] = {}
    for row in rows:
        for test in json.loads(row.failing or "[]"):
            counts[test["test"]] += 1
            example.setdefault(test["test"], test)
    if not counts:
        return None
    test, learners = max(counts.items(), key=lambda item: item[1])  # ties: the check's first
    found = example[test]
    return FailureOut(kata=kata.id, number=kata.number, test=test, sentence=found["sentence"],
                      observed=found.get("observed", ""), learners=learners)


async def summarise(session: AsyncSession, katas: list[Kata], track: str) -> SummaryOut:
    learners = {l.id: l.name for l in await session.scalars(select(Learner))}
    states = list(await session.scalars(select(State)))
    revealed = set(await session.scalars(select(Reveal.kata)))
    moment = datetime.now(UTC)
    shown = {k.id: k for k in katas}
    per_kata: dict[str, list[State]] = {}
    for state in states:
        per_kata.setdefault(state.kata, []).append(state)

    rows, failures = [], []
    for kata in katas:
        mine = per_kata.get(kata.id, [])
        done = sum(s.status == "passed" for s in mine)
        failing = [s for s in mine if s.status == "failed"]
        failure = _failure(kata, failing)
        if failure:
            failures.append(failure)
        rows.append(KataOut(id=kata.id, number=kata.number, title=kata.title, minutes=kata.minutes, done=done,
                            failing=len(failing), not_started=len(learners) - done - len(failing),
                            revealed=kata.id in revealed, common_failure=failure))

    stuck = []
    for state in states:
        kata = shown.get(state.kata)
        if kata is None or state.status != "failed" or state.learner_id not in learners:
            continue
        since = state.failing_since or state.checked_at or state.first_check
        failing = json.loads(state.failing or "[]")
        stuck.append(StuckOut(learner=learners[state.learner_id], kata=kata.id, number=kata.number, title=kata.title,
                              since=since, minutes=round((moment - _parse(since)).total_seconds() / 60, 1),
                              sentence=failing[0]["sentence"] if failing else "", attempts=state.attempts,
                              hint=state.hint))
    stuck.sort(key=lambda s: (s.since, s.learner))

    tally = []
    for learner_id, name in sorted(learners.items(), key=lambda item: item[1].lower()):
        mine = [s for s in states if s.learner_id == learner_id]
        seen = [s.last_check for s in mine if s.last_check]
        tally.append(LearnerOut(name=name, done=sum(s.status == "passed" for s in mine),
                                failing=sum(s.status == "failed" for s in mine),
                                hints=sum(s.hint or 0 for s in mine), last_seen=max(seen, default=None)))
    common = max(failures, key=lambda f: (f.learners, -f.number), default=None)
    return SummaryOut(generated=moment, track=track, learners=len(learners), katas=rows, stuck=stuck[:STUCK_SHOWN],
                      most_common_failure=common, class_=tally)
