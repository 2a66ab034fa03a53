"""Real HTTP services for the bookshop to call: any ASGI app, served by uvicorn on 127.0.0.1.

The async katas talk to upstream services (a price list, a review site) over real TCP, as the
production code would; ``serve`` runs one in a background thread for as long as it is needed.
"""

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn


@contextmanager
def serve(app, *, startup_timeout: float = 10.0) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1 at a free port; yields its base URL, e.g. http://127.0.0.1:40123."""
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP, and
    # without it every answer on a kept-alive connection waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="auto"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=f"upstream:{port}", daemon=True)
    thread.start()
    try:
        # Startup is bounded so that a broken upstream app fails loudly instead of hanging a check.
        started = threading.Event()
        for _ in range(int(startup_timeout / 0.01)):
            if server.started or not thread.is_alive():
                started.set()
                break
            started.wait(0.01)
        if not server.started:
            raise RuntimeError(f"the upstream service on port {port} did not start")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
