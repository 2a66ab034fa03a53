"""Run the shop as a deploy runs it: real server processes on 127.0.0.1, started from a command.

``launch(command, folder=...)`` starts a command (a list: exec form, run as it is; a string: shell
form, run by ``/bin/sh -c`` as Docker runs a CMD written without brackets) in ``folder``, in a
process group of its own, with its output in a log file; it waits until something accepts
connections on the server's port (or the process exits: then it raises ``ServerFailed`` with the
log), and yields a ``Server``. Leaving the block always ends the whole group, whatever happened.

Under ``kata check``, every group started is also noted in the file ``$KATA_SERVERS`` names, so a
check whose child was ended (a timeout, Ctrl+C) ends the servers that child started too (see
``kata.isolated``); and each server's first process dies with the Python process that started it
(Linux).

``shop_module(ns, folder)`` writes the notebook's code, as it stands, into ``folder/shop.py``:
the shipped cells of the kata, with the learner's cells in place of its ``kata`` cells.
"""

import contextlib
import ctypes
import json
import linecache
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

READY_LIMIT = 15.0  # seconds a server may take to accept connections: only a broken start reaches it
REGISTRY_ENV = "KATA_SERVERS"


class ServerFailed(RuntimeError):
    """The command ended, or never listened, before it served anything; carries its log."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def accepting(port: int) -> bool:
    """Whether something accepts a TCP connection on 127.0.0.1:``port`` right now."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def _die_with_parent() -> None:
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


@dataclass
class Server:
    process: subprocess.Popen
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def logs(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def signal(self, number: int = signal.SIGTERM) -> None:
        """Send ``number`` to the command's first process, as ``docker stop`` does to PID 1."""
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(number)

    def exit_code(self, within: float) -> int | None:
        """The first process's exit code once it has ended, waiting at most ``within`` seconds."""
        try:
            return self.process.wait(within)
        except subprocess.TimeoutExpired:
            return None

    def group_alive(self) -> bool:
        """Whether any process of the command's group still runs (a shell's child, say)."""
        try:
            os.killpg(self.process.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return any(_in_group(pid, self.process.pid) for pid in _pids())

    def stop(self) -> None:
        """End the whole group, and wait (bounded) until none of it runs any more."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(10)
        deadline = time.monotonic() + 5
        while self.group_alive() and time.monotonic() < deadline:
            time.sleep(0.01)


def _pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()] if os.path.isdir("/proc") else []


def _in_group(pid: int, group: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return int(fields[2]) == group and fields[0] != "Z"
    except (OSError, IndexError, ValueError):
        return False


def _note(group: int) -> None:
    if registry := os.environ.get(REGISTRY_ENV):
        with contextlib.suppress(OSError), open(registry, "a") as noted:
            noted.write(f"{group}\n")


def end_noted_servers(registry: str | Path) -> None:
    """End every server group noted in ``registry``."""
    with contextlib.suppress(OSError):
        for line in Path(registry).read_text().split():
            with contextlib.suppress(ProcessLookupError, PermissionError, ValueError):
                os.killpg(int(line), signal.SIGKILL)


CONTAINER_PORT = 8000


def published(command: list[str] | str, port: int) -> list[str] | str:
    """``command`` as ``docker run -p 127.0.0.1:<port>:8000`` would expose it here: the container's
    port 8000 becomes ``port`` and its 0.0.0.0 becomes 127.0.0.1 (no test listens beyond loopback)."""
    def swap(text: str) -> str:
        return re.sub(rf"(?<![\d.]){CONTAINER_PORT}(?!\d)", str(port), text).replace("0.0.0.0", "127.0.0.1")

    return [swap(part) for part in command] if isinstance(command, (list, tuple)) else swap(command)


def command_line(command: list[str] | str) -> list[str]:
    """Docker's rule: brackets (a list) run as they are; a plain string runs through /bin/sh -c."""
    return list(command) if isinstance(command, (list, tuple)) else ["/bin/sh", "-c", command]


@contextlib.contextmanager
def launch(command: list[str] | str, *, folder: Path, port: int | None = None, env: dict | None = None,
           ready: bool = True) -> Iterator[Server]:
    """Start ``command`` in ``folder``; with ``ready``, wait until ``port`` accepts connections."""
    port = port or free_port()
    log_path = Path(folder) / f"server-{port}.log"
    bin_dir = str(Path(sys.executable).parent)  # uvicorn and fastapi of this environment come first
    environment = {**os.environ, "PORT": str(port), "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
                   "PYTHONUNBUFFERED": "1", **(env or {})}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command_line(command), cwd=folder, env=environment, stdin=subprocess.DEVNULL,
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                   preexec_fn=_die_with_parent if sys.platform == "linux" else None)
    _note(process.pid)
    server = Server(process, port, log_path)
    try:
        if ready:
            deadline = time.monotonic() + READY_LIMIT
            while not accepting(port):
                if process.poll() is not None:
                    raise ServerFailed(f"the command ended with exit code {process.returncode} before it served "
                                       f"anything:\n{server.logs()[-1500:]}")
                if time.monotonic() > deadline:
                    raise ServerFailed(f"nothing listened on port {port} within {READY_LIMIT:g} s:\n{server.logs()[-1500:]}")
                time.sleep(0.02)
        yield server
    finally:
        server.stop()


# --- the notebook's code, as a module a server can import ------------------------------------------


def shop_module(ns: dict, folder: Path, name: str = "shop") -> Path:
    """Write the kata's code, as it stands in this notebook, into ``folder/<name>.py``: the shipped
    cells (not setup, evidence, check or help), with the learner's cells in place of the ``kata``
    cells, in order."""
    from kata.help import kata_by_check
    from kata.notebook import SKIPPED_TAGS, source_of, tags_of

    module = next((v.__module__ for k, v in ns.items() if k.startswith("test_") and callable(v)
                   and str(getattr(v, "__module__", "")).startswith("checks.")), None)
    kata = kata_by_check(module)
    cells = json.loads(kata.notebook.read_text(encoding="utf-8"))["cells"]
    shipped = [(set(tags_of(c)), source_of(c)) for c in cells if c.get("cell_type") == "code"]
    kept = [text for tags, text in shipped if not tags & (SKIPPED_TAGS - {"kata"})]
    shipped_texts = {text.strip() for tags, text in shipped if "kata" not in tags}
    own = [text for text in _cell_sources(ns) if text.strip() not in shipped_texts]
    parts, mine = [], iter(own)
    for tags, text in shipped:
        if tags & (SKIPPED_TAGS - {"kata"}):
            continue
        parts.append(next(mine, text) if "kata" in tags else text)
    parts.extend(mine)  # cells of the learner's own, after the rest
    path = Path(folder) / f"{name}.py"
    path.write_text("\n\n".join(_without_magics(part) for part in parts) + "\n", encoding="utf-8")
    return path


def _cell_sources(ns: dict) -> list[str]:
    """The sources of the cells that defined what ``ns`` holds, in the order they were defined."""
    files: list[str] = []
    for value in list(ns.values()):
        function = getattr(value, "_fixture_function", None) or value
        code = getattr(getattr(function, "__func__", function), "__code__", None)
        if code is not None and getattr(function, "__module__", None) == ns.get("__name__") and code.co_filename not in files:
            files.append(code.co_filename)
    return [text for text in ("".join(linecache.getlines(f)) for f in files) if text.strip()]


def _without_magics(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith(("%", "!")))


def describe_command(command: list[str] | str) -> str:
    return json.dumps(list(command)) if isinstance(command, (list, tuple)) else shlex.quote(command)
