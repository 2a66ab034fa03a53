# %% [markdown]
# # Stream uploads to disk, with a limit
#
# **The story.** Publishers send cover images with `POST /books/{book_id}/cover`. Their scripts
# send ten covers at a time, and send again any that seems slow, so two uploads for one book
# sometimes overlap. On Friday a publisher's script sent, by mistake, the 900 MB print-ready
# scans instead of the thumbnails. The API's memory climbed by almost a gigabyte per request
# until the container was killed, and checkout went down with it. The shop's settings say a
# cover may be at most 2 MiB; nothing in the endpoint ever asks. It reads the cover with one
# line that every tutorial shows: `data = await cover.read()`.
#
# Two things must not change while you fix it. The upload form is part of the shop's published
# API: publishers' scripts are generated from its OpenAPI description, a multipart form whose
# required file field is `cover`, so the endpoint keeps taking `cover: UploadFile`. And the API
# serves checkout from the same process: nothing the endpoint does may hold up the event loop.
#
# **You will learn**
# - what FastAPI has already done with an upload when your endpoint starts: the whole request
#   body has been received, and the file is waiting in a temporary file;
# - why `await cover.read()` then copies all of it into memory, and how to stream it to disk in
#   chunks of a fixed size instead, each chunk gone before the next, without blocking the event
#   loop;
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

# %% tags=["kata", "decoy:accumulate-then-write"]
# "Read it in chunks, count them, stop at the limit, and write the cover once it is complete."
# Every read is small, and the limit holds. But the chunks pile up in `data` until the end: an
# accepted cover is all in memory at once, and so is the limit's worth of every refused one.
app = FastAPI()
CHUNK = 64 * 1024


@app.post("/books/{book_id}/cover", status_code=201)
async def upload_cover(book_id: int, cover: UploadFile, covers: CoversDep) -> CoverOut:
    data = b""
    while chunk := await cover.read(CHUNK):
        data += chunk
        if len(data) > covers.max_bytes:
            raise HTTPException(status_code=413, detail=f"A cover may be at most {covers.max_bytes} bytes")
    if not data:
        raise HTTPException(status_code=400, detail="The cover file is empty")
    final = covers.path_for(book_id)
    partial = anyio.Path(final.with_name(f"{final.name}.{uuid.uuid4().hex}.part"))
    await partial.write_bytes(data)
    await partial.replace(final)
    return CoverOut(book_id=book_id, bytes=len(data), sha256=hashlib.sha256(data).hexdigest())

# %% tags=["kata", "decoy:blocking-writes"]
# "A file is a file: `open()` and `write()` it chunk by chunk, the way any script does." The
# copy is right: chunks, a limit, a file of its own. But this is an `async def`: every open and
# write runs on the event loop's thread, and while the disk works, no other request does.
import os

app = FastAPI()
CHUNK = 64 * 1024


@app.post("/books/{book_id}/cover", status_code=201)
async def upload_cover(book_id: int, cover: UploadFile, covers: CoversDep) -> CoverOut:
    final = covers.path_for(book_id)
    partial = final.with_name(f"{final.name}.{uuid.uuid4().hex}.part")
    size, digest = 0, hashlib.sha256()
    try:
        with open(partial, "wb") as out:
            while chunk := await cover.read(CHUNK):
                size += len(chunk)
                if size > covers.max_bytes:
                    raise HTTPException(status_code=413, detail=f"A cover may be at most {covers.max_bytes} bytes")
                digest.update(chunk)
                out.write(chunk)
        if size == 0:
            raise HTTPException(status_code=400, detail="The cover file is empty")
        os.replace(partial, final)
    finally:
        partial.unlink(missing_ok=True)
    return CoverOut(book_id=book_id, bytes=size, sha256=digest.hexdigest())

# %% tags=["kata", "decoy:raw-body-stream"]
# "Skip the form: stream the request body straight to disk, and stop pulling at the limit." It
# does stop early. But the endpoint no longer takes the documented form: the OpenAPI description
# the publishers' scripts are generated from loses its `cover` field, and what is stored is the
# whole multipart body, boundaries and headers included, not the image.
from fastapi import Request

app = FastAPI()


@app.post("/books/{book_id}/cover", status_code=201)
async def upload_cover(book_id: int, request: Request, covers: CoversDep) -> CoverOut:
    final = covers.path_for(book_id)
    partial = anyio.Path(final.with_name(f"{final.name}.{uuid.uuid4().hex}.part"))
    size, digest = 0, hashlib.sha256()
    try:
        async with await anyio.open_file(partial, "wb") as out:
            async for chunk in request.stream():
                size += len(chunk)
                if size > covers.max_bytes:
                    raise HTTPException(status_code=413, detail=f"A cover may be at most {covers.max_bytes} bytes")
                digest.update(chunk)
                await out.write(chunk)
        if size == 0:
            raise HTTPException(status_code=400, detail="The cover file is empty")
        await partial.replace(final)
    finally:
        await partial.unlink(missing_ok=True)
    return CoverOut(book_id=book_id, bytes=size, sha256=digest.hexdigest())

# %% tags=["kata", "decoy:fixed-part-name"]
# "Write to `<cover>.part` next to the cover, then rename it: the stored cover is only ever replaced
# whole." True for one upload at a time. Two uploads for the same book share that one `.part` file:
# their chunks mix in it, the first rename takes it away from the second, which fails with a 500,
# and the stored cover may be neither upload.
app = FastAPI()
CHUNK = 64 * 1024


@app.post("/books/{book_id}/cover", status_code=201)
async def upload_cover(book_id: int, cover: UploadFile, covers: CoversDep) -> CoverOut:
    final = covers.path_for(book_id)
    partial = anyio.Path(final.with_name(f"{final.name}.part"))
    size, digest = 0, hashlib.sha256()
    try:
        async with await anyio.open_file(partial, "wb") as out:
            while chunk := await cover.read(CHUNK):
                size += len(chunk)
                if size > covers.max_bytes:
                    raise HTTPException(status_code=413, detail=f"A cover may be at most {covers.max_bytes} bytes")
                digest.update(chunk)
                await out.write(chunk)
        if size == 0:
            raise HTTPException(status_code=400, detail="The cover file is empty")
        await partial.replace(final)
    finally:
        await partial.unlink(missing_ok=True)
    return CoverOut(book_id=book_id, bytes=size, sha256=digest.hexdigest())

# %% tags=["kata", "decoy:plain-reads-in-an-async-def"]
# "`cover.file` is a plain file object: read it directly, no await needed." It is a plain, blocking
# file: once Starlette has moved the upload to disk, every read waits for the disk, and in an
# `async def` it waits on the event loop's own thread, with every other request of the process.
app = FastAPI()
CHUNK = 64 * 1024


@app.post("/books/{book_id}/cover", status_code=201)
async def upload_cover(book_id: int, cover: UploadFile, covers: CoversDep) -> CoverOut:
    final = covers.path_for(book_id)
    partial = anyio.Path(final.with_name(f"{final.name}.{uuid.uuid4().hex}.part"))
    size, digest = 0, hashlib.sha256()
    try:
        async with await anyio.open_file(partial, "wb") as out:
            while chunk := cover.file.read(CHUNK):
                size += len(chunk)
                if size > covers.max_bytes:
                    raise HTTPException(status_code=413, detail=f"A cover may be at most {covers.max_bytes} bytes")
                digest.update(chunk)
                await out.write(chunk)
        if size == 0:
            raise HTTPException(status_code=400, detail="The cover file is empty")
        await partial.replace(final)
    finally:
        await partial.unlink(missing_ok=True)
    return CoverOut(book_id=book_id, bytes=size, sha256=digest.hexdigest())

# %% tags=["kata", "decoy:hash-the-stored-file"]
# "Copy in chunks, then hash the stored file to be sure of what is on disk." The copy is streamed,
# but the hash reads the whole stored cover back into memory in one piece: a 2 MiB limit raised to
# 200 MiB for print-ready scans makes every accepted upload 200 MiB of memory again, for a moment.
app = FastAPI()
CHUNK = 64 * 1024


@app.post("/books/{book_id}/cover", status_code=201)
async def upload_cover(book_id: int, cover: UploadFile, covers: CoversDep) -> CoverOut:
    final = covers.path_for(book_id)
    partial = anyio.Path(final.with_name(f"{final.name}.{uuid.uuid4().hex}.part"))
    size = 0
    try:
        async with await anyio.open_file(partial, "wb") as out:
            while chunk := await cover.read(CHUNK):
                size += len(chunk)
                if size > covers.max_bytes:
                    raise HTTPException(status_code=413, detail=f"A cover may be at most {covers.max_bytes} bytes")
                await out.write(chunk)
        if size == 0:
            raise HTTPException(status_code=400, detail="The cover file is empty")
        await partial.replace(final)
    finally:
        await partial.unlink(missing_ok=True)
    digest = hashlib.sha256(await anyio.Path(final).read_bytes())
    return CoverOut(book_id=book_id, bytes=size, sha256=digest.hexdigest())

# %% tags=["kata", "alternative:plain-def-endpoint"]
# A plain `def` endpoint: FastAPI runs it in a worker thread, so its ordinary file calls block
# only that thread. `cover.file` is the file Starlette keeps the upload in, read synchronously.
import os
import tempfile

app = FastAPI()
CHUNK = 64 * 1024


@app.post("/books/{book_id}/cover", status_code=201)
def upload_cover(book_id: int, cover: UploadFile, covers: CoversDep) -> CoverOut:
    final = covers.path_for(book_id)
    fd, partial = tempfile.mkstemp(dir=covers.directory, suffix=".part")
    size, digest = 0, hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := cover.file.read(CHUNK):
                size += len(chunk)
                if size > covers.max_bytes:
                    raise HTTPException(status_code=413, detail=f"A cover may be at most {covers.max_bytes} bytes")
                digest.update(chunk)
                out.write(chunk)
        if size == 0:
            raise HTTPException(status_code=400, detail="The cover file is empty")
        os.replace(partial, final)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)  # a refused upload leaves nothing behind
    return CoverOut(book_id=book_id, bytes=size, sha256=digest.hexdigest())

# %% tags=["kata", "alternative:copyfileobj-with-known-size"]
# Starlette counts an upload's bytes while it receives them (`cover.size`), so a plain `def`
# endpoint can refuse it before copying anything, then let the standard library copy it in
# chunks of a given length. `hashlib.file_digest` reads in chunks of its own.
import os
import shutil
import tempfile

app = FastAPI()
CHUNK = 64 * 1024


@app.post("/books/{book_id}/cover", status_code=201)
def upload_cover(book_id: int, cover: UploadFile, covers: CoversDep) -> CoverOut:
    if cover.size is None or cover.size > covers.max_bytes:
        raise HTTPException(status_code=413, detail=f"A cover may be at most {covers.max_bytes} bytes")
    if cover.size == 0:
        raise HTTPException(status_code=400, detail="The cover file is empty")
    digest = hashlib.file_digest(cover.file, "sha256")
    cover.file.seek(0)
    final = covers.path_for(book_id)
    fd, partial = tempfile.mkstemp(dir=covers.directory, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(cover.file, out, CHUNK)
        os.replace(partial, final)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    return CoverOut(book_id=book_id, bytes=cover.size, sha256=digest.hexdigest())

# %% tags=["kata", "alternative:thread-for-each-write"]
# An `async def` that hands each blocking file call to a worker thread itself.
import anyio.to_thread

app = FastAPI()
CHUNK = 64 * 1024


@app.post("/books/{book_id}/cover", status_code=201)
async def upload_cover(book_id: int, cover: UploadFile, covers: CoversDep) -> CoverOut:
    final = covers.path_for(book_id)
    partial = final.with_name(f"{final.name}.{uuid.uuid4().hex}.part")
    size, digest = 0, hashlib.sha256()
    out = await anyio.to_thread.run_sync(open, partial, "wb")
    try:
        try:
            while chunk := await cover.read(CHUNK):
                size += len(chunk)
                if size > covers.max_bytes:
                    raise HTTPException(status_code=413, detail=f"A cover may be at most {covers.max_bytes} bytes")
                digest.update(chunk)
                await anyio.to_thread.run_sync(out.write, chunk)
        finally:
            await anyio.to_thread.run_sync(out.close)
        if size == 0:
            raise HTTPException(status_code=400, detail="The cover file is empty")
        await anyio.to_thread.run_sync(partial.replace, final)
    finally:
        await anyio.to_thread.run_sync(lambda: partial.unlink(missing_ok=True))
    return CoverOut(book_id=book_id, bytes=size, sha256=digest.hexdigest())

# %% tags=["kata", "alternative:one-upload-per-book-at-a-time"]
# One `.part` name per book is safe when two uploads for one book never run at once: a lock per
# book, held from the first byte written to the rename, makes the second wait for its turn.
import asyncio
from collections import defaultdict

app = FastAPI()
CHUNK = 64 * 1024
cover_locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)


@app.post("/books/{book_id}/cover", status_code=201)
async def upload_cover(book_id: int, cover: UploadFile, covers: CoversDep) -> CoverOut:
    final = covers.path_for(book_id)
    partial = anyio.Path(final.with_name(f"{final.name}.part"))
    size, digest = 0, hashlib.sha256()
    async with cover_locks[book_id]:
        try:
            async with await anyio.open_file(partial, "wb") as out:
                while chunk := await cover.read(CHUNK):
                    size += len(chunk)
                    if size > covers.max_bytes:
                        raise HTTPException(status_code=413, detail=f"A cover may be at most {covers.max_bytes} bytes")
                    digest.update(chunk)
                    await out.write(chunk)
            if size == 0:
                raise HTTPException(status_code=400, detail="The cover file is empty")
            await partial.replace(final)
        finally:
            await partial.unlink(missing_ok=True)
    return CoverOut(book_id=book_id, bytes=size, sha256=digest.hexdigest())

# %% [markdown]
# ## The evidence
#
# The next cell uploads two covers for *Dune* (book 3), the way a script streams a file: in
# 64 KiB pieces, with no Content-Length. First a 1.5 MiB cover, then a 6 MiB scan (the limit is
# 2 MiB). For each it prints: how much of the request the server had pulled when the endpoint
# first read the file; every read the endpoint made from the upload (how much it asked for;
# "everything" is `read()` with no size); the most memory held at once by what it read (Python's
# own count, `tracemalloc`); the files it opened on the event loop's own thread, and the reads it
# made there from the upload once Starlette had moved it to disk. Then what is stored for book 3.

# %% tags=["evidence"]
import random

from bookshop.client import describe
from bookshop.covers import watch_uploads


def mib(n: int) -> str:
    return f"{n / 1024 / 1024:.2f} MiB"


dune = random.Random(1).randbytes(3 * 512 * 1024)
scan = random.Random(2).randbytes(6 * 1024 * 1024)
covers.path_for(3).unlink(missing_ok=True)
for seen in watch_uploads(app, covers, 3, (dune, "dune.jpg"), (scan, "dune-print-scan.tif")):
    largest = max((asked for asked, _ in seen.reads), default=0)
    asked = "everything" if any(asked < 0 for asked, _ in seen.reads) else f"at most {largest // 1024} KiB"
    reads = f"{len(seen.reads)}, each asking for {asked}" if seen.reads else "none"
    print(f"POST /books/3/cover  {seen.filename} ({mib(seen.size)}) -> {describe(seen.response)}")
    print(f"    request pulled before the endpoint's first read: {mib(seen.pulled_before_first_read)}")
    print(f"    reads from the upload: {reads}; {mib(seen.read_before_answer)} read before answering")
    print(f"    memory held at once by what was read: {mib(seen.held)}")
    print(f"    files opened on the event loop's thread: {', '.join(seen.opened_on_loop) or 'none'}")
    print(f"    reads of the upload from disk on the event loop's thread: {seen.read_from_disk_on_loop}")

stored = covers.path_for(3).read_bytes() if covers.path_for(3).exists() else b""
what = "the 1.5 MiB cover" if stored == dune else "the 6 MiB scan" if stored == scan else "neither upload whole"
print(f"stored for book 3: {mib(len(stored))}, {what}")
print(f"files in the covers folder: {sorted(path.name for path in covers.directory.iterdir())}")

# %% [markdown]
# With the starter, both uploads are read in one read that asks for everything: 1.5 MiB, then
# 6 MiB, held in memory as one bytes object each, and the scan is stored as Dune's cover although
# the limit is 2 MiB. Note the first line under each upload too, in the starter *and* once fixed:
# all of the request had been pulled before the endpoint read anything. FastAPI parses a form
# before it calls your function; Starlette keeps each uploaded file in a temporary file (in
# memory up to 1 MiB, on disk beyond). Your code decides what it copies into memory and onto your
# storage, not what the client sends.
#
# ## The check
#
# Run it. Each failing test says what it observed and why that matters in production. Fix the
# kata cell, run it again, then re-run this cell until every test passes.

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
# `cover.read()` takes a size. What would a loop around a read of a fixed size look like, and at
# which turn of that loop do you know the upload has become too big? Where does each chunk go
# before the next one is read? Then: which file does `"wb"` empty the moment it opens, which
# thread waits while the disk is read or written, and what happens to your file on the way when
# a second upload for the same book arrives meanwhile?

# %% [markdown] tags=["hint"]
# ### Hint 2: the concept
#
# When your endpoint runs, the upload is already complete, in a temporary file. Reading it with
# no size copies the whole of it into one bytes object, so memory grows with whatever a client
# sends. Stream it instead: read a fixed-size chunk, count it, write it out, repeat, so that
# only one chunk is ever in memory, from the first read to the answer (the hash too is computed
# on the way, not from the stored file afterwards). The count tells you the moment the file
# passes `covers.max_bytes`: answer 413 right there, without reading the rest. Write into a file
# of your own, not the stored cover, under a name no other upload can have: put it in place (a
# rename) only when the whole upload was accepted, and delete it otherwise. And the disk blocks
# like any other I/O: in an `async def`, open, read and write files in a worker thread (AnyIO's
# asynchronous files do that for you, and so does `await cover.read(...)` once the upload is on
# disk; `cover.file` is a plain blocking file), or make the endpoint a plain `def`, which
# FastAPI runs in a thread. Keep the `cover: UploadFile` parameter: it is what the published
# form documents.
#
# Read: FastAPI, [Request Files](https://fastapi.tiangolo.com/tutorial/request-files/); AnyIO,
# [Asynchronous file I/O](https://anyio.readthedocs.io/en/stable/fileio.html).

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
# 2. **Stream it, one chunk at a time.** `await cover.read()` (size `-1`) returns everything
#    left as one `bytes`: a 900 MB scan becomes 900 MB of memory, per request.
#    `await cover.read(64 * 1024)` returns at most 64 KiB; loop until it returns `b""`, and
#    write each chunk out before reading the next. Reading in chunks is not enough on its own:
#    `data += chunk` keeps every chunk until the end, and the memory is back. With one chunk in
#    flight, memory stays at 64 KiB whatever the file's size; `hashlib.sha256().update(chunk)`
#    computes the checksum on the way. (Hashing the stored file afterwards with one
#    `read_bytes()` brings the whole cover back into memory at the end.)
# 3. **Keep the disk off the event loop.** Opening and writing a file blocks the thread that
#    does it, and an `async def` endpoint runs on the event loop's thread: a plain `open()`
#    there makes every other request wait for the disk. `anyio.open_file` (and `anyio.Path`) run
#    each file call in a worker thread and let you `await` it. Reading the upload is disk I/O
#    too, once Starlette has moved it to disk: `await cover.read(n)` then reads in a worker
#    thread, while `cover.file.read(n)` reads on the thread that calls it. Two other ways are
#    just as right: a plain `def` endpoint, which FastAPI runs in a worker thread (read
#    `cover.file` synchronously there, and use `open()` freely), or
#    `anyio.to_thread.run_sync(...)` around each blocking call.
# 4. **Enforce the limit while copying.** Count the bytes as they go. At the chunk that takes
#    the count past `covers.max_bytes`, raise `HTTPException(status_code=413)` (the status is
#    called *Content Too Large* in RFC 9110; Starlette's constant is
#    `status.HTTP_413_CONTENT_TOO_LARGE`). Nothing past the chunk that crosses the limit is
#    read, nothing past the limit is written or kept, and the limit comes from the store, so it
#    can change without touching the endpoint. (Since the upload is complete when the endpoint
#    runs, Starlette already knows its size: refusing early on `cover.size > covers.max_bytes`
#    is fine too. The counting loop is the one that works for any stream, whatever told you its
#    size.)
# 5. **Never damage what is stored.** Opening the cover's own file with `"wb"` empties it at
#    once. Write to a new file next to it, `replace()` it over the cover only when the whole
#    upload was accepted (on one file system, a rename is all-or-nothing), and delete it in a
#    `finally` otherwise. Give that file a name of its own (a `uuid4()`, or
#    `tempfile.mkstemp(dir=...)`): with one fixed `.part` name per book, two uploads for that
#    book write into the same file, the first rename takes it from the second (a 500), and the
#    stored cover can be a mix of both. (A lock per book, held from the first write to the
#    rename, is another right answer: the second upload then waits for its turn.) An empty
#    upload is still refused with 400.
#
# What this does not do: stop the client from sending. The 413 is decided after the whole
# body has arrived, because FastAPI parsed the form first. To refuse the bytes themselves,
# the limit must sit where they arrive: in the reverse proxy in front of the app (nginx's
# `client_max_body_size`, for example). An endpoint could read the raw body with
# `request.stream()` and stop pulling at the limit, but here that is not an option: it would
# have to parse the multipart form itself, and the endpoint would no longer document the
# `cover` form in the OpenAPI description the publishers' scripts are generated from. Even
# then the client may keep sending, so the proxy limit is still the one that protects the
# network.
#
# Why not read everything and then check the size? The check comes after the memory is
# spent. Why not trust the `Content-Length` header? A streaming client sends none, any client
# can send a wrong one, and the body has been received before the endpoint runs anyway. Why
# not `read(max_bytes + 1)`? Memory is then bounded by the limit instead of a chunk, and grows
# the day the limit does. Why not read in chunks and write the cover once it is complete? The
# chunks pile up in memory until then. Why not `open()` and `write()` in the `async def`? The
# event loop waits for the disk, and every request with it; `cover.file.read()` there does the
# same with the upload. And why not write the chunks straight into the cover's file? A refused
# upload then leaves the book with a truncated cover.
#
# Read more: FastAPI, [Request Files](https://fastapi.tiangolo.com/tutorial/request-files/) and
# [Concurrency and async / await](https://fastapi.tiangolo.com/async/); Starlette,
# [Requests: request files and the body stream](https://www.starlette.io/requests/); AnyIO,
# [Asynchronous file I/O](https://anyio.readthedocs.io/en/stable/fileio.html).
#
# ### What to remember
# - When an `UploadFile` endpoint runs, the upload has already arrived, in a temporary file.
#   `await file.read()` copies all of it into memory; stream fixed-size chunks to disk instead,
#   each written before the next is read.
# - In an `async def`, file I/O goes to a worker thread (`anyio.open_file`), or the endpoint is a
#   plain `def`.
# - Count while you copy and answer 413 at the chunk that crosses the limit; take the limit from
#   configuration.
# - Write to a temporary file of this upload's own, and rename it into place only when the upload
#   is accepted.
# - An application-level limit protects memory and storage; a proxy limit protects the network.
