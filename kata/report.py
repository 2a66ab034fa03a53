"""One way to show a check's result, in the notebook's check cell and in the terminal alike:
each test as its sentence, then what was observed, why it matters, the hint for the level the
learner has opened, and what the server raised. No file paths, no assert lines, no test ids."""

import textwrap

WIDTH = 100
LEVEL_NAMES = {1: "Hint 1", 2: "Hint 2"}


def sentence(name: str) -> str:
    """``test_the_engine_is_disposed[x]`` -> ``The engine is disposed (x)``."""
    base, _, params = name.partition("[")
    words = base.removeprefix("test_").replace("_", " ").strip()
    text = words[:1].upper() + words[1:]
    return f"{text} ({params.rstrip(']')})" if params else text


def parts(test: dict, level: int = 0) -> list[tuple[str, str]]:
    """(label, text) pairs under a failing test's sentence, at hint ``level`` (0 = none asked for)."""
    finding = test.get("finding")
    if finding:
        found = [("Observed", finding["observed"]), ("Why it matters", finding["why"])]
        found += [(LEVEL_NAMES[n], finding[key]) for n, key in ((1, "nudge"), (2, "concept"))
                  if level >= n and finding.get(key)]
    else:
        found = [("The check stopped", test.get("error") or "without a result")]
    if test.get("server"):
        found.append(("The server raised", test["server"]))
    return found


def explain(test: dict, level: int = 0) -> str:
    return "\n".join(
        textwrap.fill(f"{label}: {text}", WIDTH, initial_indent="    ", subsequent_indent="      ",
                      break_long_words=False, break_on_hyphens=False)
        for label, text in parts(test, level)
    )


def message(test: dict, level: int = 0) -> str:
    """The same as ``explain``, unwrapped: one line per part, for JSON and for reports."""
    return "\n".join(f"{label}: {text}" for label, text in parts(test, level))


def render(tests: list[dict], level: int = 0) -> str:
    failing = [t for t in tests if t["status"] != "passed"]
    blocks = [f"✗ {sentence(t['name'])}\n{explain(t, level)}" for t in failing]
    passing = [f"✓ {sentence(t['name'])}" for t in tests if t["status"] == "passed"]
    if passing:
        blocks.append("\n".join(passing))
    return "\n\n".join(blocks)


def headline(tests: list[dict]) -> str:
    failing = sum(t["status"] != "passed" for t in tests)
    if not tests:
        return "no test ran"
    if not failing:
        return f"all {len(tests)} tests pass"
    return f"{failing} of {len(tests)} tests fail"
