"""The rules every kata is held to, read from its files without running anything: one list, used by
`kata verify --authoring` (before it runs the checks) and by the test suite (tests/test_manifest.py
and tests/test_notebooks.py), so that an author meets no rule that only CI knows.

Each rule is a function that yields problems, each a sentence that says what is wrong and what to
do. Manifest rules look at every kata at once (order, modules); kata rules at one kata. What needs
a check to run (starters fail as declared, solutions pass, decoys are rejected, findings give
nothing away) is ``kata.verify``'s two-sided verification, which `verify --authoring` runs next.
"""

import importlib
import inspect
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from kata.manifest import Kata

SLUG = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")
FIXTURE_PREFIXES = ("kata_", "shop_")
HINT_TITLES = ["Hint 1", "Hint 2", "Hint 3"]


@dataclass(frozen=True)
class Rule:
    name: str
    says: str  # the rule, in one sentence (AUTHORING.md lists them)
    find: Callable[..., Iterator[str]]
    scope: str  # "manifest": find(katas, root); "kata": find(kata, root)


RULES: list[Rule] = []


def rule(name: str, says: str, scope: str = "kata"):
    def register(find):
        RULES.append(Rule(name, says, find, scope))
        return find
    return register


# --- the manifest ---------------------------------------------------------------------------------


@rule("ids", "Ids are unique lowercase slugs (letters, digits, single hyphens).", "manifest")
def _ids(katas: list[Kata], root: Path) -> Iterator[str]:
    seen = set()
    for kata in katas:
        if not SLUG.fullmatch(kata.id):
            yield f"kata {kata.label}: the id {kata.id!r} is not a lowercase slug such as 'commit-timing'"
        if kata.id in seen:
            yield f"the id {kata.id!r} is used twice: ids are unique and never change once published"
        seen.add(kata.id)


@rule("modules-together", "A module's katas sit together in the manifest.", "manifest")
def _modules_together(katas: list[Kata], root: Path) -> Iterator[str]:
    modules = [k.module for k in katas]
    for index, kata in enumerate(katas):
        if modules.index(kata.module) != index and modules[index - 1] != kata.module:
            yield (f"kata {kata.label} is in {kata.module!r}, which already ended before it: move its row next to "
                   "that module's other katas (a team's own katas go in a module of their own)")


@rule("module-folders", "A module's notebooks share one folder, which no other module uses.", "manifest")
def _module_folders(katas: list[Kata], root: Path) -> Iterator[str]:
    folders: dict[str, set[str]] = {}
    for kata in katas:
        folders.setdefault(kata.module, set()).add(kata.notebook.parent.name)
    for module, names in folders.items():
        if len(names) > 1:
            yield f"the notebooks of {module!r} are in several folders ({', '.join(sorted(names))}): use one"
    owners: dict[str, list[str]] = {}
    for module, names in folders.items():
        for name in names:
            owners.setdefault(name, []).append(module)
    for name, modules in owners.items():
        if len(modules) > 1:
            yield f"the folder {name!r} holds notebooks of several modules ({', '.join(modules)}): one folder each"


# --- one kata: its row and its files -------------------------------------------------------------------


@rule("minutes", "Every kata declares its hands-on `minutes`.")
def _minutes(kata: Kata, root: Path) -> Iterator[str]:
    if kata.minutes is None:
        yield "add `minutes = N` to its row: the hands-on minutes it takes (tracks and `kata list` add them up)"


@rule("paths", "The source is sources/<id>.py; starter and solution have the same path under notebooks/ "
               "and solutions/, and a file name that ends with the id.")
def _paths(kata: Kata, root: Path) -> Iterator[str]:
    for what, path in (("source", kata.source), ("notebook", kata.notebook), ("solution", kata.solution)):
        if not path.is_file():
            yield f"the {what} {_rel(path, root)} is missing" + ("" if what == "source" else ": run `kata build`")
    if kata.source != root / "sources" / f"{kata.id}.py":
        yield f"the source is {_rel(kata.source, root)}; it must be sources/{kata.id}.py"
    if kata.notebook.name != kata.solution.name or not kata.notebook.stem.endswith(kata.id):
        yield f"the notebook and the solution must have one file name, ending with the id: '<NN>-{kata.id}.ipynb'"
    try:
        same = kata.notebook.relative_to(root / "notebooks") == kata.solution.relative_to(root / "solutions")
    except ValueError:
        same = False
    if not same:
        yield "the notebook lies under notebooks/ and the solution at the same place under solutions/"


@rule("check-module", "The check module exports (`__all__`) every test and only tests and `kata_`/`shop_` fixtures; "
                      "`fails` and each decoy's `fails` name real tests; guard tests pass on the starter.")
def _check_module(kata: Kata, root: Path) -> Iterator[str]:
    try:
        module = importlib.import_module(kata.check)
    except Exception as error:  # noqa: BLE001 - any import error is the author's to see
        yield f"the check module {kata.check} does not import: {type(error).__name__}: {error}"
        return
    exported = set(getattr(module, "__all__", ()))
    tests = {name for name, obj in vars(module).items() if name.startswith("test_") and inspect.isfunction(obj)}
    if missing := tests - exported:
        yield f"{kata.check}.__all__ lacks these tests: {', '.join(sorted(missing))}"
    if stray := {name for name in exported if name.startswith("test_")} - tests:
        yield f"{kata.check}.__all__ names tests it does not define: {', '.join(sorted(stray))}"
    if clobbering := sorted(n for n in exported if not n.startswith(("test_", *FIXTURE_PREFIXES))):
        yield (f"{kata.check}.__all__ exports {', '.join(clobbering)}: `import *` would clobber a learner's names; "
               f"export only tests and fixtures named {FIXTURE_PREFIXES[0]}... or {FIXTURE_PREFIXES[1]}...")
    if not kata.fails:
        yield "`fails` is empty: list the tests the starter fails"
    if unknown := set(kata.fails) - tests:
        yield f"`fails` names tests {kata.check} does not define: {', '.join(sorted(unknown))}"
    if len(tests) <= len(set(kata.fails) & tests):
        yield "every test fails on the starter: add guard tests that pass on it and catch lazy fixes"
    for decoy in kata.decoys:
        if not decoy.fails or set(decoy.fails) - tests:
            yield f"the decoy {decoy.name!r} must list, in `fails`, tests that {kata.check} defines"


@rule("decoy", "Every kata ships at least one decoy: a plausible wrong fix its check must reject.")
def _decoy(kata: Kata, root: Path) -> Iterator[str]:
    if not kata.decoys:
        yield "it has no decoy: add a `[[kata.decoy]]` table and a `decoy:<name>` kata cell in its source"


# --- one kata: its notebooks -------------------------------------------------------------------------


@rule("built", "The committed notebooks are what the source generates (`kata build`).")
def _built(kata: Kata, root: Path) -> Iterator[str]:
    from kata.build import stale

    for path in stale([kata]):
        yield f"{_rel(path, root)} is not what {_rel(kata.source, root)} generates: run `kata build {kata.id}`"


@rule("only-kata-cells-differ", "Starter and solution differ, and only in cells tagged `kata`.")
def _only_kata_cells_differ(kata: Kata, root: Path) -> Iterator[str]:
    from kata.notebook import tags_of

    starter, solution = _cells(kata.notebook), _cells(kata.solution)
    if [c.get("id") for c in starter] != [c.get("id") for c in solution]:
        yield "the starter and the solution do not have the same cells: run `kata build`"
        return
    differing = [s for s, f in zip(starter, solution) if s != f]
    if not differing:
        yield "the starter and the solution are the same: the `solution` kata cells must fix the starter"
    for cell in differing:
        if "kata" not in tags_of(cell):
            yield f"the cell {cell.get('id')} differs between starter and solution but is not tagged `kata`"


@rule("anatomy", "The notebook has the kata anatomy: a `# Title` first, one setup cell, `kata` cells, evidence, "
                 "one check cell (`%%ipytest` and `from checks.<module> import *`), then the hints (three levels) "
                 "and the walkthrough (with `What to remember`), which stay out of sight until asked for.")
def _anatomy(kata: Kata, root: Path) -> Iterator[str]:
    from kata.notebook import source_of, tags_of

    document = json.loads(kata.notebook.read_text(encoding="utf-8"))
    cells = document["cells"]

    def tagged(tag):
        return [c for c in cells if tag in tags_of(c)]

    counts = {"setup": (1, 1), "evidence": (1, None), "kata": (1, None), "check": (1, 1), "hint": (1, 1),
              "walkthrough": (1, 1)}
    for tag, (least, most) in counts.items():
        found = len(tagged(tag))
        if found < least or (most is not None and found > most):
            exactly = "exactly one" if most == 1 else "at least one"
            yield f"the notebook has {found} cell(s) tagged `{tag}`; it needs {exactly}"
    if any(len(tagged(tag)) != 1 for tag in ("check", "hint", "walkthrough")):
        return
    (check,), (hint,), (walkthrough,) = tagged("check"), tagged("hint"), tagged("walkthrough")
    if not (source_of(hint).endswith(f"hints({kata.id!r})") and source_of(walkthrough).endswith(f"walkthrough({kata.id!r})")):
        yield "the hint and walkthrough cells are not the ones `kata build` makes: run `kata build`"
    if not cells.index(check) < cells.index(hint) < cells.index(walkthrough):
        yield "the hints and the walkthrough come after the check cell, in that order"
    help_texts = document.get("metadata", {}).get("kata", {}).get("help", {})
    titles = [h.get("title", "").split(":")[0] for h in help_texts.get("hints", [])]
    if titles != HINT_TITLES:
        yield f"the hints are {titles}: write three hint cells titled '### Hint 1: a nudge', '### Hint 2: the concept', '### Hint 3: a sketch'"
    walkthrough_text = help_texts.get("walkthrough", "")
    if "What to remember" not in walkthrough_text:
        yield "the walkthrough has no 'What to remember' section"
    visible = "".join(source_of(c) for c in cells)
    first_hint = (help_texts.get("hints") or [{}])[0].get("text", "")[:40]
    if "What to remember" in visible or (first_hint and first_hint in visible):
        yield "help shows in a visible cell: hints and the walkthrough belong in cells tagged `hint` / `walkthrough`"
    if source_of(check).splitlines()[:2] != ["%%ipytest", f"from {kata.check} import *"]:
        yield f"the check cell must be exactly `%%ipytest` and `from {kata.check} import *`"
    if not cells or cells[0]["cell_type"] != "markdown" or not source_of(cells[0]).startswith("# "):
        yield "the first cell is markdown starting with the title: `# <title>`"
    if any(c.get("outputs") or c.get("execution_count") is not None for c in cells if c["cell_type"] == "code"):
        yield "the notebook has outputs: run `kata build` (it writes notebooks without outputs)"


@rule("variants-differ", "Each decoy and alternative has a kata cell of its own (it differs from the solution).")
def _variants_differ(kata: Kata, root: Path) -> Iterator[str]:
    from kata.build import SOLUTION, render, select
    from kata.source import parse

    cells = parse(kata.source)

    def kata_cells(variant: str) -> list[str]:
        return [c.text for c in select(cells, variant, kata.source) if "kata" in c.tags]

    solution = kata_cells(SOLUTION)
    for variant in [f"decoy:{d.name}" for d in kata.decoys] + [f"alternative:{a}" for a in kata.alternatives]:
        if kata_cells(variant) == solution:
            yield f"{variant} has no `kata` cell of its own (tag one `{variant}` in {_rel(kata.source, root)})"
        else:
            render(kata, variant)  # and it builds into a valid notebook


# --- running them --------------------------------------------------------------------------------------


def _rel(path: Path, root: Path) -> str:
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return str(path)


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _safe(find, *args) -> list[str]:
    """A rule's problems; a rule that cannot even read the files reports that as its problem."""
    try:
        return list(find(*args))
    except Exception as error:  # noqa: BLE001 - a broken file is a problem to report, not a crash
        return [f"could not be checked: {type(error).__name__}: {error}"[:400]]


def rule_named(name: str) -> Rule:
    return next(r for r in RULES if r.name == name)


def manifest_problems(katas: list[Kata], root: Path, name: str | None = None) -> list[str]:
    """``[rule name] problem`` for every manifest rule (or the one named, without the prefix)."""
    return [f"[{r.name}] {p}" if name is None else p
            for r in RULES if r.scope == "manifest" and name in (None, r.name) for p in _safe(r.find, katas, root)]


def kata_problems(kata: Kata, root: Path, name: str | None = None) -> list[str]:
    """``[rule name] problem`` for every kata rule (or the one named) that ``kata`` breaks. Rules
    about the notebooks wait until the files exist."""
    found = []
    for r in RULES:
        if r.scope != "kata" or name not in (None, r.name):
            continue
        if r.name in ("built", "only-kata-cells-differ", "anatomy") and not (kata.notebook.is_file() and kata.solution.is_file()):
            continue
        found += [f"[{r.name}] {p}" if name is None else p for p in _safe(r.find, kata, root)]
    return found
