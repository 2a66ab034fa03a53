#!/usr/bin/env python3
"""Set up and run FastAPI Katas with nothing installed but Python 3.11 or newer.

    python3 workbook.py lab           open the workbook in JupyterLab
    python3 workbook.py test          run the workbook's own test suite
    python3 workbook.py wheels DIR    (teachers) download every package once into DIR, for
                                      installing without a network: add `--dev` for the tests'

The first run creates `.venv/` beside this file and installs the locked dependencies into it:
`requirements.lock` for `lab`, `requirements-dev.lock` (the same plus the test tools) for `test`.
Later runs reuse it, and reinstall only when a lock or the project's dependencies changed. It
installs with uv when `uv` is on the PATH (faster), with pip otherwise. `--wheels DIR` (or the
environment variable WORKBOOK_WHEELS=DIR) installs from a folder made by `wheels`, offline.
Anything else after the command is passed on (to `jupyter lab` or to `pytest`).
"""

# This file must run far enough on an old Python (3.6 and later) to say what to do: no syntax,
# annotation or import newer than that at the top level (tomllib is imported where it is used).
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

NEEDED = (3, 11)
ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".workbook-stamp"
LOCKS = {"learner": ("requirements.lock",), "dev": ("requirements.lock", "requirements-dev.lock")}
BUILD_REQUIREMENTS = ("setuptools>=77",)  # pyproject's build-system: the editable install needs it
WORKSPACE = "workspace"  # the learner's own notebooks, made and refreshed by `kata update`
FIRST_KATA = "1-dependency-injection/01-lifespan.ipynb"
# JupyterLab asks on first start whether to fetch Jupyter news; the workbook answers for you.
LAB_OVERRIDES = {"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False}}
REEXEC = "WORKBOOK_REEXEC"  # set when this file re-ran itself with a newer Python: never loop


# --- the Python that runs this ---------------------------------------------------------------------


def newer_pythons(path=None):
    """`python3.1x` programs on the PATH that are 3.11 or newer, the tested 3.11 first."""
    found = {}
    for folder in (path if path is not None else os.environ.get("PATH", "")).split(os.pathsep):
        try:
            names = os.listdir(folder or ".")
        except OSError:
            continue
        for name in names:
            match = re.fullmatch(r"python3\.(\d+)", name)
            program = os.path.join(folder, name)
            if match and int(match.group(1)) >= NEEDED[1] and os.access(program, os.X_OK):
                found.setdefault(int(match.group(1)), []).append(program)
    return [program for minor in sorted(found) for program in found[minor]]


def _works(program):
    """Whether ``program`` really is a Python 3.11+ (a pyenv shim may exist and refuse to run)."""
    probe = "import sys; print(sys.version_info >= (3, 11))"
    try:
        done = subprocess.run([program, "-c", probe], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              universal_newlines=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0 and done.stdout.strip() == "True"


def too_old_advice(version):
    """Exactly what to do when the Python running this is too old and none newer is on the PATH."""
    command = " ".join([sys.argv[0] or "workbook.py", *sys.argv[1:]])
    if sys.platform == "darwin":
        install = ("  brew install python@3.12        (Homebrew), or the installer from https://www.python.org/downloads/\n"
                   "  or: curl -LsSf https://astral.sh/uv/install.sh | sh && uv python install 3.12")
    else:
        install = ("  sudo apt install python3.11 python3.11-venv   (Debian 12, Ubuntu 22.04+)\n"
                   "  sudo dnf install python3.12                   (Fedora)\n"
                   "  or: curl -LsSf https://astral.sh/uv/install.sh | sh && uv python install 3.12")
    return (f"FastAPI Katas needs Python {NEEDED[0]}.{NEEDED[1]} or newer; `{sys.executable}` is {version}, and no "
            f"python3.11, python3.12, ... is on your PATH.\nInstall one:\n{install}\n"
            f"then run this again with it, for example:\n  python3.12 {command}")


def ensure_python(argv):
    """Return when this Python is new enough; otherwise re-run this file with a newer one from the
    PATH, or say exactly what to do and exit 2."""
    if sys.version_info >= NEEDED:
        return
    version = ".".join(map(str, sys.version_info[:3]))
    if not os.environ.get(REEXEC):
        for program in newer_pythons():
            if _works(program):
                print(f"Python {version} is too old for the workbook; using {program}.", file=sys.stderr, flush=True)
                os.environ[REEXEC] = "1"
                os.execv(program, [program, os.path.abspath(__file__), *argv])
    print(too_old_advice(version), file=sys.stderr)
    sys.exit(2)


# --- installing ------------------------------------------------------------------------------------


def _fingerprint(kind="learner"):
    """What an installed environment depends on: its locks, and the project table of pyproject
    (not its tool settings, so changing a pytest option reinstalls nothing)."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    digest = hashlib.sha256(kind.encode())
    for lock in LOCKS[kind]:
        digest.update((ROOT / lock).read_bytes())
    digest.update(json.dumps(project, sort_keys=True).encode())
    return digest.hexdigest()


def up_to_date(kind):
    """The environment holds what ``kind`` needs: the developer's holds the learner's too."""
    try:
        stamp = STAMP.read_text().strip()
    except OSError:
        return False
    kinds = ("learner", "dev") if kind == "learner" else ("dev",)
    return any(stamp == _fingerprint(k) for k in kinds if all((ROOT / lock).is_file() for lock in LOCKS[k]))


def installer():
    """`uv` when it is on the PATH (WORKBOOK_INSTALLER=pip chooses pip), else None for pip."""
    if os.environ.get("WORKBOOK_INSTALLER", "").lower() == "pip":
        return None
    return shutil.which("uv")


def _own_packages():
    """The workbook's top-level packages, as pyproject lists them."""
    import tomllib

    listed = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["packages"]
    return sorted({name.split(".")[0] for name in listed})


def install_commands(kind, uv, wheels=None):
    """The commands that make .venv/ hold ``kind``'s lock and the workbook itself."""
    lock = LOCKS[kind][-1]
    offline = ["--no-index", "--find-links", str(wheels)] if wheels else []
    commands = []
    if uv:
        if not PYTHON.exists():
            commands.append([uv, "venv", "--quiet", "--python", sys.executable, str(VENV)])
        pip = [uv, "pip", "install", "--quiet", "--python", str(PYTHON), "--compile-bytecode", *offline]
    else:
        pip = [str(PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *offline]
    commands.append([*pip, "-r", lock])
    commands.append([*pip, "--no-deps", "-e", "."])
    # Bytecode now, for the libraries (above) and the workbook's own packages: where
    # PYTHONDONTWRITEBYTECODE is set (CI machines, many containers), Python never writes it, and
    # every kernel, server and check would compile FastAPI, SQLAlchemy and Pydantic from source
    # again (a test run 1.6 times as long).
    commands.append([str(PYTHON), "-m", "compileall", "-q", *_own_packages()])
    return commands


def _run(command):
    print("+", " ".join(command), flush=True)
    subprocess.run(command, check=True, cwd=ROOT)


def ensure_environment(kind="learner", wheels=None):
    if up_to_date(kind):
        return
    uv = installer()
    if not PYTHON.exists():
        print(f"Creating the workbook's environment in {VENV} (once) ...", flush=True)
        if not uv:
            import venv

            venv.create(VENV, with_pip=True)
    for command in install_commands(kind, uv, wheels):
        _run(command)
    write_lab_settings(VENV)
    STAMP.write_text(_fingerprint(kind))


def write_lab_settings(prefix):
    """JupyterLab reads defaults from <prefix>/share/jupyter/lab/settings/overrides.json."""
    overrides = Path(prefix) / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    overrides.parent.mkdir(parents=True, exist_ok=True)
    overrides.write_text(json.dumps(LAB_OVERRIDES, indent=2) + "\n")


def download_wheels(folder, extra):
    """`wheels DIR [--dev]`: every package of a lock, and what the workbook's own install needs,
    downloaded once into ``folder`` (for this machine's platform and Python; pip's `--platform`,
    `--python-version` and `--only-binary=:all:` after DIR fetch them for another)."""
    kind = "dev" if "--dev" in extra else "learner"
    extra = [arg for arg in extra if arg != "--dev"]
    folder = Path(folder).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    _run([sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--dest", str(folder),
          "-r", LOCKS[kind][-1], *BUILD_REQUIREMENTS, *extra])
    count = sum(1 for _ in folder.iterdir())
    print(f"\n{count} files in {folder}. Learners install from it without a network:\n"
          f"  python3 workbook.py lab --wheels {folder}\n"
          f"or with WORKBOOK_WHEELS={folder} set. A shared folder or a USB stick works as well.")
    return 0


# --- the commands ------------------------------------------------------------------------------------


def take_wheels(extra):
    """Remove `--wheels DIR` / `--wheels=DIR` from ``extra``; the folder, else WORKBOOK_WHEELS."""
    rest, folder, items = [], os.environ.get("WORKBOOK_WHEELS") or None, iter(extra)
    for arg in items:
        if arg == "--wheels":
            folder = next(items, None)
        elif arg.startswith("--wheels="):
            folder = arg.split("=", 1)[1]
        else:
            rest.append(arg)
    return rest, (Path(folder).resolve() if folder else None)


def running_as_root():
    return hasattr(os, "geteuid") and os.geteuid() == 0


def lab_command(extra):
    # Given a file, Jupyter serves that file's folder unless told the root explicitly.
    args = [str(BIN / "jupyter"), "lab", "--ServerApp.root_dir=.", FIRST_KATA, *extra]
    if running_as_root() and "--allow-root" not in extra:
        args.append("--allow-root")  # containers, devcontainers and hubs run as root; Jupyter refuses without it
    return args


def main(argv):
    ensure_python(argv)
    if not argv or argv[0] not in ("lab", "test", "wheels"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    command, extra = argv[0], argv[1:]
    if command == "wheels":
        if not extra or extra[0].startswith("-"):
            print("Say where to put them: python3 workbook.py wheels DIR [--dev]", file=sys.stderr)
            return 2
        try:
            return download_wheels(extra[0], extra[1:])
        except subprocess.CalledProcessError as error:
            print(f"\nDownloading failed (exit {error.returncode}). Check your network and run it again.", file=sys.stderr)
            return 2
    extra, wheels = take_wheels(extra)
    if wheels and not wheels.is_dir():
        print(f"{wheels} is not a folder of wheels. Make one with `python3 workbook.py wheels {wheels}`.", file=sys.stderr)
        return 2
    try:
        ensure_environment("learner" if command == "lab" else "dev", wheels)
    except subprocess.CalledProcessError as error:
        print(f"\nInstalling the workbook's dependencies failed (exit {error.returncode}).", file=sys.stderr)
        if wheels:
            print(f"A package may be missing from {wheels}: it must be made by `python3 workbook.py wheels "
                  f"{wheels}{' --dev' if command == 'test' else ''}` on the same kind of machine.", file=sys.stderr)
        print(f"Check your network, delete {VENV} and run this command again.", file=sys.stderr)
        return 2
    if command == "lab":
        # Make or refresh the learner's copies (backed up first, code kept), then open them.
        subprocess.run([str(BIN / "kata"), "update", "--quiet"], cwd=ROOT)
        args = lab_command(extra)
        os.chdir(ROOT / WORKSPACE)  # JupyterLab serves, and shows, the folder it starts in
    else:
        args = [str(PYTHON), "-m", "pytest", *extra]
        os.chdir(ROOT)
    if os.name == "nt":
        return subprocess.call(args)
    os.execv(args[0], args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
