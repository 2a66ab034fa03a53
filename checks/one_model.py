"""Check: no answer of the user routes carries the password or its hash, in what they send or in
what they document; a client can set neither the role nor the hash, at sign-up or in a profile
edit; sign-up, reading and renaming a profile still work."""

import pytest

from bookshop.accounts import verify_password
from bookshop.client import documented_fields, open_client
from bookshop.observe import run_sql
from checks.feedback import expect, fail
from checks.harness import brief, json_of, learner

__all__ = [
    "test_no_answer_carries_the_password_or_its_hash",
    "test_the_documented_answers_have_no_password_fields",
    "test_a_sign_up_cannot_choose_its_role_or_its_password_hash",
    "test_a_profile_edit_cannot_change_the_role_or_the_password_hash",
    "test_the_documented_request_bodies_have_no_role_or_hash",
    "test_a_sign_up_is_answered_201_and_stores_a_hash_of_the_password",
    "test_a_profile_can_be_read_and_renamed_and_an_unknown_one_is_404",
]

DANA = {"email": "dana@example.com", "name": "Dana", "password": "dana-likes-dune"}
# A valid Argon2id hash of "mallory-knows", made by someone who is not the account's owner.
FORGED_HASH = "$argon2id$v=19$m=8192,t=2,p=1$1xoeLaif03PPKejGHCGs6Q$z8XmyBFrIasy6Rdq/4UQXtIERvtgsx1Nyihxt9HDlgo"
ROUTES = (("POST", "/users"), ("GET", "/users/{user_id}"), ("PATCH", "/users/{user_id}"))

SCHEMAS_CONCEPT = ("Mass assignment and excessive data exposure (OWASP API3:2023, 'Broken Object "
                   "Property Level Authorization'): a model a client sends must list only what that "
                   "client may set, and the model the API answers only what a client may see. FastAPI "
                   "docs: 'Extra Models' and 'Response Model - Return Type'.")


def _stored_user(url: str, where: str) -> dict | None:
    rows = run_sql(url, f"SELECT id, email, name, hashed_password, role FROM users WHERE {where}")
    return dict(zip(("id", "email", "name", "hashed_password", "role"), rows[0])) if rows else None


def _leaks(body, secrets: set[str], where: str = "") -> list[str]:
    """Where in a JSON body a password or a hash shows: keys that name one, values that are one."""
    found: list[str] = []
    if isinstance(body, dict):
        for key, value in body.items():
            path = f"{where}.{key}" if where else str(key)
            if any(word in str(key).lower() for word in ("password", "hash")):
                found.append(f"a field '{path}'")
            found += _leaks(value, secrets, path)
    elif isinstance(body, list):
        for index, value in enumerate(body):
            found += _leaks(value, secrets, f"{where}[{index}]")
    elif isinstance(body, str) and (body in secrets or body.startswith("$argon2")):
        found.append(f"the stored password hash in '{where or 'the body'}'")
    return found


def _documented(app) -> dict[tuple[str, str], dict[str, list[str]]]:
    try:
        documented = {(method, path): documented_fields(app, method, path) for method, path in ROUTES}
    except Exception as error:  # noqa: BLE001 - a model FastAPI cannot describe: say so, as a finding
        fail(
            f"The app's OpenAPI document could not be built: {type(error).__name__}: {error}"[:300],
            "Clients, the interactive docs at /docs and generated SDKs all read that document.",
        )
    missing = [f"{method} {path}" for (method, path), fields in documented.items() if not fields["answers"]]
    expect(
        not missing,
        f"The app's OpenAPI document describes no JSON answer for {', '.join(missing)}: the check "
        "expected the three user routes, each documenting what it answers.",
        "A route whose answer is not documented leaves clients guessing what it sends.",
        nudge="Does every user route still declare the model it answers with?",
    )
    return documented


@pytest.mark.anyio
async def test_no_answer_carries_the_password_or_its_hash(kata_ns, shop_db):
    async with open_client(learner(kata_ns, "app")) as client:
        answers = [
            ("POST /users (sign-up)", await client.post("/users", json=DANA)),
            ("GET /users/1", await client.get("/users/1")),
            ("PATCH /users/2", await client.patch("/users/2", json={"name": "Bob Reader"})),
        ]
    hashes = {row[0] for row in run_sql(shop_db, "SELECT hashed_password FROM users")}
    secrets = hashes | {DANA["password"]}
    for label, response in answers:
        expect(
            response.is_success,
            f"{label} answered {brief(response)}.",
            "Sign-up, the profile page and the profile edit must keep working while their models "
            "change.",
        )
    for label, response in answers:
        body = json_of(response)
        leaks = _leaks(body, secrets)
        if DANA["password"] in response.text and not leaks:
            leaks = ["the password Dana signed up with"]
        expect(
            not leaks,
            f"{label} answered {brief(response, 220)}: it carries {', '.join(dict.fromkeys(leaks))}.",
            "Whoever sees that JSON (the browser, its extensions, a proxy's log, a support ticket "
            "with a screenshot) gets the hash: an offline attacker can try passwords against it at "
            "their own pace, and a leaked list of hashes is a reportable breach. A client never "
            "needs it.",
            nudge="Which model decides what a user route answers, and which of its fields should "
                  "a client never see?",
            concept=SCHEMAS_CONCEPT,
        )


def test_the_documented_answers_have_no_password_fields(kata_ns):
    documented = _documented(learner(kata_ns, "app"))
    for (method, path), fields in documented.items():
        bad = [name for name in fields["answers"] if any(w in name.lower() for w in ("password", "hash"))]
        expect(
            not bad,
            f"The OpenAPI document says {method} {path} answers with the fields "
            f"{', '.join(fields['answers'])}: including {', '.join(bad)}.",
            "The document is a promise: client code generated from it has a slot for the hash, the "
            "interactive docs show it, and the next person who fills the answer in a new way will "
            "send it, because the contract says so. Filtering a field out of the JSON without "
            "removing it from the answer's model keeps that promise alive.",
            nudge=f"Which model does {method} {path} answer with, and does that model have a "
                  "password field at all?",
            concept=SCHEMAS_CONCEPT,
        )


@pytest.mark.anyio
async def test_a_sign_up_cannot_choose_its_role_or_its_password_hash(kata_ns, shop_db):
    forged = {**DANA, "role": "staff", "hashed_password": FORGED_HASH}
    async with open_client(learner(kata_ns, "app")) as client:
        response = await client.post("/users", json=forged)
    stored = _stored_user(shop_db, f"email = '{DANA['email']}'")
    if response.status_code == 422:  # refusing fields it does not take is right too
        expect(
            stored is None,
            f"A sign-up that also sent role 'staff' and a password hash was answered 422, but the "
            f"account was created anyway: {stored}.",
            "A refused request must leave nothing behind.",
        )
        return
    expect(
        response.status_code == 201 and stored is not None,
        f"A sign-up that also sent role 'staff' and a password hash answered {brief(response)}; "
        f"the check expected the account to be created (201) with what the server decides, or "
        "the request refused (422).",
        "A client that sends a field the API does not take must get a clear answer: created, "
        "ignoring it, or refused, and nothing else.",
    )
    granted = []
    if stored["role"] != "customer":
        granted.append(f"the role '{stored['role']}'")
    if stored["hashed_password"] == FORGED_HASH:
        granted.append("the password hash it sent, instead of a hash of its password")
    expect(
        not granted,
        f"POST /users with {{\"email\", \"name\", \"password\", \"role\": \"staff\", \"hashed_password\": "
        f"\"$argon2id$...\"}} answered {response.status_code}, and the new account was stored with "
        f"{' and '.join(granted)}.",
        "Anyone can sign up: any stranger who adds one field to the sign-up JSON gets staff "
        "rights, or an account whose password they chose without the server ever checking it. "
        "This is mass assignment: the request was copied onto the row, fields the client had no "
        "right to set included.",
        nudge="Which model does POST /users read the request into, and which of its fields should "
              "the server decide alone?",
        concept=SCHEMAS_CONCEPT,
    )


@pytest.mark.anyio
async def test_a_profile_edit_cannot_change_the_role_or_the_password_hash(kata_ns, shop_db):
    before = _stored_user(shop_db, "id = 2")
    tampered = {"name": "Bob Reader", "role": "staff", "hashed_password": FORGED_HASH}
    async with open_client(learner(kata_ns, "app")) as client:
        response = await client.patch("/users/2", json=tampered)
    after = _stored_user(shop_db, "id = 2")
    expect(
        response.status_code in (200, 422),
        f"PATCH /users/2 with a new name, role 'staff' and a password hash answered "
        f"{brief(response)}; the check expected the name changed (200), or the request refused "
        "(422).",
        "A client that sends a field the API does not take must get a clear answer.",
    )
    changed = []
    if after["role"] != before["role"]:
        changed.append(f"his role is now '{after['role']}'")
    if after["hashed_password"] != before["hashed_password"]:
        changed.append("his password hash is the one the request sent")
    expect(
        not changed,
        f"Bob, a customer, sent PATCH /users/2 with {{\"name\": \"Bob Reader\", \"role\": \"staff\", "
        f"\"hashed_password\": \"$argon2id$...\"}} and got {response.status_code}: {' and '.join(changed)}.",
        "Every customer can promote themselves to staff by editing the JSON their profile page "
        "sends, and anyone who can edit an account can replace its password without knowing the "
        "old one. The endpoint wrote whatever the request carried.",
        nudge="Which fields can PATCH /users/{user_id} write, and who decided that list: the code "
              "or the request?",
        concept=SCHEMAS_CONCEPT,
    )
    if response.status_code == 422:
        expect(
            after == before,
            f"PATCH /users/2 was refused with 422, yet the row changed: {before} -> {after}.",
            "A refused request must leave nothing behind.",
        )


def test_the_documented_request_bodies_have_no_role_or_hash(kata_ns):
    documented = _documented(learner(kata_ns, "app"))
    for (method, path), fields in documented.items():
        bad = [name for name in fields["accepts"] if name.lower() == "role" or "hash" in name.lower()]
        expect(
            not bad,
            f"The OpenAPI document says {method} {path} accepts the fields "
            f"{', '.join(fields['accepts'])}: including {', '.join(bad)}.",
            "What the document says a route accepts is what every client, generated SDK and "
            "attacker will send. A field the server must decide alone has no place in it, even if "
            "the code happens to ignore it today.",
            nudge=f"Which model does {method} {path} read its body into, and which of its fields "
                  "may a client set?",
            concept=SCHEMAS_CONCEPT,
        )


@pytest.mark.anyio
async def test_a_sign_up_is_answered_201_and_stores_a_hash_of_the_password(kata_ns, shop_db):
    async with open_client(learner(kata_ns, "app")) as client:
        response = await client.post("/users", json=DANA)
    body = json_of(response)
    expect(
        response.status_code == 201 and isinstance(body, dict) and isinstance(body.get("id"), int)
        and body.get("email") == DANA["email"] and body.get("name") == DANA["name"],
        f"POST /users with a new email, a name and a password answered {brief(response, 200)}, "
        "not 201 with the new account's id, email and name.",
        "Sign-up must keep working, and the client needs the new account's id.",
    )
    stored = _stored_user(shop_db, f"email = '{DANA['email']}'")
    expect(
        stored is not None and stored["id"] == body["id"],
        f"After the sign-up answered id {body['id']}, the database holds {stored} for that email.",
        "A 201 promises the account exists.",
    )
    hashed = stored["hashed_password"] or ""
    expect(
        hashed != DANA["password"] and hashed.startswith("$argon2") and verify_password(DANA["password"], hashed),
        f"The new account's stored password is {hashed[:40]!r}, not an Argon2 hash of the "
        "password it signed up with.",
        "The shop stores only hashes of passwords (bookshop.accounts), so that a copy of the "
        "database does not hand out every customer's password, and the customer can log in.",
    )
    expect(
        stored["role"] == "customer",
        f"The new account was stored with the role {stored['role']!r}, not 'customer'.",
        "Whoever signs up is a customer; staff accounts are made by staff.",
    )


@pytest.mark.anyio
async def test_a_profile_can_be_read_and_renamed_and_an_unknown_one_is_404(kata_ns, shop_db):
    async with open_client(learner(kata_ns, "app")) as client:
        alice = await client.get("/users/1")
        renamed = await client.patch("/users/1", json={"name": "Alice Liddell"})
        unknown = await client.get("/users/999")
        unknown_edit = await client.patch("/users/999", json={"name": "Nobody"})
    body = json_of(alice)
    expect(
        alice.status_code == 200 and isinstance(body, dict) and body.get("id") == 1
        and body.get("email") == "alice@example.com" and body.get("name") == "Alice",
        f"GET /users/1 answered {brief(alice, 200)}, not Alice's profile with her id, email and name.",
        "The profile page must keep working.",
    )
    body = json_of(renamed)
    stored = _stored_user(shop_db, "id = 1")
    expect(
        renamed.status_code == 200 and isinstance(body, dict) and body.get("name") == "Alice Liddell"
        and stored["name"] == "Alice Liddell",
        f"PATCH /users/1 with {{\"name\": \"Alice Liddell\"}} answered {brief(renamed, 200)}, and "
        f"the stored name is {stored['name']!r}.",
        "A customer must still be able to change their name, and see the change in the answer.",
    )
    expect(
        stored["email"] == "alice@example.com" and stored["role"] == "customer",
        f"After a PATCH that sent only a new name, Alice's row is {dict(stored, hashed_password='...')}.",
        "A profile edit changes what it was sent, nothing else.",
    )
    for label, response in (("GET /users/999", unknown), ("PATCH /users/999", unknown_edit)):
        expect(
            response.status_code == 404,
            f"{label}, for a user that does not exist, answered {brief(response)}, not 404.",
            "A user that does not exist is a 404 the client can act on.",
        )
