"""Two-sided verification: every starter fails exactly as declared, for the declared reason; every
solution passes; every decoy (a plausible wrong fix) is rejected; every alternative (a right fix
written another way) passes; and the evidence cells run on every variant without crashing.

A failure "teaches" when it is a finding (see ``checks.feedback``): what was observed and why it
matters. A bare exception from a check, on a starter or a decoy, is a defect of the check.
"""

import contextlib
import functools
import io
import re
import tempfile
import tokenize
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from kata import KataError
from kata.build import SOLUTION, STARTER, render
from kata.manifest import Kata
from kata.notebook import SKIPPED_TAGS, load_module
from kata.source import parse

Runner = Callable[[Kata, Path], dict]  # runs a check on a notebook; returns {"status", "tests", "error"}


def in_process(kata: Kata, notebook: Path) -> dict:
    from kata.runner import run_check

    try:
        return asdict(run_check(kata, notebook))
    except KataError as error:
        return {"status": "error", "tests": [], "error": str(error)}


@dataclass
class Verdict:
    kata: str
    variant: str
    problems: list[str] = field(default_factory=list)
    result: dict | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def _names(code: str) -> set[str]:
    try:
        return {t.string for t in tokenize.generate_tokens(io.StringIO(code).readline) if t.type == tokenize.NAME}
    except (tokenize.TokenError, SyntaxError):
        return set(re.findall(r"[A-Za-z_]\w*", code))


@functools.cache
def fix_names(kata: Kata) -> frozenset[str]:
    """The names the fix brings in: in the solution's kata cells, not in the starter's."""
    cells = [c for c in parse(kata.source) if "kata" in c.tags]
    starter = set().union(*(_names(c.text) for c in cells if c.variant == STARTER))
    solution = set().union(*(_names(c.text) for c in cells if c.variant == SOLUTION))
    return frozenset(solution - starter)


CODE_SPAN = re.compile(r"`([^`]+)`|([A-Za-z_][\w.]*\()")


def give_aways(kata: Kata, text: str) -> list[str]:
    """The code spans in ``text`` that contain a name only the fix has."""
    found = []
    for match in CODE_SPAN.finditer(text):
        span = match.group(1) or match.group(2)
        if set(re.findall(r"[A-Za-z_]\w*", span)) & fix_names(kata):
            found.append(span)
    return found


def _judge(kata: Kata, variant: str, result: dict, must_fail: set[str], exact: bool) -> Verdict:
    verdict = Verdict(kata.id, variant, result=result)
    if result.get("status") not in ("passed", "failed"):
        verdict.problems.append(f"no verdict: {result.get('error')}")
        return verdict
    tests = result["tests"]
    failed = {t["name"] for t in tests if t["status"] != "passed"}
    names = {t["name"] for t in tests}
    if unknown := must_fail - names:
        verdict.problems.append(f"declared tests not found in {kata.check}: {sorted(unknown)}")
    if missing := must_fail - failed:
        verdict.problems.append(f"should fail but passed: {sorted(missing)}")
    if exact and (extra := failed - must_fail):
        verdict.problems.append(f"failed but not declared: {sorted(extra)}")
    for test in tests:
        if test["status"] == "passed":
            continue
        finding = test.get("finding")
        if not finding:
            verdict.problems.append(f"{test['name']} failed without a finding: {test.get('message', '')[:300]}")
        elif spans := give_aways(kata, f"{finding['observed']} {finding['why']}"):
            verdict.problems.append(f"{test['name']}: level 0 gives the fix's code away: {spans}")
    return verdict


def run_evidence(kata: Kata, notebook: Path) -> str | None:
    """Run every cell but the check and the setup, evidence included, on a database of their own
    (as a fresh kernel would have); what went wrong, if anything."""
    from bookshop.db import DATABASE_URL_ENV, fresh_database
    from bookshop.upstream import environment

    skipped = SKIPPED_TAGS - {"evidence"}
    with tempfile.TemporaryDirectory(prefix="evidence-") as folder:
        try:
            with (environment(**{DATABASE_URL_ENV: fresh_database(Path(folder))}),
                  contextlib.redirect_stdout(io.StringIO()), contextlib.chdir(Path(notebook).parent)):
                load_module(Path(notebook), f"evidence_{kata.id.replace('-', '_')}", next_step="fix the source.", skip=skipped)
        except KataError as error:
            return str(error)
    return None


def variants(kata: Kata) -> list[tuple[str, set[str], bool]]:
    """(variant, tests it must fail, whether exactly those) for every variant of the kata."""
    return [
        (STARTER, set(kata.fails), True),
        (SOLUTION, set(), True),
        *((f"decoy:{d.name}", set(d.fails), False) for d in kata.decoys),
        *((f"alternative:{name}", set(), True) for name in kata.alternatives),
    ]


def verify_kata(kata: Kata, run: Runner = in_process, *, evidence: bool = True) -> list[Verdict]:
    """Verify every variant. The evidence cells of the starter and the solution run in the kernel
    tests; here they run for the decoys and alternatives (``evidence=False`` skips that)."""
    verdicts = []
    with tempfile.TemporaryDirectory(prefix=f"variants-{kata.id}-") as folder:
        for variant, must_fail, exact in variants(kata):
            if variant == STARTER:
                path = kata.notebook
            elif variant == SOLUTION:
                path = kata.solution
            else:
                path = Path(folder) / kata.notebook.parent.name / f"{variant.replace(':', '-')}.ipynb"
                path.parent.mkdir(exist_ok=True)
                path.write_text(render(kata, variant), encoding="utf-8")
            verdict = _judge(kata, variant, run(kata, path), must_fail, exact)
            if evidence and variant not in (STARTER, SOLUTION) and (crash := run_evidence(kata, path)):
                verdict.problems.append(f"the evidence cells crashed: {crash[:600]}")
            verdicts.append(verdict)
    return verdicts
