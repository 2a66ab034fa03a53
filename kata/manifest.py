"""`katas.toml`: the ordered list of katas, and the workbook root it sits in."""

import tomllib
from dataclasses import dataclass
from pathlib import Path

from kata import KataError

MANIFEST = "katas.toml"


@dataclass(frozen=True)
class Decoy:
    """A plausible wrong fix that the kata's check must reject, failing at least ``fails``."""

    name: str
    fails: tuple[str, ...]


@dataclass(frozen=True)
class Kata:
    number: int  # position in the manifest, 1-based: what learners see
    id: str
    title: str
    module: str
    source: Path
    notebook: Path
    solution: Path
    check: str
    fails: tuple[str, ...]
    decoys: tuple[Decoy, ...]
    alternatives: tuple[str, ...] = ()  # right fixes written another way: each must pass

    @property
    def label(self) -> str:
        return f"{self.number} ({self.id})"


def find_root(start: Path | None = None) -> Path:
    """Walk up from ``start`` to the folder holding katas.toml, as git does for .git."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / MANIFEST).is_file():
            return folder
    raise KataError(f"No {MANIFEST} in {here} or any folder above it. Run this from inside the workbook.")


REQUIRED = ("id", "title", "module", "source", "notebook", "solution", "check", "fails")


def load(root: Path) -> list[Kata]:
    path = root / MANIFEST
    try:
        tables = tomllib.loads(path.read_text(encoding="utf-8")).get("kata", [])
    except tomllib.TOMLDecodeError as error:
        raise KataError(f"{path} is not valid TOML: {error}") from None
    katas = []
    for number, table in enumerate(tables, start=1):
        missing = [key for key in REQUIRED if key not in table]
        if missing:
            raise KataError(f"{path}: kata #{number} lacks {', '.join(missing)}")
        katas.append(
            Kata(
                number=number,
                id=table["id"],
                title=table["title"],
                module=table["module"],
                source=root / table["source"],
                notebook=root / table["notebook"],
                solution=root / table["solution"],
                check=table["check"],
                fails=tuple(table["fails"]),
                decoys=tuple(Decoy(d["name"], tuple(d["fails"])) for d in table.get("decoy", [])),
                alternatives=tuple(table.get("alternatives", [])),
            )
        )
    return katas


def lookup(katas: list[Kata], key: str) -> Kata:
    """A kata by the number `kata list` shows or by its id."""
    for kata in katas:
        if key in (str(kata.number), kata.id):
            return kata
    known = ", ".join(f"{k.number}={k.id}" for k in katas)
    raise KataError(f"There is no kata {key!r}. Known katas: {known}. Run `kata list` to see them all.")
