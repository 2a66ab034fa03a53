"""The katas' checks: one pytest module per kata, plus the harness they share.

A notebook runs a check with ``%%ipytest`` and ``from checks.<kata> import *``; ``kata check``
runs the same module on the notebook's code, in a process of its own. Both use the pytest
options below, and both show the result as ``kata.report`` renders it: pytest's own terminal
output is switched off.
"""

import sys
from pathlib import Path

# httpx imports its command-line client whenever click, rich and pygments are installed (uvicorn,
# FastAPI's CLI and IPython bring them): 50-80 ms in every kernel and check, for a `main` nothing
# here calls. Without it, `httpx.main` says the CLI is not installed; the `httpx` command still runs.
sys.modules.setdefault("httpx._main", None)


def _without(*plugins: str) -> list[str]:
    return [arg for name in plugins for arg in ("-p", f"no:{name}")]


# The options of every pytest session here: a check's, and (``checks.mutation``) a learner's suite's.
SESSION_ARGS = [
    "-c", str(Path(__file__).with_name("pytest.ini")),
    # Only the plugins a check uses: scanning every installed package for plugins costs more
    # than running the check itself.
    "--disable-plugin-autoload",
    "-p", "anyio.pytest_plugin",
    "-p", "no:terminal",  # the harness reports; pytest's paths and assert lines say nothing to a learner
    "-p", "no:cacheprovider",  # nothing to cache, and no .pytest_cache in the learner's folders
    "--noconftest",  # a conftest.py lying in some folder above must not change a check
    # These two turn stray exceptions into warnings nobody reads here, and collect garbage twice
    # at the end of every run to find them: a third of a small check's time.
    "-p", "no:unraisableexception",
    "-p", "no:threadexception",
    "-W", "ignore::pytest.PytestAssertRewriteWarning",
    # Built-in plugins no session here uses: each adds to the start of every session, and a
    # testing kata's check runs a dozen sessions.
    *_without("debugging", "pastebin", "junitxml", "doctest", "setuponly", "setupplan", "stepwise", "faulthandler"),
]
# A check's session: without what a learner's suite may use (TestCase classes, tmpdir, subtests)
# but no check does, and with the checks' harness.
PYTEST_ARGS = [*SESSION_ARGS, *_without("unittest", "legacypath", "subtests"), "-p", "checks.harness"]


def preloaded(args: list[str]) -> list:
    """The modules ``args`` name with ``-p``, imported: given to ``pytest.main(plugins=...)`` they
    are registered before the ``-p`` options are read, and pytest, finding them there, skips the
    scan of every installed package's entry points that each ``-p`` otherwise costs (7 ms each,
    in every session; a testing kata's check runs a dozen)."""
    import importlib

    names = [value for option, value in zip(args, args[1:]) if option == "-p" and not value.startswith("no:")]
    return [importlib.import_module(name) for name in names]


def quiet_the_orphans_of_refused_queries() -> None:
    """When the async ORM refuses a query it cannot await (MissingGreenlet: the lesson of several
    katas), SQLAlchemy closes the coroutine it was handed; but aiosqlite's ``cursor()`` and
    ``execute()`` hand it a wrapper, not a coroutine, so the one inside is left to the garbage
    collector, which warns that it was never awaited whenever it runs: in a later, unrelated cell,
    naming whatever file was running. The learner's own un-awaited coroutines still warn."""
    import warnings

    warnings.filterwarnings("ignore", message=r"coroutine 'Connection\.\w+' was never awaited",
                            category=RuntimeWarning)


def setup_notebook() -> None:
    """Configure ipytest once per kernel: the notebook's setup cell calls this."""
    import ipytest

    quiet_the_orphans_of_refused_queries()

    from bookshop.scratch import scratch_folder

    # The tests' folders (and the databases in them) in memory where the system allows, as under
    # `kata check`: pytest empties this folder at the start of each check.
    tests_folder = scratch_folder("kata-kernel-") / "tests"
    # Checks are anyio tests: they need an event loop of their own, and the kernel's is busy.
    ipytest.autoconfig(run_in_thread=True, addopts=[*PYTEST_ARGS, "--kata-notebook", f"--basetemp={tests_folder}"],
                       raise_on_error=False)


def hints(kata_id: str) -> None:
    """The notebook's hint cell: the hints opened so far, and a button for the next one."""
    from kata.widgets import hints as show

    show(kata_id)


def walkthrough(kata_id: str) -> None:
    """The notebook's walkthrough cell: closed until asked for, open once the check passes."""
    from kata.widgets import walkthrough as show

    show(kata_id)
