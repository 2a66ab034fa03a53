"""Check: the shop's start command lets a deploy finish the requests in flight. The command runs as
Docker runs a CMD (a list as it is, a string through /bin/sh -c), and the check stops it as
`docker stop` does: SIGTERM to the first process, and the container ends when that process ends.

One deploy is played per check (starting a real server costs about a second) and every test
judges the same record of it:

1. the shop starts, and a checkout is sent that waits for the card payment (a file the check
   writes: the gate);
2. SIGTERM goes to the first process; the check watches, for at most DRAIN_LIMIT, whether the
   port refuses new connections while the first process still runs (the server is draining), or
   the first process ends (the container ends with it: every process left is killed, as the
   kernel does to a container's processes when its PID 1 ends);
3. if the container still runs, the payment is answered, and the check waits for the checkout's
   answer and for the first process to end.

Nothing here waits on working code: a draining server refuses connections within uvicorn's 0.1 s
tick, and ends once the checkout is answered. Only a server that never drains waits DRAIN_LIMIT,
and only one that never ends waits EXIT_LIMIT.
"""

import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from bookshop import serving
from bookshop.serving import ServerFailed, accepting, command_words, free_port, launch, option, published, setting, shop_module
from checks.feedback import expect, fail
from checks.harness import brief

__all__ = [
    "kata_deploy",
    "test_the_shop_serves_from_its_container_before_the_deploy",
    "test_a_checkout_in_flight_is_answered_after_the_stop_signal",
    "test_new_connections_are_refused_as_soon_as_the_shop_is_told_to_stop",
    "test_the_shop_runs_its_own_shutdown_before_its_container_ends",
    "test_nothing_of_the_shop_still_serves_when_its_first_process_ends",
    "test_the_wait_for_requests_in_flight_is_bounded_within_the_grace_period",
]

KATA = "graceful-shutdown"
GRACE_PERIOD = 10  # seconds `docker stop` waits after SIGTERM before it sends SIGKILL (its default)
PAYMENT_LIMIT = 3  # seconds a checkout may wait for the card payment (the shop's PAYMENT_LIMIT)
DRAIN_LIMIT = 1.0  # seconds: a single uvicorn refuses new connections within 0.1 s of SIGTERM
EXIT_LIMIT = 3.0  # seconds: a drained uvicorn ends within a moment of answering its last request
PORT_VALUES = {"8000", "$PORT", "${PORT}", "${PORT:-8000}"}
ALL_INTERFACES = {"0.0.0.0", "::", "[::]"}
ORDER = {"user_id": 1, "lines": [{"book_id": 3, "quantity": 1}]}


@dataclass
class Deploy:
    """What one deploy of the shop, started by ``command``, did, in the order it happened."""

    command: object
    problem: str = ""  # why the shop could not be started at all, in the learner's terms
    log: str = ""  # the server's output
    loopback_only: str = ""  # the host the command listens on, when a container's port cannot reach it
    timeout: int | None = None  # the graceful-shutdown limit the command sets, if any
    under_timeout: bool = False  # the command runs the server under `timeout`, which ends it at a fixed time
    first: str = ""  # the first process, as `docker stop` sees it
    before: str = ""  # GET /books/1 before the deploy
    before_ok: bool = False
    refused_while_draining: bool = False
    first_ended_early: bool = False  # the first process ended while the checkout still waited
    serving_when_first_ended: bool = False
    left_running: list[str] = field(default_factory=list)
    never_ended: bool = False  # the first process was still running EXIT_LIMIT after its last request
    checkout: str = ""  # the answer the checkout got, or what happened to it
    checkout_status: int | None = None
    exit_code: int | None = None
    journal: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)

    def timeline(self) -> str:
        if self.problem:
            return f"The shop could not be started: {self.problem}\n{self.log[-600:]}".rstrip()
        return "\n".join(self.events)


def _is_fastapi_run(tokens: list[str]) -> bool:
    return any(Path(t).name == "fastapi" and i + 1 < len(tokens) and tokens[i + 1] == "run"
               for i, t in enumerate(tokens))


def _short(cmdline: str) -> str:
    """``/venv/bin/python /venv/bin/uvicorn shop:app ...`` as ``uvicorn shop:app ...``."""
    if "multiprocessing.spawn" in cmdline:
        return "python (a worker process of the server)"
    if "multiprocessing.resource_tracker" in cmdline:
        return "python (multiprocessing's resource tracker)"
    parts = cmdline.split()
    if len(parts) > 1 and Path(parts[0]).name.startswith("python") and parts[1].startswith("/"):
        parts = parts[1:]
    return " ".join(Path(p).name if p.startswith("/") else p for p in parts)


def _first_process(server) -> str:
    try:
        raw = Path(f"/proc/{server.pid}/cmdline").read_bytes()
        return _short(" ".join(p.decode(errors="replace") for p in raw.split(b"\0") if p))
    except OSError:  # no /proc: the command as it was started
        return _short(" ".join(str(a) for a in server.process.args))


def _prepare(deploy: Deploy, port: int):
    """The command as this machine runs it (port 8000 published, loopback only), or None with
    ``deploy.problem`` set."""
    command = deploy.command
    if not (isinstance(command, str) and command.strip()) and not (
            isinstance(command, (list, tuple)) and command and all(isinstance(p, str) for p in command)):
        deploy.problem = (f"CMD is {command!r}: Docker's CMD is either a string (shell form) or a list "
                          "of strings (exec form).")
        return None
    tokens = command_words(command)
    if tokens is None:
        deploy.problem = f"CMD {command!r} is not a command a shell can read (an unclosed quote?)."
        return None
    port_value = option(tokens, "--port")
    if port_value is not None and port_value not in PORT_VALUES:
        deploy.problem = (f"the command listens on port {port_value}, but the shop's container publishes "
                          "port 8000: nothing would reach it.")
        return None
    host = setting(tokens, "--host")
    fastapi_run = _is_fastapi_run(tokens)
    if host is None and not fastapi_run:
        deploy.loopback_only = "127.0.0.1 (uvicorn's default, with no host given)"
    elif host is not None and host not in ALL_INTERFACES:
        deploy.loopback_only = host
    deploy.under_timeout = "timeout" in {Path(token).name for token in tokens}
    timeout = setting(tokens, "--timeout-graceful-shutdown")
    if timeout is not None:
        try:
            deploy.timeout = int(timeout)
        except ValueError:
            deploy.timeout = None
    running = published(command, port)
    if isinstance(running, list):
        running = ["127.0.0.1" if p in ALL_INTERFACES else p for p in running]
        if fastapi_run and host is None:
            running += ["--host", "127.0.0.1"]
    else:
        for wide in ("::", "[::]"):
            running = running.replace(f"--host {wide}", "--host 127.0.0.1").replace(f"--host={wide}", "--host=127.0.0.1")
        if fastapi_run and host is None:
            running += " --host 127.0.0.1"
    return running


def _payment_asked(payments: Path) -> list[Path]:
    return sorted(payments.glob("*.asked")) if payments.is_dir() else []


def watch_a_deploy(command, ns: dict, folder: Path) -> Deploy:
    """Start the shop with ``command`` in ``folder``, send a checkout, stop it as `docker stop`
    does while the checkout waits, and return what happened."""
    deploy = Deploy(command)
    port = free_port()
    running = _prepare(deploy, port)
    if running is None:
        return deploy
    folder = Path(folder)
    shop_module(ns, folder, kata=KATA)
    payments = folder / "payments"
    signalled: list[float] = []  # when SIGTERM was sent: the timeline counts from there

    def note(text: str) -> None:
        when = f"+{time.monotonic() - signalled[0]:.2f} s" if signalled else ""
        deploy.events.append(f"{when:>8}  {text}")

    answer: dict = {}

    def checkout() -> None:
        try:
            answer["response"] = serving.request("POST", f"http://127.0.0.1:{port}/orders", json=ORDER,
                                                     timeout=PAYMENT_LIMIT + EXIT_LIMIT + 2)
        except httpx.HTTPError as error:
            answer["error"] = error

    try:
        with launch(running, folder=folder, port=port, env={"UVICORN_PORT": str(port)}) as server:
            deploy.first = _first_process(server)
            inside = [f"{pid} {_short(cmd)}" for pid, cmd in server.others()]
            note(f"the container runs: {server.pid} {deploy.first} (its first process)"
                 + "".join(f"\n{'':>10}and {process}" for process in inside))
            try:
                response = serving.request("GET", f"{server.url}/books/1", timeout=5)
                deploy.before, deploy.before_ok = brief(response), response.status_code == 200
            except httpx.HTTPError as error:
                deploy.before = f"no answer ({type(error).__name__})"
            note(f"GET /books/1 -> {deploy.before}")
            customer = threading.Thread(target=checkout, daemon=True)
            customer.start()
            deadline = time.monotonic() + 5
            while not _payment_asked(payments) and customer.is_alive() and time.monotonic() < deadline:
                time.sleep(0.005)
            asked = _payment_asked(payments)
            if asked:
                note("POST /orders: a checkout, waiting for the card payment")
            else:
                note("POST /orders never asked for a card payment")
            note(f"docker stop: SIGTERM to the first process (pid {server.pid}, {deploy.first.split()[0]})")
            server.signal(signal.SIGTERM)
            signalled.append(time.monotonic())
            deadline = time.monotonic() + DRAIN_LIMIT
            while time.monotonic() < deadline:
                if server.process.poll() is not None:
                    deploy.first_ended_early = True
                    break
                if not accepting(port):
                    deploy.refused_while_draining = True
                    break
                time.sleep(0.01)
            if deploy.refused_while_draining:
                note("a new connection is refused: the shop is draining")
            elif not deploy.first_ended_early:
                note("the shop still accepts new connections")
            if deploy.first_ended_early:
                deploy.exit_code = server.process.returncode
                deploy.serving_when_first_ended = accepting(port)
                deploy.left_running = [f"{pid} {_short(cmd)}" for pid, cmd in server.others()]
                still = f"; still running: {', '.join(deploy.left_running)}" if deploy.left_running else ""
                note(f"the first process ended (exit code {deploy.exit_code}) before the checkout was "
                     f"answered{still}")
                note("the container ends with its first process: everything left in it is killed")
                server.stop()
            else:
                for request in asked:
                    request.with_suffix(".paid").touch()
                if asked:
                    note("the payment provider answers")
            customer.join(PAYMENT_LIMIT + EXIT_LIMIT + 3)
            if "response" in answer:
                deploy.checkout = brief(answer["response"])
                deploy.checkout_status = answer["response"].status_code
            else:
                error = answer.get("error")
                deploy.checkout = (f"no answer: the connection was closed ({type(error).__name__})" if error
                                   else "no answer")
            note(f"the checkout: {deploy.checkout}")
            if not deploy.first_ended_early:
                deploy.exit_code = server.exit_code(EXIT_LIMIT)
                if deploy.exit_code is None:
                    deploy.never_ended = True
                    deploy.left_running = [f"{server.pid} {deploy.first}"]
                    note(f"the first process still runs {EXIT_LIMIT:g} s after the checkout: at the end of "
                         f"the grace period ({GRACE_PERIOD} s), docker kills the container")
                else:
                    deploy.serving_when_first_ended = accepting(port)
                    deploy.left_running = [f"{pid} {_short(cmd)}" for pid, cmd in server.others()
                                           if "multiprocessing.resource_tracker" not in cmd]
                    still = f"; still running: {', '.join(deploy.left_running)}" if deploy.left_running else ""
                    note(f"the first process ended (exit code {deploy.exit_code}){still}")
            deploy.log = server.logs()
    except ServerFailed as error:
        deploy.problem = f"it did not start: {str(error).splitlines()[0]}"
        deploy.log = str(error)
    journal = folder / "journal.log"
    deploy.journal = journal.read_text(encoding="utf-8").splitlines() if journal.is_file() else []
    if not deploy.problem:
        deploy.events.append(f"{'':>8}  journal.log: {'; '.join(deploy.journal) or '(empty)'}")
    return deploy


@pytest.fixture(scope="module")
def kata_deploy(request, tmp_path_factory) -> Deploy:
    ns = vars(request.module)
    return watch_a_deploy(ns.get("CMD"), ns, tmp_path_factory.mktemp("container"))


def _started(deploy: Deploy) -> None:
    """Fail with what kept the shop from starting, if anything did."""
    if deploy.problem:
        log = " ".join(deploy.log.split())[-300:]
        fail(
            f"The check ran CMD as Docker would, and the shop could not be started: {deploy.problem}"
            + (f" The server said: …{log}" if log and "did not start" in deploy.problem else ""),
            "The container must serve the shop before a deploy can be judged at all.",
            nudge="Does CMD start the app in shop.py, listening on the container's port 8000?",
        )


SIGNAL_CONCEPT = ("Docker runs a CMD written as a string through /bin/sh -c, so the shell is the "
                  "container's PID 1 and the one process `docker stop` signals; a shell does not pass "
                  "SIGTERM on to its child. Docker docs: 'Shell and exec form' (Dockerfile reference), "
                  "and 'docker stop'.")


def test_the_shop_serves_from_its_container_before_the_deploy(kata_deploy):
    _started(kata_deploy)
    expect(
        kata_deploy.before_ok,
        f"Started by CMD, the shop answered GET /books/1 with {kata_deploy.before}.",
        "Before the deploy, the shop must serve its catalogue.",
    )
    expect(
        not kata_deploy.loopback_only,
        f"CMD makes the server listen on {kata_deploy.loopback_only} only. Inside a container that "
        "is the container's own loopback interface, which a published port does not reach.",
        "Docker forwards the published port to the container's network interface: a server listening "
        "on loopback only refuses every customer, although it runs and answers inside the container.",
        nudge="Which address must a server listen on to be reached from outside its container?",
    )


def test_a_checkout_in_flight_is_answered_after_the_stop_signal(kata_deploy):
    _started(kata_deploy)
    deploy = kata_deploy
    if deploy.first_ended_early:
        fail(
            f"A checkout was waiting for the card payment when `docker stop` sent SIGTERM to the first "
            f"process ({deploy.first}). That process ended at once, with exit code {deploy.exit_code}, "
            f"and the container with it, so the checkout got {deploy.checkout}."
            + (f" The server (pid {deploy.left_running[0]}) never got the signal." if deploy.left_running else ""),
            "Every deploy cuts the requests in flight: customers whose card may have been charged get "
            "an error instead of their order. In a container the shell is PID 1, which ignores SIGTERM: "
            f"Docker then waits its grace period ({GRACE_PERIOD} s) and kills everything with SIGKILL, so "
            "the outcome is the same, only later.",
            nudge="Which process receives the stop signal, and is it the server?",
            concept=SIGNAL_CONCEPT,
        )
    expect(
        deploy.checkout_status == 201,
        f"A checkout was waiting for the card payment when `docker stop` sent SIGTERM; the check then "
        f"answered the payment. The checkout got {deploy.checkout}.",
        "A deploy must let the requests it interrupts finish: a checkout cut after the card was charged "
        "leaves a customer who paid with no order.",
        nudge="What does the server do with a request in flight when it is told to stop, and when does "
              "it give up on it?",
    )


def test_new_connections_are_refused_as_soon_as_the_shop_is_told_to_stop(kata_deploy):
    _started(kata_deploy)
    deploy = kata_deploy
    if deploy.first_ended_early:
        fail(
            f"After SIGTERM, the first process ({deploy.first}) ended at once while the server went on "
            "accepting new connections: it never heard of the deploy, so it never started to drain.",
            "While a server drains, it must refuse new connections, so that the load balancer (or the "
            "client) sends them to a server that will answer; a server that never drains is killed with "
            "whatever it has just accepted.",
            nudge="Which process receives the stop signal, and is it the server?",
            concept=SIGNAL_CONCEPT,
        )
    expect(
        deploy.refused_while_draining,
        f"{DRAIN_LIMIT:g} s after SIGTERM, while the checkout was still in flight, the shop still "
        f"accepted new connections on its port (first process: {deploy.first}).",
        "A connection accepted by a server that is stopping is never answered: it waits until the "
        "server is gone, then is reset. Refused at once, it goes to another server straight away.",
        nudge="After SIGTERM, who still holds the listening socket open, and why?",
        concept="One uvicorn process closes its listening socket as soon as it gets SIGTERM, then waits "
                "for the requests in flight. With several workers, the parent process keeps the socket "
                "open until every worker has finished. Uvicorn docs: 'Deployment'.",
    )


def test_the_shop_runs_its_own_shutdown_before_its_container_ends(kata_deploy):
    _started(kata_deploy)
    deploy = kata_deploy
    stopped = [line for line in deploy.journal if line.startswith("stopped")]
    expect(
        stopped,
        f"After the deploy, the shop's journal reads: {'; '.join(deploy.journal) or '(empty)'}. The "
        "lifespan's shutdown, which writes the 'stopped' line, never ran.",
        "The shutdown is where the shop closes its database pool and writes what it still holds; "
        "when it never runs, every deploy loses that work, and nothing reports it.",
        nudge="Did the server ever learn that it should stop, or was it killed?",
        concept=SIGNAL_CONCEPT,
    )


def test_nothing_of_the_shop_still_serves_when_its_first_process_ends(kata_deploy):
    _started(kata_deploy)
    deploy = kata_deploy
    if deploy.never_ended:
        fail(
            f"The first process ({deploy.first}) was still running {EXIT_LIMIT:g} s after the last "
            "request in flight was answered: it did not end on SIGTERM.",
            f"Docker kills a container that has not ended {GRACE_PERIOD} s after SIGTERM: with SIGKILL, "
            "which no shutdown code survives.",
            nudge="Which process receives the stop signal, and what does it do with it?",
        )
    expect(
        not deploy.serving_when_first_ended,
        f"When the container's first process ({deploy.first}) ended, the shop was still accepting "
        f"connections: {', '.join(deploy.left_running) or 'a process of its group'} still ran.",
        "A container ends with its first process: the kernel kills everything else in it on the spot, "
        "with no signal it can handle. Whatever that server was doing is cut, and its shutdown never runs.",
        nudge="Which process is the container's first, and what becomes of its children when it ends?",
        concept=SIGNAL_CONCEPT,
    )


def test_the_wait_for_requests_in_flight_is_bounded_within_the_grace_period(kata_deploy):
    deploy = kata_deploy
    tokens = command_words(deploy.command) if isinstance(deploy.command, (str, list, tuple)) else None
    fastapi_run = bool(tokens) and _is_fastapi_run(tokens)
    if deploy.under_timeout:
        fail(
            "The command runs the server under `timeout`, which ends it a fixed time after it starts, "
            "whatever it is doing then: not a limit on the shutdown, but on the container's whole life.",
            "Every container of the shop then dies that long after its deploy, busy or not, cutting the "
            "checkouts in flight at that moment; the platform restarts it, and it dies again.",
            nudge="Which option of the server itself limits how long it waits for requests in flight once "
                  "it is told to stop?",
        )
    if deploy.timeout is None:
        fail(
            "The command sets no limit on how long the server waits for the requests in flight once it "
            "is told to stop" + (" (and `fastapi run` has no option to set one)." if fastapi_run else "."),
            f"Without a limit, one request that hangs (a payment provider that never answers) keeps the "
            f"server waiting until Docker's grace period ends, {GRACE_PERIOD} s after SIGTERM, and SIGKILL "
            "then ends it before its shutdown has run.",
            nudge="What bounds the server's wait for requests in flight, and how does it compare with "
                  "the time Docker gives a container to stop?",
            concept="A graceful-shutdown timeout: after it, the server cancels what is still running and "
                    "runs its shutdown. It must leave room for that shutdown within the platform's grace "
                    "period (Docker: 10 s; Kubernetes: 30 s). Uvicorn docs: 'Settings', 'Timeouts'.",
        )
    expect(
        PAYMENT_LIMIT <= deploy.timeout < GRACE_PERIOD,
        f"The command lets the server wait {deploy.timeout} s for the requests in flight. A checkout "
        f"may wait up to {PAYMENT_LIMIT} s for the card payment, and Docker kills the container "
        f"{GRACE_PERIOD} s after SIGTERM.",
        f"Shorter than {PAYMENT_LIMIT} s, a checkout that has just asked for the payment is cut by every "
        f"deploy; {GRACE_PERIOD} s or more, the server is still waiting when SIGKILL comes, and its "
        "shutdown never runs.",
        nudge="How long may the slowest request the shop promises to finish take, and how long does "
              "Docker give the container?",
    )
