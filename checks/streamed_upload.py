"""Check: an upload is copied to disk in bounded chunks, refused with 413 at the limit, never half-stored."""

import hashlib
import random

import httpx
import pytest

from bookshop.client import open_client
from bookshop.observe import response_spy
from bookshop.client import streamed_form
from bookshop.covers import MiB, CoverStore
from bookshop.observe import upload_reads
from checks.harness import learner

__all__ = [
    "test_the_upload_is_read_in_bounded_chunks_not_all_at_once",
    "test_an_oversized_cover_is_refused_413_as_soon_as_the_limit_is_crossed",
    "test_a_refused_upload_leaves_the_stored_cover_as_it_was",
    "test_a_cover_within_the_limit_is_stored_byte_for_byte_with_its_size_and_hash",
    "test_an_empty_or_missing_cover_is_refused_with_a_4xx",
]

KiB = 1024
LARGEST_READ = 1 * MiB  # a chunk; Starlette itself keeps up to 1 MiB of an upload in memory


def _bytes(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


def _size(n: int) -> str:
    return f"{n / MiB:.2f} MiB" if n >= MiB else f"{n / KiB:.0f} KiB"


def _store(kata_ns, tmp_path, max_bytes: int) -> CoverStore:
    """Give the learner's app a covers folder of this test's own, with the limit ``max_bytes``."""
    store = CoverStore(tmp_path / "covers", max_bytes)
    store.directory.mkdir()
    app = learner(kata_ns, "app")
    app.dependency_overrides[learner(kata_ns, "get_covers")] = lambda: store
    return store


async def _upload(kata_ns, data: bytes, *, book_id: int = 3, streamed: bool = True, log: list | None = None):
    """POST the cover; streamed uploads come in 64 KiB pieces with no Content-Length."""
    log = [] if log is None else log
    async with open_client(response_spy(learner(kata_ns, "app"), log)) as client:
        with upload_reads(log):
            if streamed:
                headers, body = streamed_form(data, events=log)
                return await client.post(f"/books/{book_id}/cover", content=body, headers=headers)
            return await client.post(f"/books/{book_id}/cover", files={"cover": ("cover.jpg", data, "image/jpeg")})


def _reads(log: list) -> list[tuple[int, int]]:
    return [(asked, got) for kind, *rest in log if kind == "read" for asked, got in [rest]]


def _files(store: CoverStore) -> list[str]:
    return sorted(path.name for path in store.directory.iterdir())


@pytest.mark.anyio
async def test_the_upload_is_read_in_bounded_chunks_not_all_at_once(kata_ns, tmp_path):
    _store(kata_ns, tmp_path, max_bytes=4 * MiB)
    cover = _bytes(3 * MiB // 2, seed=1)
    log: list = []
    response = await _upload(kata_ns, cover, log=log)
    assert response.status_code == 201, (
        f"Uploading a {_size(len(cover))} cover (the limit was 4 MiB) answered "
        f"{response.status_code} {response.text[:80]}; a cover within the limit must be stored, with 201."
    )
    reads = _reads(log)
    assert reads, (
        "The endpoint stored the cover without reading the uploaded file: read it from the "
        "`UploadFile`, with `await cover.read(n)`."
    )
    unbounded = [got for asked, got in reads if asked < 0]
    assert not unbounded, (
        f"The endpoint read the upload with no size (`await cover.read()`), which returns "
        f"everything left as one bytes object: here {_size(max(unbounded))} at once; a 900 MB "
        "scan would be 900 MB of memory, per request. Read it in chunks of a fixed size: "
        "`while chunk := await cover.read(64 * 1024): ...`."
    )
    largest = max(asked for asked, _ in reads)
    assert largest <= LARGEST_READ, (
        f"The endpoint asked for {_size(largest)} in one read. Memory per upload should not grow "
        "with the file or with the limit (reading `max_bytes + 1` at once grows with the "
        "limit): read fixed chunks, e.g. `await cover.read(64 * 1024)`, in a loop."
    )


@pytest.mark.anyio
async def test_an_oversized_cover_is_refused_413_as_soon_as_the_limit_is_crossed(kata_ns, tmp_path):
    store = _store(kata_ns, tmp_path, max_bytes=256 * KiB)
    scan = _bytes(1 * MiB, seed=2)
    log: list = []
    response = await _upload(kata_ns, scan, log=log)
    assert response.status_code == 413, (
        f"A {_size(len(scan))} upload, with `covers.max_bytes` set to 256 KiB, answered "
        f"{response.status_code} {response.text[:80]}. Count the bytes while you copy the upload "
        "and raise `HTTPException(status_code=413)` when the count passes `covers.max_bytes` "
        "(take the limit from the store: it is not always 2 MiB)."
    )
    answered = next(i for i, event in enumerate(log) if event[0] == "response-start")
    reads = _reads(log[:answered])
    read = sum(got for _, got in reads)
    chunk = max((asked for asked, _ in reads if asked > 0), default=0)
    assert read <= store.max_bytes + chunk, (
        f"Before answering 413, the endpoint read {_size(read)} of the {_size(len(scan))} upload, "
        f"for a limit of {_size(store.max_bytes)}: it read on (or read everything) before looking "
        "at the size. Check the count after each chunk, and stop at the chunk that crosses the limit."
    )
    in_place = store.path_for(3).name in _files(store)
    assert _files(store) == [], (
        f"After refusing the upload with 413, the covers folder holds {_files(store)}: the refused "
        "upload was written into the cover's own file, which now holds its first chunks. Write "
        "into a new file next to it, and `replace()` it over the cover only once the whole upload "
        "was accepted." if in_place else
        f"After refusing the upload with 413, the covers folder holds {_files(store)}: a refused "
        "upload must leave nothing behind. Delete the partial file (in a `finally`)."
    )


@pytest.mark.anyio
async def test_a_refused_upload_leaves_the_stored_cover_as_it_was(kata_ns, tmp_path):
    store = _store(kata_ns, tmp_path, max_bytes=256 * KiB)
    cover = _bytes(100 * KiB, seed=3)
    first = await _upload(kata_ns, cover)
    assert first.status_code == 201, (
        f"Uploading a 100 KiB cover (limit 256 KiB) answered {first.status_code} {first.text[:80]}; expected 201."
    )
    for label, data in (("a 1 MiB upload (over the limit)", _bytes(1 * MiB, seed=4)), ("an empty upload", b"")):
        refused = await _upload(kata_ns, data)
        stored = store.path_for(3).read_bytes() if store.path_for(3).exists() else None
        assert not refused.is_success, (
            f"Book 3 had a 100 KiB cover; {label} was answered {refused.status_code}"
            f"{' and replaced it' if stored == data else ''}, with `covers.max_bytes` set to "
            "256 KiB. Refuse it (413 past the limit, 400 when empty), and replace the stored "
            "cover only once a whole upload has been accepted."
        )
        what = (
            "nothing" if stored is None
            else "the refused upload's first bytes" if stored == data[: len(stored)]
            else "something else"
        )
        assert stored == cover, (
            f"Book 3 had a 100 KiB cover; after {label} was refused with {refused.status_code}, its "
            f"file holds {what} ({_size(len(stored or b''))}). Opening the cover's own file with "
            "'wb' empties it before anything is checked. Write into a new file next to it, "
            "`replace()` it over the cover only when the upload was accepted, and delete it otherwise."
        )
        assert _files(store) == [store.path_for(3).name], (
            f"After {label} was refused, the covers folder holds {_files(store)}: delete the "
            "partial file of a refused upload (in a `finally`)."
        )


@pytest.mark.anyio
async def test_a_cover_within_the_limit_is_stored_byte_for_byte_with_its_size_and_hash(kata_ns, tmp_path):
    # The limit is above the notebook's 2 MiB: a limit written into the endpoint refuses this.
    store = _store(kata_ns, tmp_path, max_bytes=3 * MiB)
    for data, streamed in ((_bytes(200 * KiB + 7, seed=5), False), (_bytes(3 * MiB, seed=6), True)):
        response = await _upload(kata_ns, data, book_id=5, streamed=streamed)
        assert response.status_code == 201, (
            f"Uploading a {_size(len(data))} cover with `covers.max_bytes` set to {_size(store.max_bytes)} "
            f"answered {response.status_code} {response.text[:80]}; a cover up to the limit, "
            "inclusive, must be stored with 201. Take the limit from `covers.max_bytes`."
        )
        expected = {"book_id": 5, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        assert response.json() == expected, (
            f"The answer to a {_size(len(data))} upload was {response.text[:160]}; expected {expected}: "
            "the size and SHA-256 of everything that was stored."
        )
        stored = store.path_for(5).read_bytes() if store.path_for(5).exists() else b""
        assert stored == data, (
            f"A {_size(len(data))} upload was answered 201, but the file stored for book 5 holds "
            f"{_size(len(stored))} that {'match' if stored == data[: len(stored)] else 'differ from'} "
            "its start: store every chunk, in order, until `read` returns b''."
        )
    assert _files(store) == [store.path_for(5).name], f"The covers folder holds {_files(store)}: only book-5.cover expected."


@pytest.mark.anyio
async def test_an_empty_or_missing_cover_is_refused_with_a_4xx(kata_ns, tmp_path):
    store = _store(kata_ns, tmp_path, max_bytes=256 * KiB)
    empty = await _upload(kata_ns, b"", streamed=False)
    assert 400 <= empty.status_code < 500, (
        f"An empty cover file answered {empty.status_code} {empty.text[:80]}; it must be refused "
        "with 400 (after the loop, a size of 0 means the file was empty)."
    )
    async with open_client(learner(kata_ns, "app")) as client:
        missing = await client.post("/books/3/cover", files={"image": ("cover.jpg", b"abc", "image/jpeg")})
    assert 400 <= missing.status_code < 500, (
        f"An upload with no `cover` field answered {missing.status_code} {missing.text[:80]}; FastAPI "
        "answers 422 for a missing `cover: UploadFile` parameter. Keep the parameter."
    )
    assert _files(store) == [], f"Refused uploads left {_files(store)} in the covers folder."
