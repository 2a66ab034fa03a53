"""Check: the settings are read when the app starts (not at import, not per request), reach the
endpoints through a dependency a test can replace, and the receipt secret is required, used for
signing, and never shown.

The check never calls the learner's settings dependency itself (it may take the request). It
watches instead: every construction of the learner's ``Settings`` class, and when it happened
(before the app finished starting, or while it served requests); and what the endpoints answer.
"""

import base64
import functools
import hashlib
import hmac
import inspect
import typing
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi import params
from pydantic import SecretStr

from bookshop.client import open_client
from checks.feedback import expect, fail
from checks.harness import brief, json_of, learner

__all__ = [
    "kata_settings_history",
    "kata_shop_environment",
    "test_app_refuses_to_start_without_a_receipt_secret",
    "test_a_test_can_hand_the_endpoints_other_settings",
    "test_settings_are_read_once_when_the_app_starts_not_at_import",
    "test_receipt_secret_never_appears_in_a_response_or_a_repr",
    "test_order_limit_is_still_enforced",
    "test_quote_is_signed_with_the_configured_secret",
]

SECRET_ENV = "SHOP_RECEIPT_SECRET"
LIMIT_ENV = "SHOP_MAX_BOOKS_PER_ORDER"
# Random-looking, so that no run of 4 of their characters (nor of their base64, nor reversed) can
# turn up in a response by chance: every window mixes upper and lower case with digits, and holds
# letters a hex signature never has.
TEST_SECRET = "Qx7Vr2KpW9zTn4LmHs8Jy3Gu6Rw5Nk1P"
OVERRIDE_SECRET = "Zq8WvN3kTx7RmB2pYh5LsJ9gKw4Xn6Pr"
REVEALING_RUN = 4  # this many characters of the secret in a row give part of it away
CODE_DEFAULT = "changeme"  # the starter's default: the secret anyone who read the code knows
USER_ID, BOOK_ID, BOOK_PRICE = 1, 3, 1099  # Dune, in the seeded shop
SETTINGS_ROUTES = ("/orders/quote", "/about")


def _order(books: int) -> dict:
    return {"user_id": USER_ID, "lines": [{"book_id": BOOK_ID, "quantity": books}]}


def _signed_with(secret: str, books: int, response) -> bool:
    """Whether ``response`` is a quote for ``books`` copies of Dune, signed with ``secret``."""
    body = json_of(response)
    if response.status_code != 200 or not isinstance(body, dict):
        return False
    total = BOOK_PRICE * books
    message = f"user={USER_ID};books={books};total={total}".encode()
    expected = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    quoted = (body.get("books"), body.get("total_cents"))
    return quoted == (books, total) and hmac.compare_digest(expected, str(body.get("signature", "")))


def _settings_class(ns: dict) -> type:
    settings_class = learner(ns, "Settings")
    if not isinstance(settings_class, type):
        fail(
            f"`Settings` is a {type(settings_class).__name__}, not the settings class.",
            "The check watches the settings class to see when the app reads its configuration.",
        )
    return settings_class


@contextmanager
def _constructions(settings_class: type, timeline: list) -> Iterator[list]:
    """Note ``("built", settings)`` in ``timeline`` each time ``settings_class`` is instantiated."""
    had_own = "__init__" in vars(settings_class)
    original = settings_class.__init__

    def watched(self, *args, **kwargs):
        original(self, *args, **kwargs)
        timeline.append(("built", self))

    settings_class.__init__ = watched
    try:
        yield timeline
    finally:
        if had_own:
            settings_class.__init__ = original
        else:
            del settings_class.__init__


def _built(timeline: list) -> list:
    return [entry[1] for entry in timeline if isinstance(entry, tuple) and entry[0] == "built"]


def _settings_in_force(ns: dict, settings_class: type, timeline: list):
    """The settings the app runs with: the last one it built during this test or, when it built
    none (the starter reads them at import), the settings object the notebook holds."""
    built = _built(timeline)
    if built:
        return built[-1]
    held = [value for value in ns.values() if isinstance(value, settings_class)]
    if not held:
        fail(
            "The app built no settings while it started and served requests, and the notebook holds "
            "no settings object either: the check found no settings the app runs with.",
            "The endpoints need the shop's settings (the order limit, the receipt secret) to answer.",
            nudge="Where do the endpoints get their settings from, and when is that object built?",
        )
    return held[-1]


def _setting(settings, name: str):
    if not hasattr(settings, name):
        fail(
            f"The settings have no field {name} any more.",
            "The shop needs it: keep the field, with its name.",
        )
    return getattr(settings, name)


def _secret_value(settings) -> str:
    value = _setting(settings, "receipt_secret")
    return value.get_secret_value() if isinstance(value, SecretStr) else str(value)


def _returns_settings(call, settings_class: type) -> bool:
    try:
        returned = typing.get_type_hints(call).get("return")
    except Exception:  # noqa: BLE001 - a hint that cannot be resolved says nothing
        return False
    return isinstance(returned, type) and issubclass(returned, settings_class)


def _is_settings(annotation, settings_class: type) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, settings_class)


def _declared_providers(call, settings_class: type) -> list:
    """The dependencies ``call`` declares for parameters typed as the settings:
    ``Annotated[Settings, Depends(x)]`` or ``settings: Settings = Depends(x)`` give ``x``."""
    try:
        hints = typing.get_type_hints(call, include_extras=True)
        defaults = {name: p.default for name, p in inspect.signature(call).parameters.items()}
    except Exception:  # noqa: BLE001 - a signature that cannot be read declares nothing we can use
        return []
    found = []
    for name, hint in hints.items():
        if name == "return":
            continue
        marks = [defaults.get(name)]
        if typing.get_origin(hint) is typing.Annotated:
            hint, *extras = typing.get_args(hint)
            marks += extras
        for mark in marks:
            if isinstance(mark, params.Depends) and _is_settings(hint, settings_class):
                found.append(mark.dependency or hint)
    return found


def _settings_dependencies(app, settings_class: type) -> list:
    """What provides the settings to the endpoints: every dependency, at any depth under the
    routes that use settings, that a parameter typed as the settings depends on, that is declared
    to return the settings, or that is the settings class itself."""
    found: list = []

    def note(call) -> None:
        if call is not None and not any(call is known for known in found):
            found.append(call)

    def walk(dependant) -> None:
        for call in _declared_providers(dependant.call, settings_class) if dependant.call else ():
            note(call)
        for sub in dependant.dependencies:
            if sub.call is settings_class or _returns_settings(sub.call, settings_class):
                note(sub.call)
            walk(sub)

    for route in app.routes:
        if getattr(route, "path", None) in SETTINGS_ROUTES and hasattr(route, "dependant"):
            walk(route.dependant)
    return found


def _wrappable(call) -> bool:
    """A plain function (or a cached one) that returns a value: what could hand out the settings."""
    target = inspect.unwrap(call)
    return (inspect.isfunction(target) and not inspect.isgeneratorfunction(target)
            and not inspect.isasyncgenfunction(target))


def _spy(call, seen: list):
    """``call`` itself, to FastAPI (same signature, same kind), noting ``(call, value)`` for each value it returns."""
    if inspect.iscoroutinefunction(inspect.unwrap(call)):
        @functools.wraps(call)
        async def spy(*args, **kwargs):
            value = await call(*args, **kwargs)
            seen.append((call, value))
            return value
    else:
        @functools.wraps(call)
        def spy(*args, **kwargs):
            value = call(*args, **kwargs)
            seen.append((call, value))
            return value
    return spy


async def _providers_seen_at_work(app, settings_class: type) -> list:
    """The dependencies of the settings routes that returned the settings while the check used
    the app: found by what they do, whatever their type hints say."""
    candidates: list = []

    def walk(dependant) -> None:
        for sub in dependant.dependencies:
            if sub.call is not None and _wrappable(sub.call) and not any(sub.call is c for c in candidates):
                candidates.append(sub.call)
            walk(sub)

    for route in app.routes:
        if getattr(route, "path", None) in SETTINGS_ROUTES and hasattr(route, "dependant"):
            walk(route.dependant)
    if not candidates:
        return []
    seen: list = []
    saved = dict(app.dependency_overrides)
    for call in candidates:
        app.dependency_overrides.setdefault(call, _spy(call, seen))
    try:
        async with open_client(app) as client:
            await client.get("/about")
            await client.post("/orders/quote", json=_order(2))
    except Exception:  # noqa: BLE001 - an app that cannot start shows nothing here; other tests say why
        pass
    finally:
        app.dependency_overrides.clear()
        app.dependency_overrides.update(saved)
    found: list = []
    for call, value in seen:
        if isinstance(value, settings_class) and not any(call is known for known in found):
            found.append(call)
    return found


def _revealing_runs(secret: str) -> set[str]:
    """Every run of REVEALING_RUN characters of ``secret``, as written, reversed, and in base64."""
    forms = [secret, secret[::-1]]
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        forms.append(encode(secret.encode()).decode().rstrip("="))
    return {form[i:i + REVEALING_RUN] for form in forms for i in range(len(form) - REVEALING_RUN + 1)}


def _reveals(text: str, runs: set[str], whole: set[str]) -> bool:
    return any(run in text for run in runs) or any(secret in text for secret in whole)


def _renderings(settings) -> list[tuple[str, str]]:
    """How the settings can end up in a log line: their repr, their str and, for a pydantic model,
    their JSON. One that raises is simply not a way they can be printed."""
    ways = [("repr()", repr), ("str()", str)]
    if callable(getattr(settings, "model_dump_json", None)):
        ways.append(("JSON", lambda value: value.model_dump_json()))
    shown = []
    for how, render in ways:
        try:
            shown.append((how, str(render(settings))))
        except Exception:  # noqa: BLE001
            continue
    return shown


def _value_of(body, key: str):
    """The value of ``key`` anywhere in a JSON body (the first found), or None."""
    if isinstance(body, dict):
        if key in body:
            return body[key]
        values = list(body.values())
    elif isinstance(body, list):
        values = body
    else:
        return None
    for value in values:
        found = _value_of(value, key)
        if found is not None:
            return found
    return None


@pytest.fixture(scope="module")
def kata_settings_history() -> list:
    """``(settings, test name)`` for every settings object built while the check's tests ran: a
    later test can tell settings kept from an earlier start of the app."""
    return []


def _clear_caches(ns: dict) -> None:
    """A fresh server process starts with nothing cached: forget any cached function's results."""
    for value in list(ns.values()):
        cache_clear = getattr(value, "cache_clear", None)
        if callable(cache_clear) and callable(value):
            cache_clear()


@pytest.fixture(autouse=True)
def kata_shop_environment(kata_ns, monkeypatch, kata_settings_history, request):
    """Each test starts like a fresh server: a known secret, the default limit, nothing cached."""
    monkeypatch.setenv(SECRET_ENV, TEST_SECRET)
    monkeypatch.delenv(LIMIT_ENV, raising=False)
    _clear_caches(kata_ns)
    settings_class = kata_ns.get("Settings")
    if isinstance(settings_class, type):
        timeline: list = []
        with _constructions(settings_class, timeline):
            yield
        kata_settings_history.extend((built, request.node.name) for built in _built(timeline))
    else:
        yield
    _clear_caches(kata_ns)


@pytest.mark.anyio
async def test_app_refuses_to_start_without_a_receipt_secret(kata_ns, shop_db, monkeypatch):
    monkeypatch.delenv(SECRET_ENV)
    try:
        async with open_client(learner(kata_ns, "app")) as client:
            response = await client.post("/orders/quote", json=_order(2))
    except Exception as error:  # the startup failed, as it should; now it must say why
        text = f"{type(error).__name__}: {' '.join(str(error).split())}"
        expect(
            "receipt_secret" in str(error).lower(),
            f"Without {SECRET_ENV} the app refused to start, as it should, but its error does not "
            f"name the missing setting: {text[:160]}",
            "Whoever deploys has to learn which setting is missing from that one message; an error "
            "that does not name it sends them searching through the code while the shop is down.",
            nudge="What does the error raised when a required setting is missing say?",
        )
        return
    if response.status_code >= 500:
        fail(
            f"Without {SECRET_ENV} the app started and reported itself ready, then answered the "
            f"first quote {brief(response)}: the missing secret was found by a request.",
            "A deploy that starts looks healthy and takes traffic: customers find the missing "
            "secret, one failed request at a time. A deploy that cannot start is stopped before "
            "anyone is served, and its error names what is missing.",
            nudge="What does the app do with its settings while it starts, before the first request?",
            concept="Fail fast at startup: read and validate the settings in the lifespan, before "
                    "its yield, so a bad configuration stops the start. FastAPI docs: 'Lifespan Events'.",
        )
    forged = f" The signature verifies with '{CODE_DEFAULT}', the default written in the code." if _signed_with(
        CODE_DEFAULT, 2, response) else ""
    fail(
        f"Without {SECRET_ENV} the app started and answered POST /orders/quote {response.status_code}: "
        f"it signed quotes with a secret nobody configured.{forged}",
        "A default secret is in the source code, so everyone who can read the code knows it, and "
        "whoever knows it can sign a quote for any price that the checkout service will trust. A "
        "deploy that forgot the secret must not start.",
        nudge="What value does the receipt secret take when the environment does not set it?",
        concept="A setting without a default is required: pydantic-settings refuses to build the "
                "settings without it and names the field. Pydantic docs: 'Settings Management'.",
    )


@pytest.mark.anyio
async def test_a_test_can_hand_the_endpoints_other_settings(kata_ns, shop_db):
    settings_class, app = _settings_class(kata_ns), learner(kata_ns, "app")
    providers = _settings_dependencies(app, settings_class)
    for provider in await _providers_seen_at_work(app, settings_class):
        if not any(provider is known for known in providers):
            providers.append(provider)
    if not providers:
        fail(
            "POST /orders/quote and GET /about receive their settings from no dependency: the "
            "check, like a test, found nothing to replace to hand them other settings (a limit of "
            "2 books, another secret).",
            "Tests need settings of their own: a low limit to test the promotion, a known secret to "
            "check a signature. Endpoints that reach for one shared object can only be tested with "
            "whatever the machine's environment held when that object was built.",
            nudge="How does an endpoint receive a database session here? Could it receive its "
                  "settings the same way?",
            concept="Dependency injection: declare the settings as a dependency of the endpoint, "
                    "and a test swaps it through app.dependency_overrides. FastAPI docs: "
                    "'Settings and Environment Variables' and 'Testing Dependencies with Overrides'.",
        )
    override = settings_class(receipt_secret=OVERRIDE_SECRET, max_books_per_order=2)
    for provider in providers:
        app.dependency_overrides[provider] = lambda: override  # the harness restores them
    async with open_client(app) as client:
        three = await client.post("/orders/quote", json=_order(3))
        two = await client.post("/orders/quote", json=_order(2))
        about = await client.get("/about")
    expect(
        three.status_code == 422,
        f"With its settings dependency overridden to allow 2 books, POST /orders/quote answered an "
        f"order of 3 books {brief(three)}: the limit it applies does not come from the settings it "
        "receives.",
        "A test that hands the endpoint other settings must see them applied; otherwise it tests "
        "the machine's configuration, not the code.",
        nudge="Where does the endpoint read its limit from?",
    )
    expect(
        _signed_with(OVERRIDE_SECRET, 2, two),
        f"With its settings dependency overridden, the quote for 2 books ({brief(two)}) was not "
        "signed with the secret of the settings the endpoint received.",
        "The signature must come from the settings the endpoint is given, so that a test with a "
        "known secret can verify it.",
        nudge="Which settings object does the signing read its secret from?",
    )
    shown = _value_of(json_of(about), "max_books_per_order")
    expect(
        about.status_code == 200 and shown in (None, 2),
        f"With the settings dependency overridden to allow 2 books, GET /about answered "
        f"{brief(about, 120)}: it does not show the settings the endpoints were handed."
        if about.status_code != 200 or shown is None else
        f"With the settings dependency overridden to allow 2 books, POST /orders/quote applied 2, "
        f"but GET /about reported max_books_per_order {shown!r}: /about reads its settings some "
        "other way than through that dependency.",
        "The support team reads /about to learn what the server runs with. If /about does not get "
        "its settings the way the endpoints do, it can show one thing while they apply another, "
        "and no test can hand it settings of its own.",
        nudge="Where does /about get its settings from? Is it the same place as /orders/quote?",
        concept="Every endpoint that needs the settings declares the same dependency, so that one "
                "override reaches them all. FastAPI docs: 'Testing Dependencies with Overrides'.",
    )


@pytest.mark.anyio
async def test_settings_are_read_once_when_the_app_starts_not_at_import(kata_ns, shop_db, monkeypatch,
                                                                        kata_settings_history):
    monkeypatch.setenv(LIMIT_ENV, "2")
    settings_class, app = _settings_class(kata_ns), learner(kata_ns, "app")
    timeline: list = []
    with _constructions(settings_class, timeline):
        async with open_client(app) as client:
            timeline.append("started")
            three = await client.post("/orders/quote", json=_order(3))
            two = await client.post("/orders/quote", json=_order(2))
            about = await client.get("/about")
    started = timeline.index("started")
    at_startup, later = len(_built(timeline[:started])), len(_built(timeline[started:]))
    held = {name: value for name, value in kata_ns.items() if isinstance(value, settings_class)}
    where = f" in {', '.join(f'`{name}`' for name in held)}" if held else ""
    kept = [test for built, test in kata_settings_history if any(built is value for value in held.values())]
    never, nudge, concept = "", ("When does the line that reads the environment run: when the cell runs, or "
                                 "when the app starts?"), ("Import time is for definitions; configuration is "
                                 "read at startup, in the lifespan or in a dependency it calls. FastAPI "
                                 "docs: 'Settings and Environment Variables'.")
    if not at_startup + later and kept:
        never = (f" The app built no settings while it started: it used the ones built during an "
                 f"earlier start of the app (by an earlier test of this check), kept{where}. The check "
                 "had cleared every cache the notebook defines, as a test does before it starts the "
                 "app, and nothing made the app read its settings again.")
        nudge = ("Once your code has read the settings, what could make it read them again for the next "
                 "start of the app, as a test or a new deploy needs?")
        concept = ("Settings read once per process need a way to be forgotten: functools.lru_cache "
                   "gives cache_clear, which tests call between starts. Settings the lifespan builds "
                   "and hands over through its state are read afresh at every start. FastAPI docs: "
                   "'Settings and Environment Variables'.")
    elif not at_startup + later:
        never = (f" The app built no settings while it started and served: it used settings it held "
                 f"already{where}, read before this start (when a cell ran, or during an earlier start "
                 "of the app in this process), and clearing every cache the notebook defines did not "
                 "make it read them again.")
    expect(
        (three.status_code, two.status_code) == (422, 200),
        f"{LIMIT_ENV}=2 was set before the app started, yet an order of 3 books was answered "
        f"{brief(three, 60)} (and 2 books {two.status_code}).{never}",
        "Tests, staging and production set their configuration before they start the app: an app "
        "that read its settings earlier ignores them all. The promotion's limit cannot be tested, "
        "and a deploy runs with whatever the environment held when the settings were first read.",
        nudge=nudge,
        concept=concept,
    )
    when = (f"built {at_startup} time(s) while the app started, then {later} more time(s)" if at_startup
            else f"not built while the app started, but {later} time(s)")
    expect(
        later == 0,
        f"The settings were {when} while it served 3 requests: requests read the environment "
        "themselves.",
        "Each build re-reads and re-validates the environment: requests may run with settings other "
        "than the ones the app was started and checked with, and a bad value surfaces as a 500 in "
        "the middle of traffic instead of a failed start.",
        nudge="How many times does the code that builds the settings run, and who calls it?",
        concept="Build the settings once per process, at startup, and hand that one object to every "
                "request: a cached function (functools.lru_cache) or the lifespan's state. FastAPI "
                "docs: 'Settings and Environment Variables', 'Creating the Settings only once'.",
    )
    expect(
        about.status_code == 200,
        f"GET /about answered {brief(about)}.",
        "The support team still needs to see what the server runs with.",
    )


@pytest.mark.anyio
async def test_receipt_secret_never_appears_in_a_response_or_a_repr(kata_ns, shop_db):
    settings_class, app = _settings_class(kata_ns), learner(kata_ns, "app")
    timeline: list = []
    with _constructions(settings_class, timeline):
        async with open_client(app) as client:
            about = await client.get("/about")
            responses = [
                about,
                await client.post("/orders/quote", json=_order(2)),
                await client.post("/orders/quote", json=_order(99)),
            ]
    expect(
        about.status_code == 200 and "max_books_per_order" in about.text,
        f"GET /about answered {brief(about)}, without the settings the server runs with.",
        "The support team's first question is what a server runs with: keep the endpoint and its "
        "settings, and hide only the secret.",
    )
    settings = _settings_in_force(kata_ns, settings_class, timeline)
    runs, whole = _revealing_runs(TEST_SECRET), {TEST_SECRET, _secret_value(settings)} - {""}
    leaked = sorted({f"{r.request.method} {r.request.url.path}" for r in responses if _reveals(r.text, runs, whole)})
    in_clear = any(secret in r.text for r in responses for secret in whole)
    expect(
        not leaked,
        f"{' and '.join(leaked)} returned the receipt secret in clear." if in_clear else
        f"{' and '.join(leaked)} returned part of the receipt secret: {REVEALING_RUN} or more of its "
        "characters in a row (as written, reversed, or base64-encoded).",
        "Anyone who can call the endpoint, or read a proxy's or a browser's log of it, now holds "
        "the secret that makes the checkout service trust a quote." if in_clear else
        "Part of a secret is part of the secret: every character shown leaves fewer to guess, and "
        "servers that show different parts of it give away more. Support needs to know that a "
        "secret is set, never any of it.",
        nudge="What does the settings' JSON show for the secret, and could its type hide it?" if in_clear
        else "What could /about show that tells support the secret is set, without any of its characters?",
        concept="Pydantic's secret types print as '**********' in reprs and in JSON; the value comes "
                "out only when asked for explicitly. Pydantic docs: 'Secret types'.",
    )
    shown = [how for how, text in _renderings(settings) if _reveals(text, runs, whole)]
    expect(
        not shown,
        f"The settings the app runs with show the receipt secret in their {', '.join(shown)}.",
        "Any log line, error report or traceback that prints the settings carries the secret to "
        "everyone who reads the logs.",
        nudge="What does printing the settings show for the secret, and could its type hide it?",
        concept="Pydantic's secret types print as '**********'. Pydantic docs: 'Secret types'.",
    )


@pytest.mark.anyio
async def test_order_limit_is_still_enforced(kata_ns, shop_db):
    settings_class, app = _settings_class(kata_ns), learner(kata_ns, "app")
    timeline: list = []
    with _constructions(settings_class, timeline):
        async with open_client(app) as client:
            await client.get("/about")  # by now the app has its settings, however it reads them
            limit = _setting(_settings_in_force(kata_ns, settings_class, timeline), "max_books_per_order")
            if not isinstance(limit, int):
                fail(f"The settings' max_books_per_order is {limit!r}, not a number of books.",
                     "The shop refuses orders above that number.")
            over = await client.post("/orders/quote", json=_order(limit + 1))
            at = await client.post("/orders/quote", json=_order(limit))
    expect(
        over.status_code == 422,
        f"An order of {limit + 1} books was answered {brief(over)}, but the limit is {limit}.",
        "The shop refuses orders above max_books_per_order: the warehouse packs at most that many.",
    )
    body = json_of(at)
    expect(
        at.status_code == 200 and isinstance(body, dict) and body.get("total_cents") == BOOK_PRICE * limit,
        f"An order of exactly {limit} copies of Dune was answered {brief(at)}, not a quote of "
        f"{BOOK_PRICE * limit} cents.",
        "Orders within the limit must still be quoted.",
    )


@pytest.mark.anyio
async def test_quote_is_signed_with_the_configured_secret(kata_ns, shop_db):
    settings_class, app = _settings_class(kata_ns), learner(kata_ns, "app")
    timeline: list = []
    with _constructions(settings_class, timeline):
        async with open_client(app) as client:
            response = await client.post("/orders/quote", json=_order(2))
    expect(
        response.status_code == 200,
        f"POST /orders/quote for 2 copies of Dune answered {brief(response)}.",
        "Quotes within the limit must still be priced and signed.",
    )
    secret = _secret_value(_settings_in_force(kata_ns, settings_class, timeline))
    stars = " It verifies with '**********', the text a hidden secret prints as." if _signed_with(
        "**********", 2, response) else ""
    expect(
        _signed_with(secret, 2, response),
        f"The quote's signature does not verify with the receipt secret the app runs with.{stars}",
        "The checkout service verifies every quote with the configured secret: it would reject "
        "them all. A signature made from the printed form of a hidden secret is the same for every "
        "secret, so anyone can make it.",
        nudge="What does the HMAC get: the secret's value, or what the secret prints as?",
        concept="A SecretStr gives its value only through get_secret_value(); str() is the stars.",
    )
