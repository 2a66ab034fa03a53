"""katas.toml is complete and every path and check it names is real."""

import importlib
import inspect

import pytest

from tests.conftest import KATAS, ROOT, kata_params


def test_ids_are_unique_slugs():
    ids = [k.id for k in KATAS]
    assert len(ids) == len(set(ids))
    assert all(i.replace("-", "").isalnum() and i.islower() for i in ids)


def test_modules_come_in_order_and_are_contiguous():
    first = [k for k in KATAS if "dependency injection" in k.module.lower()]
    assert len(first) >= 5 and KATAS[: len(first)] == first
    asynchronous = [k for k in KATAS if "async" in k.module.lower()]
    assert len(asynchronous) >= 6 and KATAS[len(first): len(first) + len(asynchronous)] == asynchronous
    modules = [k.module for k in KATAS]
    assert all(modules.index(m) == i or modules[i - 1] == m for i, m in enumerate(modules)), "a module's katas sit together"


def test_notebooks_sit_in_their_module_folder():
    folders = {}
    for kata in KATAS:
        folders.setdefault(kata.module, set()).add(kata.notebook.parent.name)
    assert all(len(f) == 1 for f in folders.values()) and len(set().union(*folders.values())) == len(folders)


@pytest.mark.parametrize("kata", kata_params())
def test_paths_exist_and_follow_the_id(kata):
    for path in (kata.source, kata.notebook, kata.solution):
        assert path.is_file(), f"{path} is missing"
    assert kata.source == ROOT / "sources" / f"{kata.id}.py"
    assert kata.notebook.name == kata.solution.name and kata.notebook.stem.endswith(kata.id)
    assert kata.notebook.relative_to(ROOT / "notebooks") == kata.solution.relative_to(ROOT / "solutions")


@pytest.mark.parametrize("kata", kata_params())
def test_check_module_exports_only_its_tests_and_prefixed_fixtures(kata):
    module = importlib.import_module(kata.check)
    exported = set(module.__all__)
    tests = {name for name, obj in vars(module).items() if name.startswith("test_") and inspect.isfunction(obj)}
    assert tests == {name for name in exported if name.startswith("test_")}, "every test is exported, nothing else"
    assert all(n.startswith(("test_", "kata_", "shop_")) for n in exported), "exports must not clobber learner names"
    assert set(kata.fails) <= tests and kata.fails, "fails names real tests"
    assert len(tests) > len(kata.fails), "a check needs guard tests that pass on the starter"
    for decoy in kata.decoys:
        assert set(decoy.fails) <= tests and decoy.fails


@pytest.mark.parametrize("kata", kata_params())
def test_every_kata_ships_a_decoy(kata):
    assert kata.decoys
