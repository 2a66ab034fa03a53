"""`katas.toml`: the ordered list of katas, and the workbook root it sits in."""

import tomllib
from dataclasses import dataclass
from pathlib import Path

from kata import KataError

MANIFEST = "katas.toml"
# A team's own katas, numbered after the workbook's. The workbook never ships this file, so its
# updates (a `git pull`) never touch it; `kata new` writes here unless told `--shipped`.
LOCAL_MANIFEST = "katas.local.toml"


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
    minutes: int | None = None  # hands-on minutes a learner needs (None: not declared yet)
    manifest: str = "katas.toml"  # the file of its row: katas.toml, or a team's katas.local.toml

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
    """The workbook's katas (katas.toml), then the team's own (katas.local.toml, when there is one)."""
    katas = _load_rows(root, root / MANIFEST, first=1)
    if (root / LOCAL_MANIFEST).is_file():
        katas += _load_rows(root, root / LOCAL_MANIFEST, first=len(katas) + 1)
    return katas


_parsed: dict[Path, tuple[tuple[int, int], list]] = {}


def _tables(path: Path) -> list[dict]:
    """The manifest's tables, parsed once per version of the file: a check asks for its kata
    several times, and parsing the whole manifest costs more than a warm check may."""
    stat = path.stat()
    version = (stat.st_mtime_ns, stat.st_size)
    if (cached := _parsed.get(path)) and cached[0] == version:
        return cached[1]
    try:
        tables = tomllib.loads(path.read_text(encoding="utf-8")).get("kata", [])
    except tomllib.TOMLDecodeError as error:
        raise KataError(f"{path} is not valid TOML: {error}") from None
    _parsed[path] = (version, tables)
    return tables


_rows: dict[tuple[Path, Path, int], tuple[list, list]] = {}


def _load_rows(root: Path, path: Path, first: int) -> list[Kata]:
    tables = _tables(path)
    key = (root, path, first)
    if (cached := _rows.get(key)) and cached[0] is tables:  # built from this very parse of the file
        return list(cached[1])
    katas = []
    for number, table in enumerate(tables, start=first):
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
                minutes=_minutes(path, number, table),
                manifest=path.name,
            )
        )
    _rows[key] = (tables, katas)
    return list(katas)


def _minutes(path: Path, number: int, table: dict) -> int | None:
    """`minutes`: the hands-on time the kata takes, a positive whole number when declared.
    A row without it still loads (tests/test_manifest.py requires it of every published kata)."""
    minutes = table.get("minutes")
    if minutes is not None and (type(minutes) is not int or minutes <= 0):
        raise KataError(f"{path}: kata #{number} ({table.get('id')}) has minutes = {minutes!r}; "
                        "give a positive whole number of minutes")
    return minutes


def lookup(katas: list[Kata], key: str) -> Kata:
    """A kata by the number `kata list` shows or by its id."""
    for kata in katas:
        if key in (str(kata.number), kata.id):
            return kata
    known = ", ".join(f"{k.number}={k.id}" for k in katas)
    raise KataError(f"There is no kata {key!r}. Known katas: {known}. Run `kata list` to see them all.")
