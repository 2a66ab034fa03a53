# %% [markdown]
# # Stream uploads to disk, with a limit
#
# **The story.** Publishers send cover images with `POST /books/{book_id}/cover`. On Friday a
# publisher's script sent, by mistake, the 900 MB print-ready scans instead of the thumbnails,
# ten books at a time. The API's memory climbed by almost a gigabyte per request until the
# container was killed, and checkout went down with it. The shop's settings say a cover may be
# at most 2 MiB; nothing in the endpoint ever asks. It reads the cover with one line that
# every tutorial shows: `data = await cover.read()`.
#
# **You will learn**
# - what FastAPI has already done with an upload when your endpoint starts: the whole request
#   body has been received, and the file is waiting in a temporary file;
# - why `await cover.read()` then copies all of it into memory, and how to copy it in chunks of
#   a fixed size instead;
# - how to stop with `413 Content Too Large` as soon as the limit is crossed, without damaging
#   the cover already stored, and where a limit has to sit to refuse the bytes themselves.
#
# Run the cells from the top (**Run → Run All Cells**), read the evidence, then make the check pass.

# %% tags=["setup"]
from checks import setup_notebook

setup_notebook()

# %% [markdown]
# ## The bookshop around the problem
#
# `CoverStore` (from the workbook's `bookshop` package) is where the shop keeps its covers: a
# folder with one file per book (`covers.path_for(book_id)`), and `covers.max_bytes`, the
# largest cover the shop accepts. `CoverOut` is the answer: the book, the size stored and its
# SHA-256, so the publisher can check the upload arrived intact. The endpoint gets the store
# from the `get_covers` dependency, so a test can give it a folder and a limit of its own.

# %%
import hashlib
import uuid
from typing import Annotated

import anyio
from fastapi import Depends, FastAPI, HTTPException, UploadFile

from bookshop.covers import CoverOut, CoverStore

covers = CoverStore.in_a_scratch_folder(max_bytes=2 * 1024 * 1024)


def get_covers() -> CoverStore:
    return covers


CoversDep = Annotated[CoverStore, Depends(get_covers)]

# %% [markdown]
# ## The code under review
#
# This is the cell you will change. How many bytes does `await cover.read()` return for a
# 900 MB scan, and where do they all live until the function returns?

# %% tags=["kata", "starter"]
app = FastAPI()


@app.post("/books/{book_id}/cover", status_code=201)
async def upload_cover(book_id: int, cover: UploadFile, covers: CoversDep) -> CoverOut:
    data = await cover.read()  # the whole file, as one bytes object
    if not data:
        raise HTTPException(status_code=400, detail="The cover file is empty")
    await anyio.Path(covers.path_for(book_id)).write_bytes(data)
    return CoverOut(book_id=book_id, bytes=len(data), sha256=hashlib.sha256(data).hexdigest())

# %% tags=["kata", "solution"]
app = FastAPI()
CHUNK = 64 * 1024  # what one read may bring into memory, whatever the size of the file


@app.post("/books/{book_id}/cover", status_code=201)
async def upload_cover(book_id: int, cover: UploadFile, covers: CoversDep) -> CoverOut:
    final = covers.path_for(book_id)
    # Write to a file of our own first: the stored cover is replaced only by a complete upload.
    partial = anyio.Path(final.with_name(f"{final.name}.{uuid.uuid4().hex}.part"))
    size, digest = 0, hashlib.sha256()
    try:
        async with await anyio.open_file(partial, "wb") as out:
            while chunk := await cover.read(CHUNK):
                size += len(chunk)
                if size > covers.max_bytes:  # stop at the chunk that crosses the limit
                    raise HTTPException(
                        status_code=413, detail=f"A cover may be at most {covers.max_bytes} bytes"
                    )
                digest.update(chunk)
                await out.write(chunk)
        if size == 0:
            raise HTTPException(status_code=400, detail="The cover file is empty")
        await partial.replace(final)  # the new cover appears whole, in one step
    finally:
        await partial.unlink(missing_ok=True)  # a refused upload leaves nothing behind
    return CoverOut(book_id=book_id, bytes=size, sha256=digest.hexdigest())

# %% tags=["kata", "decoy:read-then-check"]
# "Add the missing limit." The size is checked, and an oversized cover gets its 413. But only
# after `await cover.read()` has copied the whole 900 MB into memory: the check comes after
# the damage.
app = FastAPI()


@app.post("/books/{book_id}/cover", status_code=201)
async def upload_cover(book_id: int, cover: UploadFile, covers: CoversDep) -> CoverOut:
    data = await cover.read()
    if len(data) > covers.max_bytes:
        raise HTTPException(status_code=413, detail=f"A cover may be at most {covers.max_bytes} bytes")
    if not data:
        raise HTTPException(status_code=400, detail="The cover file is empty")
    await anyio.Path(covers.path_for(book_id)).write_bytes(data)
    return CoverOut(book_id=book_id, bytes=len(data), sha256=hashlib.sha256(data).hexdigest())

# %% tags=["kata", "decoy:content-length-check"]
# "Refuse it before reading anything: the client says how big the body is." Only if it
# wants to: a client that streams its upload sends no Content-Length at all, and a hostile one
# can send any number. And FastAPI has received and parsed the whole body before the endpoint
# runs anyway, so this refuses nothing early; the `await cover.read()` behind it is unchanged.
from fastapi import Request

app = FastAPI()


@app.post("/books/{book_id}/cover", status_code=201)
async def upload_cover(book_id: int, cover: UploadFile, covers: CoversDep, request: Request) -> CoverOut:
    if int(request.headers.get("content-length", 0)) > covers.max_bytes:
        raise HTTPException(status_code=413, detail=f"A cover may be at most {covers.max_bytes} bytes")
    data = await cover.read()
    if not data:
        raise HTTPException(status_code=400, detail="The cover file is empty")
    await anyio.Path(covers.path_for(book_id)).write_bytes(data)
    return CoverOut(book_id=book_id, bytes=len(data), sha256=hashlib.sha256(data).hexdigest())

# %% tags=["kata", "decoy:read-limit-plus-one"]
# "Read at most one byte more than the limit: if you got that byte, it is too big." Memory is
# bounded now, but by the limit: every upload may hold `max_bytes` in memory at once, and the
# day the limit becomes 200 MB for print-ready scans, so does every upload's memory.
app = FastAPI()


@app.post("/books/{book_id}/cover", status_code=201)
async def upload_cover(book_id: int, cover: UploadFile, covers: CoversDep) -> CoverOut:
    data = await cover.read(covers.max_bytes + 1)
    if len(data) > covers.max_bytes:
        raise HTTPException(status_code=413, detail=f"A cover may be at most {covers.max_bytes} bytes")
    if not data:
        raise HTTPException(status_code=400, detail="The cover file is empty")
    await anyio.Path(covers.path_for(book_id)).write_bytes(data)
    return CoverOut(book_id=book_id, bytes=len(data), sha256=hashlib.sha256(data).hexdigest())

# %% tags=["kata", "decoy:write-in-place"]
# "Copy it chunk by chunk straight into the cover's file, and stop at the limit." Memory and
# the limit are right. But opening the cover's own file for writing empties it first: a
# refused upload leaves the book with the first 2 MiB of the wrong image instead of its cover.
app = FastAPI()
CHUNK = 64 * 1024


@app.post("/books/{book_id}/cover", status_code=201)
async def upload_cover(book_id: int, cover: UploadFile, covers: CoversDep) -> CoverOut:
    size, digest = 0, hashlib.sha256()
    async with await anyio.open_file(covers.path_for(book_id), "wb") as out:
        while chunk := await cover.read(CHUNK):
            size += len(chunk)
            if size > covers.max_bytes:
                raise HTTPException(status_code=413, detail=f"A cover may be at most {covers.max_bytes} bytes")
            digest.update(chunk)
            await out.write(chunk)
    if size == 0:
        raise HTTPException(status_code=400, detail="The cover file is empty")
    return CoverOut(book_id=book_id, bytes=size, sha256=digest.hexdigest())

# %% [markdown]
# ## The evidence
#
# The next cell uploads two covers for *Dune* (book 3), the way a script streams a file: in
# 64 KiB pieces, with no Content-Length. First a 1.5 MiB cover, then a 6 MiB scan (the limit is
# 2 MiB). It watches three things: how many bytes of the request the server had pulled when the
# endpoint first read the file, every read the endpoint made from the upload (how much it asked
# for; "everything" is `read()` with no size), and what is stored for book 3 afterwards.

# %% tags=["evidence"]
import random

from bookshop.client import shop_client
from bookshop.observe import response_spy
from bookshop.client import streamed_form
from bookshop.observe import upload_reads


def mib(n: int) -> str:
    return f"{n / 1024 / 1024:.2f} MiB"


def upload(client, log: list, data: bytes, name: str) -> None:
    log.clear()
    headers, pieces = streamed_form(data, filename=name, events=log)  # notes ("sent", size)
    with upload_reads(log):  # notes ("read", asked, got); the spy notes ("response-start", status)
        response = client.post("/books/3/cover", content=pieces, headers=headers)
    first_read = next((i for i, event in enumerate(log) if event[0] == "read"), len(log))
    answer = next(i for i, event in enumerate(log) if event[0] == "response-start")
    reads = [event for event in log if event[0] == "read"]
    largest = max((asked for _, asked, _ in reads), default=0)
    asked = "everything" if any(asked < 0 for _, asked, _ in reads) else f"at most {largest // 1024} KiB"
    sent = sum(event[1] for event in log if event[0] == "sent")
    answer_body = response.json() if response.headers.get("content-type") == "application/json" else {}
    said = answer_body.get("detail") or f"{answer_body.get('bytes')} bytes stored"
    print(f"POST /books/3/cover  {name} ({mib(len(data))}) -> {response.status_code} {said}")
    print(f"    request pulled before the endpoint's first read: "
          f"{mib(sum(event[1] for event in log[:first_read] if event[0] == 'sent'))} of {mib(sent)}")
    print(f"    reads from the upload: {len(reads)}, each asking for {asked}; "
          f"{mib(sum(event[2] for event in log[:answer] if event[0] == 'read'))} read before answering")


log = []
with shop_client(response_spy(app, log)) as client:
    dune = random.Random(1).randbytes(3 * 512 * 1024)
    scan = random.Random(2).randbytes(6 * 1024 * 1024)
    covers.path_for(3).unlink(missing_ok=True)
    upload(client, log, dune, "dune.jpg")
    upload(client, log, scan, "dune-print-scan.tif")

stored = covers.path_for(3).read_bytes() if covers.path_for(3).exists() else b""
what = "the 1.5 MiB cover" if stored == dune else "the 6 MiB scan" if stored == scan else "neither upload whole"
print(f"stored for book 3: {mib(len(stored))}, {what}")
print(f"files in the covers folder: {sorted(path.name for path in covers.directory.iterdir())}")

# %% [markdown]
# With the starter, both uploads are read in one read that asks for everything: 1.5 MiB, then
# 6 MiB, as one bytes object each, and the scan is stored as Dune's cover although the limit is
# 2 MiB. Note the second line of each upload too, in the starter *and* once fixed: all of the
# request had been pulled before the endpoint read anything. FastAPI parses a form before it
# calls your function; Starlette keeps each uploaded file in a temporary file (in memory up to
# 1 MiB, on disk beyond). Your code decides what it copies into memory and onto your storage,
# not what the client sends.
#
# ## The check
#
# Run it. Each failing test names what is wrong; fix the kata cell, run it again, then re-run
# this cell until every test passes.

# %% tags=["check"]
%%ipytest
from checks.streamed_upload import *

# %% [markdown]
# ## Hints
#
# Stuck? Each click opens one more level: a nudge, then the concept, then a sketch of
# the code. In a terminal, `kata hint streamed-upload` opens the same levels.

# %% [markdown] tags=["hint"]
# ### Hint 1: a nudge
#
# `cover.read()` takes a size: `await cover.read(n)` returns at most `n` bytes, and `b""` once
# the file is exhausted. What would a loop around it look like, and where in that loop do you
# know the upload has become too big? Then: which file does `"wb"` empty the moment it opens?

# %% [markdown] tags=["hint"]
# ### Hint 2: the concept
#
# When your endpoint runs, the upload is already complete, in a temporary file. Reading it
# with no size copies the whole of it into one bytes object, so memory grows with whatever a
# client sends. Copy it instead: read a fixed-size chunk, count it, write it out, repeat. The
# count tells you the moment the file passes `covers.max_bytes`; raise
# `HTTPException(413)` right there, without reading the rest. And write into a file of your
# own, not the stored cover: rename it over the cover only when the whole upload was accepted,
# and delete it otherwise. A refused upload must leave the old cover as it was.

# %% [markdown] tags=["hint"]
# ### Hint 3: a sketch
#
# ```python
# final = covers.path_for(book_id)
# partial = anyio.Path(final.with_name(f"{final.name}.{uuid.uuid4().hex}.part"))
# size, digest = 0, hashlib.sha256()
# try:
#     async with await anyio.open_file(partial, "wb") as out:
#         while chunk := await cover.read(64 * 1024):
#             ...  # count; past covers.max_bytes: raise HTTPException(status_code=413, ...)
#             ...  # digest.update(chunk); await out.write(chunk)
#     ...  # an empty file is still a 400
#     await partial.replace(final)
# finally:
#     await partial.unlink(missing_ok=True)
# ```

# %% [markdown]
# ## The walkthrough

# %% [markdown] tags=["walkthrough"]
# ### The fix, step by step
#
# 1. **Know where the upload is.** For a parameter like `cover: UploadFile`, FastAPI reads and
#    parses the whole multipart body before it calls your function (and before your
#    dependencies run). Starlette writes each file into a `tempfile.SpooledTemporaryFile`: in
#    memory up to 1 MiB, rolled over to a temporary file on disk beyond that. So the upload
#    costs little memory until *you* read it.
# 2. **Read it in chunks.** `await cover.read()` (size `-1`) returns everything left as one
#    `bytes`: a 900 MB scan becomes 900 MB of memory, per request. `await cover.read(64 * 1024)`
#    returns at most 64 KiB; loop until it returns `b""`, and memory stays at one chunk
#    whatever the file's size. `anyio.open_file` writes each chunk without blocking the event
#    loop, and `hashlib.sha256().update(chunk)` computes the checksum on the way.
# 3. **Enforce the limit while copying.** Count the bytes as they go. At the chunk that takes
#    the count past `covers.max_bytes`, raise `HTTPException(status_code=413)` (the status is
#    called *Content Too Large* in RFC 9110; Starlette's constant is
#    `status.HTTP_413_CONTENT_TOO_LARGE`). Nothing past the chunk that crosses the limit is read, and nothing past the limit is written or kept, and
#    the limit comes from the store, so it can change without touching the endpoint. (Since
#    the upload is complete when the endpoint runs, Starlette already knows its size:
#    refusing early on `cover.size > covers.max_bytes` is fine too. The counting loop is
#    the one that works for any stream, whatever told you its size.)
# 4. **Never damage what is stored.** Opening the cover's own file with `"wb"` empties it at
#    once. Write to a new file next to it, `replace()` it over the cover only when the whole
#    upload was accepted (on one file system, a rename is all-or-nothing), and delete it in a
#    `finally` otherwise. An empty upload is still refused with 400.
#
# What this does not do: stop the client from sending. The 413 is decided after the whole
# body has arrived, because FastAPI parsed the form first. To refuse the bytes themselves,
# the limit must sit where they arrive: in the reverse proxy in front of the app (nginx's
# `client_max_body_size`, for example). An endpoint that takes a raw body (not a form) can
# also read `request.stream()` chunk by chunk and stop pulling at the limit; even then the
# client may keep sending, so the proxy limit is still the one that protects the network.
#
# Why not read everything and then check the size? The check comes after the memory is
# spent. Why not trust the `Content-Length` header? A streaming client sends none, any client
# can send a wrong one, and the body has been received before the endpoint runs anyway. Why
# not `read(max_bytes + 1)`? Memory is then bounded by the limit instead of a chunk, and grows
# the day the limit does. And why not write the chunks straight into the cover's file? A
# refused upload then leaves the book with a truncated cover.
#
# Read more: FastAPI, [Request Files](https://fastapi.tiangolo.com/tutorial/request-files/);
# Starlette, [Requests: request files and the body stream](https://www.starlette.io/requests/);
# AnyIO, [Asynchronous file I/O](https://anyio.readthedocs.io/en/stable/fileio.html).
#
# ### What to remember
# - When an `UploadFile` endpoint runs, the upload has already arrived, in a temporary file.
#   `await file.read()` copies all of it into memory; read fixed-size chunks in a loop instead.
# - Count while you copy and answer 413 at the chunk that crosses the limit; take the limit from
#   configuration.
# - Write to a temporary file and rename it into place only when the upload is accepted.
# - An application-level limit protects memory and storage; a proxy limit protects the network.
