"""The commands for teachers and leads (`kata room serve|report|flush`, `kata edition`) and the
learner's side of the room (`kata join`, `kata report`). kata.cli wires them in."""

import os
import sys
from pathlib import Path

from kata import KataError


def room_data(root: Path) -> Path:
    """The room's own folder, where its database lives (git-ignored, with the rest of .kata/)."""
    return root / ".kata" / "room"


def _write(text: str, output: str | None) -> None:
    if output:
        Path(output).write_text(text, encoding="utf-8")
        print(f"wrote {output}", file=sys.stderr)
    else:
        sys.stdout.write(text)


# --- the teacher --------------------------------------------------------------------------------


def _address(host: str, port: int) -> str:
    if host in ("0.0.0.0", "::"):
        import socket

        host = socket.gethostname()
    return f"http://{host}:{port}"


def cmd_room_serve(args, book) -> int:
    import secrets

    import uvicorn
    from pydantic import ValidationError

    from kata.room.app import build
    from kata.room.settings import RoomSettings

    token = os.environ.get("KATA_ROOM_TEACHER_TOKEN") or secrets.token_urlsafe(24)
    data = Path(args.data).resolve() if args.data else room_data(book.root)
    os.environ.update(KATA_ROOM_TEACHER_TOKEN=token, KATA_ROOM_DATA=str(data), KATA_ROOM_WORKBOOK=str(book.root),
                      KATA_ROOM_TRACK=args.track or book.track.name)
    if args.dir:
        folder = Path(args.dir).expanduser().resolve()
        if not folder.is_dir():
            raise KataError(f"{folder} is not a folder: make it (writable by every learner), then run this again.")
        for part in ("learners", "results", "reveals"):
            (folder / part).mkdir(exist_ok=True)
        os.environ["KATA_ROOM_FOLDER"] = str(folder)
    try:
        settings = RoomSettings()
    except ValidationError as error:
        raise KataError(f"The room's settings are not valid: {error}") from None
    from kata.tracks import load_track

    load_track(book.root, settings.track, book.katas)  # an unknown track is said now, not at startup
    address = _address(args.host, args.port)
    join_with = settings.folder or address
    print(f"The room is open for the track {settings.track!r} (its database: {settings.data}).\n\n"
          f"Learners run this once, in their workbook:\n\n    kata join {join_with} --name \"<their name>\"\n\n"
          f"Your page (the token after # is your key: do not share it):\n\n    {address}/teacher#token={token}\n\n"
          f"Ctrl+C closes the room; `kata room report` writes the report afterwards.", flush=True)
    config = uvicorn.Config(build(settings.max_body), host=args.host, port=args.port, log_level="warning",
                            access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    server.run()
    return 0 if server.started else 2


def _room_summary(book, args):
    import asyncio

    from sqlalchemy import select

    from kata.room.export import state_rows
    from kata.room.store import Learner, State, make_engine
    from kata.room.summary import summarise
    from kata.tracks import load_track

    data = Path(args.data).resolve() if args.data else room_data(book.root)
    if not (data / "room.sqlite3").is_file():
        raise KataError(f"No room database in {data}. Run this where `kata room serve` ran, or pass --data DIR.")
    track = load_track(book.root, args.track or book.track.name, book.katas)

    async def read():
        engine = make_engine(data)
        try:
            async with engine.connect() as connection:
                from sqlalchemy.ext.asyncio import AsyncSession

                async with AsyncSession(bind=connection) as db:
                    summary = await summarise(db, list(track.katas), track.name)
                    learners = {l.id: l.name for l in await db.scalars(select(Learner))}
                    rows = state_rows(list(await db.scalars(select(State))), learners, book.katas)
            return summary, rows
        finally:
            await engine.dispose()

    return asyncio.run(read())


def cmd_room_report(args, book) -> int:
    from kata.room.export import class_csv, class_markdown

    summary, rows = _room_summary(book, args)
    _write(class_csv(rows) if args.format == "csv" else class_markdown(summary), args.output)
    return 0


def cmd_room_flush(args, book) -> int:
    from kata.room.client import flush, joined, outbox

    room = joined(book.root)
    if room is None:
        raise KataError("This workbook has not joined a room: `kata join <address> --name <your name>`.")
    sent, left = flush(book.root, wait=True)
    refused = len(list((outbox(book.root) / "refused").glob("*.json")))
    print(f"sent {sent}, still queued {left}" + (f", refused by the room {refused} (see .kata/outbox/refused/)"
                                                 if refused else ""))
    return 0 if not left else 1


def cmd_edition(args, book) -> int:
    from kata.edition import write_student_edition
    from kata.tracks import load_track

    track = load_track(book.root, args.track, book.katas) if args.track else None
    hold = list(track.katas if track else book.katas) if args.hold_walkthroughs else []
    write_student_edition(book.root, Path(args.folder), book.katas, hold=hold, track=track.name if track else None)
    print(f"Wrote the student edition to {args.folder}: no solutions/ or sources/"
          + (f"; {len(hold)} walkthroughs held until you reveal them in the room" if hold else "")
          + (f"; it follows the track {track.name!r}" if track else "") + ".")
    return 0


# --- the learner --------------------------------------------------------------------------------


def cmd_join(args, book) -> int:
    from kata.room.client import flush, join

    room = join(book.root, args.room, args.name)
    where = room.get("url") or room.get("folder")
    print(f"Joined the room at {where} as {args.name!r}. From now on each check, hint and walkthrough you open "
          "is sent to it (the kata, the result, the failing tests' sentences, attempts, hints and times; "
          "never your code). Your checks never wait for it.")
    flush(book.root)  # anything queued from an earlier room goes to this one
    return 0


def cmd_report(args, book) -> int:
    from kata.room.client import joined
    from kata.room.export import learner_markdown

    book.use_track(args.track)
    name = (joined(book.root) or {}).get("name")
    _write(learner_markdown(book.progress, book.chosen, book.track.title, name), args.output)
    return 0


def add_commands(add, sub_parsers) -> None:
    """Add these commands to the `kata` parser (``add(name, run, help)`` makes a sub-command)."""
    join = add("join", cmd_join, "join your teacher's room: your checks and hints are sent to it, never your code")
    join.add_argument("room", help="the address (http://...) or the shared folder your teacher gave you")
    join.add_argument("--name", required=True, help="how the teacher sees you (up to 40 characters)")
    report = add("report", cmd_report, "a one-page summary of your progress (Markdown)")
    report.add_argument("--track", help="the track to report on (default: the one you follow)")
    report.add_argument("--output", "-o", help="write it to this file instead of the terminal")
    edition = add("edition", cmd_edition, "(teachers) write a copy of the workbook to hand out")
    edition.add_argument("kind", choices=["student"], help="student: without solutions/ and sources/")
    edition.add_argument("folder", help="a new (or empty) folder")
    edition.add_argument("--hold-walkthroughs", action="store_true",
                         help="leave the walkthroughs out until you reveal them from the room")
    edition.add_argument("--track", help="the track the edition follows (tracks/NAME.toml)")

    room = add("room", None, "(teachers) the live room: serve it, report on it; (learners) flush what is queued")
    actions = room.add_subparsers(dest="action", required=True)
    serve = actions.add_parser("serve", help="start the room (Ctrl+C stops it)")
    serve.set_defaults(run=cmd_room_serve)
    serve.add_argument("--host", default="127.0.0.1", help="the address to listen on (0.0.0.0: every network)")
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument("--data", help="the room's own folder for its database (default .kata/room)")
    serve.add_argument("--dir", help="also read results from this shared folder (learners joined it by path)")
    serve.add_argument("--track", help="the katas the page shows (default: the track this workbook follows)")
    out = actions.add_parser("report", help="write the room's report (after the session)")
    out.set_defaults(run=cmd_room_report)
    out.add_argument("--data", help="the room's folder (default .kata/room)")
    out.add_argument("--format", choices=["md", "csv"], default="md")
    out.add_argument("--track", help="the track to report on (default: the one this workbook follows)")
    out.add_argument("--output", "-o", help="write it to this file instead of the terminal")
    flush = actions.add_parser("flush", help="(learners) send the results still queued for the room, now")
    flush.set_defaults(run=cmd_room_flush)
