"""Check: the attacks of the tester's report. A stolen row must be a salted Argon2id hash whose
cost per guess is at least OWASP's minimum, a long passphrase must count to its last byte, and a
login for an unknown email must answer and cost exactly what a wrong password does.

While a test runs, ``password_work(cheap=True)`` computes each new hash with Argon2's lowest
parameters and records the ones the code asked for: the check judges those, and stays fast. The
passwords a test sends for emails nobody has are made up, random: checked against a hash the test
did not make (a dummy hash made when the notebook ran), they are recorded at that hash's cost and
answered "no match" without spending it, which is the answer they would get."""

import secrets

import jwt
import pytest

from bookshop.accounts import password_work
from bookshop.auth import read_token
from bookshop.client import open_client
from bookshop.observe import run_sql
from checks.feedback import expect, fail
from checks.harness import brief, json_of, learner

__all__ = [
    "test_a_stolen_hash_is_a_salted_argon2id_hash",
    "test_each_guess_at_a_stolen_hash_costs_at_least_owasps_minimum",
    "test_a_passphrase_longer_than_72_bytes_counts_to_its_last_byte",
    "test_an_unknown_email_gets_the_same_answer_as_a_wrong_password",
    "test_an_unknown_email_costs_the_same_password_work_as_a_wrong_password",
    "test_a_customer_signs_up_then_logs_in_with_their_password",
]

# OWASP's Password Storage Cheat Sheet: the weakest Argon2id configurations it accepts, as
# (memory in KiB, passes); each is about as costly as the others.
OWASP_MINIMUM = ((47104, 1), (19456, 2), (12288, 3), (9216, 4), (7168, 5))
PASSPHRASE = ("correct horse battery staple, " * 4)[:100]

HASH_CONCEPT = ("A password hash must be slow and memory-hungry on purpose, and salted per password: "
                "Argon2id is the first choice of OWASP's Password Storage Cheat Sheet, and pwdlib, the "
                "library FastAPI's security tutorial uses, gives it with recommended parameters.")
ENUMERATION_CONCEPT = ("A login must not tell an unknown email from a wrong password, by its answer or by "
                       "its work: check the password against a dummy hash when the email has no account. "
                       "OWASP Authentication Cheat Sheet: 'Authentication and Error Messages'.")


def _account(email: str, password: str) -> dict:
    return {"email": email, "name": email.split("@")[0].title(), "password": password}


def _stored(url: str, email: str) -> str | None:
    rows = run_sql(url, f"SELECT hashed_password FROM users WHERE email = '{email}'")
    return rows[0][0] if rows else None


def _quote(value: str | None, limit: int = 40) -> str:
    if value is None:
        return "nothing"
    return repr(value if len(value) <= limit else value[: limit - 1] + "…")


async def _sign_up(client, email: str, password: str, what: str = "a new account"):
    response = await client.post("/signup", json=_account(email, password))
    expect(
        response.status_code == 201,
        f"POST /signup for {what} ({email}) answered {brief(response)}, not 201.",
        "Customers must still be able to create an account.",
        nudge="What does the sign-up compute from the password, and does that computation succeed?",
    )
    return response


async def _log_in(client, email: str, password: str):
    return await client.post("/login", json={"email": email, "password": password})


@pytest.mark.anyio
async def test_a_stolen_hash_is_a_salted_argon2id_hash(kata_ns, shop_db):
    password = "sunshine1984"
    with password_work(cheap=True):
        async with open_client(learner(kata_ns, "app")) as client:
            for email in ("dana@example.com", "erin@example.com"):
                await _sign_up(client, email, password)
    dana, erin = _stored(shop_db, "dana@example.com"), _stored(shop_db, "erin@example.com")
    same = (" Erin's row, for the same password, holds the very same value: one guess cracks both." if dana == erin
            else "")
    expect(
        isinstance(dana, str) and dana.startswith("$argon2id$"),
        f"After Dana signed up with the password {password!r}, the users table holds {_quote(dana, 70)} for her: "
        f"not an Argon2id hash.{same}",
        "Whoever gets a copy of the table (a backup, an injection) tries guesses against each row as fast as "
        "the hash allows: a fast hash gives up most passwords within hours, and customers reuse them elsewhere.",
        nudge="How many guesses a second can a thief try against what the sign-up stores?",
        concept=HASH_CONCEPT,
    )
    expect(
        password not in dana,
        f"Dana's row holds her password as it was typed: {_quote(dana, 70)}.",
        "A stolen table must not give up a single password without work.",
    )
    expect(
        dana != erin,
        f"Dana and Erin signed up with the same password, and their rows hold the same value {_quote(dana, 70)}.",
        "Without a salt of its own per row, one guess tests every account at once, and precomputed tables "
        "of common passwords apply directly.",
        nudge="Is each hash made with a salt of its own?",
        concept=HASH_CONCEPT,
    )


@pytest.mark.anyio
async def test_each_guess_at_a_stolen_hash_costs_at_least_owasps_minimum(kata_ns, shop_db):
    with password_work(cheap=True) as work:
        async with open_client(learner(kata_ns, "app")) as client:
            await _sign_up(client, "dana@example.com", "sunshine1984")
    hashes = [w for w in work if w.operation == "hash"]
    if not hashes:
        stored = _stored(shop_db, "dana@example.com")
        fail(
            f"The sign-up computed no Argon2 hash: the users table holds {_quote(stored, 70)} for Dana, made "
            "some other way.",
            "A guess against the row costs a thief only what that computation costs. A hash built to be "
            "fast costs nothing: the row falls to a word list in moments.",
            nudge="What does a guess at the stored value cost whoever holds the table?",
            concept=HASH_CONCEPT,
        )
    weakest = min(hashes, key=lambda w: w.memory_cost * w.time_cost)
    expect(
        any(weakest.memory_cost >= memory and weakest.time_cost >= passes for memory, passes in OWASP_MINIMUM),
        f"The sign-up asked Argon2 for {weakest.memory_cost} KiB of memory and {weakest.time_cost} "
        f"pass(es). OWASP's weakest accepted configurations are 19 MiB with 2 passes, 46 MiB with 1, "
        "or their equivalents.",
        "Each guess a thief makes costs them what one login costs the shop: parameters lowered to make "
        "logins faster make every stolen row that much faster to crack. (This check computes its hashes "
        "cheaply by itself, and judges the parameters the code asked for.)",
        nudge="Which parameters does the hasher use, and where do they come from?",
        concept="Argon2's cost is its memory (KiB) and its passes. pwdlib's recommended parameters are "
                "64 MiB and 3 passes; OWASP's Password Storage Cheat Sheet lists the minimums.",
    )


@pytest.mark.anyio
async def test_a_passphrase_longer_than_72_bytes_counts_to_its_last_byte(kata_ns, shop_db):
    email = "frank@example.com"
    same_start = PASSPHRASE[:72] + "x" * (len(PASSPHRASE) - 72)
    with password_work(cheap=True):
        async with open_client(learner(kata_ns, "app")) as client:
            await _sign_up(client, email, PASSPHRASE, "an account with a 100-character passphrase")
            right = await _log_in(client, email, PASSPHRASE)
            other = await _log_in(client, email, same_start)
    expect(
        right.status_code == 200,
        f"Frank signed up with a 100-character passphrase, then logged in with it: POST /login answered "
        f"{brief(right)}, not 200.",
        "A customer who chose a long passphrase must be able to log in with it.",
        nudge="What does the hash do with a password longer than 72 bytes?",
        concept=HASH_CONCEPT,
    )
    expect(
        other.status_code == 401,
        f"Logging in as Frank with the first 72 characters of his passphrase and a different ending "
        f"answered {brief(other)}: everything after the 72nd byte was ignored.",
        "Passphrases get their strength from their length. A hash that reads only the first 72 bytes "
        "makes a long passphrase no stronger than its start, and two that share it are the same password.",
        nudge="Which hashes read only the first 72 bytes of what they are given?",
        concept="bcrypt reads only the first 72 bytes of a password (bcrypt 5 raises for longer ones); "
                "Argon2 hashes all of it. " + HASH_CONCEPT,
    )


def _answer(response, email: str) -> tuple:
    """What a client sees of a login's answer, with the email it sent written as <email>."""
    headers = {name.lower(): value.replace(email, "<email>") for name, value in response.headers.items()
               if name.lower() != "content-length"}
    return response.status_code, headers, response.text.replace(email, "<email>")


@pytest.mark.anyio
async def test_an_unknown_email_gets_the_same_answer_as_a_wrong_password(kata_ns, shop_db):
    made_up = secrets.token_urlsafe(16)  # nobody's password
    with password_work(cheap=True, never_match=[made_up]):
        async with open_client(learner(kata_ns, "app")) as client:
            known = await _log_in(client, "alice@example.com", made_up)
            unknown = await _log_in(client, "alina@example.com", made_up)
    different = [part for part, a, b in zip(("status", "headers", "body"), _answer(known, "alice@example.com"),
                                            _answer(unknown, "alina@example.com")) if a != b]
    expect(
        not different,
        f"A wrong password for alice@example.com, who has an account, answered {brief(known)}; the same "
        f"password for alina@example.com, who has none, answered {brief(unknown)}. The {' and '.join(different)} "
        "differ.",
        "Anyone with a list of addresses learns which of them have an account here, then targets exactly "
        "those with phishing and with passwords leaked elsewhere.",
        nudge="What would a stranger learn from the two answers, side by side?",
        concept=ENUMERATION_CONCEPT,
    )
    expect(
        known.status_code == 401,
        f"A wrong password and an unknown email both answered {brief(known)}, not 401.",
        "The front end shows 'Wrong email or password' for a 401, as its contract says; any other status "
        "is an error it does not expect.",
    )


@pytest.mark.anyio
async def test_an_unknown_email_costs_the_same_password_work_as_a_wrong_password(kata_ns, shop_db):
    made_up = secrets.token_urlsafe(16)  # nobody's password
    with password_work(cheap=True, never_match=[made_up]) as work:
        async with open_client(learner(kata_ns, "app")) as client:
            await _sign_up(client, "erin@example.com", "sunshine1984")
            await _log_in(client, "nobody@example.com", made_up)  # whatever a first login prepares, now it is done
            start = len(work)
            await _log_in(client, "nina@example.com", made_up)
            unknown = work[start:]
            start = len(work)
            await _log_in(client, "erin@example.com", made_up)
            wrong = work[start:]

    def listed(log) -> str:
        return ", ".join(map(str, log)) or "no Argon2 computation"

    if not wrong:
        fail(
            "Checking a wrong password for Erin, who has an account, made no Argon2 computation: the password "
            "was checked some other way.",
            "Whatever that way costs is what a guess costs a thief with the table; a fast hash costs nothing.",
            nudge="What does checking a password compute, and how long does that take a thief?",
            concept=HASH_CONCEPT,
        )
    expect(
        [w.cost for w in unknown] == [w.cost for w in wrong],
        f"A wrong password for Erin, who has an account, cost {listed(wrong)}; a login for nina@example.com, "
        f"who has none, cost {listed(unknown)}.",
        "The answer for the email without an account comes back without that work, measurably sooner: "
        "timing the answers tells which emails have an account, whatever the messages say.",
        nudge="When the email has no account, does the login still check the password against anything?",
        concept=ENUMERATION_CONCEPT,
    )
    expect(
        len(wrong) == 1,
        f"Each failed login costs {listed(wrong)}: more than one Argon2 computation.",
        "Every computation is a slow one: a failed login that makes several lets anyone load the server "
        "several times as much.",
        nudge="How many times is the password hashed or checked in one login?",
    )


@pytest.mark.anyio
async def test_a_customer_signs_up_then_logs_in_with_their_password(kata_ns, shop_db):
    email, password = "gina@example.com", "a-long-and-lovely-passphrase"
    with password_work(cheap=True):
        async with open_client(learner(kata_ns, "app")) as client:
            created = await _sign_up(client, email, password)
            right = await _log_in(client, email, password)
            wrong = await _log_in(client, email, password + "!")
    account = json_of(created)
    expect(
        isinstance(account, dict) and account.get("email") == email and isinstance(account.get("id"), int),
        f"POST /signup answered {brief(created, 160)}, not the new account with its id and email.",
        "The front end shows the account it just created.",
    )
    stored = _stored(shop_db, email) or ""
    expect(
        password not in created.text and (not stored or stored not in created.text),
        f"POST /signup answered {brief(created, 160)}: the password or its hash is in the answer.",
        "Neither leaves the server: a hash in an answer ends up in logs and browser caches.",
    )
    body = json_of(right)
    token = body.get("access_token") if isinstance(body, dict) else None
    subject = None
    if isinstance(token, str):
        try:
            subject = read_token(token).get("sub")
        except jwt.InvalidTokenError:
            subject = None
    expect(
        right.status_code == 200 and subject == str(account["id"]),
        f"Gina signed up, then logged in with her password: POST /login answered {brief(right, 160)}, not 200 "
        "with a token for her account.",
        "Customers must still be able to log in with the password they chose.",
        nudge="Does the login check the password the same way the sign-up stored it?",
    )
    expect(
        wrong.status_code == 401,
        f"Gina logged in with her password and one more character: POST /login answered {brief(wrong)}, not 401.",
        "A wrong password must never log anyone in.",
    )
