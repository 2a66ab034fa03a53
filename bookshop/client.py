"""Talk to a bookshop app the way a real client would, with its lifespan running.

``open_client`` is for async code (the checks); its two halves, ``running`` and ``client_of``, let
several clients in turn talk to one app started once. ``shop_client`` wraps ``open_client`` for
plain notebook cells, running the app on an event loop in a helper thread, so a cell needs no
top-level ``await``.
``streamed_form`` builds a multipart upload that a client sends in chunks, without a
Content-Length, as a browser or ``curl -T -`` may. ``documented_fields`` reads what an app's
OpenAPI document says one operation accepts and answers. ``local_time_zone`` runs a block as on a
server whose clock is set to another zone.
"""

import os
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass

import anyio
import httpx
from anyio.from_thread import BlockingPortal, start_blocking_portal
from asgi_lifespan import LifespanManager


# Every error any app raised through `open_client`, in order: the checks' harness empties it
# before each test and shows what it holds next to a failure ("answered 500" says little).
SERVER_ERRORS: list[BaseException] = []


@dataclass
class Running:
    """An app whose lifespan has started: ``app`` is what a client sends requests to (it hands each
    request the lifespan's state); ``errors``, what the app raised so far, in order."""

    app: object
    errors: list[BaseException]


@asynccontextmanager
async def running(app) -> AsyncIterator[Running]:
    """``app`` with its startup run on enter and its shutdown on exit, as a server runs it."""
    errors: list[BaseException] = []

    async def recording(scope, receive, send):
        try:
            await app(scope, receive, send)
        except Exception as error:
            errors.append(error)
            SERVER_ERRORS.append(error)
            raise

    async with LifespanManager(recording) as manager:
        yield Running(manager.app, errors)


@asynccontextmanager
async def client_of(served: Running, *, raise_server_exceptions: bool = False) -> AsyncIterator[httpx.AsyncClient]:
    """A new httpx client (no cookies, no connections of another's) for an app already running.

    With ``raise_server_exceptions=False`` an error the server raises after answering is kept
    on the server side, as a real server would; the client sees only what was sent."""
    transport = httpx.ASGITransport(app=served.app, raise_app_exceptions=raise_server_exceptions)
    async with httpx.AsyncClient(transport=transport, base_url="http://bookshop.test") as client:
        client.server_errors = served.errors  # what the server raised, in order, even if the client saw only a 500
        yield client


@asynccontextmanager
async def open_client(app, *, raise_server_exceptions: bool = False) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client wired to ``app`` in-process; startup runs on enter, shutdown on exit.

    httpx 0.28 removed ``AsyncClient(app=...)`` and ``ASGITransport`` alone skips the lifespan,
    so the lifespan is driven by ``LifespanManager`` (``running``) and its state handed to the
    transport (``client_of``).
    """
    async with running(app) as served, client_of(served, raise_server_exceptions=raise_server_exceptions) as client:
        yield client


def describe(response: httpx.Response, limit: int = 80) -> str:
    """``500 Internal Server Error`` or ``200 {"id":3,"title":"Dune",...}``: a response in one
    line, whatever its body (an evidence cell must show a symptom, never crash on one)."""
    text = " ".join(response.text.split())
    return f"{response.status_code} {text[:limit - 1] + '…' if len(text) > limit else text}".rstrip()


class ShopClient:
    """A blocking facade over ``open_client`` for notebook cells: ``client.get("/books/1")``."""

    def __init__(self, portal: BlockingPortal, client: httpx.AsyncClient):
        self._portal = portal
        self._client = client

    @property
    def server_errors(self) -> list[BaseException]:
        """What the server raised so far, including errors after an answer was sent."""
        return self._client.server_errors

    def request(self, method: str, url: str, **kwargs) -> httpx.Response:
        return self._portal.call(lambda: self._client.request(method, url, **kwargs))

    def get(self, url: str, **kwargs) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def patch(self, url: str, **kwargs) -> httpx.Response:
        return self.request("PATCH", url, **kwargs)

    def together(self, *requests: tuple[str, str, dict]) -> list[httpx.Response]:
        """Send requests at the same time, each ``(method, url, keyword arguments)``, as several
        clients would; the answers come back in the order the requests were given."""

        async def send_all() -> list[httpx.Response]:
            answers: list = [None] * len(requests)

            async def send(index: int, method: str, url: str, kwargs: dict) -> None:
                answers[index] = await self._client.request(method, url, **kwargs)

            async with anyio.create_task_group() as group:
                for index, (method, url, kwargs) in enumerate(requests):
                    group.start_soon(send, index, method, url, kwargs)
            return answers

        return self._portal.call(send_all)


@contextmanager
def shop_client(app, *, raise_server_exceptions: bool = False) -> Iterator[ShopClient]:
    with start_blocking_portal() as portal:
        context = open_client(app, raise_server_exceptions=raise_server_exceptions)
        with portal.wrap_async_context_manager(context) as client:
            yield ShopClient(portal, client)


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


def documented_fields(app, method: str, path: str) -> dict[str, list[str]]:
    """The field names ``app``'s OpenAPI document gives one operation, nested models included:
    ``"accepts"`` for its JSON request body, ``"answers"`` for its JSON answers with a 2xx status.
    What a client generated from the document would send and expect; empty lists when the
    operation is not documented."""
    document = app.openapi()
    operation = document.get("paths", {}).get(path, {}).get(method.lower(), {})

    def names(schema, seen: frozenset = frozenset()) -> list[str]:
        found: list[str] = []
        if isinstance(schema, list):
            for item in schema:
                found += names(item, seen)
        elif isinstance(schema, dict):
            reference = schema.get("$ref")
            if isinstance(reference, str) and reference not in seen:
                target = document
                for part in reference.removeprefix("#/").split("/"):
                    target = target.get(part, {}) if isinstance(target, dict) else {}
                found += names(target, seen | {reference})
            properties = schema.get("properties")
            if isinstance(properties, dict):
                found += list(properties)
                found += names(list(properties.values()), seen)
            for key in ("items", "anyOf", "oneOf", "allOf", "additionalProperties", "prefixItems"):
                found += names(schema.get(key), seen)
        return list(dict.fromkeys(found))

    def json_schemas(holder) -> list:
        content = holder.get("content", {}) if isinstance(holder, dict) else {}
        return [media.get("schema") for kind, media in content.items() if "json" in kind and isinstance(media, dict)]

    answers = [schema for status, response in operation.get("responses", {}).items()
               if str(status).startswith("2") for schema in json_schemas(response)]
    return {"accepts": names(json_schemas(operation.get("requestBody"))), "answers": names(answers)}


@contextmanager
def local_time_zone(zone: str) -> Iterator[bool]:
    """The process's local time zone is ``zone`` (a zone name or a POSIX rule) meanwhile, as on a
    server set to it; put back afterwards. Yields whether it could be switched (not on Windows)."""
    if not hasattr(time, "tzset"):
        yield False
        return
    saved = os.environ.get("TZ")
    os.environ["TZ"] = zone
    time.tzset()
    try:
        yield True
    finally:
        if saved is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = saved
        time.tzset()
