#!/usr/bin/env python3
"""Set up and run FastAPI Katas with nothing installed but Python 3.11 or newer.

    python3 workbook.py lab     open the workbook in JupyterLab
    python3 workbook.py test    run the workbook's own test suite

The first run creates `.venv/` beside this file and installs the locked dependencies into it;
later runs reuse it, and reinstall only when `requirements.lock` or the project's dependencies
in `pyproject.toml` changed.
Anything after the command is passed on (to `jupyter lab` or to `pytest`).
"""

import hashlib
import json
import os
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".workbook-stamp"
WORKSPACE = "workspace"  # the learner's own notebooks, made and refreshed by `kata update`
FIRST_KATA = "1-dependency-injection/01-lifespan.ipynb"
# JupyterLab asks on first start whether to fetch Jupyter news; the workbook answers for you.
LAB_OVERRIDES = {"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False}}


def _fingerprint() -> str:
    """What the installed environment depends on: the lock, and the project table of pyproject
    (not its tool settings, so changing a pytest option reinstalls nothing)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    digest = hashlib.sha256((ROOT / "requirements.lock").read_bytes())
    digest.update(json.dumps(project, sort_keys=True).encode())
    return digest.hexdigest()


def _run(*command: str) -> None:
    print("+", " ".join(command), flush=True)
    subprocess.run(command, check=True, cwd=ROOT)


def ensure_environment() -> None:
    if STAMP.is_file() and STAMP.read_text().strip() == _fingerprint():
        return
    if not PYTHON.exists():
        print(f"Creating the workbook's environment in {VENV} (once) ...", flush=True)
        venv.create(VENV, with_pip=True)
    _run(str(PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", "requirements.lock")
    _run(str(PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps", "-e", ".")
    write_lab_settings(VENV)
    STAMP.write_text(_fingerprint())


def write_lab_settings(prefix: Path) -> None:
    """JupyterLab reads defaults from <prefix>/share/jupyter/lab/settings/overrides.json."""
    overrides = Path(prefix) / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    overrides.parent.mkdir(parents=True, exist_ok=True)
    overrides.write_text(json.dumps(LAB_OVERRIDES, indent=2) + "\n")


def main(argv: list[str]) -> int:
    if sys.version_info < (3, 11):
        print(f"FastAPI Katas needs Python 3.11 or newer; this is {sys.version.split()[0]}.", file=sys.stderr)
        return 2
    if not argv or argv[0] not in ("lab", "test"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    command, extra = argv[0], argv[1:]
    try:
        ensure_environment()
    except subprocess.CalledProcessError as error:
        print(f"\nInstalling the workbook's dependencies failed (exit {error.returncode}).", file=sys.stderr)
        print(f"Check your network, delete {VENV} and run this command again.", file=sys.stderr)
        return 2
    if command == "lab":
        # Make or refresh the learner's copies (backed up first, code kept), then open them.
        subprocess.run([str(BIN / "kata"), "update", "--quiet"], cwd=ROOT)
        # Given a file, Jupyter serves that file's folder unless told the root explicitly.
        args = [str(BIN / "jupyter"), "lab", "--ServerApp.root_dir=.", FIRST_KATA, *extra]
        os.chdir(ROOT / WORKSPACE)  # JupyterLab serves, and shows, the folder it starts in
    else:
        args = [str(PYTHON), "-m", "pytest", *extra]
        os.chdir(ROOT)
    if os.name == "nt":
        return subprocess.call(args)
    os.execv(args[0], args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
