"""Check: browser visits and attacks on the API's CORS policy. Pages on other origins are never
allowed to read it; the shop's front end passes its preflight and reads a customer's account with
credentials; a refused key is still refused, with the CORS headers the front end needs to read
why; and each deploy allows exactly the origins of its own settings."""

import pytest

from bookshop.auth import issue_token
from bookshop.client import open_client
from checks.feedback import expect, fail
from checks.harness import brief, json_of, learner

__all__ = [
    "test_a_page_on_another_origin_is_never_allowed_to_read_the_api",
    "test_the_shops_front_end_passes_its_preflight",
    "test_the_shops_front_end_reads_a_customers_account_with_credentials",
    "test_a_refused_key_is_still_refused_with_the_cors_headers_the_front_end_needs",
    "test_each_deploy_allows_exactly_the_origins_of_its_own_settings",
]

SHOP = "https://shop.example"
STAGING = "https://staging.shop.example"
HOSTILE = ["https://evil.example", "https://evilshop.example", "https://shop.example.evil.example",
           "http://shop.example", "null"]
WEB_KEY = "web-4f7c2a"
ALICE_EMAIL = "alice@example.com"

ORDER_CONCEPT = ("Each add_middleware wraps everything added before it: the last one added sees the "
                 "request first and the answer last. CORS must be outermost, so that it answers the "
                 "preflight itself and adds its headers to every answer, refusals included. FastAPI "
                 "docs: 'CORS', 'Advanced Middleware'.")
ORIGINS_CONCEPT = ("With credentials, CORS must name exact, trusted origins, from the settings of each "
                   "deploy. Starlette turns '*' with allow_credentials=True into 'echo whatever origin "
                   "asked'. FastAPI docs: 'CORS'; MDN: 'Cross-Origin Resource Sharing'.")


def _build(ns, origins: list[str]):
    create_app, settings_class = learner(ns, "create_app"), learner(ns, "Settings")
    try:
        settings = settings_class(cors_origins=origins)
    except Exception as error:  # noqa: BLE001 - the learner's Settings, whatever it raises
        fail(
            f"Settings(cors_origins={origins}) raised {type(error).__name__}: {error}.",
            "Each deploy, and each test, builds its settings with the origins it trusts; the "
            "settings class must accept the list of origins.",
        )
    try:
        return create_app(settings)
    except Exception as error:  # noqa: BLE001
        fail(
            f"create_app(Settings(cors_origins={origins})) raised {type(error).__name__}: {error}.",
            "Each deploy builds its app from its own settings with create_app: it must build.",
        )


def _preflight_headers(origin: str) -> dict[str, str]:
    return {"Origin": origin, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "x-api-key"}


def _call_headers(origin: str | None, key: str | None = WEB_KEY) -> dict[str, str]:
    headers = {"Cookie": f"session={issue_token(1)}"}
    if origin is not None:
        headers["Origin"] = origin
    if key is not None:
        headers["X-API-Key"] = key
    return headers


def _cors(response) -> str:
    said = [f"{name}: {response.headers[name]}" for name in
            ("access-control-allow-origin", "access-control-allow-credentials") if name in response.headers]
    return f"{response.status_code}" + (f" with {', '.join(said)}" if said else " with no CORS header")


def _names(value: str) -> set[str]:
    return {part.strip().lower() for part in value.split(",") if part.strip()}


@pytest.mark.anyio
async def test_a_page_on_another_origin_is_never_allowed_to_read_the_api(kata_ns, shop_db):
    app = _build(kata_ns, [SHOP])
    allowed: dict[str, list[str]] = {}
    async with open_client(app) as client:
        for origin in HOSTILE:
            preflight = await client.options("/account", headers=_preflight_headers(origin))
            call = await client.get("/account", headers=_call_headers(origin))
            for what, response in (("the preflight", preflight), ("GET /account with the key and Alice's cookie", call)):
                if "access-control-allow-origin" in response.headers:
                    allowed.setdefault(origin, []).append(f"{what} answered {_cors(response)}")
    if allowed:
        origin, said = next(iter(allowed.items()))
        fail(
            f"With only {SHOP} in the settings, pages on {len(allowed)} other origin(s) were given "
            f"permission: {', '.join(allowed)}. For example, from {origin}, {' and '.join(said)}.",
            "An Access-Control-Allow-Origin that names a page's origin (or says *) tells the customer's "
            "browser to hand that page the answer; with credentials allowed, an answer read with the "
            "customer's cookies. Any site a logged-in customer visits reads their account. The client "
            "key is no obstacle: it is in the front end's JavaScript.",
            nudge="Which origins does the CORS middleware say yes to, and where is the list of origins "
                  "the shop trusts?",
            concept=ORIGINS_CONCEPT,
        )


@pytest.mark.anyio
async def test_the_shops_front_end_passes_its_preflight(kata_ns, shop_db):
    app = _build(kata_ns, [SHOP])
    async with open_client(app) as client:
        preflight = await client.options("/account", headers=_preflight_headers(SHOP))
    headers = preflight.headers
    expect(
        200 <= preflight.status_code < 300,
        f"The browser's preflight from {SHOP} (OPTIONS /account, asking to send GET with X-API-Key; "
        f"a preflight never carries the key or a cookie) answered {brief(preflight)}.",
        "A browser sends the real call only after a successful preflight: every call of the shop's "
        "front end fails with a CORS error, although the same call works from curl.",
        nudge="Which middleware meets the preflight first, and what does it answer a request with "
              "no key?",
        concept=ORDER_CONCEPT,
    )
    problems = []
    if headers.get("access-control-allow-origin") != SHOP:
        problems.append(f"access-control-allow-origin is {headers.get('access-control-allow-origin', 'missing')}, not {SHOP}")
    if headers.get("access-control-allow-credentials") != "true":
        problems.append(f"access-control-allow-credentials is {headers.get('access-control-allow-credentials', 'missing')}, not true")
    methods = _names(headers.get("access-control-allow-methods", ""))
    if "get" not in methods:
        problems.append(f"access-control-allow-methods is {headers.get('access-control-allow-methods', 'missing')}, without GET")
    allowed_headers = _names(headers.get("access-control-allow-headers", ""))
    if "x-api-key" not in allowed_headers:
        problems.append(f"access-control-allow-headers is {headers.get('access-control-allow-headers', 'missing')}, without X-API-Key")
    expect(
        not problems,
        f"The preflight from {SHOP} answered {preflight.status_code}, but {'; '.join(problems)}.",
        "For a credentialed call, the browser goes on only if the preflight names the page's exact "
        "origin, allows credentials, and allows the method and every header the page wants to send.",
        nudge="What does the browser need to read in the preflight's answer before it sends a call "
              "with a cookie and an X-API-Key?",
        concept=ORIGINS_CONCEPT,
    )


@pytest.mark.anyio
async def test_the_shops_front_end_reads_a_customers_account_with_credentials(kata_ns, shop_db):
    app = _build(kata_ns, [SHOP])
    async with open_client(app) as client:
        call = await client.get("/account", headers=_call_headers(SHOP))
    body = json_of(call)
    expect(
        call.status_code == 200 and isinstance(body, dict) and body.get("email") == ALICE_EMAIL,
        f"GET /account from {SHOP}, with the web key and Alice's session cookie, answered "
        f"{brief(call)}, not Alice's account.",
        "The front end's calls must still work once the browser lets them through.",
    )
    expect(
        call.headers.get("access-control-allow-origin") == SHOP
        and call.headers.get("access-control-allow-credentials") == "true",
        f"GET /account from {SHOP}, with the key and Alice's cookie, answered {_cors(call)}.",
        "A browser hands a credentialed answer to the page only if it names the page's exact origin "
        "(never *) and says credentials are allowed; otherwise the front end gets a CORS error "
        "instead of the customer's account.",
        nudge="What must an answer say for a browser to give it to a page that sent cookies?",
        concept=ORIGINS_CONCEPT,
    )


@pytest.mark.anyio
async def test_a_refused_key_is_still_refused_with_the_cors_headers_the_front_end_needs(kata_ns, shop_db):
    app = _build(kata_ns, [SHOP])
    async with open_client(app) as client:
        unknown = await client.get("/account", headers=_call_headers(SHOP, key="old-key"))
        missing = await client.get("/account", headers=_call_headers(SHOP, key=None))
        curl = await client.get("/account", headers=_call_headers(None, key=None))
        hostile = await client.get("/account", headers=_call_headers("https://evil.example", key=None))
    for who, response in (("from no browser at all (curl), with no key", curl),
                          (f"from {SHOP} with an unknown key", unknown),
                          (f"from {SHOP} with no key", missing),
                          ("from https://evil.example with no key", hostile)):
        expect(
            response.status_code in (401, 403),
            f"GET /account {who} answered {brief(response)}, not 401 or 403.",
            "Every client must still show a known key: the key middleware must keep refusing every "
            "request without one, whatever its origin and whatever its method.",
            nudge="Which requests get past the key check now, and should they?",
        )
    for who, response in (("an unknown key", unknown), ("no key", missing)):
        expect(
            response.headers.get("access-control-allow-origin") == SHOP
            and response.headers.get("access-control-allow-credentials") == "true",
            f"GET /account from {SHOP} with {who} was refused with {_cors(response)}.",
            "Without CORS headers the browser hides the refusal from the front end: it sees a "
            "network error, cannot tell a bad key from an outage, and cannot tell the customer "
            "to update the app. The answer must pass through CORS like any other.",
            nudge="Does the key middleware's refusal pass through the CORS middleware on its way "
                  "out?",
            concept=ORDER_CONCEPT,
        )


@pytest.mark.anyio
async def test_each_deploy_allows_exactly_the_origins_of_its_own_settings(kata_ns, shop_db):
    staging = _build(kata_ns, [STAGING])
    async with open_client(staging) as client:
        preflight = await client.options("/account", headers=_preflight_headers(STAGING))
        call = await client.get("/account", headers=_call_headers(STAGING))
        production = await client.get("/account", headers=_call_headers(SHOP))
    expect(
        200 <= preflight.status_code < 300 and preflight.headers.get("access-control-allow-origin") == STAGING
        and call.headers.get("access-control-allow-origin") == STAGING,
        f"The check built the staging app with create_app(Settings(cors_origins=['{STAGING}'])). "
        f"From {STAGING}, the preflight answered {_cors(preflight)}, and GET /account {_cors(call)}.",
        "Each deploy has its own front end: staging's must work with staging's settings, without a "
        "new release of the code.",
        nudge="Where does the CORS middleware get its list of origins from: the settings create_app "
              "is given, or somewhere else?",
        concept=ORIGINS_CONCEPT,
    )
    expect(
        "access-control-allow-origin" not in production.headers,
        f"In the staging app, whose settings list only {STAGING}, GET /account from {SHOP} answered "
        f"{_cors(production)}.",
        "A deploy must trust exactly the origins its settings list: an origin that stays allowed "
        "whatever the settings say cannot be withdrawn when that front end is retired or taken over.",
        nudge="Is any origin allowed by the code itself, whatever the settings say?",
        concept=ORIGINS_CONCEPT,
    )
