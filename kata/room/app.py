"""The room's FastAPI app. Its lifespan owns the engine (made at startup from the settings, disposed
at shutdown); each request gets one session, committed when the request succeeded; every body in
and out has a schema; writes go one at a time (SQLite has one writer), reads never wait for them.

    POST /api/join                       a learner joins: their name in, their own token out
    POST /api/results         learner    results (never code): stored once each, re-sends ignored
    GET  /api/reveals         learner    the katas whose walkthrough the teacher revealed
    GET  /api/katas/{id}/walkthrough     learner: the walkthrough, once revealed (403 until then)
    GET  /api/summary         teacher    the class at a glance (the page reads this)
    POST /api/katas/{id}/reveal  teacher reveal a kata's walkthrough to everyone
    GET  /teacher                        the teacher's page (its token stays in the address's #)
    GET  /livez, /readyz                 alive; ready (the database answers)
"""

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, PlainTextResponse
from fastapi.security import HTTPAuthorizationCredentials
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kata.manifest import load
from kata.room import folder as shared_folder
from kata.room import reader
from kata.room.guard import AccessLog, BoundedBody, Joined, bearer, configure_logging, learner_from, note, teacher
from kata.room.page import PAGE
from kata.room.schemas import JoinIn, JoinOut, ResultsIn, ResultsOut, RevealsOut, SummaryOut, WalkthroughOut
from kata.room.settings import RoomSettings
from kata.room.store import Learner, Reveal, create_tables, make_engine, now, store_result, token_hash
from kata.room.summary import summarise


WAITING_LIMIT = 64  # results requests queued for the writer before the room answers 503 (busy)


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings = app.state.settings = RoomSettings()  # refuses to start without the teacher's token
    configure_logging()
    from kata.tracks import load_track

    app.state.katas = load(settings.workbook)
    app.state.track = load_track(settings.workbook, settings.track, app.state.katas)
    app.state.known = {k.id for k in app.state.katas}
    engine = make_engine(settings.data)
    await create_tables(engine)
    app.state.sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with app.state.sessions() as db:  # who may write: see guard.learner_from
        app.state.learners = {l.id: Joined(l.id, l.name, l.token_hash) for l in await db.scalars(select(Learner))}
    app.state.writing = asyncio.Lock()
    app.state.waiting = 0  # requests waiting for the writer: beyond WAITING_LIMIT, refused with 503
    scanner = None
    if settings.folder is not None:
        scanner = asyncio.create_task(reader.scan_forever(app))
    note("room started", data=str(settings.data), track=settings.track, folder=str(settings.folder or ""))
    try:
        yield
    finally:
        if scanner is not None:
            scanner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await scanner
        await engine.dispose()
        note("room stopped")


async def session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request: committed if the request succeeded, rolled back otherwise."""
    async with request.app.state.sessions() as db:
        try:
            yield db
            await db.commit()
        except BaseException:
            await db.rollback()
            raise


def current_learner(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> Joined:
    return learner_from(credentials, request.app.state.learners)


def _kata(request: Request, kata_id: str):
    found = next((k for k in request.app.state.katas if k.id == kata_id), None)
    if found is None:
        raise HTTPException(404, f"There is no kata {kata_id!r} in this workbook.")
    return found


def create_app() -> FastAPI:
    app = FastAPI(title="Kata room", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/livez")
    async def livez() -> dict:
        return {"status": "alive"}

    @app.get("/readyz")
    async def readyz(request: Request, response: Response) -> dict:
        try:
            async with request.app.state.sessions() as db:
                await db.execute(text("SELECT 1"))
        except Exception as error:  # noqa: BLE001 - not ready is an answer, not a crash
            response.status_code = 503
            return {"status": "not ready", "reason": type(error).__name__}
        return {"status": "ready"}

    @app.get("/", response_class=PlainTextResponse)
    async def hello() -> str:
        return "This is a kata room. Learners join it from their workbook: kata join <this address> --name <name>\n"

    @app.post("/api/join", status_code=201)
    async def join(body: JoinIn, request: Request, db: AsyncSession = Depends(session)) -> JoinOut:
        secret = secrets.token_urlsafe(24)
        async with request.app.state.writing:
            if await db.scalar(select(Learner.id).where(Learner.name == body.name)) is not None:
                raise HTTPException(409, f"Someone in this room is already called {body.name!r}: pick another name.")
            learner = Learner(name=body.name, token_hash=token_hash(secret), joined=now())
            db.add(learner)
            await db.commit()
            request.app.state.learners[learner.id] = Joined(learner.id, learner.name, learner.token_hash)
        note("joined", learner=learner.id)
        return JoinOut(learner=body.name, token=f"{learner.id}.{secret}", katas=[k.id for k in request.app.state.track.katas])

    @app.post("/api/results")
    async def results(body: ResultsIn, request: Request, learner: Joined = Depends(current_learner),
                      db: AsyncSession = Depends(session)) -> ResultsOut:
        unknown = sorted({r.kata for r in body.results} - request.app.state.known)
        if unknown:
            raise HTTPException(422, f"Unknown kata(s): {', '.join(unknown)}. Nothing was stored.")
        state = request.app.state
        if state.waiting >= WAITING_LIMIT:  # refuse at once what cannot be served soon: the learner keeps it
            note("busy", learner=learner.id, waiting=state.waiting)
            raise HTTPException(503, "The room is busy: your results are kept and sent again shortly.",
                                headers={"Retry-After": "2"})
        stored = 0
        state.waiting += 1
        try:
            await state.writing.acquire()
        finally:
            state.waiting -= 1
        try:
            if await request.is_disconnected():  # the learner gave up waiting: they send it again later
                return ResultsOut(stored=0, already=0)
            try:
                for result in body.results:
                    stored += await store_result(db, learner.id, result)
                await db.commit()
            except IntegrityError:  # the same result sent twice at once: the first one counts
                await db.rollback()
                raise HTTPException(409, "Sent twice at once; send again.") from None
        finally:
            state.writing.release()
        note("results", learner=learner.id, stored=stored, already=len(body.results) - stored)
        return ResultsOut(stored=stored, already=len(body.results) - stored)

    @app.get("/api/reveals")
    async def reveals(learner: Joined = Depends(current_learner), db: AsyncSession = Depends(session)) -> RevealsOut:
        return RevealsOut(revealed=sorted(await db.scalars(select(Reveal.kata))))

    @app.get("/api/katas/{kata_id}/walkthrough")
    async def walkthrough(kata_id: str, request: Request, learner: Joined = Depends(current_learner),
                          db: AsyncSession = Depends(session)) -> WalkthroughOut:
        kata = _kata(request, kata_id)
        if await db.get(Reveal, kata.id) is None:
            raise HTTPException(403, "Your teacher has not revealed this walkthrough yet.")
        from kata.help import help_for

        return WalkthroughOut(kata=kata.id, text=help_for(kata).walkthrough)

    @app.get("/api/summary", dependencies=[Depends(teacher)], response_model_by_alias=True)
    async def summary(request: Request, db: AsyncSession = Depends(session)) -> SummaryOut:
        return await summarise(db, list(request.app.state.track.katas), request.app.state.track.name)

    @app.post("/api/katas/{kata_id}/reveal", dependencies=[Depends(teacher)])
    async def reveal(kata_id: str, request: Request, db: AsyncSession = Depends(session)) -> dict:
        kata = _kata(request, kata_id)
        async with request.app.state.writing:
            if await db.get(Reveal, kata.id) is None:
                db.add(Reveal(kata=kata.id, at=now()))
                await db.commit()
        if request.app.state.settings.folder is not None:
            from kata.help import help_for

            shared_folder.publish_reveal(request.app.state.settings.folder, kata.id, help_for(kata).walkthrough)
        note("revealed", kata=kata.id)
        return {"kata": kata.id, "revealed": True}

    @app.get("/teacher", response_class=HTMLResponse)
    async def page() -> str:
        return PAGE

    return app


def build(max_body: int = 64 * 1024):
    """The ASGI app as `kata room serve` runs it: bodies bounded, every request logged."""
    return AccessLog(BoundedBody(create_app(), max_body))
