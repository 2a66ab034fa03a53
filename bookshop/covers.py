"""Cover storage: where the shop keeps its books' cover images, and how big a cover may be.

``CoverStore`` is a folder with one file per book and the largest cover the shop accepts;
``CoverOut`` is what the upload endpoint answers.
"""

import atexit
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

MiB = 1024 * 1024


@dataclass(frozen=True)
class CoverStore:
    """A folder of cover images, one per book, and the largest cover the shop accepts."""

    directory: Path
    max_bytes: int = 2 * MiB

    def path_for(self, book_id: int) -> Path:
        return self.directory / f"book-{book_id}.cover"

    @classmethod
    def in_a_scratch_folder(cls, max_bytes: int = 2 * MiB) -> "CoverStore":
        """A store in a new temporary folder, removed when the Python process ends."""
        directory = Path(tempfile.mkdtemp(prefix="bookshop-covers-"))
        atexit.register(shutil.rmtree, directory, ignore_errors=True)
        return cls(directory, max_bytes)


class CoverOut(BaseModel):
    book_id: int
    bytes: int
    sha256: str
