import os
import shutil
from pathlib import Path

import pytest

from kata.manifest import load

ROOT = Path(__file__).resolve().parent.parent
KATAS = load(ROOT)


def copy_workbook(target: Path, *names: str) -> Path:
    """Copy these top-level files and folders of the workbook into ``target``."""
    for name in names:
        source = ROOT / name
        (shutil.copytree if source.is_dir() else shutil.copyfile)(source, target / name)
    return target


def kata_params():
    return [pytest.param(kata, id=kata.id) for kata in KATAS]


def pytest_xdist_auto_num_workers(config):
    # Most of this suite waits (kernels starting, checks' bounded waits), not computes: twice as
    # many workers as cores finishes sooner, even on 2 cores.
    return min(max(4, 2 * (os.cpu_count() or 1)), 12)
