"""`kata doctor`: is this Python, these libraries and this kernel what the workbook was tested on?"""

import subprocess
import sys
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from kata.workspace import Workspace

REINSTALL = "Run `python3 workbook.py lab` (it reinstalls the tested versions), or delete .venv/ first."


def diagnose(root: Path) -> Iterator[tuple[bool, str, str]]:
    """(ok, what was checked, what to do if not ok), one per check."""
    python = ".".join(map(str, sys.version_info[:3]))
    try:
        dist = metadata.distribution("fastapi-katas")
    except metadata.PackageNotFoundError:
        yield False, "the workbook is installed in this Python", REINSTALL
        return
    required = SpecifierSet(dist.metadata["Requires-Python"] or "")
    yield required.contains(python), f"Python {python} (tested: {required})", "Install Python 3.11 or newer, then " + REINSTALL
    for line in dist.requires or []:
        requirement = Requirement(line)
        if requirement.marker:  # the [dev] extra: only the workbook's own tests need it
            continue
        try:
            found = metadata.version(requirement.name)
        except metadata.PackageNotFoundError:
            yield False, f"{requirement.name} is missing (tested: {requirement.specifier})", REINSTALL
            continue
        ok = requirement.specifier.contains(found, prereleases=True)
        yield ok, f"{requirement.name} {found} (tested: {requirement.specifier})", REINSTALL
    yield from _kernel()
    yield True, f"workbook at {root}", ""
    import checks

    origin = Path(checks.__file__).resolve().parent.parent
    yield (
        origin == root.resolve(),
        f"the checks come from this workbook ({origin})",
        f"This Python runs the checks of another copy of the workbook. Run `python3 workbook.py lab` from {root}.",
    )
    workspace = Workspace(root)
    yield workspace.folder.is_dir(), f"your notebooks in {workspace.folder}", "Run `kata update` to create them."


def _kernel() -> Iterator[tuple[bool, str, str]]:
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec("python3")
    except NoSuchKernel:
        yield False, "a Jupyter kernel named python3", "Run `python -m ipykernel install --sys-prefix`, then try again."
        return
    executable = spec.argv[0]
    if executable in ("python", "python3", "{python}"):
        executable = sys.executable
    probe = subprocess.run([executable, "-c", "import checks, bookshop, ipytest"], capture_output=True, text=True)
    yield (
        probe.returncode == 0,
        f"the python3 kernel ({executable}) can import the workbook",
        "JupyterLab would start a kernel without the workbook's packages: run JupyterLab with "
        "`python3 workbook.py lab`, or install a kernel for this environment: "
        "`python -m ipykernel install --sys-prefix`.",
    )
