"""Tracks: ordered subsets of the katas (`tracks/<name>.toml`), for a workshop or an onboarding week.

    title = "A 3-hour workshop"
    description = "..."
    katas = ["lifespan", "settings", ...]     # kata ids, in the order the track takes them
    all = true                                 # instead of `katas`: every kata, in manifest order

A kata keeps its number whatever the track (the number is its place in the manifest). The track
a learner follows is, first to last: `--track NAME` on the command line, the one recorded in
`.kata/track` (by `kata update --track NAME`), the one an edition names (`edition.toml`), `full`.
"""

import tomllib
from dataclasses import dataclass
from pathlib import Path

from kata import KataError
from kata.manifest import Kata

TRACKS = "tracks"
DEFAULT = "full"
RECORD = Path(".kata") / "track"
EDITION = "edition.toml"


@dataclass(frozen=True)
class Track:
    name: str
    title: str
    description: str
    katas: tuple[Kata, ...]

    @property
    def minutes(self) -> int:
        return sum(k.minutes or 0 for k in self.katas)


def names(root: Path) -> list[str]:
    return sorted(p.stem for p in (root / TRACKS).glob("*.toml"))


def load_track(root: Path, name: str, katas: list[Kata]) -> Track:
    """The track ``name`` with its katas, or a KataError naming the file and what is wrong."""
    path = root / TRACKS / f"{name}.toml"
    if not path.is_file():
        if name == DEFAULT:  # a workbook without tracks/ still has the whole workbook
            return Track(DEFAULT, "The whole workbook", "", tuple(katas))
        known = ", ".join(names(root)) or "none"
        raise KataError(f"There is no track {name!r} (no {TRACKS}/{name}.toml). Known tracks: {known}.")
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise KataError(f"{path} cannot be read: {error}") from None
    by_id = {k.id: k for k in katas}
    if table.get("all") is True:
        chosen = tuple(katas)
    else:
        ids = table.get("katas")
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
            raise KataError(f"{path}: `katas` must be a list of kata ids (or set `all = true`).")
        unknown = [i for i in ids if i not in by_id]
        if unknown:
            raise KataError(f"{path} names katas that are not in katas.toml: {', '.join(unknown)}.")
        if len(set(ids)) != len(ids):
            raise KataError(f"{path} names a kata twice.")
        chosen = tuple(by_id[i] for i in ids)
    return Track(name, str(table.get("title", name)), str(table.get("description", "")), chosen)


def recorded(root: Path) -> str | None:
    """The track recorded for this workspace, else the one the edition names, else None."""
    try:
        name = (root / RECORD).read_text(encoding="utf-8").strip()
        if name:
            return name
    except OSError:
        pass
    try:
        return tomllib.loads((root / EDITION).read_text(encoding="utf-8")).get("track") or None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None


def record(root: Path, name: str) -> None:
    path = root / RECORD
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(name + "\n", encoding="utf-8")
    except OSError as error:
        raise KataError(f"Cannot record the track in {path} ({error.strerror or error}).") from None


def chosen(root: Path, katas: list[Kata], name: str | None = None) -> Track:
    return load_track(root, name or recorded(root) or DEFAULT, katas)
