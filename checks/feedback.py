"""How a check tells the learner what it saw. Every failure of every check goes through here.

A failure is a ``Finding``: what the check *observed*, in the app's own terms (a status, the rows
left behind, the order of events, the thread that ran a call), and *why* that matters in
production. Neither of those two may contain the code of the fix: the learner reasons from them.
A finding may also carry a ``nudge`` (hint level 1: where to look, as a question) and a
``concept`` (level 2: the idea to look up). The harness shows those only once the learner has
opened that hint level, so the help a failure gives grows with what the learner asked for.

Checks never format their own messages: they call ``expect`` or ``fail``, and ``kata.report``
renders every finding the same way, in the notebook and in the terminal.
"""

from dataclasses import dataclass

__all__: list[str] = []  # nothing for `from checks.x import *` to pick up from here


@dataclass(frozen=True)
class Finding:
    observed: str
    why: str
    nudge: str = ""
    concept: str = ""

    def as_dict(self) -> dict:
        return {"observed": self.observed, "why": self.why, "nudge": self.nudge, "concept": self.concept}


class Unmet(AssertionError):
    """A check's expectation the learner's code did not meet; carries the finding."""

    def __init__(self, finding: Finding):
        super().__init__(finding.observed)
        self.finding = finding


def fail(observed: str, why: str, *, nudge: str = "", concept: str = "") -> None:
    """Fail the running test with this finding."""
    raise Unmet(Finding(" ".join(observed.split()), " ".join(why.split()), " ".join(nudge.split()),
                        " ".join(concept.split())))


def expect(condition: object, observed: str, why: str, *, nudge: str = "", concept: str = "") -> None:
    """Fail with this finding unless ``condition`` holds. The texts are built before the call:
    where building them needs the failure to have happened, write ``if not ...: fail(...)``."""
    if not condition:
        fail(observed, why, nudge=nudge, concept=concept)
