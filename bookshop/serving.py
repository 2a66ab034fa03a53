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

import ast
import contextlib
import ctypes
import functools
import inspect
import json
import linecache
import os
import random
import re
import shlex
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

READY_LIMIT = 15.0  # seconds a server may take to accept connections: only a broken start reaches it
REGISTRY_ENV = "KATA_SERVERS"


class ServerFailed(RuntimeError):
    """The command ended, or never listened, before it served anything; carries its log."""


def _first_port_the_system_hands_out() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def free_port() -> int:
    """A free loopback port, chosen below the range the system hands out for port 0: kernels,
    browsers and clients take theirs from that range, so none of them can take this one between
    now and the moment the server binds it. Chosen at random from the system's source, not from
    `random`, whose state forked children share."""
    below = _first_port_the_system_hands_out()
    chooser = random.SystemRandom()
    for _ in range(100):
        port = chooser.randrange(20000, below) if below > 20100 else 0
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue  # taken: try another
            return sock.getsockname()[1]
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


@functools.cache
def certificates() -> ssl.SSLContext:
    """The system's certificates, loaded once: what an httpx client or transport needs as
    ``verify`` (see ``client``)."""
    return ssl.create_default_context()


def client(**options):
    """An httpx client for the servers on this machine. A new httpx client loads the system's
    certificates (tens of milliseconds, more than a request to a local server), for TLS that
    plain HTTP never uses: these clients share one load. Each still opens its own connections."""
    import httpx  # not at the top: the servers import this module, and they never call out

    return httpx.Client(verify=certificates(), **options)


def request(method: str, url: str, **options):
    """One request on a connection of its own, as ``httpx.request`` sends it (see ``client``)."""
    with client(timeout=options.pop("timeout", 5.0)) as fresh:
        return fresh.request(method, url, **options)


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

    def others(self) -> list[tuple[int, str]]:
        """The group's processes other than the first that still run: (pid, command line)."""
        found = []
        for pid in _pids():
            if pid != self.process.pid and _in_group(pid, self.process.pid):
                with contextlib.suppress(OSError):
                    raw = Path(f"/proc/{pid}/cmdline").read_bytes()
                    found.append((pid, " ".join(part.decode(errors="replace") for part in raw.split(b"\0") if part)))
        return found

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


def command_words(command: list[str] | str) -> list[str] | None:
    """The words of a start command as the shell would split them (None when its quotes do not
    close); for a shell run as a list (``["sh", "-c", "uvicorn ..."]``), its script's words too."""
    try:
        words = [str(part) for part in command] if isinstance(command, (list, tuple)) else _shell_words(command)
        for index, word in enumerate(list(words[:-2])):
            if Path(word).name in {"sh", "bash", "dash"} and words[index + 1] == "-c":
                words += _shell_words(words[index + 2])
        return words
    except ValueError:
        return None


def _shell_words(script: str) -> list[str]:
    """The words of a shell script, with ``;``, ``&&`` and ``|`` words of their own, as the shell
    reads them (``export UVICORN_WORKERS=2; exec uvicorn ...`` sets 2, not ``2;``)."""
    lexer = shlex.shlex(script, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    return list(lexer)


def option(words: list[str], name: str) -> str | None:
    """The value a command gives the option ``name`` (``--name value`` or ``--name=value``): the
    last one, as uvicorn's and fastapi's option parser takes it."""
    found = None
    for index, word in enumerate(words):
        if word == name and index + 1 < len(words):
            found = words[index + 1]
        elif word.startswith(name + "="):
            found = word.split("=", 1)[1]
    return found


def setting(words: list[str], name: str) -> str | None:
    """What uvicorn makes of its option ``name`` in this command: the option itself, or else the
    ``UVICORN_...`` environment variable the command sets (``UVICORN_TIMEOUT_GRACEFUL_SHUTDOWN=5``
    before the command, after ``env`` or ``export``)."""
    given = option(words, name)
    if given is not None:
        return given
    variable = "UVICORN_" + name.lstrip("-").replace("-", "_").upper() + "="
    assigned = [word[len(variable):] for word in words if word.startswith(variable)]
    return assigned[-1] if assigned else None


def run_here(command: list[str] | str, port: int) -> list[str] | str:
    """``published(command, port)``, and told what a server would otherwise decide for itself:
    ``fastapi run`` binds 0.0.0.0 unless given a host, so it gets ``--host 127.0.0.1``; ``uvicorn``
    without a port takes 8000, so it gets ``--port <port>`` (``fastapi run`` reads ``$PORT``, which
    ``launch`` sets)."""
    command = published(command, port)
    try:
        words = list(command) if isinstance(command, (list, tuple)) else shlex.split(command)
    except ValueError:  # quotes that do not close: the shell will say so itself
        return command
    programs = {Path(word).name for word in words}

    def given(option: str) -> bool:
        return any(word == option or word.startswith(f"{option}=") for word in words)

    extra: list[str] = []
    if "fastapi" in programs and not given("--host"):
        extra += ["--host", "127.0.0.1"]
    if "uvicorn" in programs and not given("--port") and not any(w.startswith("UVICORN_PORT=") for w in words):
        extra += ["--port", str(port)]
    if not extra:
        return command
    return [*command, *extra] if isinstance(command, (list, tuple)) else f"{command} {shlex.join(extra)}"


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
            wait_until_serving(server)
        yield server
    finally:
        server.stop()


def _listening_elsewhere(server: Server) -> int | None:
    """The port the server says it runs on (uvicorn's "running on" line), when it is not its own."""
    for found in re.findall(r"running on https?://\S+?:(\d+)", server.logs()):
        if int(found) != server.port:
            return int(found)
    return None


def wait_until_serving(server: Server, limit: float = READY_LIMIT) -> None:
    """Wait until ``server`` accepts connections, as ``launch`` does: for servers launched with
    ``ready=False`` (several started at once, or one watched while it starts)."""
    deadline = time.monotonic() + limit
    while not accepting(server.port):
        if server.process.poll() is not None:
            raise ServerFailed(f"the command ended with exit code {server.process.returncode} before it served "
                               f"anything:\n{server.logs()[-1500:]}")
        elsewhere = _listening_elsewhere(server)
        if elsewhere:
            raise ServerFailed(f"it listens on port {elsewhere}, not on the port it was given ({server.port}): the "
                               f"check moves the container's port {CONTAINER_PORT} where the command names it, and "
                               "sets $PORT, but a port written in the code stays where it is. Give the port in "
                               f"the command, or read $PORT:\n{server.logs()[-1500:]}")
        if time.monotonic() > deadline:
            raise ServerFailed(f"nothing listened on port {server.port} within {limit:g} s:\n{server.logs()[-1500:]}")
        time.sleep(0.02)


# --- the notebook's code, as a module a server can import ------------------------------------------


def shop_module(ns: dict, folder: Path, name: str = "shop", kata: str | None = None) -> Path:
    """Write the kata's code, as it stands in this notebook, into ``folder/<name>.py``: the shipped
    cells (not setup, evidence, check or help), with the learner's cells in place of the ``kata``
    cells, in order. ``kata`` (an id) names the kata where the notebook has not run its check yet
    (an evidence cell); otherwise the check's tests in ``ns`` tell."""
    from kata.help import kata_by_check, kata_by_id
    from kata.notebook import SKIPPED_TAGS, source_of, tags_of

    module = next((v.__module__ for k, v in ns.items() if k.startswith("test_") and callable(v)
                   and str(getattr(v, "__module__", "")).startswith("checks.")), None)
    kata = kata_by_id(kata) if kata else kata_by_check(module)
    cells = json.loads(kata.notebook.read_text(encoding="utf-8"))["cells"]
    shipped = [(set(tags_of(c)), source_of(c)) for c in cells if c.get("cell_type") == "code"]
    shipped_texts = {text.strip() for tags, text in shipped if "kata" not in tags}
    own = [text for text in cell_sources(ns) if text.strip() not in shipped_texts]
    parts = []
    for tags, text in shipped:
        if tags & (SKIPPED_TAGS - {"kata"}):
            continue
        if "kata" in tags:
            # A kata cell of statements only (``CMD = ...``, ``app.add_middleware(...)``) leaves no
            # function behind to find it by: it is the last cell run that set what the starter sets.
            latest = _last_run_binding(ns, _bound_names(text, definitions=False), shipped_texts)
            text = latest if latest is not None else (own[0] if own else text)
            own = [other for other in own if other.strip() != text.strip()]
        parts.append(text)
    parts.extend(own)  # cells of the learner's own, after the rest
    path = Path(folder) / f"{name}.py"
    path.write_text("\n\n".join(_without_magics(part) for part in parts) + "\n", encoding="utf-8")
    return path


def cell_sources(ns: dict) -> list[str]:
    """The sources of the cells that defined what ``ns`` holds, in the order they were defined."""
    files: list[str] = []
    for value in list(ns.values()):
        function = _unwrapped(getattr(value, "_fixture_function", None) or value)
        code = getattr(getattr(function, "__func__", function), "__code__", None)
        if code is not None and getattr(function, "__module__", None) == ns.get("__name__") and code.co_filename not in files:
            files.append(code.co_filename)
        if isinstance(value, type) and value.__module__ == ns.get("__name__"):
            # A class (a middleware, a logging filter) is known by its methods' cell.
            for member in vars(value).values():
                member_code = getattr(getattr(member, "__func__", member), "__code__", None)
                if member_code is not None:
                    if member_code.co_filename not in files:
                        files.append(member_code.co_filename)
                    break
    texts = {f: "".join(linecache.getlines(f)) for f in files}
    return [texts[f] for f in files if texts[f].strip() and not _superseded(f, texts, ns)]


def _unwrapped(function):
    """The function a decorator wrapped (``asynccontextmanager`` keeps the name and module of the
    function, but its own code lives in contextlib): the one a cell wrote."""
    try:
        return inspect.unwrap(function) if callable(function) else function
    except ValueError:  # a cycle of __wrapped__
        return function


def _bound_names(text: str, *, definitions: bool = True) -> set[str]:
    """The names a cell binds at its top level: functions and classes (unless ``definitions`` is
    false), and assignments."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return set()
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if definitions:
                names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
    return names


def _owners(value) -> set[str]:
    """The cell files that made ``value`` as it is now: a function's own file; an app's routes'."""
    function = _unwrapped(getattr(value, "_fixture_function", None) or value)
    code = getattr(getattr(function, "__func__", function), "__code__", None)
    if code is not None:
        return {code.co_filename}
    routes = getattr(value, "routes", None)
    if not isinstance(routes, list):
        return set()
    from fastapi.routing import iter_route_contexts

    owners = set()
    for context in iter_route_contexts(routes):
        endpoint = getattr(context.original_route, "endpoint", None)
        if (endpoint_code := getattr(endpoint, "__code__", None)) is not None:
            owners.add(endpoint_code.co_filename)
    return owners


def _last_run_binding(ns: dict, names: set[str], shipped: set[str]) -> str | None:
    """The last cell run (IPython's ``In``, or the runner's) that binds one of ``names`` and is not
    one of the notebook's own cells; None without such a cell, or without a record of cells run."""
    if not names:
        return None
    for text in reversed(list(ns.get("In") or [])):
        if isinstance(text, str) and text.strip() and text.strip() not in shipped and _bound_names(text) & names:
            return text
    return None


def _superseded(file: str, texts: dict[str, str], ns: dict) -> bool:
    """Whether a later run of another cell redefined a name this cell binds (in a live kernel, a
    cell whose code was replaced still owns the names only it defined): then it is not part of the
    notebook as it stands."""
    mine = _bound_names(texts[file])
    for other, text in texts.items():
        if other == file:
            continue
        for name in mine & _bound_names(text) & ns.keys():
            owners = _owners(ns[name])
            if other in owners and file not in owners:
                return True
    return False


def _without_magics(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith(("%", "!")))


def describe_command(command: list[str] | str) -> str:
    return json.dumps(list(command)) if isinstance(command, (list, tuple)) else shlex.quote(command)


# --- the database, failing on demand, inside a server process -----------------------------------------

DATABASE_DOWN = "database-down"  # while this file exists: every connection and statement fails
DATABASE_HELD = "database-held"  # while this file exists: every statement sent outside a request waits
LATE_COMMITS_HELD = "late-commits-held"  # while this file exists: a COMMIT sent after its answer waits
STATEMENTS_LOG = "statements.log"  # per statement sent (and connection opened): the request, a tab, the SQL
HELD_LOG = "statements-held.log"  # one line per statement that waited
LATE_COMMITS_LOG = "late-commits.log"  # one line per COMMIT a request sent after its answer had started
LATE_COMMITS_LET_GO = "late-commits-let-go.log"  # one line per such COMMIT, once it no longer waits


class _Request:
    def __init__(self, name: str):
        self.name = name  # "GET /readyz"
        self.answered = False  # whether the response has started


_request: "ContextVar[_Request | None]" = ContextVar("bookshop_request", default=None)


def mark_requests(app):
    """``app``, wrapped so that the database faults know which request sent each statement, and
    whether that request had already started its answer (a statement sent by no request comes
    from the startup, or a task left running)."""
    async def marked(scope, receive, send):
        if scope.get("type") != "http":
            return await app(scope, receive, send)
        request = _Request(f"{scope.get('method', '')} {scope.get('path', '')}")

        async def answering(message):
            if message.get("type") == "http.response.start":
                request.answered = True
            await send(message)

        token = _request.set(request)
        try:
            return await app(scope, receive, answering)
        finally:
            _request.reset(token)

    return marked


def database_faults(folder: Path | str = ".") -> None:
    """Let a check fail this process's database from outside, through files in ``folder``: a
    wrapper module a check writes next to the shop calls this, then serves the shop's app through
    ``mark_requests``.

    While ``database-down`` exists, opening a connection and sending a statement fail with the
    driver's OperationalError, as a database that cannot be reached does (pooled connections fail
    too: the outage is the server's, not the pool's). While ``database-held`` exists, each
    statement sent outside a request (the startup's, a background task's) waits for it to go, and
    ``statements-held.log`` says it has started waiting. While ``late-commits-held`` exists, a
    COMMIT that a request sends after its answer has started waits for it to go, and
    ``late-commits.log`` says so (``late-commits-let-go.log`` once it goes on). Every statement
    sent and every connection opened adds a line to ``statements.log``: the request that sent it
    (empty for none), a tab, the SQL."""
    import asyncio
    import sqlite3

    from sqlalchemy import event
    from sqlalchemy.engine import Engine
    from sqlalchemy.util import await_only

    folder = Path(folder).resolve()

    def note(log: str, statement: str) -> None:
        request = _request.get()
        with open(folder / log, "a", encoding="utf-8") as written:
            written.write(f"{request.name if request else ''}\t{' '.join(statement.split())[:200]}\n")

    def wait_while(gate: str) -> None:
        async def waiting() -> None:
            while (folder / gate).exists():
                await asyncio.sleep(0.01)

        with contextlib.suppress(Exception):  # not in an async engine's greenlet: never held
            await_only(waiting())

    def before_statement(conn, cursor, statement, parameters, context, executemany) -> None:
        if _request.get() is None and (folder / DATABASE_HELD).exists():
            note(HELD_LOG, statement)
            wait_while(DATABASE_HELD)
        note(STATEMENTS_LOG, statement)
        if (folder / DATABASE_DOWN).exists():
            raise sqlite3.OperationalError("unable to open database file (the database is down)")

    def before_connect(dialect, connection_record, cargs, cparams) -> None:
        note(STATEMENTS_LOG, "(a new connection)")
        if (folder / DATABASE_DOWN).exists():
            raise sqlite3.OperationalError("unable to open database file (the database is down)")

    def before_commit(conn) -> None:
        request = _request.get()
        if request is not None and request.answered and (folder / LATE_COMMITS_HELD).exists():
            note(LATE_COMMITS_LOG, "COMMIT")
            wait_while(LATE_COMMITS_HELD)
            note(LATE_COMMITS_LET_GO, "COMMIT")

    event.listen(Engine, "before_cursor_execute", before_statement)
    event.listen(Engine, "do_connect", before_connect)
    event.listen(Engine, "commit", before_commit)
