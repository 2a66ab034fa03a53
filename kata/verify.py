"""Two-sided verification: every starter fails exactly as declared, for the declared reason;
every solution passes; every decoy (a plausible wrong fix) is rejected."""

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from kata.build import SOLUTION, STARTER, render
from kata.manifest import Kata
from kata.runner import CheckResult, run_check

# A failure that teaches is an assertion or an explicit pytest.fail, never a crash in the check.
TEACHING = ("AssertionError", "Failed")


@dataclass
class Verdict:
    kata: str
    variant: str
    problems: list[str] = field(default_factory=list)
    result: CheckResult | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def _judge(kata: Kata, variant: str, result: CheckResult, must_fail: set[str], exact: bool) -> Verdict:
    verdict = Verdict(kata.id, variant, result=result)
    failed = result.failed()
    names = {t["name"] for t in result.tests}
    if unknown := must_fail - names:
        verdict.problems.append(f"declared tests not found in {kata.check}: {sorted(unknown)}")
    if missing := must_fail - failed:
        verdict.problems.append(f"should fail but passed: {sorted(missing)}")
    if exact and (extra := failed - must_fail):
        verdict.problems.append(f"failed but not declared: {sorted(extra)}")
    for test in result.tests:
        if test["status"] != "passed" and not test["message"].startswith(TEACHING):
            verdict.problems.append(f"{test['name']} failed without teaching: {test['message'][:200]}")
    return verdict


def verify_kata(kata: Kata) -> list[Verdict]:
    verdicts = [
        _judge(kata, STARTER, run_check(kata, kata.notebook), set(kata.fails), exact=True),
        _judge(kata, SOLUTION, run_check(kata, kata.solution), set(), exact=True),
    ]
    with tempfile.TemporaryDirectory(prefix=f"decoys-{kata.id}-") as folder:
        for decoy in kata.decoys:
            variant = f"decoy:{decoy.name}"
            path = Path(folder) / f"{decoy.name}.ipynb"
            path.write_text(render(kata, variant), encoding="utf-8")
            verdicts.append(_judge(kata, variant, run_check(kata, path), set(decoy.fails), exact=False))
    return verdicts
