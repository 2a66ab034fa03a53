"""What stands at the room's door: bounded request bodies, tokens compared in constant time, and one
structured log line per request (JSON; never a token, never a body)."""

import hmac
import json
import logging
import sys
import time
from dataclasses import dataclass

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from kata.room.store import token_hash

log = logging.getLogger("kata.room")
bearer = HTTPBearer(auto_error=False)


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"), "level": record.levelname.lower(),
                "event": record.getMessage(), **getattr(record, "fields", {})}
        return json.dumps(line)


class _Stderr(logging.StreamHandler):
    """Whatever sys.stderr is when a line is written (a test may have replaced it since)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def configure_logging(level: int = logging.INFO) -> None:
    if not any(isinstance(h.formatter, JsonLines) for h in log.handlers):
        handler = _Stderr()
        handler.setFormatter(JsonLines())
        log.addHandler(handler)
    log.setLevel(level)
    log.propagate = False


def note(event: str, **fields) -> None:
    log.info(event, extra={"fields": fields})


class BoundedBody:
    """Refuse a request body over ``limit`` bytes with 413, whether it says its length or streams:
    the app never sees more than the limit, and nothing is stored from a refused request."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            return await _too_large(send, self.limit)
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.limit:
                return await _too_large(send, self.limit)
        sent = False

        async def replay():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return await self.app(scope, replay, send)


async def _too_large(send, limit: int) -> None:
    payload = json.dumps({"detail": f"The request body is larger than {limit} bytes."}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]})
    await send({"type": "http.response.body", "body": payload})
    note("refused", reason="body too large", limit=limit)


class AccessLog:
    """One JSON line per request: method, path (no query: a token could be in it), status, time."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started, status = time.perf_counter(), [500]

        async def sending(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            note("request", method=scope["method"], path=scope["path"], status=status[0],
                 ms=round((time.perf_counter() - started) * 1000, 1))


def _unauthorised(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


def same(given: str, expected: str) -> bool:
    """Constant time: how long the comparison takes says nothing about how much of it matched."""
    return hmac.compare_digest(given.encode(), expected.encode())


def teacher(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
    """Only the teacher's token reads the class and reveals walkthroughs."""
    expected = request.app.state.settings.teacher_token.get_secret_value()
    if credentials is None or not same(credentials.credentials, expected):
        raise _unauthorised("This needs the teacher's token.")


@dataclass(frozen=True)
class Joined:
    """A learner, as their token shows them: plain data, kept in memory for the room's lifetime."""

    id: int
    name: str
    token_hash: str


def learner_from(credentials: HTTPAuthorizationCredentials | None, known: dict[int, Joined]) -> Joined:
    """A learner's token is `<learner id>.<secret>`: the learner is found by their id among those
    who joined (loaded at startup, added at join: the room is the only one that adds them), then
    the secret's hash is compared in constant time. A forged or missing token gets 401, and the
    database is not even touched."""
    if credentials is None:
        raise _unauthorised("This needs the token `kata join` gave you.")
    number, _, secret = credentials.credentials.partition(".")
    found = known.get(int(number)) if number.isdigit() and len(number) < 10 else None
    if found is None or not secret or not same(token_hash(secret), found.token_hash):
        raise _unauthorised("This token is not one this room gave out. Run `kata join` again.")
    return found
