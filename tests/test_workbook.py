"""workbook.py meets people where they are: an old `python3`, root in a container, uv or pip, a
folder of wheels instead of a network. Installs and Jupyter are stubs here (programs on a PATH of
the test's own that write down how they were called), so nothing is downloaded or started."""

import ast
import functools
import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import workbook
from tests.conftest import ROOT, copy_workbook

# Real interpreters first (pyenv's shims are slow to refuse), then whatever the PATH has.
OLD_PYTHONS = [*sorted(glob.glob("/root/.pyenv/versions/3.[6-9]*/bin/python3")),
               *(shutil.which(f"python3.{minor}") or "" for minor in range(6, 11))]


def _stub(folder: Path, name: str, body: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


@functools.cache
def _old_python() -> str | None:
    for program in filter(None, OLD_PYTHONS):
        done = subprocess.run([program, "-c", "import sys; print(sys.version_info < (3, 11))"], capture_output=True, text=True)
        if done.stdout.strip() == "True":
            return program
    return None


@pytest.fixture
def old():
    program = _old_python()
    if program is None:
        pytest.skip("no Python older than 3.11 on this machine (the in-process test below covers the logic)")
    return program


# --- an old python3 ---------------------------------------------------------------------------------


def test_workbook_py_reads_as_python_3_6_and_imports_only_old_modules_at_the_top():
    tree = ast.parse((ROOT / "workbook.py").read_text(), feature_version=(3, 6))
    top = {alias.name for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)
           for alias in node.names} | {node.module for node in tree.body if isinstance(node, ast.ImportFrom)}
    assert top <= {"hashlib", "json", "os", "re", "shutil", "subprocess", "sys", "pathlib", "Path"}, top


def test_an_old_python_re_runs_the_command_with_a_newer_one_from_the_path(tmp_path, old):
    path = tmp_path / "bin"
    _stub(path, "python3.12", "exit 127")  # a pyenv shim that refuses to run is passed over
    (path / "python3.11").symlink_to(sys.executable)
    copy_workbook(tmp_path, "workbook.py")
    done = subprocess.run([old, "workbook.py", "wheels"], cwd=tmp_path, capture_output=True, text=True,
                          env={"PATH": str(path), "HOME": str(tmp_path)})
    assert f"too old for the workbook; using {path / 'python3.11'}" in done.stderr
    assert "Say where to put them" in done.stderr, "the newer Python ran the same command"
    assert done.returncode == 2


def test_an_old_python_with_none_newer_says_exactly_what_to_do(tmp_path, old):
    path = tmp_path / "bin"
    _stub(path, "python3.13", "exit 127")
    copy_workbook(tmp_path, "workbook.py")
    done = subprocess.run([old, "workbook.py", "lab"], cwd=tmp_path, capture_output=True, text=True,
                          env={"PATH": str(path), "HOME": str(tmp_path)})
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "needs Python 3.11 or newer" in done.stderr and "python3.12 workbook.py lab" in done.stderr
    assert "uv python install" in done.stderr and not (tmp_path / ".venv").exists()


def test_the_check_in_process_prefers_the_tested_python_and_never_loops(tmp_path, monkeypatch):
    path = tmp_path / "bin"
    for minor in (13, 11, 12):
        (path / f"python3.{minor}").parent.mkdir(exist_ok=True)
        (path / f"python3.{minor}").symlink_to(sys.executable)
    _stub(path, "python3.9", "exit 0")
    assert workbook.newer_pythons(str(path)) == [str(path / f"python3.{m}") for m in (11, 12, 13)]
    monkeypatch.setattr(sys, "version_info", (3, 9, 6, "final", 0))
    monkeypatch.setenv("PATH", str(path))
    calls = []

    def execv(program, args):  # never returns, as the real one
        calls.append(args)
        raise OSError("exec")

    monkeypatch.setattr(os, "execv", execv)
    monkeypatch.delenv(workbook.REEXEC, raising=False)
    with pytest.raises(OSError, match="exec"):
        workbook.ensure_python(["lab"])
    assert calls == [[str(path / "python3.11"), str(ROOT / "workbook.py"), "lab"]]
    with pytest.raises(SystemExit) as stopped:  # the re-run Python is old too: say what to do, never loop
        workbook.ensure_python(["lab"])
    assert stopped.value.code == 2 and len(calls) == 1


# --- root ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("euid, given, added", [(0, [], True), (1000, [], False), (0, ["--allow-root"], False)])
def test_jupyterlab_is_allowed_to_run_as_root_only_as_root(monkeypatch, euid, given, added):
    monkeypatch.setattr(os, "geteuid", lambda: euid)
    args = workbook.lab_command(["--port", "8890", *given])
    assert args.count("--allow-root") == (1 if added or given else 0)
    assert args[1:5] == ["lab", "--ServerApp.root_dir=.", workbook.FIRST_KATA, "--port"]


# --- uv or pip, online or from a folder of wheels ----------------------------------------------------


def test_pip_installs_the_lock_with_its_bytecode_when_uv_is_absent(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert workbook.installer() is None
    learner, dev = workbook.install_commands("learner", None), workbook.install_commands("dev", None)
    assert learner[0][:3] == [str(workbook.PYTHON), "-m", "pip"] and "--no-compile" not in learner[0]
    assert learner[0][-2:] == ["-r", "requirements.lock"] and dev[0][-2:] == ["-r", "requirements-dev.lock"]
    assert learner[1][-3:] == ["--no-deps", "-e", "."]
    # Where PYTHONDONTWRITEBYTECODE is set, nothing else would ever write the workbook's own.
    assert learner[2] == [str(workbook.PYTHON), "-m", "compileall", "-q", "bookshop", "checks", "kata"]
    offline = workbook.install_commands("learner", None, tmp_path / "wheels")
    assert all(c[c.index("--no-index") + 1:c.index("--no-index") + 3] == ["--find-links", str(tmp_path / "wheels")]
               for c in offline if "install" in c)


def test_uv_installs_when_it_is_on_the_path_unless_pip_is_asked_for(monkeypatch, tmp_path):
    uv = _stub(tmp_path, "uv", "exit 0")
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("WORKBOOK_INSTALLER", raising=False)
    assert workbook.installer() == str(uv)
    commands = workbook.install_commands("dev", str(uv), tmp_path / "wheels")
    assert all(c[:3] == [str(uv), "pip", "install"] and "--no-index" in c and "--compile-bytecode" in c
               for c in commands if c[1] == "pip")
    monkeypatch.setenv("WORKBOOK_INSTALLER", "pip")
    assert workbook.installer() is None


@pytest.mark.parametrize("argv, env, rest, folder", [
    (["--wheels", "w", "--port", "1"], None, ["--port", "1"], "w"),
    (["--wheels=w"], None, [], "w"),
    (["-x"], "from-env", ["-x"], "from-env"),
    (["-x"], None, ["-x"], None),
])
def test_the_wheels_folder_comes_from_the_command_line_or_the_environment(monkeypatch, argv, env, rest, folder):
    if env:
        monkeypatch.setenv("WORKBOOK_WHEELS", env)
    else:
        monkeypatch.delenv("WORKBOOK_WHEELS", raising=False)
    assert workbook.take_wheels(argv) == (rest, Path(folder).resolve() if folder else None)


UV_STUB = """echo "uv $*" >> "$LOG"
if [ "$1" = venv ]; then
    mkdir -p "$5/bin"
    printf '#!/bin/sh\\necho "python $*" >> "$LOG"\\n' > "$5/bin/python"
    printf '#!/bin/sh\\necho "kata $*" >> "$LOG"\\nmkdir -p workspace\\n' > "$5/bin/kata"
    printf '#!/bin/sh\\necho "jupyter $*" >> "$LOG"\\n' > "$5/bin/jupyter"
    chmod +x "$5/bin/python" "$5/bin/kata" "$5/bin/jupyter"
fi"""


def test_a_fresh_clone_installs_with_uv_from_a_folder_of_wheels_once_then_runs(tmp_path):
    """`test` then `lab` in a scratch copy, with uv a stub on the PATH: the dev lock is installed
    once, offline; `lab` reuses it (the developer's environment holds the learner's)."""
    (tmp_path / "book").mkdir()
    book = copy_workbook(tmp_path / "book", "workbook.py", "pyproject.toml", "requirements.lock", "requirements-dev.lock")
    path, log, wheels = tmp_path / "bin", tmp_path / "log", tmp_path / "wheels"
    wheels.mkdir()
    _stub(path, "uv", UV_STUB)
    env = {"PATH": f"{path}{os.pathsep}/usr/bin:/bin", "LOG": str(log), "HOME": str(tmp_path)}

    def run(*argv):
        done = subprocess.run([sys.executable, "workbook.py", *argv], cwd=book, capture_output=True, text=True, env=env)
        assert done.returncode == 0, done.stdout + done.stderr
        lines = log.read_text().splitlines()
        log.unlink()
        return lines

    first = run("test", "--wheels", str(wheels), "-x")
    venv = book / ".venv"
    assert first == [
        f"uv venv --quiet --python {sys.executable} {venv}",
        f"uv pip install --quiet --python {venv}/bin/python --compile-bytecode --no-index --find-links {wheels} "
        "-r requirements-dev.lock",
        f"uv pip install --quiet --python {venv}/bin/python --compile-bytecode --no-index --find-links {wheels} "
        "--no-deps -e .",
        "python -m compileall -q bookshop checks kata",
        "python -m pytest -x",
    ]
    assert (venv / "share/jupyter/lab/settings/overrides.json").is_file()
    assert run("test") == ["python -m pytest"], "installed once"
    root = os.geteuid() == 0
    assert run("lab", "--port", "8890") == [
        "kata update --quiet",
        f"jupyter lab --ServerApp.root_dir=. {workbook.FIRST_KATA} --port 8890" + (" --allow-root" if root else ""),
    ]


def test_a_missing_wheels_folder_is_named_with_the_command_that_makes_it(tmp_path):
    copy_workbook(tmp_path, "workbook.py")
    done = subprocess.run([sys.executable, "workbook.py", "lab", "--wheels", "nowhere"], cwd=tmp_path,
                          capture_output=True, text=True)
    assert done.returncode == 2 and f"python3 workbook.py wheels {tmp_path / 'nowhere'}" in done.stderr
