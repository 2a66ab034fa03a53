"""pyproject.toml, environment.yml and requirements.lock describe one environment."""

import re
import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _requirements(lines):
    return {canonicalize_name(r.name): r for r in map(Requirement, lines)}


def _lock() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version.strip()
    return pins


def _environment_pip() -> list[str]:
    text = (ROOT / "environment.yml").read_text()
    block = text.split("- pip:", 1)[1]
    return re.findall(r"^\s+- (\S.*)$", block, flags=re.M)


def test_environment_yml_lists_exactly_the_pyproject_dependencies():
    assert _requirements(_environment_pip()) == _requirements(PYPROJECT["dependencies"])


def test_environment_yml_python_matches_requires_python():
    python = re.search(r"^\s+- python=(\S+)$", (ROOT / "environment.yml").read_text(), flags=re.M)
    assert python, "environment.yml must pin python"
    assert Requirement(f"python{PYPROJECT['requires-python']}").specifier.contains(python.group(1) + ".0")


def test_lock_pins_every_dependency_inside_its_range():
    pins = _lock()
    wanted = _requirements(PYPROJECT["dependencies"] + PYPROJECT["optional-dependencies"]["dev"])
    for name, requirement in wanted.items():
        assert name in pins, f"requirements.lock does not pin {name}"
        assert requirement.specifier.contains(pins[name]), f"{name}=={pins[name]} is outside {requirement.specifier}"
    for extra in wanted["sqlalchemy"].extras:
        assert "greenlet" in pins, f"sqlalchemy[{extra}] needs greenlet in the lock"


def test_lock_pins_each_package_once():
    names = [canonicalize_name(line.split("==")[0]) for line in (ROOT / "requirements.lock").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert len(names) == len(set(names))
