"""The services the bookshop calls over HTTP, and how it finds them.

Each service is a small ASGI app, served by uvicorn on 127.0.0.1 with ``serve`` for as long as a
check or an evidence cell needs it: the bookshop talks to it over real TCP, as production code
would. ``lookup_service`` builds the price service and the review site; the bookshop finds them
through ``UpstreamSettings`` (``BOOKSHOP_PRICES_URL``, ``BOOKSHOP_REVIEWS_URL``), read when the
app starts.
"""

import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI, HTTPException, Request
from pydantic_settings import BaseSettings, SettingsConfigDict


def service_url(variable: str, service: str) -> str:
    """A service's base URL from the environment, read when it is called (not at import)."""
    url = os.environ.get(variable)
    if not url:
        raise RuntimeError(
            f"{variable} is not set: the {service}'s URL is known only once a server (or the evidence "
            "cell) sets it. Read it when the app starts, in the lifespan, not when a cell runs."
        )
    return url


@contextmanager
def environment(**values: str) -> Iterator[None]:
    """Set these environment variables (services' URLs) for the block, then put back what was there."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class UpstreamSettings(BaseSettings):
    """BOOKSHOP_PRICES_URL and BOOKSHOP_REVIEWS_URL, e.g. http://127.0.0.1:40123."""

    model_config = SettingsConfigDict(env_prefix="BOOKSHOP_")

    prices_url: str
    reviews_url: str


@contextmanager
def upstreams_at(prices_url: str, reviews_url: str) -> Iterator[None]:
    """Point the bookshop's upstream settings at these two URLs for the duration of the block."""
    with environment(BOOKSHOP_PRICES_URL=prices_url, BOOKSHOP_REVIEWS_URL=reviews_url):
        yield


def lookup_service(title: str, path: str, answers: dict[str, dict]) -> FastAPI:
    """A service that answers ``GET /{path}/{isbn}`` with ``answers[isbn]``, or 404.

    ``app.state`` holds what a check may change between requests: ``answers`` (by ISBN),
    ``fail_with`` (a status to answer every request with, or None) and ``meeting`` (a
    ``bookshop.observe.MeetingPoint``, or None: it may hold an answer, for the ISBNs it
    concerns); it records ``calls`` (the ISBNs asked for, in order) and ``client_ports`` (the TCP
    port each request came from: requests on one kept-alive connection share a port, a new
    connection has a new one). A request reads the state when it arrives, so a check that
    replaces ``meeting`` or ``calls`` never sees a late request of an earlier test in them
    unless it arrives late too: give each test an ISBN of its own where that matters.
    """
    upstream = FastAPI(title=title)
    upstream.state.answers = answers
    upstream.state.fail_with = None
    upstream.state.meeting = None
    upstream.state.calls = []
    upstream.state.client_ports = []

    # A plain `def`: a meeting point waits on a threading.Event, in one of the service's threads.
    @upstream.get(f"/{path}/{{isbn}}")
    def answer(isbn: str, request: Request) -> dict:
        state = request.app.state
        state.calls.append(isbn)
        state.client_ports.append(request.client.port)
        meeting = state.meeting
        if meeting is not None and not meeting.concerns(isbn):
            meeting = None
        if meeting is not None:
            meeting.arrive(path)
        try:
            if state.fail_with is not None:
                raise HTTPException(status_code=state.fail_with, detail=f"The {title} is down")
            if isbn not in state.answers:
                raise HTTPException(status_code=404, detail=f"The {title} knows no ISBN {isbn}")
            return state.answers[isbn]
        finally:
            if meeting is not None:
                meeting.answer(path)

    return upstream


@contextmanager
def serve(app) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1 at a free port; yields its base URL, e.g. http://127.0.0.1:40123."""
    with serve_all(app) as (url,):
        yield url


@contextmanager
def serve_all(*apps, startup_timeout: float = 10.0) -> Iterator[list[str]]:
    """Serve several apps at once; yields their base URLs in order.

    On exit the servers are told to stop and finish doing so in the background: uvicorn's
    graceful shutdown polls for ~0.2 s, nothing waits on it, every server has a port of its own,
    and each thread ends by itself (closing its socket) shortly after.
    """
    servers, threads, sockets = [], [], []
    try:
        for app in apps:
            # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP,
            # and without it every answer on a kept-alive connection waits ~40 ms for a delayed ACK.
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
            server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="auto"))
            thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]},
                                      name=f"upstream:{sock.getsockname()[1]}", daemon=True)
            servers.append(server)
            threads.append(thread)
            thread.start()
        # Startup is bounded so that a broken upstream app fails loudly instead of hanging a check.
        waiting = threading.Event()
        for _ in range(int(startup_timeout / 0.01)):
            if all(s.started or not t.is_alive() for s, t in zip(servers, threads)):
                break
            waiting.wait(0.01)
        for server, sock in zip(servers, sockets):
            if not server.started:
                raise RuntimeError(f"the upstream service on port {sock.getsockname()[1]} did not start")
        yield [f"http://127.0.0.1:{sock.getsockname()[1]}" for sock in sockets]
    finally:
        for server, thread, sock in zip(servers, threads, sockets):
            server.should_exit = True
            if not server.started:  # it never took the socket over: close it here
                thread.join(timeout=10)
                sock.close()
