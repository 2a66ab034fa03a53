# %% [markdown]
# # Slow hashes, and one answer for every failed login
#
# **The story.** A penetration tester spent two days on the bookshop's accounts. Her report has
# two findings.
#
# 1. `POST /login` answers `404 No account with this email` for an address nobody registered,
#    and `401 Wrong password` for one that is registered. With a list of leaked addresses she
#    learned in an afternoon which of them shop here. Each of those customers can now get a
#    phishing mail in the shop's colours, or a round of the passwords leaked with their address
#    on other sites.
# 2. A database backup left on a shared drive holds the `users` table. The passwords are stored
#    as SHA-256 digests, without a salt: customers with the same password have the same digest,
#    and a laptop tries hundreds of thousands of guesses a second, in plain Python, against all of
#    them at once.
#
# Her note to whoever fixes it: making the two messages equal is not enough. A login that runs
# its slow password check only for addresses that have an account answers the others sooner,
# and the clock then tells what the message no longer does.
#
# The front end's contract stays as it is: `POST /signup` with `email`, `name` and `password` (a
# passphrase of 8 to 1024 characters; the sign-up page encourages long ones) answers `201` with
# the account; `POST /login` with `email` and `password` answers `200` with a token, or `401`.
# The front end shows "Wrong email or password" for any `401`: it needs nothing more.
#
# **You will learn**
# - why a password hash must be slow and salted, and which one to use today;
# - what a 72-byte limit does to passphrases, and why the library many tutorials still show for
#   hashing no longer works;
# - how a login answers an unknown email and a wrong password the same way, in its words and in
#   the work it does.
#
# Run the cells from the top (**Run → Run All Cells**), read the evidence, then make the check pass.

# %% [markdown]
# ## The threat model
#
# **OWASP API2:2023, Broken Authentication.** Two attackers. The first is anyone on the internet
# with a list of email addresses and the login form: from the answers (or from how long they
# take) they learn which addresses have an account, then try those accounts with passwords leaked
# elsewhere. The second holds a copy of the `users` table (a backup, an injection, a former
# employee): against fast, unsalted hashes most passwords fall within hours. What they gain: the
# customers' accounts here, and everywhere else the customers reused the password.

# %% tags=["setup"]
from checks import setup_notebook

setup_notebook()

# %% [markdown]
# ## The bookshop around the problem
#
# `lifespan` is the shop's own, the one "The engine belongs to the lifespan" ends with: it builds
# the engine at startup and hands every request a `sessionmaker` through `request.state`. `User`
# is the table: its `hashed_password` column stores whatever the sign-up computes, and its
# `email` is unique. `issue_token` signs the token a logged-in customer gets (how a token is made
# and checked is the subject of "Tokens are checked, not just decoded"). The models below are
# the front end's contract.

# %%
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bookshop.auth import issue_token
from bookshop.db import lifespan
from bookshop.models import User


class SignUp(BaseModel):
    email: str = Field(min_length=3, max_length=320)
    name: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=8, max_length=1024)


class LogIn(BaseModel):
    email: str = Field(max_length=320)
    password: str = Field(max_length=1024)


class AccountOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    name: str


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.state.sessionmaker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]

# %% [markdown]
# ## The code under review
#
# This is the cell you will change. Read it as the tester did: what ends up in the database for a
# password, and what does the login do differently when the email has no account?

# %% tags=["kata", "starter"]
import hashlib

app = FastAPI(lifespan=lifespan)


def hash_password(password: str) -> str:
    return hashlib.sha256(password.encode()).hexdigest()


def verify_password(password: str, hashed: str) -> bool:
    return hash_password(password) == hashed


@app.post("/signup", status_code=201)
async def sign_up(account: SignUp, session: SessionDep) -> AccountOut:
    user = User(email=account.email, name=account.name, hashed_password=hash_password(account.password))
    session.add(user)
    await session.commit()
    return AccountOut.model_validate(user)


@app.post("/login")
async def log_in(credentials: LogIn, session: SessionDep) -> TokenOut:
    user = await session.scalar(select(User).where(User.email == credentials.email))
    if user is None:
        raise HTTPException(status_code=404, detail="No account with this email")
    if not verify_password(credentials.password, user.hashed_password):
        raise HTTPException(status_code=401, detail="Wrong password")
    return TokenOut(access_token=issue_token(user.id, user.role))

# %% tags=["kata", "solution"]
import anyio.to_thread
from pwdlib import PasswordHash

# Argon2id with pwdlib's current parameters (64 MiB of memory, 3 passes): a random salt for every
# hash, and the parameters written into the hash, so that they can be raised later.
password_hash = PasswordHash.recommended()

app = FastAPI(lifespan=lifespan)


async def hash_password(password: str) -> str:
    # Slow on purpose: a worker thread does it, so the event loop keeps serving other requests.
    return await anyio.to_thread.run_sync(password_hash.hash, password)


async def verify_password(password: str, hashed: str) -> bool:
    return await anyio.to_thread.run_sync(password_hash.verify, password, hashed)


@app.post("/signup", status_code=201)
async def sign_up(account: SignUp, session: SessionDep) -> AccountOut:
    user = User(email=account.email, name=account.name, hashed_password=await hash_password(account.password))
    session.add(user)
    await session.commit()
    return AccountOut.model_validate(user)


@app.post("/login")
async def log_in(credentials: LogIn, session: SessionDep) -> TokenOut:
    user = await session.scalar(select(User).where(User.email == credentials.email))
    if user is None:
        # No account: do the work a wrong password costs (one Argon2 computation, with the same
        # parameters), then give the same answer.
        await hash_password(credentials.password)
    elif await verify_password(credentials.password, user.hashed_password):
        return TokenOut(access_token=issue_token(user.id, user.role))
    raise HTTPException(status_code=401, detail="Wrong email or password")

# %% tags=["kata", "decoy:passlib-bcrypt"]
# "passlib's CryptContext with bcrypt, as most tutorials show: slow and salted." passlib has had no
# release since 2020 and breaks on bcrypt 5: every hash raises ValueError. And bcrypt reads only
# the first 72 bytes of a password: the rest of a passphrase never counted.
from passlib.context import CryptContext

pwd_context = CryptContext(schemes=["bcrypt"], deprecated="auto")
DUMMY_HASH = "$2b$12$HNZtsNTpUJ3MgutSw4TpVeoyhZcbh9bp9llaDLqAG3aTfSA8ghYv."

app = FastAPI(lifespan=lifespan)


def hash_password(password: str) -> str:
    return pwd_context.hash(password)


def verify_password(password: str, hashed: str) -> bool:
    return pwd_context.verify(password, hashed)


@app.post("/signup", status_code=201)
async def sign_up(account: SignUp, session: SessionDep) -> AccountOut:
    user = User(email=account.email, name=account.name, hashed_password=hash_password(account.password))
    session.add(user)
    await session.commit()
    return AccountOut.model_validate(user)


@app.post("/login")
async def log_in(credentials: LogIn, session: SessionDep) -> TokenOut:
    user = await session.scalar(select(User).where(User.email == credentials.email))
    matches = verify_password(credentials.password, user.hashed_password if user else DUMMY_HASH)
    if user is None or not matches:
        raise HTTPException(status_code=401, detail="Wrong email or password")
    return TokenOut(access_token=issue_token(user.id, user.role))

# %% tags=["kata", "decoy:salted-sha256"]
# "A random salt per account: no two digests are equal any more, and SHA-256 is a strong hash."
# Strong against collisions, not against guessing: it is built to be fast, so each stolen row is
# still tried at millions of guesses a second, one salt at a time.
import hashlib
import hmac
import secrets

app = FastAPI(lifespan=lifespan)
DUMMY_HASH = "0" * 32 + "$" + "0" * 64


def hash_password(password: str) -> str:
    salt = secrets.token_hex(16)
    return f"{salt}${hashlib.sha256((salt + password).encode()).hexdigest()}"


def verify_password(password: str, hashed: str) -> bool:
    salt, _, digest = hashed.rpartition("$")
    return hmac.compare_digest(hashlib.sha256((salt + password).encode()).hexdigest(), digest)


@app.post("/signup", status_code=201)
async def sign_up(account: SignUp, session: SessionDep) -> AccountOut:
    user = User(email=account.email, name=account.name, hashed_password=hash_password(account.password))
    session.add(user)
    await session.commit()
    return AccountOut.model_validate(user)


@app.post("/login")
async def log_in(credentials: LogIn, session: SessionDep) -> TokenOut:
    user = await session.scalar(select(User).where(User.email == credentials.email))
    matches = verify_password(credentials.password, user.hashed_password if user else DUMMY_HASH)
    if user is None or not matches:
        raise HTTPException(status_code=401, detail="Wrong email or password")
    return TokenOut(access_token=issue_token(user.id, user.role))

# %% tags=["kata", "decoy:dummy-check-but-two-messages"]
# "The dummy check makes both paths take as long; the customer deserves to know which part was
# wrong." The clock says nothing now, and the answer says it all: 404 for no account, 401 for a
# wrong password.
import anyio.to_thread
from pwdlib import PasswordHash

password_hash = PasswordHash.recommended()
DUMMY_HASH = password_hash.hash("this hash belongs to no account")

app = FastAPI(lifespan=lifespan)


async def hash_password(password: str) -> str:
    return await anyio.to_thread.run_sync(password_hash.hash, password)


async def verify_password(password: str, hashed: str) -> bool:
    return await anyio.to_thread.run_sync(password_hash.verify, password, hashed)


@app.post("/signup", status_code=201)
async def sign_up(account: SignUp, session: SessionDep) -> AccountOut:
    user = User(email=account.email, name=account.name, hashed_password=await hash_password(account.password))
    session.add(user)
    await session.commit()
    return AccountOut.model_validate(user)


@app.post("/login")
async def log_in(credentials: LogIn, session: SessionDep) -> TokenOut:
    user = await session.scalar(select(User).where(User.email == credentials.email))
    matches = await verify_password(credentials.password, user.hashed_password if user else DUMMY_HASH)
    if user is None:
        raise HTTPException(status_code=404, detail="No account with this email")
    if not matches:
        raise HTTPException(status_code=401, detail="Wrong password")
    return TokenOut(access_token=issue_token(user.id, user.role))

# %% tags=["kata", "decoy:one-message-early-return"]
# "One condition, one message: nothing tells the two cases apart." Python's `or` stops at the
# first true operand: for an unknown email the password is never checked, and that answer comes
# back without the slow part.
import anyio.to_thread
from pwdlib import PasswordHash

password_hash = PasswordHash.recommended()

app = FastAPI(lifespan=lifespan)


async def hash_password(password: str) -> str:
    return await anyio.to_thread.run_sync(password_hash.hash, password)


async def verify_password(password: str, hashed: str) -> bool:
    return await anyio.to_thread.run_sync(password_hash.verify, password, hashed)


@app.post("/signup", status_code=201)
async def sign_up(account: SignUp, session: SessionDep) -> AccountOut:
    user = User(email=account.email, name=account.name, hashed_password=await hash_password(account.password))
    session.add(user)
    await session.commit()
    return AccountOut.model_validate(user)


@app.post("/login")
async def log_in(credentials: LogIn, session: SessionDep) -> TokenOut:
    user = await session.scalar(select(User).where(User.email == credentials.email))
    if user is None or not await verify_password(credentials.password, user.hashed_password):
        raise HTTPException(status_code=401, detail="Wrong email or password")
    return TokenOut(access_token=issue_token(user.id, user.role))

# %% tags=["kata", "decoy:cheap-parameters"]
# "Argon2id, but the recommended parameters make every login slow: one pass over 1 MiB will do."
# Every guess a thief makes costs them what a login costs the shop: cheap for the shop is cheap for
# the thief.
import anyio.to_thread
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

password_hash = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),))
DUMMY_HASH = password_hash.hash("this hash belongs to no account")

app = FastAPI(lifespan=lifespan)


async def hash_password(password: str) -> str:
    return await anyio.to_thread.run_sync(password_hash.hash, password)


async def verify_password(password: str, hashed: str) -> bool:
    return await anyio.to_thread.run_sync(password_hash.verify, password, hashed)


@app.post("/signup", status_code=201)
async def sign_up(account: SignUp, session: SessionDep) -> AccountOut:
    user = User(email=account.email, name=account.name, hashed_password=await hash_password(account.password))
    session.add(user)
    await session.commit()
    return AccountOut.model_validate(user)


@app.post("/login")
async def log_in(credentials: LogIn, session: SessionDep) -> TokenOut:
    user = await session.scalar(select(User).where(User.email == credentials.email))
    matches = await verify_password(credentials.password, user.hashed_password if user else DUMMY_HASH)
    if user is None or not matches:
        raise HTTPException(status_code=401, detail="Wrong email or password")
    return TokenOut(access_token=issue_token(user.id, user.role))

# %% tags=["kata", "alternative:dummy-hash"]
# Check the password against a dummy hash when the email has no account, as many guides show: the
# same work as a wrong password, as long as the dummy is made by the same hasher. It costs one
# slow hash when the module is imported.
import anyio.to_thread
from pwdlib import PasswordHash

# Argon2id with pwdlib's current parameters (64 MiB of memory, 3 passes): a random salt for every
# hash, and the parameters written into the hash, so that they can be raised later.
password_hash = PasswordHash.recommended()
# What a login checks the password against when the email has no account, so that it does the
# same work as for a wrong password. Nobody's password: it is never stored anywhere.
DUMMY_HASH = password_hash.hash("this hash belongs to no account")

app = FastAPI(lifespan=lifespan)


async def hash_password(password: str) -> str:
    # Slow on purpose: a worker thread does it, so the event loop keeps serving other requests.
    return await anyio.to_thread.run_sync(password_hash.hash, password)


async def verify_password(password: str, hashed: str) -> bool:
    return await anyio.to_thread.run_sync(password_hash.verify, password, hashed)


@app.post("/signup", status_code=201)
async def sign_up(account: SignUp, session: SessionDep) -> AccountOut:
    user = User(email=account.email, name=account.name, hashed_password=await hash_password(account.password))
    session.add(user)
    await session.commit()
    return AccountOut.model_validate(user)


@app.post("/login")
async def log_in(credentials: LogIn, session: SessionDep) -> TokenOut:
    user = await session.scalar(select(User).where(User.email == credentials.email))
    # Exactly one password check, whether the email has an account or not.
    matches = await verify_password(credentials.password, user.hashed_password if user else DUMMY_HASH)
    if user is None or not matches:
        raise HTTPException(status_code=401, detail="Wrong email or password")
    return TokenOut(access_token=issue_token(user.id, user.role))

# %% tags=["kata", "alternative:argon2-cffi"]
# argon2-cffi directly, the library pwdlib's Argon2 hasher is built on: its PasswordHasher has the
# same defaults, and raises on a mismatch instead of returning False.
import anyio.to_thread
from argon2 import PasswordHasher
from argon2.exceptions import VerificationError

hasher = PasswordHasher()
DUMMY_HASH = hasher.hash("this hash belongs to no account")

app = FastAPI(lifespan=lifespan)


def check(hashed: str, password: str) -> bool:
    try:
        return hasher.verify(hashed, password)
    except VerificationError:
        return False


@app.post("/signup", status_code=201)
async def sign_up(account: SignUp, session: SessionDep) -> AccountOut:
    hashed = await anyio.to_thread.run_sync(hasher.hash, account.password)
    user = User(email=account.email, name=account.name, hashed_password=hashed)
    session.add(user)
    await session.commit()
    return AccountOut.model_validate(user)


@app.post("/login")
async def log_in(credentials: LogIn, session: SessionDep) -> TokenOut:
    user = await session.scalar(select(User).where(User.email == credentials.email))
    matches = await anyio.to_thread.run_sync(check, user.hashed_password if user else DUMMY_HASH, credentials.password)
    if user is None or not matches:
        raise HTTPException(status_code=401, detail="Wrong email or password")
    return TokenOut(access_token=issue_token(user.id, user.role))

# %% tags=["kata", "alternative:rehash-on-login"]
# The solution, plus what a shop with older hashes needs: when a customer logs in with the right
# password and their hash was made with weaker parameters, pwdlib hands back a new hash to store.
import anyio.to_thread
from pwdlib import PasswordHash

password_hash = PasswordHash.recommended()
DUMMY_HASH = password_hash.hash("this hash belongs to no account")

app = FastAPI(lifespan=lifespan)


@app.post("/signup", status_code=201)
async def sign_up(account: SignUp, session: SessionDep) -> AccountOut:
    hashed = await anyio.to_thread.run_sync(password_hash.hash, account.password)
    user = User(email=account.email, name=account.name, hashed_password=hashed)
    session.add(user)
    await session.commit()
    return AccountOut.model_validate(user)


@app.post("/login")
async def log_in(credentials: LogIn, session: SessionDep) -> TokenOut:
    user = await session.scalar(select(User).where(User.email == credentials.email))
    stored = user.hashed_password if user else DUMMY_HASH
    matches, updated = await anyio.to_thread.run_sync(password_hash.verify_and_update, credentials.password, stored)
    if user is None or not matches:
        raise HTTPException(status_code=401, detail="Wrong email or password")
    if updated is not None:
        user.hashed_password = updated
        await session.commit()
    return TokenOut(access_token=issue_token(user.id, user.role))

# %% [markdown]
# ## The evidence
#
# The next cell creates two accounts, Dana's and Erin's, who happen to have chosen the same
# password. Then it does what the tester did: one login for an address that has an account, with
# a wrong password, and one for an address that has none. Under each answer it lists the Argon2
# computations the login made (a spy from the workbook, `password_work`, counts them and reads
# the memory and passes each one asked for), and how long the answer took.

# %% tags=["evidence"]
import time

from bookshop.accounts import password_work
from bookshop.client import describe, shop_client
from bookshop.db import database_url
from bookshop.observe import run_sql

DANA = {"email": "dana@example.com", "name": "Dana", "password": "sunshine1984"}
ERIN = {"email": "erin@example.com", "name": "Erin", "password": "sunshine1984"}  # the same, by chance
run_sql(database_url(), "DELETE FROM users WHERE email IN ('dana@example.com', 'erin@example.com')")

with shop_client(app) as client:
    for account in (DANA, ERIN):
        print(f"POST /signup {account['email']:<17} -> {describe(client.post('/signup', json=account))}")
    for label, email in (("has an account", "dana@example.com"), ("has none", "dina@example.com")):
        with password_work() as work:
            start = time.perf_counter()
            answer = client.post("/login", json={"email": email, "password": "wrong-guess-123"})
            took = time.perf_counter() - start
        print(f"\nPOST /login {email} ({label}), wrong password")
        print(f"    -> {describe(answer)}, in {took * 1000:.0f} ms")
        print(f"    Argon2 computations: {', '.join(map(str, work)) or 'none'}")

# %% [markdown]
# With the starter, the two logins answer differently (`404` and `401`), and neither makes an
# Argon2 computation: the starter has none. Once the answers are the same, compare the two lists of
# computations and the two times: a login that checks the password only when the account exists
# answers the other case without that work, sooner by the time that work takes. The check counts the
# computations; it reads no clock.
#
# ## The stolen table
#
# Now the second attacker's side. The next cell prints what the `users` table holds for Dana and
# Erin, as a stolen backup would show it, then plays a cracking tool: it tries a word list of
# 10,000 likely passwords against Dana's row, for half a second at most, and reports its pace.
# The tool knows two formats, a bare SHA-256 digest and an Argon2 hash (which it checks with
# argon2-cffi, as any such tool would).

# %% tags=["evidence"]
import hashlib
import re
import time

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError

stolen = run_sql(database_url(), "SELECT email, hashed_password FROM users "
                                 "WHERE email IN ('dana@example.com', 'erin@example.com') ORDER BY email")
for email, stored in stolen:
    print(f"{email:<17} {stored}")

WORDS = [f"{word}{year}" for word in ("password", "letmein", "dragon", "sunshine", "welcome") for year in range(1900, 3900)]


def guess_is_right(guess: str, stored: str) -> bool | None:
    """What a cracking tool does with one guess; None for a format it does not know."""
    if re.fullmatch(r"[0-9a-f]{64}", stored):
        return hashlib.sha256(guess.encode()).hexdigest() == stored
    if stored.startswith("$argon2"):
        try:
            return PasswordHasher().verify(stored, guess)
        except VerificationError:
            return False
    return None


if stolen:
    target = stolen[0][1]
    tried, found, start = 0, None, time.perf_counter()
    for guess in WORDS:
        right = guess_is_right(guess, target)
        if right is None:
            print("\nThe tool does not know this format: with the app's source, the thief adds it.")
            break
        tried += 1
        if right:
            found = guess
            break
        if time.perf_counter() - start > 0.5:
            break
    spent = time.perf_counter() - start
    if found:
        print(f"\nFound Dana's password, {found!r}, after {tried:,} guesses in {spent:.3f} s.")
        same = [email for email, stored in stolen if stored == target]
        print(f"Rows with that very value: {', '.join(same)}.")
    elif tried:
        print(f"\n{tried:,} guesses in {spent:.2f} s, not found. The whole list would take "
              f"{spent / tried * len(WORDS) / 60:,.0f} minutes, for this one row: each row has its own salt.")

# %% [markdown]
# With the starter, both rows hold the same 64-character digest, and the tool finds the password
# within milliseconds, in plain Python (tools built for cracking are much faster still). Once the
# kata is fixed, each row holds its own Argon2id hash: the tool manages a handful of guesses in
# its half second, and the estimate it prints for the whole list is for that one row.
#
# ## The check
#
# The check attacks the app as the tester did. So that it runs in a fraction of a second, it
# computes each new hash with Argon2's lowest parameters while the check runs (the hashes still
# read `$argon2id$`); it records the parameters your code asked for and judges those. So keep the
# real parameters in your code: the check is fast either way.

# %% tags=["check"]
%%ipytest
from checks.passwords import *

# %% [markdown]
# ## Hints
#
# Stuck? Each click opens one more level: a nudge, then the concept, then a sketch of
# the code. In a terminal, `kata hint passwords` opens the same levels.

# %% [markdown] tags=["hint"]
# ### Hint 1: a nudge
#
# Two questions. If a thief had the `users` table, how many guesses a second could they try
# against one row, and would two customers with the same password be two problems for them or
# one? And when the email has no account, which part of the login's work is skipped?

# %% [markdown] tags=["hint"]
# ### Hint 2: the concept
#
# A password hash should be slow and memory-hungry on purpose, and salted per password. Argon2id
# is the first choice of OWASP's *Password Storage Cheat Sheet*; pwdlib, the library FastAPI's
# security tutorial uses, gives it with its recommended parameters and a random salt, and writes
# both into the hash it returns. bcrypt is still acceptable where Argon2 is not available, but it
# reads only the first 72 bytes of a password.
#
# A login must not tell an unknown email from a wrong password, neither by its answer (one status,
# one message) nor by its work: when the email has no account, it still makes one Argon2
# computation with the same parameters (hash the password that was sent, or check it against a
# dummy hash made by the same hasher). OWASP's *Authentication Cheat Sheet* covers both, in its
# section on authentication and error messages.
#
# Read: [pwdlib](https://frankie567.github.io/pwdlib/), FastAPI's
# [OAuth2 with Password (and hashing), Bearer with JWT tokens](https://fastapi.tiangolo.com/tutorial/security/oauth2-jwt/),
# OWASP's [Password Storage Cheat Sheet](https://cheatsheetseries.owasp.org/cheatsheets/Password_Storage_Cheat_Sheet.html).

# %% [markdown] tags=["hint"]
# ### Hint 3: a sketch
#
# ```python
# from pwdlib import PasswordHash
#
# password_hash = PasswordHash.recommended()
#
# # in the sign-up: hashed_password=password_hash.hash(account.password)
# # in the login, one Argon2 computation whatever the email, and one answer:
# if user is None:
#     password_hash.hash(credentials.password)  # the work a wrong password costs
# elif password_hash.verify(credentials.password, user.hashed_password):
#     return TokenOut(access_token=issue_token(user.id, user.role))
# raise HTTPException(status_code=401, detail="Wrong email or password")
# ```
# Hashing takes a fifth of a second of CPU: run it in a worker thread
# (`await anyio.to_thread.run_sync(...)`) so the event loop keeps serving, as "A blocking call
# freezes every request" shows.

# %% [markdown]
# ## The walkthrough

# %% [markdown] tags=["walkthrough"]
# ### The fix, step by step
#
# 1. **A slow, salted hash.** `PasswordHash.recommended()` is Argon2id with 64 MiB of memory and 3
#    passes (pwdlib 0.3.1). Each hash gets a random salt, so Dana and Erin get different values
#    for the same password, and a thief must attack each row on its own. Each guess costs the
#    thief the same memory and time as a login costs the shop: that is the point, and it is why
#    lowering the parameters "because logins are slow" is a decoy. The parameters are written
#    into the hash (`$argon2id$v=19$m=65536,t=3,p=4$...`), so they can be raised later without
#    breaking the hashes already stored.
# 2. **Every byte counts.** Argon2 hashes the whole passphrase. bcrypt reads only the first 72
#    bytes: two passphrases that differ after that are the same password to it, and bcrypt 5
#    raises `ValueError` for a longer one instead of ignoring the rest.
# 3. **One answer.** An unknown email and a wrong password get the same status, headers and body.
#    The front end shows "Wrong email or password"; the customer who mistyped knows what to try.
# 4. **The same work.** When there is no account, the login hashes the password it was sent:
#    one Argon2 computation with the hasher's parameters, what checking a wrong password costs.
#    FastAPI's tutorial does the same work another way: it checks the password against a
#    `DUMMY_HASH` made by the same hasher when the module is imported (one slow hash at startup);
#    both are right, as long as the dummy comes from the same hasher. Beware
#    `if user is None or not verify(...)`: Python's `or` stops at the first true operand, so the
#    check meant for both cases never runs for the unknown email.
# 5. **Off the event loop.** Argon2 is CPU work by design. In an `async def` endpoint, run it with
#    `anyio.to_thread.run_sync`; argon2-cffi releases the GIL while it computes, so other requests
#    go on meanwhile.
#
# **Why not passlib?** `CryptContext(schemes=["bcrypt"])` is in many guides, and in older
# versions of FastAPI's tutorial. passlib has had no release since 2020; with bcrypt 5 every call
# raises `ValueError: password cannot be longer than 72 bytes` (its start-up self-test hashes a
# long password), as the decoy shows. The workbook's environment does not even install it: the
# import fails. **Why not SHA-256 with a salt?** The salt stops one guess from cracking every
# equal row, but SHA-256 is built to be fast: each row still falls to a word list in moments.
# **Why not keep two messages and only equalise the work?** The message is then the oracle.
#
# Hashes made with older parameters (the seeded customers' hashes use light ones, for the
# workbook's speed) can be upgraded as customers log in: `verify_and_update` returns a new hash
# to store when the password is right and the old hash was made with other parameters than the
# hasher's (or by another hasher).
# Until every hash is upgraded, a login for such an account costs less than one for an unknown
# email; that difference fades as they are rehashed.
#
# The check lowers Argon2's parameters while it runs (it records and judges the ones your code
# asked for): a test suite may do the same, never the app. Sign-up and "forgot my password"
# can reveal accounts too ("this email is already registered"); they should answer the same way
# whatever the email and say the rest by email. Rate-limit the login as well: equal answers slow
# an enumeration down, they do not stop someone trying passwords.
#
# Read more: [pwdlib](https://frankie567.github.io/pwdlib/); FastAPI,
# [OAuth2 with Password (and hashing), Bearer with JWT tokens](https://fastapi.tiangolo.com/tutorial/security/oauth2-jwt/);
# OWASP, [Password Storage Cheat Sheet](https://cheatsheetseries.owasp.org/cheatsheets/Password_Storage_Cheat_Sheet.html),
# [Authentication Cheat Sheet](https://cheatsheetseries.owasp.org/cheatsheets/Authentication_Cheat_Sheet.html),
# [API2:2023 Broken Authentication](https://owasp.org/API-Security/editions/2023/en/0xa2-broken-authentication/).
#
# ### What to remember
# - Store passwords with Argon2id (pwdlib's `PasswordHash.recommended()`): slow, salted, its
#   parameters in the hash. Never a fast hash, salted or not.
# - Do not lower the parameters to make logins or tests faster in the app; a test may lower them
#   for itself.
# - An unknown email and a wrong password get one answer and cost one Argon2 computation each:
#   when there is no account, hash the password anyway (or check it against a dummy hash).
# - Hash in a worker thread inside `async def` endpoints.
