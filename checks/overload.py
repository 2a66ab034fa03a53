"""Check: when every payment line of the checkout container is taken, one more checkout is refused
at once (503), and none is refused while a line is free.

The notebook's app runs in one real server process, started with the notebook's CMD (the
container's port 8000 published on a free loopback port). One rush is played per check (starting a
server costs most of a second) and every test judges the same record of it:

1. a quiet moment: a checkout whose payment the provider declines at once (a line the shop counts
   must come back on that path too), then one whose payment it answers at once;
2. the rush: checkouts are sent one after the other, each held by the payment provider (a folder:
   the check answers a payment by writing a file, the gate), until PAYMENT_LINES payments are
   asked for at once, or one checkout is not taken (it got an answer, or it waits without asking
   for a payment);
3. one more checkout, while the lines are all taken (if they were);
4. the provider answers every payment; every checkout is answered;
5. one more checkout, after the rush.

What working code waits for: nothing. A checkout taken in asks for its payment at once; a checkout
refused is answered at once; one that queues in the shop says so in the shop's journal at once.
Only a checkout the app holds somewhere else (a queue in front of the app, a wait before refusing)
is given REFUSAL_LIMIT to be answered: such code cannot answer while the gate is shut, however
long it is given, unless it waits some seconds and then refuses, which is what the limit is there
to catch.
"""

import http.client
import json
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from bookshop.serving import (ServerFailed, command_words, describe_command, free_port, launch, option, run_here,
                              setting, shop_module)
from checks.feedback import expect, fail
from checks.harness import brief

__all__ = [
    "kata_rush",
    "test_the_shop_serves_a_checkout_when_it_is_quiet",
    "test_the_shop_takes_as_many_checkouts_at_once_as_it_has_payment_lines",
    "test_a_checkout_the_shop_cannot_take_is_refused_at_once",
    "test_the_checkouts_taken_are_served_and_the_shop_serves_again_after_the_rush",
]

KATA = "overload"
PAYMENT_LINES = 4  # payments the provider takes at a time from one container (the shop's PAYMENT_LINES)
REFUSAL_LIMIT = 0.5  # seconds: uvicorn refuses within 0.05 s here, even with both cores busy; waits written
# before refusing are seconds
TAKEN_LIMIT = 2.0  # seconds for a checkout to ask for its payment: a served one does so at once
ANSWER_LIMIT = 5.0  # seconds for every checkout to be answered once the provider answers
REQUEST_LIMIT = 15.0  # the client's own limit: never reached by working code
QUEUED_NOTE = "waits for a free payment line"
PORT_VALUES = {"8000", "$PORT", "${PORT}", "${PORT:-8000}"}
PAYMENT = {"amount_cents": 2499}

LIMIT_CONCEPT = ("Load shedding: a server that is full answers 503 Service Unavailable at once, so the load "
                 "balancer or the client can go elsewhere, instead of queueing the request. uvicorn's "
                 "concurrency limit does it before the app is called; it counts open connections, the new "
                 "request's own included, and requests in flight. An ASGI middleware that counts the requests "
                 "in flight can do the same. Uvicorn docs: Settings, 'Resource limits'; 'Server behavior'.")


class Checkout(threading.Thread):
    """One customer's payment, POST /orders/<number>/payment, on a connection of its own, closed
    once answered (an idle connection would count against a server's limit)."""

    def __init__(self, port: int, number: int):
        super().__init__(daemon=True)
        self.port, self.number = port, number
        self.response: httpx.Response | None = None
        self.error: Exception | None = None
        self.sent = self.answered_at = 0.0

    @property
    def path(self) -> str:
        return f"/orders/{self.number}/payment"

    def run(self) -> None:
        # The standard library's client: a new httpx client per request costs more than the request.
        self.sent = time.monotonic()
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_LIMIT)
        try:
            connection.request("POST", self.path, body=json.dumps(PAYMENT),
                               headers={"Content-Type": "application/json"})
            answer = connection.getresponse()
            self.response = httpx.Response(answer.status, headers=answer.getheaders(), content=answer.read())
        except (OSError, http.client.HTTPException) as error:
            self.error = error
        finally:
            connection.close()
        self.answered_at = time.monotonic()

    @property
    def status(self) -> int | None:
        return self.response.status_code if self.response is not None else None

    def answer(self) -> str:
        if self.response is not None:
            return brief(self.response, 70)
        if self.error is not None:
            return f"no answer: the connection failed ({type(self.error).__name__})"
        return "no answer yet"


class Provider:
    """The payment provider's folder: the payments asked for, and the check's answers."""

    def __init__(self, folder: Path):
        self.folder = folder / "payments"

    def pending(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        return [p for p in self.folder.glob("*.asked")
                if not (p.with_suffix(".paid").exists() or p.with_suffix(".declined").exists())]

    def answer_all(self) -> None:
        for payment in self.pending():
            payment.with_suffix(".paid").touch()

    def decline_all(self) -> None:
        for payment in self.pending():
            payment.with_suffix(".declined").touch()


@dataclass
class Rush:
    """What the checkout container did with a quiet checkout, a rush, and a checkout after it."""

    command: object
    problem: str = ""  # why the shop could not be started, in the learner's terms
    workers: int = 1
    log: str = ""
    declined: str = ""  # the answer to a checkout whose payment the provider declined, before the rush
    quiet: str = ""
    quiet_status: int | None = None
    taken: int = 0  # checkouts of the rush that asked for their payment while the others waited
    turned: int | None = None  # the number of the first checkout the shop did not take
    turned_answer: str = ""  # what that checkout got while every checkout taken still waited
    turned_status: int | None = None
    turned_after: float | None = None  # seconds it waited for that answer
    turned_queued: bool = False  # the shop's journal says it waited for a payment line
    turned_reached_provider: bool = False  # it asked for a payment: the shop served it after all
    turned_later: str = ""  # what it got once the provider answered, if it had no answer before
    taken_answers: list[str] = field(default_factory=list)
    taken_all_created: bool = False
    after: str = ""
    after_status: int | None = None
    journal: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)

    def timeline(self) -> str:
        if self.problem:
            return f"The shop could not be started: {self.problem}\n{self.log[-600:]}".rstrip()
        return "\n".join(self.events)


def _workers(tokens: list[str]) -> int:
    """How many server processes uvicorn starts: --workers, else UVICORN_WORKERS, else WEB_CONCURRENCY."""
    value = setting(tokens, "--workers") or next(
        (t.split("=", 1)[1] for t in reversed(tokens) if t.startswith("WEB_CONCURRENCY=")), None)
    try:
        return int(value) if value else 1
    except ValueError:
        return 1


def _prepare(rush: Rush, port: int):
    """The command as this machine runs it, or None with ``rush.problem`` set."""
    command = rush.command
    if not (isinstance(command, str) and command.strip()) and not (
            isinstance(command, (list, tuple)) and command and all(isinstance(p, str) for p in command)):
        rush.problem = (f"CMD is {command!r}: Docker's CMD is either a string (shell form) or a list of "
                        "strings (exec form).")
        return None
    tokens = command_words(command)
    if tokens is None:
        rush.problem = f"CMD {command!r} is not a command a shell can read (an unclosed quote?)."
        return None
    port_value = option(tokens, "--port")
    if port_value is not None and port_value not in PORT_VALUES:
        rush.problem = (f"the command listens on port {port_value}, but the container publishes port 8000: "
                        "nothing would reach it.")
        return None
    rush.workers = _workers(tokens)
    return run_here(command, port)


def _queued_notes(folder: Path) -> int:
    journal = folder / "journal.log"
    try:
        return journal.read_text(encoding="utf-8").count(QUEUED_NOTE)
    except OSError:
        return 0


def _served_while_answering(port: int, number: int, provider: Provider, decline: bool = False) -> Checkout:
    """A checkout whose payment the provider answers (or declines) as soon as it is asked for."""
    customer = Checkout(port, number)
    customer.start()
    deadline = time.monotonic() + ANSWER_LIMIT
    while customer.is_alive() and time.monotonic() < deadline:
        provider.decline_all() if decline else provider.answer_all()
        time.sleep(0.005)
    customer.join(0.5)
    return customer


def watch_a_rush(command, ns: dict, folder: Path) -> Rush:
    """Start the checkout service with ``command`` in ``folder``, play a rush on it, and return
    what happened."""
    rush = Rush(command)
    port = free_port()
    running = _prepare(rush, port)
    if running is None:
        return rush
    if rush.workers > 1:  # not run: which process takes each connection is the kernel's choice
        rush.events.append(f"CMD starts {rush.workers} server processes, each with its own count and its own "
                           f"{PAYMENT_LINES} payment lines: the rush is not played (see the check).")
        return rush
    folder = Path(folder)
    shop_module(ns, folder, kata=KATA)
    provider = Provider(folder)
    started = time.monotonic()

    def note(text: str) -> None:
        rush.events.append(f"+{time.monotonic() - started:5.2f} s  {text}")

    try:
        with launch(running, folder=folder, port=port) as server:
            started = time.monotonic()
            # A payment that fails first: a line the shop counts must come back on every path.
            declined = _served_while_answering(server.port, 99, provider, decline=True)
            rush.declined = declined.answer()
            note(f"the provider declines a payment: POST {declined.path} -> {rush.declined}")
            quiet = _served_while_answering(server.port, 100, provider)
            rush.quiet, rush.quiet_status = quiet.answer(), quiet.status
            note(f"a quiet moment, the provider answers at once: POST {quiet.path} -> {rush.quiet}")
            note(f"the rush: the provider is slow today; it has {PAYMENT_LINES} lines for this container")
            customers: list[Checkout] = []
            turned: Checkout | None = None
            for number in range(1, PAYMENT_LINES + 2):
                customer = Checkout(server.port, number)
                queued_before = _queued_notes(folder)
                customer.start()
                customers.append(customer)
                limit = TAKEN_LIMIT if number <= PAYMENT_LINES else REFUSAL_LIMIT
                deadline = time.monotonic() + limit
                while time.monotonic() < deadline:
                    if len(provider.pending()) >= number or not customer.is_alive():
                        break
                    if _queued_notes(folder) > queued_before:
                        rush.turned_queued = True
                        break
                    time.sleep(0.005)
                if len(provider.pending()) >= number:
                    if number <= PAYMENT_LINES:
                        rush.taken = number
                        note(f"checkout {number}: taken, it waits for the payment provider")
                        continue
                    rush.turned_reached_provider = True
                turned = customer
                rush.turned = number
                if not customer.is_alive():
                    customer.join()
                    rush.turned_answer, rush.turned_status = customer.answer(), customer.status
                    rush.turned_after = customer.answered_at - customer.sent
                    note(f"checkout {number}: {rush.turned_answer} (after {rush.turned_after:.2f} s)")
                elif rush.turned_queued:
                    note(f"checkout {number}: no answer; the shop's journal: a checkout {QUEUED_NOTE}")
                elif rush.turned_reached_provider:
                    note(f"checkout {number}: taken as well, it waits for the payment provider")
                else:
                    note(f"checkout {number}: no answer after {limit:g} s")
                break
            note("the payment provider answers every payment")
            deadline = time.monotonic() + ANSWER_LIMIT
            while any(c.is_alive() for c in customers) and time.monotonic() < deadline:
                provider.answer_all()
                time.sleep(0.005)
            taken = [c for c in customers if c is not turned]
            rush.taken_answers = [f"checkout {c.number}: {c.answer()}" for c in taken]
            rush.taken_all_created = all(c.status == 201 for c in taken)
            for line in rush.taken_answers:
                note(line)
            if turned is not None and not rush.turned_answer:
                turned.join(0.1)
                rush.turned_later = turned.answer()
                note(f"checkout {turned.number}: {rush.turned_later}, once the provider had answered the others")
            after = _served_while_answering(server.port, 200, provider)
            rush.after, rush.after_status = after.answer(), after.status
            note(f"after the rush: POST {after.path} -> {rush.after}")
            rush.log = server.logs()
    except ServerFailed as error:
        first, _, rest = str(error).partition("\n")
        rush.problem = f"it did not start: {first.rstrip(':')}."
        rush.log = re.sub(r"[─│╭╮╰╯]+", " ", rest)  # the frames rich draws around an error
    journal = folder / "journal.log"
    rush.journal = journal.read_text(encoding="utf-8").splitlines() if journal.is_file() else []
    if not rush.problem:
        waits = sum(QUEUED_NOTE in line for line in rush.journal)
        rush.events.append(f"{'':>9}journal.log: {waits} line(s) 'a checkout {QUEUED_NOTE}'")
    return rush


@pytest.fixture(scope="module")
def kata_rush(request, tmp_path_factory) -> Rush:
    ns = vars(request.module)
    if "CMD" not in ns:
        rush = Rush(None)
        rush.problem = "the notebook has no CMD (run every cell above the check; keep the name CMD)."
        return rush
    return watch_a_rush(ns["CMD"], ns, tmp_path_factory.mktemp("checkout"))


def _started(rush: Rush) -> None:
    """Fail with what kept the rush from being played, if anything did."""
    if rush.problem:
        log = " ".join(rush.log.split())
        log = log if len(log) <= 300 else f"…{log[-300:]}"
        fail(
            f"The check ran CMD {describe_command(rush.command) if rush.command else ''} as Docker would, and "
            f"the checkout service could not be started: {rush.problem}"
            + (f" The server said: {log}" if log and "did not start" in rush.problem else ""),
            "The container must serve checkouts before its behaviour under load can be judged at all.",
            nudge="Does CMD start the app in shop.py, listening on the container's port 8000?",
        )
    if rush.workers > 1:
        fail(
            f"CMD starts {rush.workers} server processes in the container. The check did not run it: each "
            "process would count only the requests it holds, with its own payment lines, and which process "
            "takes each new connection is the kernel's choice.",
            f"The container's capacity is {PAYMENT_LINES} checkouts, whichever process they land on: with "
            "several processes, one can turn a customer away while another has a free line, or together "
            "they take more payments than the provider allows the container.",
            nudge="Who would count the checkouts of the whole container?",
            concept="One server process per container, and the platform runs more containers when it needs "
                    "more; a limit then holds for the whole container. Uvicorn docs: 'Deployment'.",
        )


def test_the_shop_serves_a_checkout_when_it_is_quiet(kata_rush):
    _started(kata_rush)
    expect(
        kata_rush.quiet_status == 201,
        f"With nothing else in flight, and the payment provider answering at once, a checkout "
        f"got {kata_rush.quiet}.",
        "A limit that turns customers away when the shop is idle is an outage, not a protection.",
        nudge="With no other request in flight, what does your limit count when this one arrives?",
        concept=LIMIT_CONCEPT,
    )


def test_the_shop_takes_as_many_checkouts_at_once_as_it_has_payment_lines(kata_rush):
    _started(kata_rush)
    rush = kata_rush
    if rush.taken >= PAYMENT_LINES:
        return
    waiting = f"{rush.taken} checkout{'s' if rush.taken != 1 else ''}"
    if rush.turned_answer:
        seen = f"checkout {rush.turned} was answered {rush.turned_answer}"
    elif rush.turned_queued:
        seen = f"checkout {rush.turned} got no answer, and the shop's journal says it waited for a payment line"
    else:
        seen = f"checkout {rush.turned} got no answer within {TAKEN_LIMIT:g} s and never asked for its payment"
    fail(
        f"The payment provider takes {PAYMENT_LINES} payments at a time from this container. With {waiting} "
        f"waiting for the provider, {seen}: a line was free for it. (Before the rush, one checkout's payment "
        f"was declined by the provider, and answered {rush.declined}; nothing else was in flight.)",
        "Every customer refused while the container has room is lost business, and on a busy day a limit set "
        "too low makes the platform run (and pay for) more containers than it needs.",
        nudge="When the server decides whether to take a new request, what exactly is in its count at that "
              "moment: only the requests in flight, or the new one too?",
        concept=LIMIT_CONCEPT,
    )


def test_a_checkout_the_shop_cannot_take_is_refused_at_once(kata_rush):
    _started(kata_rush)
    rush = kata_rush
    if rush.turned is None:
        fail(
            "The check could not play the rush to its end: every checkout it sent was taken or answered in a "
            "way it did not expect.",
            "A container must turn away the checkout it has no line for.",
        )
    waiting = f"with {rush.taken} checkout{'s' if rush.taken != 1 else ''} waiting for the payment provider"
    later = (f" Once the provider answered the others, it got {rush.turned_later}: it had waited in the "
             "container all along." if rush.turned_later else "")
    if rush.turned_reached_provider:
        fail(
            f"{waiting.capitalize()}, checkout {rush.turned} was taken as well and asked for a payment "
            f"too: the container used more lines than the provider allows it.{later}",
            "The provider allows each container a fixed number of payments at once; past it, the shop must "
            "turn the customer away rather than break its contract.",
            nudge=f"The provider takes {PAYMENT_LINES} payments at a time: did the code that counts them change?",
        )
    if rush.turned_queued or not rush.turned_answer:
        held = ("the shop took it in, and its journal says it waits for a free payment line"
                if rush.turned_queued else f"it got no answer within {REFUSAL_LIMIT:g} s")
        fail(
            f"{waiting.capitalize()} (all its lines taken), checkout {rush.turned} was sent: {held}.{later}",
            "A request the container cannot serve waits in its queue until a line frees up, or until the "
            "load balancer gives up on it (504) while the container may still charge the card later. Refused at "
            "once, it goes to a container with room, or the customer retries in a moment, charged once.",
            nudge="What could the container answer at once to a checkout it has no line for, and who would "
                  "make that decision before the request waits anywhere?",
            concept=LIMIT_CONCEPT,
        )
    got = (f"was answered {rush.turned_answer}" if rush.turned_status is not None
           else f"got {rush.turned_answer}")
    expect(
        rush.turned_status == 503,
        f"{waiting.capitalize()}, checkout {rush.turned} {got} (after {rush.turned_after:.2f} s).",
        "503 Service Unavailable is the answer that says 'full, nothing was done, try again': load "
        "balancers retry it on another server and clients retry it later. "
        + ("429 says the client asked too often, which this customer did not; "
           if rush.turned_status == 429 else "")
        + "any other status reads as a failed checkout, or a fault of the shop.",
        nudge="Which status tells a load balancer that this server is full right now, and nothing was done?",
        concept=LIMIT_CONCEPT,
    )


def test_the_checkouts_taken_are_served_and_the_shop_serves_again_after_the_rush(kata_rush):
    _started(kata_rush)
    rush = kata_rush
    expect(
        rush.taken_all_created,
        f"Once the payment provider answered, the checkouts the shop had taken got: "
        f"{'; '.join(rush.taken_answers) or '(none were taken)'}.",
        "A checkout the container took in must be served: the customer's card is being charged.",
        nudge="What happens to the requests already in flight when a new one is refused?",
    )
    expect(
        rush.after_status == 201,
        f"After the rush, with every checkout answered and nothing in flight, a new checkout got {rush.after}.",
        "A limit must let go of each request when it ends; one that keeps counting requests long answered "
        "slowly closes the shop for good.",
        nudge="Where does your limit take a request off its count, and does that happen on every path?",
        concept=LIMIT_CONCEPT,
    )
