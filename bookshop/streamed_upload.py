"""Book covers for the streamed-upload kata: where they are stored, and spies that watch an upload.

``CoverStore`` is where the shop keeps its cover images, one file per book, and how big a cover
may be. ``CoverOut`` is what the upload endpoint answers.

The spies read no clock. ``streamed_form`` builds a multipart upload that a client sends in
chunks, without a Content-Length (as a browser or ``curl -T -`` may), noting each chunk the
server pulls; ``upload_reads`` notes every read an app makes from an uploaded file while it is
active: how many bytes it asked for (``-1`` is "all of it") and how many it got.
"""

import atexit
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
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


def streamed_form(
    data: bytes, *, field: str = "cover", filename: str = "cover.jpg", events: list | None = None, chunk: int = 64 * 1024
) -> tuple[dict[str, str], AsyncIterator[bytes]]:
    """Headers and body of a multipart upload of ``data``, sent in ``chunk``-byte pieces.

    The body is an async generator, so httpx sends it with ``Transfer-Encoding: chunked`` and no
    Content-Length. Each piece the server pulls is noted in ``events`` as ``("sent", size)``.
    """
    request = httpx.Request("POST", "http://bookshop.test/", files={field: (filename, data, "image/jpeg")})
    body = request.read()

    async def pieces() -> AsyncIterator[bytes]:
        for start in range(0, len(body), chunk):
            piece = body[start : start + chunk]
            if events is not None:
                events.append(("sent", len(piece)))
            yield piece

    return {"content-type": request.headers["content-type"]}, pieces()


_READS = ("read", "read1", "readline", "readinto")


@contextmanager
def upload_reads(events: list) -> Iterator[list]:
    """Note ``("read", asked, got)`` in ``events`` for every read from an uploaded file meanwhile.

    Starlette keeps each uploaded file in a ``tempfile.SpooledTemporaryFile`` (in memory up to
    1 MiB, then on disk). ``await upload.read(n)``, ``upload.file.read(n)`` and
    ``shutil.copyfileobj(upload.file, ...)`` all end in one of its read methods, so they are
    watched there. ``asked`` is ``-1`` when the caller asked for everything that is left.
    """
    originals = {name: getattr(tempfile.SpooledTemporaryFile, name) for name in _READS}

    def watch(name, original):
        def watched(self, *args, **kwargs):
            result = original(self, *args, **kwargs)
            if name == "readinto":
                asked, got = len(args[0]), result or 0
            else:
                size = args[0] if args else kwargs.get("size", kwargs.get("n", -1))
                asked, got = (-1 if size is None or size < 0 else size), len(result)
            events.append(("read", asked, got))
            return result

        return watched

    for name, original in originals.items():
        setattr(tempfile.SpooledTemporaryFile, name, watch(name, original))
    try:
        yield events
    finally:
        for name, original in originals.items():
            setattr(tempfile.SpooledTemporaryFile, name, original)
