"""Check: settings come from a cached `get_settings()` dependency read at startup, never at import;
the receipt secret is required, used for signing, and never shown."""

import hashlib
import hmac

import pytest
from pydantic import SecretStr

from bookshop.client import open_client
from checks.harness import learner

__all__ = [
    "kata_shop_environment",
    "test_app_refuses_to_start_without_a_receipt_secret",
    "test_endpoints_take_settings_from_get_settings_so_tests_can_override_them",
    "test_settings_are_read_once_when_the_app_starts_not_at_import",
    "test_receipt_secret_never_appears_in_a_response_or_a_repr",
    "test_order_limit_is_still_enforced",
    "test_quote_is_signed_with_the_configured_secret",
]

SECRET_ENV = "SHOP_RECEIPT_SECRET"
LIMIT_ENV = "SHOP_MAX_BOOKS_PER_ORDER"
TEST_SECRET = "kata-test-secret-5bd1c9e2"
OVERRIDE_SECRET = "kata-override-secret-93f0a7"
USER_ID, BOOK_ID, BOOK_PRICE = 1, 3, 1099  # Dune, in the seeded shop


def _order(books: int) -> dict:
    return {"user_id": USER_ID, "lines": [{"book_id": BOOK_ID, "quantity": books}]}


def _signed_with(secret: str, books: int, response) -> bool:
    """Whether ``response`` is a quote for ``books`` copies of Dune, signed with ``secret``."""
    if response.status_code != 200:
        return False
    body = response.json()
    total = BOOK_PRICE * books
    message = f"user={USER_ID};books={books};total={total}".encode()
    expected = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    quoted = (body.get("books"), body.get("total_cents"))
    return quoted == (books, total) and hmac.compare_digest(expected, str(body.get("signature", "")))


def _clear_settings_cache(ns: dict) -> None:
    cache_clear = getattr(ns.get("get_settings"), "cache_clear", None)
    if callable(cache_clear):
        cache_clear()


def _get_settings(ns: dict):
    if not callable(ns.get("get_settings")):
        pytest.fail(
            "The notebook has no `get_settings()`: the endpoints read `settings`, one object built "
            "at import, so a test can neither replace it nor change it. Define `get_settings()` "
            "returning `Settings()`, cache it with `@lru_cache`, and let the endpoints receive it "
            "as `Annotated[Settings, Depends(get_settings)]`.",
            pytrace=False,
        )
    return ns["get_settings"]


def _settings_in_force(ns: dict):
    """The settings the learner's app uses: from `get_settings()`, or the starter's global."""
    if callable(ns.get("get_settings")):
        return ns["get_settings"]()
    if "settings" not in ns:
        pytest.fail(
            "The notebook defines neither `get_settings()` (the fix) nor `settings` (the starter). "
            "Did the kata cells run without an error? A `Settings()` that raises at import stops "
            "the cell before anything after it is defined.",
            pytrace=False,
        )
    return ns["settings"]


def _setting(settings, name: str):
    if not hasattr(settings, name):
        pytest.fail(f"The settings have no `{name}` field any more: keep it, the shop needs it.", pytrace=False)
    return getattr(settings, name)


def _secret_value(settings) -> str:
    value = _setting(settings, "receipt_secret")
    return value.get_secret_value() if isinstance(value, SecretStr) else str(value)


@pytest.fixture(autouse=True)
def kata_shop_environment(kata_ns, monkeypatch):
    """Each test starts like a fresh server: a known secret, the default limit, nothing cached."""
    monkeypatch.setenv(SECRET_ENV, TEST_SECRET)
    monkeypatch.delenv(LIMIT_ENV, raising=False)
    _clear_settings_cache(kata_ns)
    yield
    _clear_settings_cache(kata_ns)


@pytest.mark.anyio
async def test_app_refuses_to_start_without_a_receipt_secret(kata_ns, shop_db, monkeypatch):
    monkeypatch.delenv(SECRET_ENV)
    try:
        async with open_client(learner(kata_ns, "app")) as client:
            response = await client.post("/orders/quote", json=_order(2))
    except Exception as error:  # the startup failed, as it should; now it must say why
        assert "receipt_secret" in str(error).lower(), (
            f"Without {SECRET_ENV} the startup failed, but its error does not name the missing "
            f"setting: {type(error).__name__}: {str(error)[:120]}. Let pydantic's ValidationError "
            "through: it names `receipt_secret`."
        )
        return
    if response.status_code >= 500:
        pytest.fail(
            f"Without {SECRET_ENV} the app started, then answered POST /orders/quote with "
            f"{response.status_code}: the missing secret was found by a request, after the server "
            "had reported itself ready. Call `get_settings()` in the lifespan, before its `yield`, "
            "so a bad configuration stops the startup instead.",
            pytrace=False,
        )
    pytest.fail(
        f"Without {SECRET_ENV} the app started and answered POST /orders/quote with "
        f"{response.status_code}: it signs quotes with a secret nobody configured, and a default "
        "secret in the code is one anyone can read. Make `receipt_secret` a required `SecretStr` "
        "(no default) and call `get_settings()` in the lifespan, so a missing secret stops the "
        "startup.",
        pytrace=False,
    )


@pytest.mark.anyio
async def test_endpoints_take_settings_from_get_settings_so_tests_can_override_them(kata_ns, shop_db):
    get_settings = _get_settings(kata_ns)
    settings_class, app = learner(kata_ns, "Settings"), learner(kata_ns, "app")
    override = settings_class(receipt_secret=OVERRIDE_SECRET, max_books_per_order=2)
    app.dependency_overrides[get_settings] = lambda: override
    async with open_client(app) as client:
        three = await client.post("/orders/quote", json=_order(3))
        two = await client.post("/orders/quote", json=_order(2))
    assert three.status_code == 422, (
        f"With `app.dependency_overrides[get_settings]` allowing 2 books, an order of 3 got "
        f"{three.status_code}: POST /orders/quote does not take its limit from `get_settings`. "
        "Give it a parameter `settings: Annotated[Settings, Depends(get_settings)]` and use it."
    )
    assert _signed_with(OVERRIDE_SECRET, 2, two), (
        f"With `get_settings` overridden, the quote for 2 books ({two.status_code}) was not signed "
        "with the overriding settings' secret: sign with the `settings` the endpoint receives."
    )


@pytest.mark.anyio
async def test_settings_are_read_once_when_the_app_starts_not_at_import(kata_ns, shop_db, monkeypatch):
    monkeypatch.setenv(LIMIT_ENV, "2")
    async with open_client(learner(kata_ns, "app")) as client:
        three = await client.post("/orders/quote", json=_order(3))
        two = await client.post("/orders/quote", json=_order(2))
    assert (three.status_code, two.status_code) == (422, 200), (
        f"{LIMIT_ENV}=2 was set before the app started, yet an order of 3 books got "
        f"{three.status_code} (and 2 books got {two.status_code}): the app runs with settings read "
        "earlier, when its module was imported. Build them in `get_settings()`, which the "
        "lifespan and the endpoints call, and never at import."
    )
    get_settings = _get_settings(kata_ns)
    assert get_settings() is get_settings(), (
        "`get_settings()` built a new Settings on every call, so every request re-reads and "
        "re-validates the environment and may run with settings the app was not started with. "
        "Decorate it with `@lru_cache`; tests reset it with `get_settings.cache_clear()`."
    )


@pytest.mark.anyio
async def test_receipt_secret_never_appears_in_a_response_or_a_repr(kata_ns, shop_db):
    async with open_client(learner(kata_ns, "app")) as client:
        about = await client.get("/about")
        responses = [
            about,
            await client.post("/orders/quote", json=_order(2)),
            await client.post("/orders/quote", json=_order(99)),
        ]
    assert about.status_code == 200 and "max_books_per_order" in about.text, (
        f"GET /about answered {about.status_code} {about.text[:80]}: the support team still "
        "needs to see what the server runs with. Keep the endpoint and its settings; hide only "
        "the secret."
    )
    settings = _settings_in_force(kata_ns)
    secret = _secret_value(settings)
    leaked = [f"{r.request.method} {r.request.url.path}" for r in responses if secret in r.text]
    assert not leaked, (
        f"{' and '.join(sorted(set(leaked)))} returned the receipt secret in clear. Type "
        "`receipt_secret` as `SecretStr`: its JSON and its repr show '**********', and only "
        "`.get_secret_value()` returns the value."
    )
    shown = [
        how
        for how, text in (("repr()", repr(settings)), ("str()", str(settings)), ("model_dump_json()", settings.model_dump_json()))
        if secret in text
    ]
    assert not shown, (
        f"The settings' {', '.join(shown)} show the receipt secret: any log line or traceback "
        "that prints the settings leaks it. Type `receipt_secret` as `SecretStr`."
    )


@pytest.mark.anyio
async def test_order_limit_is_still_enforced(kata_ns, shop_db):
    limit = _setting(_settings_in_force(kata_ns), "max_books_per_order")
    async with open_client(learner(kata_ns, "app")) as client:
        over = await client.post("/orders/quote", json=_order(limit + 1))
        at = await client.post("/orders/quote", json=_order(limit))
    assert over.status_code == 422, (
        f"An order of {limit + 1} books got {over.status_code}, but the limit is {limit}: keep "
        "refusing orders above `max_books_per_order` with 422."
    )
    assert at.status_code == 200 and at.json().get("total_cents") == BOOK_PRICE * limit, (
        f"An order of exactly {limit} books should be quoted {BOOK_PRICE * limit} cents, got "
        f"{at.status_code} {at.text[:80]}"
    )


@pytest.mark.anyio
async def test_quote_is_signed_with_the_configured_secret(kata_ns, shop_db):
    secret = _secret_value(_settings_in_force(kata_ns))
    async with open_client(learner(kata_ns, "app")) as client:
        response = await client.post("/orders/quote", json=_order(2))
    assert response.status_code == 200, (
        f"POST /orders/quote for 2 books answered {response.status_code} {response.text[:80]}"
    )
    assert _signed_with(secret, 2, response), (
        "The quote's signature does not verify with the configured receipt secret, so the "
        "checkout service would reject it. Sign with `settings.receipt_secret.get_secret_value()`: "
        "`str()` of a SecretStr is '**********', the same for every secret."
    )
