"""The katas' checks: one pytest module per kata, plus the harness they share.

A notebook runs a check with ``%%ipytest`` and ``from checks.<kata> import *``; ``kata check``
runs the same module in-process on the notebook's code. Both use the pytest options below.
"""

from pathlib import Path

PYTEST_ARGS = [
    "-c", str(Path(__file__).with_name("pytest.ini")),
    # Only the plugins a check uses: scanning every installed package for plugins costs more
    # than running the check itself.
    "--disable-plugin-autoload",
    "-p", "anyio.pytest_plugin",
    "-q",
    "--tb=short",
    "--no-header",
    "-rN",  # the failures above already name each test; the summary would repeat them
    "--show-capture=no",
    "-W", "ignore::pytest.PytestAssertRewriteWarning",
    "-p", "no:cacheprovider",  # nothing to cache, and no .pytest_cache in the learner's folders
    "-p", "checks.harness",
]


def setup_notebook() -> None:
    """Configure ipytest once per kernel: the notebook's setup cell calls this."""
    import ipytest

    # Checks are anyio tests: they need an event loop of their own, and the kernel's is busy.
    ipytest.autoconfig(run_in_thread=True, addopts=PYTEST_ARGS, raise_on_error=False)
