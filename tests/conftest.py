from pathlib import Path

import pytest

from kata.manifest import load

ROOT = Path(__file__).resolve().parent.parent
KATAS = load(ROOT)


def kata_params():
    return [pytest.param(kata, id=kata.id) for kata in KATAS]
