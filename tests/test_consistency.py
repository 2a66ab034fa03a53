"""pyproject.toml, the two locks, environment.yml and binder/ describe one environment.

requirements.lock is the learner's (pyproject's `dependencies`, resolved), requirements-dev.lock
adds the [dev] extra to it; environment.yml (conda) and binder/requirements.txt (repo2docker)
repeat the learner's pins. `python3 tools/lock.py` makes all of them; these tests say when one
was edited by hand and the others were not.
"""

import re
import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
REMAKE = "run `python3 tools/lock.py` (it resolves the locks and rewrites the files that repeat them)"
# The extras pyproject asks for, and a package each brings, which the lock must then pin.
EXTRAS = {("sqlalchemy", "asyncio"): "greenlet", ("pwdlib", "argon2"): "argon2-cffi", ("uvicorn", "standard"): "uvloop"}


def _requirements(lines):
    return {canonicalize_name(r.name): r for r in map(Requirement, lines)}


def _lines(path):
    return [line.split("#", 1)[0].strip() for line in path.read_text().splitlines()
            if line.split("#", 1)[0].strip()]


def _pins(path) -> dict[str, str]:
    pins = {}
    for line in _lines(path):
        if line.startswith("-"):
            continue
        name, version = line.split("==")
        assert canonicalize_name(name) not in pins, f"{path.name} pins {name} twice"
        pins[canonicalize_name(name)] = version.strip()
    return pins


LEARNER, DEV = _pins(ROOT / "requirements.lock"), _pins(ROOT / "requirements-dev.lock")


def _environment_pip() -> list[str]:
    text = (ROOT / "environment.yml").read_text()
    block = text.split("- pip:", 1)[1]
    return re.findall(r"^\s+- (\S.*)$", block, flags=re.M)


def _inside(pins, wanted, lock):
    for name, requirement in _requirements(wanted).items():
        assert name in pins, f"{lock} does not pin {name}: {REMAKE}"
        assert requirement.specifier.contains(pins[name]), f"{name}=={pins[name]} is outside {requirement.specifier}: {REMAKE}"
        for extra in requirement.extras:
            brought = EXTRAS.get((name, extra))
            assert brought is None or canonicalize_name(brought) in pins, f"{name}[{extra}] needs {brought} in {lock}"


def test_the_learners_lock_pins_every_dependency_inside_its_range():
    _inside(LEARNER, PYPROJECT["dependencies"], "requirements.lock")


def test_the_developers_lock_is_the_learners_plus_the_dev_extra():
    lines = _lines(ROOT / "requirements-dev.lock")
    assert lines[0] == "-r requirements.lock", "requirements-dev.lock starts from the learner's lock"
    assert not set(LEARNER) & set(DEV), f"pinned in both locks: {sorted(set(LEARNER) & set(DEV))}"
    _inside({**LEARNER, **DEV}, PYPROJECT["dependencies"] + PYPROJECT["optional-dependencies"]["dev"],
            "requirements-dev.lock")


def test_the_learners_lock_holds_no_test_tool():
    dev_only = set(_requirements(PYPROJECT["optional-dependencies"]["dev"])) - set(_requirements(PYPROJECT["dependencies"]))
    # A dev tool may be in the learner's lock only when a learner's package needs it (nbclient: nbconvert).
    assert not dev_only & set(LEARNER) - {"nbclient"}, f"test tools in the learner's lock: {sorted(dev_only & set(LEARNER))}"
    assert {"playwright", "pytest-xdist", "passlib", "python-jose"} <= set(DEV)


def test_environment_yml_pins_exactly_the_learners_lock():
    pinned = {canonicalize_name(r.name): str(r.specifier) for r in map(Requirement, _environment_pip())}
    assert pinned == {name: f"=={version}" for name, version in LEARNER.items()}, REMAKE


def test_environment_yml_python_matches_requires_python():
    python = re.search(r"^\s+- python=(\S+)$", (ROOT / "environment.yml").read_text(), flags=re.M)
    assert python, "environment.yml must pin python"
    assert Requirement(f"python{PYPROJECT['requires-python']}").specifier.contains(python.group(1) + ".0")


def test_binder_installs_exactly_the_learners_lock_on_the_same_python():
    assert _pins(ROOT / "binder" / "requirements.txt") == LEARNER, REMAKE
    assert not [line for line in _lines(ROOT / "binder" / "requirements.txt") if line.startswith("-")], (
        "repo2docker installs binder/requirements.txt before copying the repository: no -r, -e or local paths")
    runtime = (ROOT / "binder" / "runtime.txt").read_text().strip()
    python = re.search(r"^\s+- python=(\S+)$", (ROOT / "environment.yml").read_text(), flags=re.M).group(1)
    assert runtime == f"python-{python}"
