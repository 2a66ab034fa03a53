"""Check: an upload is copied to disk in bounded chunks, off the event loop, without piling up in
memory at any point of the request; refused with 413 at the limit, never half-stored, and never
mixed with another upload for the same book; through the documented form."""

import asyncio
import hashlib
import os
import random
import tempfile
import threading
import time
import tracemalloc
from contextvars import ContextVar

import anyio
import pytest

from bookshop.client import open_client, streamed_form
from bookshop.covers import CoverStore, MiB
from bookshop.observe import file_opens, response_spy, upload_reads, waiting_for_a_turn
from checks.feedback import expect, fail
from checks.harness import brief, json_of, learner

__all__ = [
    "test_the_upload_is_read_in_bounded_chunks_not_all_at_once",
    "test_what_is_read_from_the_upload_does_not_pile_up_in_memory",
    "test_no_file_is_opened_on_the_event_loop_thread",
    "test_the_upload_kept_on_disk_is_not_read_on_the_event_loop_thread",
    "test_an_oversized_cover_is_refused_413_as_soon_as_the_limit_is_crossed",
    "test_a_refused_upload_leaves_the_stored_cover_as_it_was",
    "test_a_cover_within_the_limit_is_stored_byte_for_byte_with_its_size_and_hash",
    "test_an_empty_or_missing_cover_is_refused_with_a_4xx",
    "test_the_endpoint_still_takes_the_documented_cover_form",
    "test_two_uploads_for_one_book_at_once_leave_one_whole_cover",
]

KiB = 1024
LARGEST_READ = 1 * MiB  # a chunk; Starlette itself keeps up to 1 MiB of an upload in memory
PATH = "/books/{book_id}/cover"
# A safety net for the test of two uploads at once: the first is held after its first chunk until the
# second has handled its own, ended, or waits for its turn where the check can see it (a lock). Only
# code where the second waits for the first somewhere unseen (a threading lock) waits this out.
HOLD_LIMIT = 1.0


def _bytes(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


def _size(n: int) -> str:
    return f"{n / MiB:.2f} MiB" if n >= MiB else f"{n / KiB:.0f} KiB"


def _store(kata_ns, tmp_path, max_bytes: int, on_start=None) -> CoverStore:
    """Give the learner's app a covers folder of this test's own, with the limit ``max_bytes``.
    ``on_start()`` is called each time the endpoint gets the store: the form has been parsed by then."""
    store = CoverStore(tmp_path / "covers", max_bytes)
    store.directory.mkdir()
    app = learner(kata_ns, "app")

    def get_store() -> CoverStore:
        if on_start is not None:
            on_start()
        return store

    app.dependency_overrides[learner(kata_ns, "get_covers")] = get_store
    return store


async def _upload(kata_ns, data: bytes, *, book_id: int = 3, streamed: bool = True, log: list | None = None,
                  on_read=None, wrap=None):
    """POST the cover; streamed uploads come in 64 KiB pieces with no Content-Length."""
    log = [] if log is None else log
    app = learner(kata_ns, "app")
    async with open_client(response_spy(wrap(app) if wrap else app, log)) as client:
        with upload_reads(log, on_read):
            if streamed:
                headers, body = streamed_form(data, events=log)
                return await client.post(f"/books/{book_id}/cover", content=body, headers=headers)
            return await client.post(f"/books/{book_id}/cover", files={"cover": ("cover.jpg", data, "image/jpeg")})


def _reads(log: list) -> list[tuple[int, int]]:
    return [(event[1], event[2]) for event in log if event[0] == "read"]


def _files(store: CoverStore) -> list[str]:
    return sorted(path.name for path in store.directory.iterdir())


def _stored(response, data: bytes, limit: int) -> None:
    expect(
        response.status_code == 201,
        f"Uploading a {_size(len(data))} cover, with the store's limit at {_size(limit)}, answered "
        f"{brief(response)}.",
        "A cover within the limit must be stored, and answered 201: publishers retry what fails.",
        nudge="Does the endpoint still store a cover that is within the limit, and answer 201?",
    )


@pytest.mark.anyio
async def test_the_upload_is_read_in_bounded_chunks_not_all_at_once(kata_ns, tmp_path):
    _store(kata_ns, tmp_path, max_bytes=4 * MiB)
    cover = _bytes(3 * MiB // 2, seed=1)
    log: list = []
    response = await _upload(kata_ns, cover, log=log)
    _stored(response, cover, 4 * MiB)
    reads = _reads(log)
    expect(
        reads,
        "The endpoint answered 201 without reading anything from the uploaded cover file.",
        "The cover a publisher sends arrives as the form's file: the endpoint must store what is in it.",
        nudge="Where does the endpoint get the bytes it stores?",
    )
    unbounded = [got for asked, got in reads if asked < 0]
    expect(
        not unbounded,
        f"The endpoint read the upload with no size: one read returned {_size(max(unbounded or [0]))} "
        "at once, the whole rest of the file.",
        "Memory then grows with whatever a client sends: a 900 MB scan is 900 MB of memory, per "
        "request, until the container is killed, and checkout with it.",
        nudge="How many bytes does one read of the upload return when you do not say how many you want?",
        concept="Copy a file of unknown size in fixed-size chunks: read a chunk, handle it, repeat until a "
                "read returns nothing. Read FastAPI's 'Request Files' (UploadFile's async methods).",
    )
    largest = max(asked for asked, _ in reads)
    expect(
        largest <= LARGEST_READ,
        f"The endpoint asked for {_size(largest)} in one read.",
        "Memory per upload should not grow with the file or with the limit: a limit raised for "
        "print-ready scans would raise every upload's memory with it.",
        nudge="Is the size of one read fixed, or does it follow the file or the limit?",
        concept="A chunk is a small fixed size (tens of KiB), whatever the file.",
    )


@pytest.mark.anyio
async def test_what_is_read_from_the_upload_does_not_pile_up_in_memory(kata_ns, tmp_path):
    # Python's own count of the memory held (tracemalloc): its level when the endpoint starts (the
    # form has been parsed), and its peak from then until the answer starts. No clock involved.
    marks: dict[str, int] = {}

    def endpoint_starts() -> None:
        tracemalloc.reset_peak()
        marks["start"] = tracemalloc.get_traced_memory()[0]

    def on_read(event: tuple) -> None:
        marks["chunk"] = max(marks.get("chunk", 0), event[2])
        marks["reads"] = marks.get("reads", 0) + 1
        if "start" not in marks:  # the endpoint does not use get_covers: count from its first read
            tracemalloc.reset_peak()
            marks["start"] = tracemalloc.get_traced_memory()[0] - event[2]

    def answer_watched(app):
        async def watched(scope, receive, send):
            async def sending(message):
                if message["type"] == "http.response.start" and "peak" not in marks:
                    marks["peak"] = tracemalloc.get_traced_memory()[1]
                await send(message)

            await app(scope, receive, sending)

        return watched

    _store(kata_ns, tmp_path, max_bytes=8 * MiB, on_start=endpoint_starts)
    cover = _bytes(6 * MiB, seed=7)
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    try:
        response = await _upload(kata_ns, cover, on_read=on_read, wrap=answer_watched)
    finally:
        if started:
            tracemalloc.stop()
    _stored(response, cover, 8 * MiB)
    if not marks.get("reads") or "peak" not in marks:
        return  # nothing read from the upload: the test of bounded reads says so
    chunk = marks["chunk"]
    grew = marks["peak"] - marks["start"]
    expect(
        grew <= 2 * chunk + 256 * KiB,
        f"While the endpoint stored the {_size(len(cover))} cover, in {marks['reads']} reads of at most "
        f"{_size(chunk)}, the memory it held grew, at its peak before the answer, by {_size(grew)}: "
        "much more than a chunk was in memory at once, while the upload was copied or after it.",
        "Reading in chunks saves memory only if nothing else brings the file into memory: not the "
        "chunks piling up, and not a second pass over the stored file in one piece. Otherwise a 900 MB "
        "scan is still 900 MB of memory, per request.",
        nudge="Where does each chunk go once it is read, and when? Does anything else in the endpoint "
              "hold the whole file at once (its size, its hash)?",
        concept="Stream: each chunk goes to its destination (the file, the hash) as soon as it is read, "
                "so at any moment only one chunk is in memory, from the first read to the answer.",
    )


@pytest.mark.anyio
async def test_no_file_is_opened_on_the_event_loop_thread(kata_ns, tmp_path):
    store = _store(kata_ns, tmp_path, max_bytes=4 * MiB)
    cover = _bytes(3 * MiB // 2, seed=8)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    saved = tempfile.tempdir
    tempfile.tempdir = str(scratch)  # a temporary file of the endpoint's own lands where the spy looks
    try:
        with file_opens(store.directory, scratch) as opened:
            response = await _upload(kata_ns, cover)
    finally:
        tempfile.tempdir = saved
    _stored(response, cover, 4 * MiB)
    blocking = [f"{os.path.basename(entry.path)} ({'to write' if entry.writing else 'to read'})"
                for entry in opened if entry.on_event_loop]
    expect(
        not blocking,
        f"While storing a cover, the endpoint opened {', '.join(dict.fromkeys(blocking))} on the event "
        "loop's own thread.",
        "Disk I/O blocks the thread that does it. On the event loop, every other request of the "
        "process waits meanwhile: a slow disk, or a large cover, freezes checkout too.",
        nudge="The endpoint is an async def: which thread runs its code, and which of its calls wait "
              "for the disk?",
        concept="An async def must not block: file I/O goes to a worker thread (AnyIO's asynchronous file "
                "I/O, or a thread of its own), or the endpoint is a plain def, which FastAPI runs in a "
                "thread. Read AnyIO's 'Asynchronous file I/O' and FastAPI's 'Concurrency and async / await'.",
    )


@pytest.mark.anyio
async def test_the_upload_kept_on_disk_is_not_read_on_the_event_loop_thread(kata_ns, tmp_path):
    _store(kata_ns, tmp_path, max_bytes=4 * MiB)
    cover = _bytes(3 * MiB // 2, seed=9)  # more than Starlette keeps in memory: the upload is on disk
    log: list = []
    response = await _upload(kata_ns, cover, log=log)
    _stored(response, cover, 4 * MiB)
    blocking = [event for event in log if event[0] == "read" and event[3] and event[4]]
    expect(
        not blocking,
        f"Starlette kept the {_size(len(cover))} upload in a temporary file on disk, and the endpoint "
        f"made {len(blocking)} of its reads from that file on the event loop's own thread.",
        "A read from disk blocks the thread that makes it. On the event loop, every other request of "
        "the process waits for the disk meanwhile: checkout freezes while a cover is copied.",
        nudge="The endpoint is an async def: which of its calls read the upload directly, without an "
              "await, and which thread runs them?",
        concept="UploadFile's async methods run the read in a worker thread once the file is on disk; "
                "its .file is a plain, blocking file object. Read FastAPI's 'Request Files' and "
                "'Concurrency and async / await'.",
    )


@pytest.mark.anyio
async def test_an_oversized_cover_is_refused_413_as_soon_as_the_limit_is_crossed(kata_ns, tmp_path):
    store = _store(kata_ns, tmp_path, max_bytes=256 * KiB)
    scan = _bytes(1 * MiB, seed=2)
    log: list = []
    response = await _upload(kata_ns, scan, log=log)
    expect(
        response.status_code == 413,
        f"A {_size(len(scan))} upload, with the store's limit (covers.max_bytes) at 256 KiB, answered "
        f"{brief(response)}.",
        "A cover past the limit must be refused, with the status that tells the client why (413 "
        "Content Too Large). The limit comes from the store: it is not always 2 MiB.",
        nudge="Where does the endpoint compare what it received with covers.max_bytes?",
        concept="Count the bytes as they are copied, and refuse with 413 at the chunk that takes the "
                "count past the limit. Read FastAPI's 'Handling Errors'.",
    )
    answered = next((i for i, event in enumerate(log) if event[0] == "response-start"), len(log))
    reads = _reads(log[:answered])
    read = sum(got for _, got in reads)
    chunk = max((asked for asked, _ in reads if asked > 0), default=0)
    expect(
        read <= store.max_bytes + chunk,
        f"Before answering 413, the endpoint read {_size(read)} of the {_size(len(scan))} upload, for a "
        f"limit of {_size(store.max_bytes)}.",
        "Everything read past the limit is memory and disk spent on a cover that is refused anyway: "
        "the limit protects nothing if it is looked at after the copy.",
        nudge="At which point of the copy does the endpoint know the upload is too big?",
    )
    files = _files(store)
    in_place = store.path_for(3).name in files
    expect(
        not files,
        f"After refusing the upload with 413, the covers folder holds {files}: the refused upload was "
        "written into the cover's own file, which now holds its first chunks." if in_place else
        f"After refusing the upload with 413, the covers folder holds {files}: what the copy wrote is "
        "still there.",
        "A refused upload must leave nothing behind: a book's cover file that holds the start of a "
        "refused scan shows customers a broken image." if in_place else
        "A refused upload must leave nothing behind: a partial file left for each refused upload fills "
        "the disk, a scan at a time, and nothing ever cleans it up.",
        nudge="Which file does the copy write to, and what happens to it when the upload is refused?",
        concept="Write to a file of your own next to the cover, and put it in place only once the upload "
                "is accepted; delete it on every other path.",
    )


@pytest.mark.anyio
async def test_a_refused_upload_leaves_the_stored_cover_as_it_was(kata_ns, tmp_path):
    store = _store(kata_ns, tmp_path, max_bytes=256 * KiB)
    cover = _bytes(100 * KiB, seed=3)
    first = await _upload(kata_ns, cover)
    _stored(first, cover, 256 * KiB)
    for label, data in (("a 1 MiB upload (over the limit)", _bytes(1 * MiB, seed=4)), ("an empty upload", b"")):
        refused = await _upload(kata_ns, data)
        stored = store.path_for(3).read_bytes() if store.path_for(3).exists() else None
        expect(
            not refused.is_success,
            f"Book 3 had a 100 KiB cover; {label} was answered {refused.status_code}"
            f"{' and replaced it' if stored == data else ''}, with the store's limit at 256 KiB.",
            "An upload past the limit must be refused (413), and an empty one too (400): otherwise "
            "the book shows a broken or missing cover.",
            nudge="What does the endpoint answer when the copy finds the upload too big, or empty?",
        )
        if stored is None:
            what = "its file is gone: the book has no cover any more"
        elif not stored:
            what = "its file is empty (0 KiB): the book's cover is gone"
        elif stored == data[: len(stored)]:
            what = f"its file holds the refused upload's first {_size(len(stored))}"
        else:
            what = f"its file holds {_size(len(stored))} of something else"
        expect(
            stored == cover,
            f"Book 3 had a 100 KiB cover; after {label} was refused with {refused.status_code}, {what}.",
            "A refused upload must leave the stored cover as it was: customers would see a broken "
            "image, and the publisher, told the upload failed, has no reason to look.",
            nudge="When is the stored cover's file opened for writing, and what does opening it for "
                  "writing do to what it held?",
            concept="Write the new cover to a file of its own, and replace the stored one in a single "
                    "step (a rename) only once the upload was accepted.",
        )
        files = _files(store)
        expect(
            files == [store.path_for(3).name],
            f"After {label} was refused, the covers folder holds {files}.",
            "A refused upload must leave nothing behind: leftover partial files fill the disk, one "
            "per refused upload.",
            nudge="On the paths where the upload is refused, what happens to the file the copy wrote?",
        )


@pytest.mark.anyio
async def test_a_cover_within_the_limit_is_stored_byte_for_byte_with_its_size_and_hash(kata_ns, tmp_path):
    # The limit is above the notebook's 2 MiB: a limit written into the endpoint refuses this.
    store = _store(kata_ns, tmp_path, max_bytes=3 * MiB)
    for data, streamed in ((_bytes(200 * KiB + 7, seed=5), False), (_bytes(3 * MiB, seed=6), True)):
        response = await _upload(kata_ns, data, book_id=5, streamed=streamed)
        expect(
            response.status_code == 201,
            f"Uploading a {_size(len(data))} cover, with the store's limit at {_size(store.max_bytes)}, "
            f"answered {brief(response)}.",
            "A cover up to the limit, inclusive, must be stored with 201. The limit comes from the "
            "store, which may allow more than the notebook's 2 MiB.",
            nudge="Where does the endpoint's limit come from?",
        )
        expected = {"book_id": 5, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        expect(
            json_of(response) == expected,
            f"The answer to a {_size(len(data))} upload was {brief(response, 160)}, while the size and "
            f"SHA-256 of what was sent are {expected}.",
            "The publisher compares the size and hash with the file it sent, to know the cover arrived "
            "intact.",
            nudge="Are the size and the hash computed over every chunk, in order?",
        )
        stored = store.path_for(5).read_bytes() if store.path_for(5).exists() else b""
        expect(
            stored == data,
            f"A {_size(len(data))} upload was answered 201, but the file stored for book 5 holds "
            f"{_size(len(stored))} that {'match' if stored == data[: len(stored)] else 'differ from'} its start.",
            "The shop serves what is stored: a cover cut short, or mixed up, is a broken image.",
            nudge="Does every chunk reach the file, in order, up to the end of the upload?",
        )
    files = _files(store)
    expect(files == [store.path_for(5).name], f"After two accepted uploads for book 5, the covers folder "
           f"holds {files}.", "Each accepted upload leaves exactly one file: the book's cover.",
           nudge="What is left of the files the copy wrote once the cover is in place?")


@pytest.mark.anyio
async def test_an_empty_or_missing_cover_is_refused_with_a_4xx(kata_ns, tmp_path):
    store = _store(kata_ns, tmp_path, max_bytes=256 * KiB)
    empty = await _upload(kata_ns, b"", streamed=False)
    expect(
        400 <= empty.status_code < 500,
        f"An empty cover file answered {brief(empty)}.",
        "An empty file is no cover: the client must be told, with a 400.",
        nudge="Once the copy is done, how does the endpoint know the file was empty?",
    )
    async with open_client(learner(kata_ns, "app")) as client:
        missing = await client.post("/books/3/cover", files={"image": ("cover.jpg", b"abc", "image/jpeg")})
    expect(
        400 <= missing.status_code < 500,
        f"An upload with no cover field (the file sent as 'image') answered {brief(missing)}.",
        "A form without the documented field is the client's mistake: answer it with a 4xx that says so.",
        nudge="Does the endpoint still declare the cover as the form's file parameter?",
    )
    files = _files(store)
    expect(not files, f"Refused uploads left {files} in the covers folder.",
           "A refused upload must leave nothing behind.")


def _form_field(app) -> tuple[str, dict | None]:
    """How the app's OpenAPI document describes the upload: its content types and the cover field."""
    try:
        document = app.openapi()
    except Exception as error:  # noqa: BLE001 - an app whose schema cannot be built documents nothing
        return f"no OpenAPI document ({type(error).__name__})", None
    operation = document.get("paths", {}).get(PATH, {}).get("post")
    if not isinstance(operation, dict):
        return f"no POST {PATH}", None
    content = (operation.get("requestBody") or {}).get("content") or {}
    schema = (content.get("multipart/form-data") or {}).get("schema")
    if not content:
        return "no request body at all", None
    if not isinstance(schema, dict):
        return f"a request body of the types {sorted(content)}, with no multipart form", None
    ref = schema.get("$ref", "")
    if ref.startswith("#/components/schemas/"):
        schema = document.get("components", {}).get("schemas", {}).get(ref.rsplit("/", 1)[-1], {})
    cover = (schema.get("properties") or {}).get("cover")
    if not isinstance(cover, dict):
        return f"a multipart form with the fields {sorted(schema.get('properties') or {})}", None
    return "a multipart form", {**cover, "required": "cover" in (schema.get("required") or [])}


def test_the_endpoint_still_takes_the_documented_cover_form(kata_ns):
    described, cover = _form_field(learner(kata_ns, "app"))
    is_file = isinstance(cover, dict) and (
        cover.get("format") == "binary" or cover.get("contentMediaType") == "application/octet-stream"
    )
    if not (is_file and cover.get("required")):
        fail(
            f"The app's OpenAPI document describes POST {PATH} with {described}"
            f"{', where cover is not a required file' if cover is not None else ''}.",
            "Publishers' upload scripts are generated from that document: a multipart form with a "
            "required file field named cover. Change it, and every script breaks at the next release.",
            nudge="Does the endpoint still declare the cover as a file parameter of the form?",
            concept="FastAPI documents an UploadFile parameter as a multipart form's file field. Read "
                    "FastAPI's 'Request Files'.",
        )


_upload_label: ContextVar[int | None] = ContextVar("upload_label", default=None)


class _TwoAtOnce:
    """Two uploads for one book, interleaved the same way every time: the first upload to read a
    chunk in a worker thread waits there, right after that read, until the other upload has read
    twice (it has handled its first chunk), has ended, or waits for its turn at a lock, semaphore or
    limiter the check can see (in the notebook or the app's state). A read on the event loop's own
    thread is never held: that would stop the other upload too."""

    def __init__(self, namespace: dict, app):
        self.namespace, self.app_state = namespace, getattr(getattr(app, "state", None), "_state", None) or {}
        self.loop = asyncio.get_running_loop()
        self.reads = [0, 0]
        self.ended = [False, False]
        self.held: int | None = None
        self.gave_up = False
        self.changed = threading.Condition()
        self.arrived = 0

    def wrap(self, app):
        async def labelled(scope, receive, send):
            if scope["type"] != "http":
                return await app(scope, receive, send)
            label, self.arrived = self.arrived, self.arrived + 1
            token = _upload_label.set(label)
            try:
                await app(scope, receive, send)
            finally:
                _upload_label.reset(token)
                with self.changed:
                    self.ended[label] = True
                    self.changed.notify_all()

        return labelled

    def _waits_for_a_turn(self) -> bool:
        """Asked from the held upload's thread: does the other upload wait for its turn, on the loop?"""

        async def count() -> int:  # in a task of the loop: anyio needs one to find its limiter
            return waiting_for_a_turn(self.namespace, self.app_state)

        try:
            return asyncio.run_coroutine_threadsafe(count(), self.loop).result(timeout=HOLD_LIMIT) > 0
        except Exception:  # noqa: BLE001 - a place it cannot read, or no answer: nobody seen waiting
            return False

    def on_read(self, event: tuple) -> None:
        label = _upload_label.get()
        if label not in (0, 1):
            return
        with self.changed:
            self.reads[label] += 1
            self.changed.notify_all()
            if self.held is not None or event[4]:
                return
            self.held = label
        other = 1 - label
        deadline = time.monotonic() + HOLD_LIMIT  # a safety net only: see HOLD_LIMIT
        while True:
            with self.changed:
                if self.reads[other] >= 2 or self.ended[other]:
                    return
                self.changed.wait(0.005)
            if self._waits_for_a_turn():
                return
            if time.monotonic() > deadline:
                self.gave_up = True
                return


@pytest.mark.anyio
async def test_two_uploads_for_one_book_at_once_leave_one_whole_cover(kata_ns, tmp_path):
    store = _store(kata_ns, tmp_path, max_bytes=2 * MiB)
    app = learner(kata_ns, "app")
    # Both over 1 MiB, so Starlette keeps them on disk and the endpoint reads them in worker threads.
    rounds = (
        ("two covers within the limit", _bytes(3 * MiB // 2, seed=11), _bytes(5 * MiB // 4, seed=12)),
        ("a scan over the limit and a cover within it", _bytes(3 * MiB, seed=13), _bytes(5 * MiB // 4, seed=14)),
    )
    for what, one, two in rounds:
        store.path_for(3).unlink(missing_ok=True)
        pair = _TwoAtOnce(kata_ns, app)
        answers: list = [None, None]
        async with open_client(pair.wrap(app)) as client:
            with upload_reads([], pair.on_read):

                async def send(index: int, data: bytes) -> None:
                    answers[index] = await client.post(
                        "/books/3/cover", files={"cover": (f"cover-{index + 1}.jpg", data, "image/jpeg")})

                async with anyio.create_task_group() as tg:
                    tg.start_soon(send, 0, one)
                    await anyio.sleep(0)  # the first request is on its way first
                    tg.start_soon(send, 1, two)
        # Each answers as its size says: 201 within the limit; 413 past it (or 201, if the endpoint
        # enforces no limit at all: the tests of the limit say so, not this one).
        statuses = [answer.status_code for answer in answers]
        as_sized = all(status == 201 if len(data) <= store.max_bytes else status in (201, 413)
                       for status, data in zip(statuses, (one, two)))
        stored = store.path_for(3).read_bytes() if store.path_for(3).exists() else None
        accepted = [data for data, status in zip((one, two), statuses) if status == 201]
        if stored is None:
            kept = "no cover is stored for book 3"
        elif any(stored == data for data in accepted):
            kept = f"the stored cover is the {_size(len(stored))} upload, whole"
        else:
            kept = f"the stored cover ({_size(len(stored))}) is neither upload whole"
        hashes_right = all(
            json_of(answer) == {"book_id": 3, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
            for answer, data in zip(answers, (one, two)) if answer.status_code == 201
        )
        files = _files(store)
        held = (" The check held the upload that read first, after its first chunk, until the other had "
                "handled its own chunk, as a busy server may.")
        expect(
            as_sized and stored in accepted and hashes_right and files == [store.path_for(3).name],
            f"The check sent {what} ({_size(len(one))} and {_size(len(two))}, limit {_size(store.max_bytes)}) "
            f"for book 3 at once.{held} They answered {[brief(answer, 60) for answer in answers]}; "
            f"{kept}; the covers folder holds {files}.",
            "Publishers' scripts send covers ten at a time, and retry what seems slow: two uploads for one "
            "book do overlap. If they share a file on the way, one of them fails, or the stored cover mixes "
            "the two, a broken image nobody was told about.",
            nudge="If two uploads for the same book run at the same time, is there a file they both write "
                  "to, or both delete?",
            concept="Each upload writes to a temporary file of its own (a name no other request can have: "
                    "tempfile, a uuid), next to the cover, then replaces the cover in one step.",
        )
