"""Check: the liveness probe says whether the process works (no I/O), the readiness probe whether
it can serve customers now (the database answers, the startup work is done).

The notebook's app runs in one real uvicorn process, through a small wrapper module that lets the
check fail the process's database from outside (``bookshop.serving.database_faults``). One run per
check, and every test judges its record:

1. starting: the statements the app sends outside any request (its startup work) are held, and
   both probes are called while they wait;
2. ready: the hold is lifted; both probes, the home page, and what the liveness probe sent to
   the database;
3. database down: every connection and statement fails; both probes;
4. database back: both probes;
5. stopping: SIGTERM, then both probes (shown in the evidence; uvicorn closes its port at once,
   so no app can answer there, right or wrong).

Working code waits on nothing here: a held startup is seen as soon as its statement waits (or its
port opens), and a ready shop answers its readiness probe at once.
"""

import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from bookshop import serving
from bookshop.db import DATABASE_URL_ENV, fresh_database
from bookshop.serving import (DATABASE_DOWN, DATABASE_HELD, HELD_LOG, READY_LIMIT, STATEMENTS_LOG,
                              ServerFailed, accepting, free_port, launch, shop_module, wait_until_serving)
from checks.feedback import expect, fail
from checks.harness import json_of

__all__ = [
    "kata_probes",
    "test_the_liveness_probe_answers_200_while_the_database_is_down",
    "test_the_liveness_probe_sends_nothing_to_the_database",
    "test_the_readiness_probe_answers_503_while_the_database_is_down",
    "test_the_readiness_probe_is_not_200_before_the_startup_work_is_done",
    "test_the_readiness_probe_answers_200_whenever_the_shop_can_serve",
    "test_the_shop_serves_its_featured_books_once_it_is_ready",
]

KATA = "liveness-and-readiness"
READY_WITHIN = 3.0  # seconds after its startup work may go on, for a shop to say it is ready
STARTUP_WORK_LIMIT = 2.0  # seconds, once the port is open, for startup work left to a task to show
PHASES = ("starting", "ready", "database down", "database back", "stopping")
LABELS = {"starting": "while starting", "ready": "started", "database down": "database down",
          "database back": "database back", "stopping": "after SIGTERM"}
WRAPPER = '''"""The shop, served with a database the check can fail from outside."""
from bookshop.serving import database_faults, mark_requests

database_faults()

from shop import app as shop_app  # noqa: E402

app = mark_requests(shop_app)
'''


@dataclass
class Answer:
    status: int | None  # None: no HTTP answer
    text: str  # "200 {...}", "connection refused", "no answer (ReadTimeout)"
    body: object = None  # the JSON body, if it had one

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 400


@dataclass
class Probes:
    """What the shop's probes answered in each phase of one run."""

    liveness: str = ""
    readiness: str = ""
    problem: str = ""  # why the run could not be made, in the learner's terms
    log: str = ""
    answers: dict[str, dict[str, Answer]] = field(default_factory=dict)  # phase -> probe -> answer
    held: list[str] = field(default_factory=list)  # statements the startup sent, held
    startup_held: bool = False  # the startup's statements were held when the probes were called
    liveness_statements: list[str] = field(default_factory=list)  # sent while serving the liveness probe
    featured: Answer | None = None
    ready_waits: int = 0  # readiness probes the shop answered before it said 200

    def table(self) -> str:
        if self.problem:
            return f"The probes could not be watched: {self.problem}\n{self.log[-800:]}".rstrip()
        width = 36
        lines = [f"{'':<16}{'liveness  GET ' + self.liveness:<{width}}readiness  GET {self.readiness}"]
        for phase in PHASES:
            row = self.answers.get(phase)
            if row:
                lines.append(f"{LABELS[phase]:<16}{row['liveness'].text[:width - 2]:<{width}}"
                             f"{row['readiness'].text[:60]}")
        sent = "; ".join(self.liveness_statements) or "nothing"
        lines.append(f"\nsent to the database while answering the liveness probe: {sent}")
        if self.featured is not None:
            titles = _titles(self.featured)
            shown = (f"{self.featured.status}: {', '.join(map(str, titles))}" if titles
                     else self.featured.text[:90])
            lines.append(f"GET /featured once started: {shown}")
        return "\n".join(lines)


def _answer(url: str) -> Answer:
    try:
        response = serving.request("GET", url, timeout=5)
    except httpx.ConnectError:
        return Answer(None, "connection refused")
    except httpx.HTTPError as error:
        return Answer(None, f"no answer ({type(error).__name__})")
    text = " ".join(response.text.split())
    return Answer(response.status_code, f"{response.status_code} {text[:70]}".strip(), json_of(response))


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines() if path.is_file() else []


def _path(ns: dict, name: str) -> str | None:
    value = ns.get(name)
    return value if isinstance(value, str) and value.startswith("/") else None


def watch_the_probes(ns: dict, folder: Path) -> Probes:
    """Serve the notebook's app from a real process in ``folder`` and call its probes while it
    starts, while it is ready, while its database is down, once it is back, and while it stops."""
    probes = Probes()
    liveness, readiness = _path(ns, "LIVENESS_PROBE"), _path(ns, "READINESS_PROBE")
    if liveness is None or readiness is None:
        missing = [n for n, v in (("LIVENESS_PROBE", liveness), ("READINESS_PROBE", readiness)) if v is None]
        probes.problem = (f"{' and '.join(missing)} must name the path the orchestrator calls, such as "
                          f"'/health'; the notebook has {', '.join(repr(ns.get(n)) for n in missing)}.")
        return probes
    probes.liveness, probes.readiness = liveness, readiness
    folder = Path(folder)
    shop_module(ns, folder, kata=KATA)
    (folder / "probed.py").write_text(WRAPPER, encoding="utf-8")
    (folder / "database").mkdir()
    environment = {DATABASE_URL_ENV: fresh_database(folder / "database")}
    port = free_port()
    command = ["uvicorn", "probed:app", "--host", "127.0.0.1", "--port", str(port)]
    held, statements = folder / HELD_LOG, folder / STATEMENTS_LOG

    def both(phase: str, url: str) -> None:
        probes.answers[phase] = {"liveness": _answer(url + liveness), "readiness": _answer(url + readiness)}

    (folder / DATABASE_HELD).touch()
    try:
        with launch(command, folder=folder, port=port, env=environment, ready=False) as server:
            deadline = time.monotonic() + READY_LIMIT
            while not _lines(held) and not accepting(port):
                if server.process.poll() is not None or time.monotonic() > deadline:
                    raise ServerFailed(f"the app did not start:\n{server.logs()[-1500:]}")
                time.sleep(0.01)
            # The port opened first: startup work moved to a task sends its statements soon after.
            deadline = time.monotonic() + STARTUP_WORK_LIMIT
            while not _lines(held) and server.process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)
            probes.startup_held = bool(_lines(held))
            both("starting", server.url)
            probes.held = [line.split("\t", 1)[-1] for line in _lines(held)]
            (folder / DATABASE_HELD).unlink()
            wait_until_serving(server)

            deadline = time.monotonic() + READY_WITHIN
            while not _answer(server.url + readiness).ok and time.monotonic() < deadline:
                probes.ready_waits += 1
                time.sleep(0.02)
            before = len(_lines(statements))
            live = _answer(server.url + liveness)
            probes.liveness_statements = [line.split("\t", 1)[-1] for line in _lines(statements)[before:]
                                          if line.split("\t", 1)[0]]
            probes.answers["ready"] = {"liveness": live, "readiness": _answer(server.url + readiness)}
            deadline = time.monotonic() + READY_WITHIN
            probes.featured = _answer(server.url + "/featured")
            while len(_titles(probes.featured)) != 3 and time.monotonic() < deadline:
                time.sleep(0.02)
                probes.featured = _answer(server.url + "/featured")

            (folder / DATABASE_DOWN).touch()
            both("database down", server.url)
            (folder / DATABASE_DOWN).unlink()
            both("database back", server.url)

            server.signal(signal.SIGTERM)
            deadline = time.monotonic() + 1.0
            while accepting(port) and server.process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)
            both("stopping", server.url)
            probes.log = server.logs()
    except ServerFailed as error:
        first, _, log = str(error).partition("\n")
        probes.problem = first.rstrip(":")
        probes.log = log
    return probes


def _titles(answer: Answer | None) -> list:
    books = answer.body if answer is not None else None
    return [b.get("title") for b in books if isinstance(b, dict)] if isinstance(books, list) else []


@pytest.fixture(scope="module")
def kata_probes(request, tmp_path_factory) -> Probes:
    return watch_the_probes(vars(request.module), tmp_path_factory.mktemp("pod"))


def _watched(probes: Probes) -> None:
    if probes.problem:
        log = " ".join(probes.log.split())
        fail(
            f"The check could not run the shop and call its probes: {probes.problem}."
            + (f" The server said: …{log[-400:]}" if log else ""),
            "The probes can only be judged on a shop that starts.",
            nudge="Does every cell run from top to bottom, and do LIVENESS_PROBE and READINESS_PROBE "
                  "name paths of the app?",
        )


def _said(probes: Probes, phase: str, probe: str) -> Answer:
    return probes.answers[phase][probe]


PROBES_CONCEPT = ("Liveness answers one question, 'is this process stuck beyond repair?', and a "
                  "failure restarts the container; readiness answers 'can it serve a customer right "
                  "now?', and a failure only takes it out of the load balancer until it passes again. "
                  "Kubernetes docs: 'Liveness, Readiness, and Startup Probes'.")


def test_the_liveness_probe_answers_200_while_the_database_is_down(kata_probes):
    _watched(kata_probes)
    answer = _said(kata_probes, "database down", "liveness")
    expect(
        answer.ok,
        f"While the database could not be reached, the liveness probe (GET {kata_probes.liveness}) "
        f"answered {answer.text}. The shop process itself was working.",
        "A failed liveness probe makes the orchestrator restart the container. A database outage then "
        "restarts every copy of the shop at once, again and again; when the database comes back, "
        "the shop stays down while all of them start and warm up together.",
        nudge="What question does the orchestrator ask the liveness probe, and can restarting the "
              "shop fix a database that is down?",
        concept=PROBES_CONCEPT,
    )


def test_the_liveness_probe_sends_nothing_to_the_database(kata_probes):
    _watched(kata_probes)
    sent = kata_probes.liveness_statements
    expect(
        not sent,
        f"Answering the liveness probe (GET {kata_probes.liveness}), the shop sent to the database: "
        f"{'; '.join(sent)}.",
        "A liveness probe that waits on the database fails when the database is slow, and the "
        "orchestrator then restarts a process that was fine. Liveness must depend on the process "
        "alone.",
        nudge="What does the liveness probe need to know that the process does not already know?",
        concept=PROBES_CONCEPT,
    )


def test_the_readiness_probe_answers_503_while_the_database_is_down(kata_probes):
    _watched(kata_probes)
    answer = _said(kata_probes, "database down", "readiness")
    expect(
        answer.status == 503,
        f"While the database could not be reached, the readiness probe (GET {kata_probes.readiness}) "
        f"answered {answer.text}."
        + (" The orchestrator reads any status from 200 to 399 as 'ready', whatever the body says."
           if answer.ok else ""),
        "The load balancer keeps sending customers to a shop that can only answer errors; a probe "
        "that says 'not ready' (503 Service Unavailable) takes it out of rotation until it can serve, "
        "with no restart. A 500 would mean the probe itself broke.",
        nudge="Does the readiness probe find out, now, whether the database answers?",
        concept=PROBES_CONCEPT,
    )


def test_the_readiness_probe_is_not_200_before_the_startup_work_is_done(kata_probes):
    _watched(kata_probes)
    if not kata_probes.startup_held:
        return  # the app sends nothing at startup: there is no startup work to wait for
    answer = _said(kata_probes, "starting", "readiness")
    held = f" ({kata_probes.held[0][:90]})" if kata_probes.held else ""
    expect(
        not answer.ok,
        f"While the shop's startup work was still waiting for the database{held}, the readiness probe "
        f"(GET {kata_probes.readiness}) answered {answer.text}.",
        "Customers are sent to a shop that has not finished starting: its home page is empty, or "
        "wrong, until the work is done.",
        nudge="When the readiness probe answers, is the startup work already done?",
        concept="Uvicorn opens its port only once the lifespan's startup is complete. Work moved out of "
                "the lifespan, into a task, runs while the shop already answers: readiness must then "
                "wait for it. FastAPI docs: 'Lifespan Events'.",
    )


def test_the_readiness_probe_answers_200_whenever_the_shop_can_serve(kata_probes):
    _watched(kata_probes)
    for phase, when in (("ready", "once the shop had started, with its database up"),
                        ("database back", "once the database was back after an outage")):
        answer = _said(kata_probes, phase, "readiness")
        expect(
            answer.ok,
            f"{when[:1].upper()}{when[1:]}, the readiness probe (GET {kata_probes.readiness}) answered "
            f"{answer.text}.",
            "A shop that is never ready gets no customers at all, and one that does not recover after "
            "an outage stays out of rotation until someone restarts it.",
            nudge="Does the readiness probe look at how things are now, on every call?",
        )
    answer = _said(kata_probes, "ready", "liveness")
    expect(
        answer.ok,
        f"Once the shop had started, the liveness probe (GET {kata_probes.liveness}) answered {answer.text}.",
        "A liveness probe that fails on a working shop has it restarted for ever.",
    )


def test_the_shop_serves_its_featured_books_once_it_is_ready(kata_probes):
    _watched(kata_probes)
    featured = kata_probes.featured
    expect(
        featured is not None and featured.status == 200 and len(_titles(featured)) == 3,
        f"Once the shop said it was ready, GET /featured answered {featured.text if featured else 'nothing'}, "
        "not the three featured books.",
        "The home page must show the featured books to every customer the shop accepts.",
    )
