"""Check: every token the shop did not issue, as it issues them, is refused by GET /me with a 401 and
``WWW-Authenticate: Bearer``: no expiry, expired, another audience or none, another issuer or none,
unsigned, signed with another key, a changed payload. Tokens issued on a server whose local time
zone is not UTC last the advertised 15 minutes, and the tokens are signed with the configured key.

To forge a token the app would accept but for one claim, the check signs it with the key that
signs the app's own tokens: the configured one (``BOOKSHOP_TOKEN_KEY``) if the app uses it, else a
key published in tutorials, else a string the notebook defines. While a test runs, the process's
local time zone is UTC, except where a test sets another one, and Alice's password is stored with
Argon2's lowest parameters, so that logging her in is quick. The attacks go to one app, started
once for the check (``running_shop``), as they would to a server; the tests of another zone, and
of a deploy without the key, start their own."""

import base64
import contextlib
import importlib.util
import json
import os
import secrets
import sqlite3
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import closing

import jwt
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from pydantic import SecretStr

from bookshop.auth import TOKEN_KEY_ENV
from bookshop.client import local_time_zone, open_client
from bookshop.scratch import temporary_folder
from bookshop.serving import shop_module
from checks.feedback import expect, fail
from checks.harness import brief, client_of_the_shop, json_of, learner, strings_in_code

__all__ = [
    "kata_server_clock_in_utc",
    "kata_quick_logins",
    "kata_alices_token",
    "test_a_token_without_an_expiry_is_refused",
    "test_an_expired_token_is_refused",
    "test_a_token_for_another_audience_or_none_is_refused",
    "test_a_token_from_another_issuer_or_none_is_refused",
    "test_an_unsigned_token_is_refused",
    "test_a_token_signed_with_another_key_is_refused",
    "test_a_token_whose_claims_were_changed_is_refused",
    "test_a_token_issued_on_a_server_outside_utc_lasts_the_advertised_15_minutes",
    "test_tokens_are_signed_with_the_configured_key_not_one_from_the_code",
    "test_a_customer_logs_in_and_reads_their_own_profile",
]

ALICE = {"email": "alice@example.com", "password": "alice-in-the-shop"}
# Alice's password as the shop stores it, with Argon2's lowest parameters: each test logs in, and
# the check has no reason to wait for the real ones.
ALICE_QUICK_HASH = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(ALICE["password"])
LIFETIME = 15 * 60  # seconds, as the story and expires_in say
# Keys that signed real tokens because someone copied them: the first is printed in FastAPI's
# security tutorial.
PUBLISHED_KEYS = {
    "09d25e094faa6ca2556c818166b7a9563b93f7099f6f0f4caa6cf63b88e8d3e7": "the example key printed in FastAPI's security tutorial",
    "secret": "the word 'secret'",
    "changeme": "the word 'changeme'",
    "change-me": "the word 'change-me'",
    "your-secret-key": "a placeholder copied from a tutorial",
    "supersecretkey": "a placeholder copied from a tutorial",
}

CLAIMS_CONCEPT = ("PyJWT's decode verifies the signature with the algorithms you allow, and checks exp, iat "
                  "and nbf when the token has them; it checks the audience and the issuer only when you "
                  "pass the ones you expect, and refuses a token for a missing claim only when the claim "
                  "is required. PyJWT docs: 'Usage examples' (expiration, audience, issuer, requiring claims).")
SIGNATURE_CONCEPT = ("A JWT is only as good as its signature check: verify it with the key and the one "
                     "algorithm the shop uses, and treat every InvalidTokenError as a 401. RFC 8725, JWT "
                     "Best Current Practices.")


@pytest.fixture(autouse=True)
def kata_server_clock_in_utc() -> Iterator[None]:
    # The same verdict on every machine: a laptop in Los Angeles judges the code as a server on UTC.
    with local_time_zone("UTC0"):
        yield


def _write(url: str, *statements: str) -> None:
    """Run ``statements`` on the test's database file, without waiting for the disk: the file is a
    scratch copy that lives as long as the test (``run_sql`` is for reading)."""
    with closing(sqlite3.connect(url.split(":///", 1)[1])) as conn:
        conn.execute("PRAGMA synchronous = OFF")
        with conn:
            for statement in statements:
                conn.execute(statement)


def _quick_login(url: str) -> None:
    _write(url, f"UPDATE users SET hashed_password = '{ALICE_QUICK_HASH}' WHERE email = '{ALICE['email']}'")


@pytest.fixture(scope="module", autouse=True)
def kata_quick_logins(running_shop) -> None:
    _quick_login(running_shop.database)


@pytest.fixture(scope="module")
async def kata_alices_token(request, running_shop, kata_quick_logins) -> str | None:
    """Alice's token, issued once by POST /login for the attacks: each needs a token the app
    issued, not a login of its own. None when logging in went wrong: each test then logs in
    itself, and says what went wrong."""
    with contextlib.suppress(Exception):
        async with client_of_the_shop(vars(request.module), running_shop) as client:
            return await _own_token(client)
    return None


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _refused(response) -> bool:
    return response.status_code == 401 and "bearer" in response.headers.get("www-authenticate", "").lower()


def _unverified(token: str) -> dict:
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        return {}
    return claims if isinstance(claims, dict) else {}


async def _own_token(client, issued: str | None = None) -> str:
    """Alice's token, as POST /login issues it (or ``issued``, when it already did), or a finding."""
    if issued is not None:
        return issued
    response = await client.post("/login", json=ALICE)
    body = json_of(response)
    token = body.get("access_token") if isinstance(body, dict) else None
    expect(
        response.status_code == 200 and isinstance(token, str),
        f"POST /login with Alice's email and password answered {brief(response)}, not 200 with an access_token.",
        "Customers must still be able to log in; the check needs a token the app issued to attack the others.",
    )
    expect(
        bool(_unverified(token)),
        f"POST /login answered an access_token the check cannot read as a JWT: {token[:40]!r}.",
        "The front end and the other services read the shop's tokens as JWTs.",
    )
    return token


def _verifies(token: str, key: str) -> bool:
    try:
        algorithm = jwt.get_unverified_header(token).get("alg")
        if algorithm not in ("HS256", "HS384", "HS512"):
            return False
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # short candidate keys make PyJWT warn
            jwt.decode(token, key, algorithms=[algorithm], options={
                "verify_exp": False, "verify_nbf": False, "verify_iat": False, "verify_aud": False,
                "verify_iss": False, "verify_sub": False, "verify_jti": False})
        return True
    except (jwt.InvalidTokenError, TypeError, ValueError):
        return False


def _signing_key(token: str, ns: dict) -> tuple[str | None, str]:
    """The key that signs ``token``, and where the check found it: "configured", "published"
    (a key from a tutorial), "notebook" (a string the notebook defines), or "unknown"."""
    configured = os.environ.get(TOKEN_KEY_ENV)
    if configured and _verifies(token, configured):
        return configured, "configured"
    for key in PUBLISHED_KEYS:
        if _verifies(token, key):
            return key, "published"
    for value in list(ns.values()):
        key = value.get_secret_value() if isinstance(value, SecretStr) else value
        if isinstance(key, str) and key and len(key) < 1000 and _verifies(token, key):
            return key, "notebook"
    return None, "unknown"


def _sign(claims: dict, key: str, token: str) -> str:
    algorithm = jwt.get_unverified_header(token).get("alg", "HS256")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return jwt.encode(claims, key, algorithm=algorithm)


def _without(claims: dict, name: str) -> dict:
    return {k: v for k, v in claims.items() if k != name}


async def _app_key(client, ns: dict, attack: str, issued: str | None) -> tuple[str, dict, str]:
    """Alice's token, its claims, and the key that signs it; a finding when the check cannot sign
    a token the app accepts, as it needs to for ``attack``."""
    token = await _own_token(client, issued)
    own = await client.get("/me", headers=_bearer(token))
    expect(
        own.status_code == 200,
        f"GET /me with the token POST /login had just issued to Alice answered {brief(own)}, not 200.",
        "A customer who just logged in must be able to use the token: the front end logs them out otherwise.",
        nudge="Read the token's claims: when does it expire, measured in UTC?",
    )
    key, _where = _signing_key(token, ns)
    if key is None:
        fail(
            f"To attack with {attack}, the check signs it with the key the app signs its own tokens with. The "
            f"app's tokens verify neither with the key configured in {TOKEN_KEY_ENV} nor with any string the "
            "notebook defines, so the check could not sign such a token.",
            "Every process of the deployment must sign and check tokens with the one key the deployment "
            "configures; a key nobody else has logs everyone out at each restart, and two server processes "
            "refuse each other's tokens.",
            nudge=f"Where does the app get the key it signs with? The deployment sets {TOKEN_KEY_ENV}.",
        )
    return token, _unverified(token), key


async def _attack(client, tokens: dict[str, str]) -> list[tuple[str, object]]:
    """Send each labelled token to GET /me: the answers that are not a 401 with WWW-Authenticate: Bearer."""
    accepted = []
    for label, token in tokens.items():
        response = await client.get("/me", headers=_bearer(token))
        if not _refused(response):
            accepted.append((label, response))
    return accepted


def _answered(accepted: list) -> str:
    return "; ".join(f"{label}: GET /me answered {brief(response, 90)}" for label, response in accepted)


NOT_A_401 = ("Whatever is wrong with a token, the client gets a 401 with WWW-Authenticate: Bearer and "
             "logs in again. A 500 says the server broke: monitoring fills with attacks reported as "
             "outages, and the attacker learns which check their token reached.")


def _expect_refused(accepted: list, why: str, *, nudge: str, concept: str) -> None:
    """Every token refused with a 401; a finding on the first answer that is not, about the server
    error when one answered 5xx."""
    if any(response.status_code >= 500 for _, response in accepted):
        fail(f"{_answered(accepted)}.", NOT_A_401,
             nudge="Which exceptions can reading a token raise, and which of them does current_user turn "
                   "into a 401?",
             concept="Every way PyJWT's decode can refuse a token raises a subclass of InvalidTokenError "
                     "(ExpiredSignatureError is one of many). PyJWT docs: 'API Reference', exceptions.")
    if accepted and all(response.status_code == 401 for _, response in accepted):
        fail(f"{_answered(accepted)}, without the header WWW-Authenticate: Bearer.",
             "A 401 names the way to authenticate in WWW-Authenticate (the HTTP standard requires it); "
             "clients and the interactive docs read it to know that they must log in again.",
             nudge="Which headers does the 401 that current_user raises carry?",
             concept="FastAPI docs: 'Simple OAuth2 with Password and Bearer', the WWW-Authenticate header.")
    expect(not accepted, f"{_answered(accepted)}.", why, nudge=nudge, concept=concept)


@pytest.mark.anyio
async def test_a_token_without_an_expiry_is_refused(kata_ns, running_shop, kata_alices_token):
    async with client_of_the_shop(kata_ns, running_shop) as client:
        token, claims, key = await _app_key(client, kata_ns, "a token without an expiry", kata_alices_token)
        accepted = await _attack(client, {"Alice's token without its exp claim, signed with the app's key":
                                          _sign(_without(claims, "exp"), key, token)})
    _expect_refused(
        accepted,
        "A token without an expiry never expires: one copied from a log, a browser or an old script opens "
        "the account for as long as the key stays the same, which is years.",
        nudge="What does read_token do with a token that has no exp at all: refuse it, or skip the check?",
        concept=CLAIMS_CONCEPT,
    )


@pytest.mark.anyio
async def test_an_expired_token_is_refused(kata_ns, running_shop, kata_alices_token):
    async with client_of_the_shop(kata_ns, running_shop) as client:
        token, claims, key = await _app_key(client, kata_ns, "an expired token", kata_alices_token)
        now = int(time.time())

        def expired(seconds_ago: int) -> str:
            late = {**claims, "exp": now - seconds_ago}
            if "iat" in claims:
                late["iat"] = now - seconds_ago - LIFETIME
            return _sign(late, key, token)

        # Two minutes late is past any allowance for clocks that disagree by a few seconds.
        accepted = await _attack(client, {
            "Alice's token, expired an hour ago, signed with the app's key": expired(3600),
            "Alice's token, expired two minutes ago, signed with the app's key": expired(120),
        })
    _expect_refused(
        accepted,
        "An expiry that is not enforced to the minute makes a stolen token good for longer than the "
        "customer was told; 15 minutes is the promise the shop makes.",
        nudge="How late may a token be and still be accepted?",
        concept=CLAIMS_CONCEPT,
    )


@pytest.mark.anyio
async def test_a_token_for_another_audience_or_none_is_refused(kata_ns, running_shop, kata_alices_token):
    async with client_of_the_shop(kata_ns, running_shop) as client:
        token, claims, key = await _app_key(client, kata_ns, "a token for another audience", kata_alices_token)
        accepted = await _attack(client, {
            "Alice's token for the audience warehouse-api, signed with the app's key":
                _sign({**claims, "aud": "warehouse-api"}, key, token),
            "Alice's token without an audience, signed with the app's key": _sign(_without(claims, "aud"), key, token),
        })
    _expect_refused(
        accepted,
        "The single sign-on issues tokens for several APIs with the same key. A token meant for the "
        "warehouse API, or one that names no API at all, must not open the shop's: whoever holds one "
        "(another team's logs, a partner) would act as the customer here.",
        nudge="Does read_token say which audience the shop's tokens are for, and what happens to a token "
              "that names none?",
        concept=CLAIMS_CONCEPT,
    )


@pytest.mark.anyio
async def test_a_token_from_another_issuer_or_none_is_refused(kata_ns, running_shop, kata_alices_token):
    async with client_of_the_shop(kata_ns, running_shop) as client:
        token, claims, key = await _app_key(client, kata_ns, "a token from another issuer", kata_alices_token)
        accepted = await _attack(client, {
            "Alice's token issued by https://staging.bookshop.example, signed with the app's key":
                _sign({**claims, "iss": "https://staging.bookshop.example"}, key, token),
            "Alice's token without an issuer, signed with the app's key": _sign(_without(claims, "iss"), key, token),
        })
    _expect_refused(
        accepted,
        "Staging, a test setup or a partner that ends up with the key can mint tokens that production "
        "accepts, unless production accepts only the issuer it trusts.",
        nudge="Does read_token say who must have issued the token, and what happens to a token that names "
              "no issuer?",
        concept=CLAIMS_CONCEPT,
    )


@pytest.mark.anyio
async def test_an_unsigned_token_is_refused(kata_ns, running_shop, kata_alices_token):
    async with client_of_the_shop(kata_ns, running_shop) as client:
        claims = _unverified(await _own_token(client, kata_alices_token))
        carol = {**claims, "sub": "3", "role": "staff"}
        accepted = await _attack(client, {"A token claiming to be Carol (staff), with alg none and no signature":
                                          jwt.encode(carol, None, algorithm="none")})
    _expect_refused(
        accepted,
        "A token whose header says it needs no signature is anyone's: here, a stranger became Carol, who "
        "is staff.",
        nudge="Which algorithms does read_token accept, and who chooses: the app or the token's header?",
        concept=SIGNATURE_CONCEPT,
    )


@pytest.mark.anyio
async def test_a_token_signed_with_another_key_is_refused(kata_ns, running_shop, kata_alices_token):
    async with client_of_the_shop(kata_ns, running_shop) as client:
        token = await _own_token(client, kata_alices_token)
        carol = {**_unverified(token), "sub": "3", "role": "staff"}
        own, _ = _signing_key(token, kata_ns)
        # The attacker's own key; and the keys anyone can read in a tutorial, which an app that
        # signs with the configured key may still accept "for the old sessions".
        attacks = {"A token claiming to be Carol (staff), signed with the attacker's own key":
                   _sign(carol, secrets.token_urlsafe(32), token)}
        attacks.update({f"A token claiming to be Carol (staff), signed with {said}": _sign(carol, published, token)
                        for published, said in PUBLISHED_KEYS.items() if published != own})
        accepted = await _attack(client, attacks)
    _expect_refused(
        accepted,
        "The signature is the only thing that tells the shop's tokens from anyone else's: unchecked, or "
        "checked against any key but the shop's own, anyone writes the claims they like. A key printed in "
        "a tutorial is everyone's key.",
        nudge="Does read_token verify the signature at all, and which keys does it accept?",
        concept=SIGNATURE_CONCEPT,
    )


def _with_claims(token: str, **changes) -> str:
    """``token`` with some claims changed and its header and signature kept."""
    header, _, signature = token.split(".")
    claims = {**_unverified(token), **changes}
    payload = base64.urlsafe_b64encode(json.dumps(claims, separators=(",", ":")).encode()).rstrip(b"=").decode()
    return f"{header}.{payload}.{signature}"


@pytest.mark.anyio
async def test_a_token_whose_claims_were_changed_is_refused(kata_ns, running_shop, kata_alices_token):
    async with client_of_the_shop(kata_ns, running_shop) as client:
        token = await _own_token(client, kata_alices_token)
        accepted = await _attack(client, {
            "Alice's own token with its role changed to staff, its signature kept": _with_claims(token, role="staff"),
            "Alice's own token with its sub changed to 3 (Carol), its signature kept": _with_claims(token, sub="3"),
        })
    _expect_refused(
        accepted,
        "A JWT's payload is only base64: anyone can rewrite it. Only a signature check tells that it no "
        "longer matches what the shop signed.",
        nudge="Does read_token check that the signature matches the payload it came with?",
        concept=SIGNATURE_CONCEPT,
    )


def _hours_and_minutes(seconds: float) -> str:
    minutes = round(abs(seconds) / 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


@pytest.mark.anyio
async def test_a_token_issued_on_a_server_outside_utc_lasts_the_advertised_15_minutes(kata_ns, running_shop):
    app = learner(kata_ns, "app")
    # POSIX zones, which need no time zone database: Los Angeles in winter, Tokyo all year.
    for zone, where in (("<-08>8", "Los Angeles (UTC-8)"), ("<+09>-9", "Tokyo (UTC+9)")):
        with local_time_zone(zone):
            async with open_client(app) as client:
                before = time.time()
                token = await _own_token(client)
                after = time.time()
                own = await client.get("/me", headers=_bearer(token))
        exp, iat = _unverified(token).get("exp"), _unverified(token).get("iat")
        if not isinstance(exp, (int, float)):
            fail(
                f"On a server in {where}, POST /login issued a token without an exp claim (its claims: "
                f"{sorted(_unverified(token))}).",
                "A token without an expiry never expires: the shop promises 15 minutes.",
                nudge="Which claim says when the token expires?",
                concept=CLAIMS_CONCEPT,
            )
        offset = (f"its exp is {_hours_and_minutes(exp - after)} in the past" if exp <= after else
                  f"its exp is {_hours_and_minutes(exp - after)} from now")
        expect(
            own.status_code == 200 and after < exp <= after + LIFETIME + 1,
            f"On a server whose local time zone is {where}, Alice logged in and used her token at once: "
            f"GET /me answered {brief(own, 80)}, and {offset}, where 15 minutes were advertised.",
            "Servers are not all on UTC: a developer's laptop, a region set up on local time, a container "
            "that inherits its host's zone. There the shop's tokens are born expired (customers are "
            "logged out at once) or live for hours (a stolen token stays good long after the promise).",
            nudge="Which instant does create_token take as now, on a server whose clock shows local time? "
                  "And how does PyJWT turn a datetime without a time zone into seconds?",
            concept="A JWT holds its times as seconds since the epoch, in UTC. PyJWT converts a naive "
                    "datetime as if it were UTC, so a naive local time is off by the server's UTC offset. "
                    "Build token times from an aware UTC datetime (Python docs: 'Aware and Naive Objects').",
        )
        issued = ("it has no iat claim" if not isinstance(iat, (int, float)) else
                  f"its iat says it was issued {_hours_and_minutes(iat - after)} "
                  f"{'before' if iat < after else 'after'} it was")
        expect(
            isinstance(iat, (int, float)) and before - 1 <= iat <= after + 1,
            f"On a server whose local time zone is {where}, POST /login issued Alice a token that lasts the "
            f"advertised 15 minutes, but {issued}.",
            "The story's tokens say when they were issued: after a password change, or a 'log out everywhere', "
            "the shop refuses the tokens issued before it, which it can tell only from iat. A missing or wrong "
            "iat keeps a stolen token good until it expires.",
            nudge="Which claims does the story say a token carries, and from which clock does each come?",
            concept="RFC 7519 section 4.1.6: iat is the time the token was issued, in seconds since the "
                    "epoch, UTC; PyJWT refuses a token whose iat is not a number, and checks it only "
                    "when present, unless you require it.",
        )


# The line of the shipped shop that stands in for the deployment, which sets the key.
THE_DEPLOYMENT_SETS_THE_KEY = 'os.environ.setdefault("BOOKSHOP_TOKEN_KEY", secrets.token_urlsafe(32))'


@contextlib.contextmanager
def _started_afresh(ns: dict) -> Iterator[dict | None]:
    """The notebook's code imported as the process of a deploy that forgot the key imports it:
    without the shipped line that sets the key, with the environment as it is. Its namespace, or
    None when importing it raised (refusing to start)."""
    with temporary_folder("kata-deploy-") as folder:
        name = f"kata_deploy_{secrets.token_hex(4)}"
        path = shop_module(ns, folder, name=name)
        path.write_text(path.read_text(encoding="utf-8").replace(THE_DEPLOYMENT_SETS_THE_KEY, "pass"), encoding="utf-8")
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # for what resolves annotations through the module
        try:
            try:
                spec.loader.exec_module(module)
            except Exception:  # noqa: BLE001 - the code refused to start: the test reads None
                yield None
                return
            yield vars(module)
        finally:
            sys.modules.pop(name, None)


async def _expect_no_key_of_its_own(ns: dict) -> None:
    """A deploy that forgets to set the key: the app may refuse to start or to log anyone in, but
    a token signed with a key from the code is one anybody who reads that code can forge. The
    notebook's code is imported afresh, as the deploy's process would, so a key read when a cell
    ran is read again, without the setting."""
    configured = os.environ.pop(TOKEN_KEY_ENV, None)
    login, fresh = None, None
    try:
        with _started_afresh(ns) as fresh:
            if fresh is None or not isinstance(fresh.get("app"), FastAPI):
                return
            try:
                async with open_client(fresh["app"]) as client:
                    login = await client.post("/login", json=ALICE)
            except Exception:  # noqa: BLE001 - refusing to start without its key is the right answer
                return
    finally:
        if configured is not None:
            os.environ[TOKEN_KEY_ENV] = configured
    body = json_of(login)
    token = body.get("access_token") if login.status_code == 200 and isinstance(body, dict) else None
    if not isinstance(token, str) or not _unverified(token):
        return
    key, where = _signing_key(token, fresh)
    if where == "unknown" and any(_verifies(token, text) for text in strings_in_code(fresh)):
        where = "code"
    signed = {"published": f"with {PUBLISHED_KEYS.get(key, 'a published key')}",
              "notebook": "with a string the notebook defines", "code": "with a string written in the code"}
    # A key the check finds nowhere is one the app made up for itself: nobody can forge with it.
    expect(
        where not in signed,
        f"With {TOKEN_KEY_ENV} not set, as on a deploy that forgot it, the app still started and POST /login "
        f"issued a token, signed {signed.get(where, '')}.",
        "A fallback key is a key in the code: the one deploy that misses the setting signs tokens that anyone "
        "who has read the code (or the tutorial it came from) can forge, and nothing says so.",
        nudge=f"What should the app do when {TOKEN_KEY_ENV} is missing?",
        concept="A required setting has no default: pydantic-settings refuses to build the settings without "
                "it, so the app fails at startup, loudly, instead of running with a known key. FastAPI docs: "
                "'Settings and Environment Variables'.",
    )


@pytest.mark.anyio
async def test_tokens_are_signed_with_the_configured_key_not_one_from_the_code(kata_ns, running_shop, kata_alices_token):
    async with client_of_the_shop(kata_ns, running_shop) as client:
        token = await _own_token(client, kata_alices_token)
        key, where = _signing_key(token, kata_ns)
        if where == "configured":
            await _expect_no_key_of_its_own(kata_ns)
            return
        forged = None
        if key is not None:
            carol = {**_unverified(token), "sub": "3", "role": "staff"}
            if isinstance(carol.get("exp"), (int, float)):
                carol["exp"] = int(time.time()) + LIFETIME
            forged = await client.get("/me", headers=_bearer(_sign(carol, key, token)))
    names = [name for name, value in kata_ns.items() if not name.startswith("_") and
             (value.get_secret_value() if isinstance(value, SecretStr) else value) == key] if key else []
    found = {
        "published": f"with {PUBLISHED_KEYS.get(key, 'a published key')}",
        "notebook": f"with a string the notebook defines{' (' + ', '.join(names) + ')' if names else ''}",
        "unknown": "with a key the check could not find",
    }[where]
    showed = (f" The check signed a token claiming to be Carol (staff) with it: GET /me answered {brief(forged, 90)}."
              if forged is not None else "")
    fail(
        f"The tokens POST /login issues are signed {found}, not with the key the deployment configures in "
        f"{TOKEN_KEY_ENV}.{showed}",
        "A key written in the code is shared by every copy of the code: staging signs tokens production "
        "accepts, every laptop can mint a staff token, and a key copied from a tutorial is known to "
        "everyone who read it. A key made when the process starts is secret, but every restart logs "
        "everyone out and two server processes refuse each other's tokens.",
        nudge=f"Where does the app read its signing key from? The deployment sets {TOKEN_KEY_ENV}.",
        concept="The signing key is configuration, as the database URL is: read it from the settings when "
                "the app needs it, required (no default) and secret. FastAPI docs: 'Settings and Environment "
                "Variables'; pydantic-settings.",
    )


@pytest.mark.anyio
async def test_a_customer_logs_in_and_reads_their_own_profile(kata_ns, running_shop):
    async with client_of_the_shop(kata_ns, running_shop) as client:
        token = await _own_token(client)
        me = await client.get("/me", headers=_bearer(token))
        anonymous = await client.get("/me")
        wrong = await client.post("/login", json={**ALICE, "password": "not-her-password"})
    profile = json_of(me)
    expect(
        me.status_code == 200 and isinstance(profile, dict) and profile.get("email") == ALICE["email"],
        f"GET /me with the token Alice got from POST /login answered {brief(me, 120)}, not her profile.",
        "A customer who logged in must see their own profile.",
    )
    expect(
        _refused(anonymous),
        f"GET /me without a token answered {brief(anonymous)} (WWW-Authenticate: "
        f"{anonymous.headers.get('www-authenticate')!r}), not a 401 with WWW-Authenticate: Bearer.",
        "A caller without a token must be told to authenticate, the way the HTTP standard says.",
    )
    expect(
        wrong.status_code == 401,
        f"POST /login with a wrong password answered {brief(wrong)}, not 401.",
        "A wrong password must never give a token.",
    )
