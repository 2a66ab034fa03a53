"""Cover storage: where the shop keeps its books' cover images, and how big a cover may be.

``CoverStore`` is a folder with one file per book and the largest cover the shop accepts;
``CoverOut`` is what the upload endpoint answers. ``watch_uploads`` sends covers to an app the way a
publisher's script does, and says what the app did with each: for the evidence.
"""

import atexit
import os
import shutil
import tempfile
import tracemalloc
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


@dataclass
class UploadSeen:
    """What the app did with one upload, as ``watch_uploads`` saw it."""

    filename: str
    size: int
    response: httpx.Response
    pulled_before_first_read: int  # bytes of the request the app had pulled when it first read the file
    reads: list[tuple[int, int]]  # each read from the uploaded file: (asked, got); asked -1 is "everything"
    read_before_answer: int
    held: int  # the most memory held at once by what was read (Python's own count, tracemalloc)
    opened_on_loop: list[str]  # files of the covers folder opened on the event loop's own thread
    read_from_disk_on_loop: int = 0  # reads of the upload, kept on disk, made on the event loop's thread


def watch_uploads(app, covers: CoverStore, book_id: int, *uploads: tuple[bytes, str]) -> list[UploadSeen]:
    """POST each ``(data, filename)`` to ``/books/{book_id}/cover`` the way a script streams a file (in
    64 KiB pieces, no Content-Length), and watch: the pieces the app pulled, its reads of the upload
    (and those made from disk on the event loop's thread), the memory held by what it read, the files
    it opened from the event loop's thread."""
    from bookshop.client import shop_client, streamed_form  # imported late: they import nothing from here
    from bookshop.observe import file_opens, response_spy, upload_reads

    seen: list[UploadSeen] = []
    log: list = []
    with shop_client(response_spy(app, log)) as client:
        for data, filename in uploads:
            log.clear()
            held: list[tuple[int, int]] = []
            headers, pieces = streamed_form(data, filename=filename, events=log)
            tracing = not tracemalloc.is_tracing()
            if tracing:
                tracemalloc.start()
            try:
                with upload_reads(log, lambda e: held.append((tracemalloc.get_traced_memory()[0], e[2]))), \
                        file_opens(covers.directory) as opened:
                    response = client.post(f"/books/{book_id}/cover", content=pieces, headers=headers)
            finally:
                if tracing:
                    tracemalloc.stop()
            first_read = next((i for i, event in enumerate(log) if event[0] == "read"), len(log))
            answer = next((i for i, event in enumerate(log) if event[0] == "response-start"), len(log))
            before = held[0][0] - held[0][1] if held else 0
            seen.append(UploadSeen(
                filename, len(data), response,
                sum(event[1] for event in log[:first_read] if event[0] == "sent"),
                [(event[1], event[2]) for event in log if event[0] == "read"],
                sum(event[2] for event in log[:answer] if event[0] == "read"),
                max((memory for memory, _ in held), default=before) - before,
                list(dict.fromkeys(os.path.basename(o.path) for o in opened if o.on_event_loop)),
                sum(1 for event in log if event[0] == "read" and event[3] and event[4]),
            ))
    return seen
