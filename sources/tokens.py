# %% [markdown]
# # Tokens are checked, not just decoded
#
# **The story.** The bookshop's API gives a logged-in customer a JWT from `POST /login`, and
# `GET /me` reads it back to know who is calling. Three reports arrived in one week.
#
# 1. The new servers in Los Angeles, set up on local time: every customer who logs in there is
#    told at once that their token has expired. On the servers in Tokyo, tokens advertised for 15
#    minutes (`expires_in: 900`) work for more than nine hours.
# 2. A security researcher: "Your signing key is the example key printed in FastAPI's security
#    tutorial. I signed a token saying I am user 3, and `GET /me` showed me Carol's profile. Carol
#    is staff."
# 3. An internal audit: a token minted by the staging environment works on production (both run
#    the same code, so the same key); a token an old support script made without an expiry still
#    works a year later; and a token meant for the warehouse API, which the single sign-on also
#    serves, opens the shop's API.
#
# What the shop's tokens must be from now on: signed with HS256 by the key the deployment puts in
# the `BOOKSHOP_TOKEN_KEY` setting; issued by `https://bookshop.example` for the audience
# `bookshop-api`; carrying the user (`sub`), their `role`, when they were issued (`iat`) and when
# they expire (`exp`, 15 minutes later). `GET /me` answers every other token with `401` and
# `WWW-Authenticate: Bearer`, as it does already for a missing one.
#
# **You will learn**
# - what `jwt.decode` checks by itself, and what it only checks when you ask;
# - why a naive `datetime.now()` makes tokens expire hours early or late, depending on the
#   server's time zone;
# - where a signing key comes from, and why one in the code is anyone's key.
#
# Run the cells from the top (**Run → Run All Cells**), read the evidence, then make the check pass.

# %% [markdown]
# ## The threat model
#
# **OWASP API2:2023, Broken Authentication.** The attackers: anyone who has read the same
# tutorial (they know the key, so they can sign a token for any user, staff included); whoever
# holds a token that should be dead (an old one without an expiry, one copied out of a log) or one
# issued for another API or another environment. What they gain: the account of whoever the token
# names, including the staff's, for as long as the API keeps accepting it.

# %% tags=["setup"]
from checks import setup_notebook

setup_notebook()

# %% [markdown]
# ## The bookshop around the problem
#
# `lifespan` is the shop's own ("The engine belongs to the lifespan"). `verify_password` and
# `hash_password` come from the shop's accounts module, which checks passwords as "Slow hashes,
# and one answer for every failed login" teaches. The deployment sets `BOOKSHOP_TOKEN_KEY`, the
# signing key: here the notebook plays the deployment and sets it once per kernel, to a random
# value. `LIFETIME` is how long a token lasts, as `expires_in` advertises it.

# %%
import os
import secrets
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Annotated

import jwt
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bookshop.accounts import hash_password, verify_password
from bookshop.db import lifespan
from bookshop.models import User

os.environ.setdefault("BOOKSHOP_TOKEN_KEY", secrets.token_urlsafe(32))  # what the deployment does

LIFETIME = timedelta(minutes=15)


class LogIn(BaseModel):
    email: str
    password: str


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int = int(LIFETIME.total_seconds())


class CurrentUser(BaseModel):
    id: int
    role: str


class Profile(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    name: str
    role: str


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.state.sessionmaker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]

# %% [markdown]
# ## The code under review
#
# This is the cell you will change: how a token is made, how it is read back, and the dependency
# that turns the `Authorization` header into the current user. What does `read_token` make sure
# of, and what does it take on trust?

# %% tags=["kata", "starter"]
# To get a string like this run: openssl rand -hex 32
SECRET_KEY = "09d25e094faa6ca2556c818166b7a9563b93f7099f6f0f4caa6cf63b88e8d3e7"
ALGORITHM = "HS256"


def create_token(user: User) -> str:
    claims = {"sub": str(user.id), "role": user.role, "exp": datetime.now() + LIFETIME}
    return jwt.encode(claims, SECRET_KEY, algorithm=ALGORITHM)


def read_token(token: str) -> dict:
    return jwt.decode(token, SECRET_KEY, algorithms=[ALGORITHM])


bearer = HTTPBearer()


async def current_user(credentials: Annotated[HTTPAuthorizationCredentials, Depends(bearer)]) -> CurrentUser:
    try:
        claims = read_token(credentials.credentials)
    except jwt.InvalidTokenError:
        raise HTTPException(status_code=401, detail="Invalid or expired token", headers={"WWW-Authenticate": "Bearer"})
    return CurrentUser(id=int(claims["sub"]), role=claims["role"])

# %% tags=["kata", "solution"]
from datetime import UTC
from functools import lru_cache

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BOOKSHOP_")

    token_key: SecretStr  # BOOKSHOP_TOKEN_KEY: required, and shown as '**********'


@lru_cache
def get_settings() -> Settings:
    return Settings()


ALGORITHM = "HS256"
ISSUER = "https://bookshop.example"
AUDIENCE = "bookshop-api"


def create_token(user: User) -> str:
    now = datetime.now(UTC)  # aware: the same instant whatever the server's time zone
    claims = {"sub": str(user.id), "role": user.role, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + LIFETIME}
    return jwt.encode(claims, get_settings().token_key.get_secret_value(), algorithm=ALGORITHM)


def read_token(token: str) -> dict:
    return jwt.decode(
        token,
        get_settings().token_key.get_secret_value(),
        algorithms=[ALGORITHM],  # this one only, whatever the token's header says
        audience=AUDIENCE,
        issuer=ISSUER,
        options={"require": ["sub", "role", "iss", "aud", "iat", "exp"]},  # absent is refused too
    )


bearer = HTTPBearer()


async def current_user(credentials: Annotated[HTTPAuthorizationCredentials, Depends(bearer)]) -> CurrentUser:
    try:
        claims = read_token(credentials.credentials)
    except jwt.InvalidTokenError:  # every way a token can be wrong: signature, claims, format
        raise HTTPException(status_code=401, detail="Invalid or expired token", headers={"WWW-Authenticate": "Bearer"})
    return CurrentUser(id=int(claims["sub"]), role=claims["role"])

# %% tags=["kata", "decoy:fallback-key"]
from datetime import UTC
from functools import lru_cache

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BOOKSHOP_")

    # BOOKSHOP_TOKEN_KEY, or the tutorial's key when a deploy forgets it
    token_key: SecretStr = SecretStr("09d25e094faa6ca2556c818166b7a9563b93f7099f6f0f4caa6cf63b88e8d3e7")


@lru_cache
def get_settings() -> Settings:
    return Settings()


ALGORITHM = "HS256"
ISSUER = "https://bookshop.example"
AUDIENCE = "bookshop-api"


def create_token(user: User) -> str:
    now = datetime.now(UTC)  # aware: the same instant whatever the server's time zone
    claims = {"sub": str(user.id), "role": user.role, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + LIFETIME}
    return jwt.encode(claims, get_settings().token_key.get_secret_value(), algorithm=ALGORITHM)


def read_token(token: str) -> dict:
    return jwt.decode(
        token,
        get_settings().token_key.get_secret_value(),
        algorithms=[ALGORITHM],  # this one only, whatever the token's header says
        audience=AUDIENCE,
        issuer=ISSUER,
        options={"require": ["sub", "role", "iss", "aud", "iat", "exp"]},  # absent is refused too
    )


bearer = HTTPBearer()


async def current_user(credentials: Annotated[HTTPAuthorizationCredentials, Depends(bearer)]) -> CurrentUser:
    try:
        claims = read_token(credentials.credentials)
    except jwt.InvalidTokenError:  # every way a token can be wrong: signature, claims, format
        raise HTTPException(status_code=401, detail="Invalid or expired token", headers={"WWW-Authenticate": "Bearer"})
    return CurrentUser(id=int(claims["sub"]), role=claims["role"])

# %% tags=["kata", "decoy:python-jose"]
# "python-jose, as FastAPI's tutorial used to show, with the audience and the issuer checked." It
# checks an expiry only when the token has one, and an audience only when the token names one: a
# token with neither is accepted. (The workbook's environment does not even install it.)
from datetime import UTC
from functools import lru_cache

from jose import JWTError
from jose import jwt as jose_jwt
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BOOKSHOP_")

    token_key: SecretStr


@lru_cache
def get_settings() -> Settings:
    return Settings()


ALGORITHM = "HS256"
ISSUER = "https://bookshop.example"
AUDIENCE = "bookshop-api"


def create_token(user: User) -> str:
    now = datetime.now(UTC)
    claims = {"sub": str(user.id), "role": user.role, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + LIFETIME}
    return jose_jwt.encode(claims, get_settings().token_key.get_secret_value(), algorithm=ALGORITHM)


def read_token(token: str) -> dict:
    return jose_jwt.decode(token, get_settings().token_key.get_secret_value(), algorithms=[ALGORITHM],
                           audience=AUDIENCE, issuer=ISSUER)


bearer = HTTPBearer()


async def current_user(credentials: Annotated[HTTPAuthorizationCredentials, Depends(bearer)]) -> CurrentUser:
    try:
        claims = read_token(credentials.credentials)
    except JWTError:
        raise HTTPException(status_code=401, detail="Invalid or expired token", headers={"WWW-Authenticate": "Bearer"})
    return CurrentUser(id=int(claims["sub"]), role=claims["role"])

# %% tags=["kata", "decoy:verify-exp-only"]
# "Turn on verify_exp, so that the expiry is checked." PyJWT checks it already whenever the token
# has one; verify_exp says nothing about a token that has none, and such a token never expires.
from datetime import UTC
from functools import lru_cache

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BOOKSHOP_")

    token_key: SecretStr


@lru_cache
def get_settings() -> Settings:
    return Settings()


ALGORITHM = "HS256"
ISSUER = "https://bookshop.example"
AUDIENCE = "bookshop-api"


def create_token(user: User) -> str:
    now = datetime.now(UTC)
    claims = {"sub": str(user.id), "role": user.role, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + LIFETIME}
    return jwt.encode(claims, get_settings().token_key.get_secret_value(), algorithm=ALGORITHM)


def read_token(token: str) -> dict:
    return jwt.decode(token, get_settings().token_key.get_secret_value(), algorithms=[ALGORITHM],
                      audience=AUDIENCE, issuer=ISSUER, options={"verify_exp": True})


bearer = HTTPBearer()


async def current_user(credentials: Annotated[HTTPAuthorizationCredentials, Depends(bearer)]) -> CurrentUser:
    try:
        claims = read_token(credentials.credentials)
    except jwt.InvalidTokenError:
        raise HTTPException(status_code=401, detail="Invalid or expired token", headers={"WWW-Authenticate": "Bearer"})
    return CurrentUser(id=int(claims["sub"]), role=claims["role"])

# %% tags=["kata", "decoy:no-issued-at"]
# "exp is what matters: iat is decoration." Every attack is refused, but the tokens no longer say
# when they were issued, so the shop cannot refuse those issued before a password change.
from datetime import UTC
from functools import lru_cache

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BOOKSHOP_")

    token_key: SecretStr


@lru_cache
def get_settings() -> Settings:
    return Settings()


ALGORITHM = "HS256"
ISSUER = "https://bookshop.example"
AUDIENCE = "bookshop-api"


def create_token(user: User) -> str:
    claims = {"sub": str(user.id), "role": user.role, "iss": ISSUER, "aud": AUDIENCE,
              "exp": datetime.now(UTC) + LIFETIME}
    return jwt.encode(claims, get_settings().token_key.get_secret_value(), algorithm=ALGORITHM)


def read_token(token: str) -> dict:
    return jwt.decode(token, get_settings().token_key.get_secret_value(), algorithms=[ALGORITHM],
                      audience=AUDIENCE, issuer=ISSUER, options={"require": ["sub", "role", "iss", "aud", "exp"]})


bearer = HTTPBearer()


async def current_user(credentials: Annotated[HTTPAuthorizationCredentials, Depends(bearer)]) -> CurrentUser:
    try:
        claims = read_token(credentials.credentials)
    except jwt.InvalidTokenError:
        raise HTTPException(status_code=401, detail="Invalid or expired token", headers={"WWW-Authenticate": "Bearer"})
    return CurrentUser(id=int(claims["sub"]), role=claims["role"])

# %% tags=["kata", "decoy:old-key-for-old-sessions"]
# "Sign with the configured key, and still accept the old one so nobody is logged out." The old
# key is the tutorial's: anyone can sign a staff token with it, and the shop still takes it.
from datetime import UTC
from functools import lru_cache

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BOOKSHOP_")

    token_key: SecretStr  # BOOKSHOP_TOKEN_KEY: required, and shown as '**********'


@lru_cache
def get_settings() -> Settings:
    return Settings()


ALGORITHM = "HS256"
ISSUER = "https://bookshop.example"
AUDIENCE = "bookshop-api"


def create_token(user: User) -> str:
    now = datetime.now(UTC)  # aware: the same instant whatever the server's time zone
    claims = {"sub": str(user.id), "role": user.role, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + LIFETIME}
    return jwt.encode(claims, get_settings().token_key.get_secret_value(), algorithm=ALGORITHM)


OLD_KEY = "09d25e094faa6ca2556c818166b7a9563b93f7099f6f0f4caa6cf63b88e8d3e7"  # the key before this fix


def read_token(token: str) -> dict:
    for key in (get_settings().token_key.get_secret_value(), OLD_KEY):  # "old sessions keep working"
        try:
            return jwt.decode(token, key, algorithms=[ALGORITHM], audience=AUDIENCE, issuer=ISSUER,
                              options={"require": ["sub", "role", "iss", "aud", "iat", "exp"]})
        except jwt.InvalidSignatureError:
            continue
    raise jwt.InvalidSignatureError("no key matched")


bearer = HTTPBearer()


async def current_user(credentials: Annotated[HTTPAuthorizationCredentials, Depends(bearer)]) -> CurrentUser:
    try:
        claims = read_token(credentials.credentials)
    except jwt.InvalidTokenError:  # every way a token can be wrong: signature, claims, format
        raise HTTPException(status_code=401, detail="Invalid or expired token", headers={"WWW-Authenticate": "Bearer"})
    return CurrentUser(id=int(claims["sub"]), role=claims["role"])

# %% tags=["kata", "decoy:generous-clock-skew"]
# "Clocks drift between servers: allow for it." Fifty minutes of leeway turns the advertised
# fifteen minutes into sixty-five; a few seconds is what drifting clocks need.
from datetime import UTC
from functools import lru_cache

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BOOKSHOP_")

    token_key: SecretStr  # BOOKSHOP_TOKEN_KEY: required, and shown as '**********'


@lru_cache
def get_settings() -> Settings:
    return Settings()


ALGORITHM = "HS256"
ISSUER = "https://bookshop.example"
AUDIENCE = "bookshop-api"


def create_token(user: User) -> str:
    now = datetime.now(UTC)  # aware: the same instant whatever the server's time zone
    claims = {"sub": str(user.id), "role": user.role, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + LIFETIME}
    return jwt.encode(claims, get_settings().token_key.get_secret_value(), algorithm=ALGORITHM)


def read_token(token: str) -> dict:
    return jwt.decode(
        token,
        get_settings().token_key.get_secret_value(),
        algorithms=[ALGORITHM],  # this one only, whatever the token's header says
        audience=AUDIENCE,
        issuer=ISSUER,
        options={"require": ["sub", "role", "iss", "aud", "iat", "exp"]},
        leeway=timedelta(minutes=50),  # "clocks drift: be generous"
    )


bearer = HTTPBearer()


async def current_user(credentials: Annotated[HTTPAuthorizationCredentials, Depends(bearer)]) -> CurrentUser:
    try:
        claims = read_token(credentials.credentials)
    except jwt.InvalidTokenError:  # every way a token can be wrong: signature, claims, format
        raise HTTPException(status_code=401, detail="Invalid or expired token", headers={"WWW-Authenticate": "Bearer"})
    return CurrentUser(id=int(claims["sub"]), role=claims["role"])

# %% tags=["kata", "decoy:environment-or-the-tutorial-key"]
# "os.environ.get with a default, read once at import." With the setting there, the check's
# process signs with it; a deploy without it signs with the tutorial's key.
import os
from datetime import UTC
from types import SimpleNamespace

from pydantic import SecretStr


# Read once, when the cell runs: the deploy's environment, or the tutorial's key.
SECRET_KEY = os.environ.get("BOOKSHOP_TOKEN_KEY", "09d25e094faa6ca2556c818166b7a9563b93f7099f6f0f4caa6cf63b88e8d3e7")


def get_settings() -> SimpleNamespace:
    return SimpleNamespace(token_key=SecretStr(SECRET_KEY))


ALGORITHM = "HS256"
ISSUER = "https://bookshop.example"
AUDIENCE = "bookshop-api"


def create_token(user: User) -> str:
    now = datetime.now(UTC)  # aware: the same instant whatever the server's time zone
    claims = {"sub": str(user.id), "role": user.role, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + LIFETIME}
    return jwt.encode(claims, get_settings().token_key.get_secret_value(), algorithm=ALGORITHM)


def read_token(token: str) -> dict:
    return jwt.decode(
        token,
        get_settings().token_key.get_secret_value(),
        algorithms=[ALGORITHM],  # this one only, whatever the token's header says
        audience=AUDIENCE,
        issuer=ISSUER,
        options={"require": ["sub", "role", "iss", "aud", "iat", "exp"]},  # absent is refused too
    )


bearer = HTTPBearer()


async def current_user(credentials: Annotated[HTTPAuthorizationCredentials, Depends(bearer)]) -> CurrentUser:
    try:
        claims = read_token(credentials.credentials)
    except jwt.InvalidTokenError:  # every way a token can be wrong: signature, claims, format
        raise HTTPException(status_code=401, detail="Invalid or expired token", headers={"WWW-Authenticate": "Bearer"})
    return CurrentUser(id=int(claims["sub"]), role=claims["role"])

# %% tags=["kata", "decoy:a-default-to-change-in-production"]
# "Give the setting a default that says to change it." The one deploy that forgets signs with a
# key written in the code, and nothing says so.
from datetime import UTC
from functools import lru_cache

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BOOKSHOP_")

    token_key: SecretStr = SecretStr("change-me-in-production")  # "the deploy sets the real one"


@lru_cache
def get_settings() -> Settings:
    return Settings()


ALGORITHM = "HS256"
ISSUER = "https://bookshop.example"
AUDIENCE = "bookshop-api"


def create_token(user: User) -> str:
    now = datetime.now(UTC)  # aware: the same instant whatever the server's time zone
    claims = {"sub": str(user.id), "role": user.role, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + LIFETIME}
    return jwt.encode(claims, get_settings().token_key.get_secret_value(), algorithm=ALGORITHM)


def read_token(token: str) -> dict:
    return jwt.decode(
        token,
        get_settings().token_key.get_secret_value(),
        algorithms=[ALGORITHM],  # this one only, whatever the token's header says
        audience=AUDIENCE,
        issuer=ISSUER,
        options={"require": ["sub", "role", "iss", "aud", "iat", "exp"]},  # absent is refused too
    )


bearer = HTTPBearer()


async def current_user(credentials: Annotated[HTTPAuthorizationCredentials, Depends(bearer)]) -> CurrentUser:
    try:
        claims = read_token(credentials.credentials)
    except jwt.InvalidTokenError:  # every way a token can be wrong: signature, claims, format
        raise HTTPException(status_code=401, detail="Invalid or expired token", headers={"WWW-Authenticate": "Bearer"})
    return CurrentUser(id=int(claims["sub"]), role=claims["role"])

# %% tags=["kata", "decoy:decode-without-the-signature"]
# "The key is the problem: read the claims without it, and check them ourselves." Without the
# signature, anyone can write any claims: an expiry ten years away, another user, the staff role.
# With verify_signature off, PyJWT also checks none of the claims.
from datetime import UTC

ALGORITHM = "HS256"
ISSUER = "https://bookshop.example"
AUDIENCE = "bookshop-api"


def create_token(user: User) -> str:
    now = datetime.now(UTC)
    claims = {"sub": str(user.id), "role": user.role, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + LIFETIME}
    return jwt.encode(claims, os.environ["BOOKSHOP_TOKEN_KEY"], algorithm=ALGORITHM)


def read_token(token: str) -> dict:
    claims = jwt.decode(token, options={"verify_signature": False})
    if claims.get("iss") != ISSUER or claims.get("aud") != AUDIENCE:
        raise jwt.InvalidTokenError("not one of ours")
    return claims


bearer = HTTPBearer()


async def current_user(credentials: Annotated[HTTPAuthorizationCredentials, Depends(bearer)]) -> CurrentUser:
    try:
        claims = read_token(credentials.credentials)
    except jwt.InvalidTokenError:
        raise HTTPException(status_code=401, detail="Invalid or expired token", headers={"WWW-Authenticate": "Bearer"})
    return CurrentUser(id=int(claims["sub"]), role=claims["role"])

# %% tags=["kata", "decoy:leeway-for-the-clock"]
# "Los Angeles is behind: give the expiry some leeway." Twelve hours of leeway hide the time zone on
# both sides of UTC: a token expired this morning still opens the API, and local time still decides
# how long a token lasts.
from functools import lru_cache

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BOOKSHOP_")

    token_key: SecretStr


@lru_cache
def get_settings() -> Settings:
    return Settings()


ALGORITHM = "HS256"
ISSUER = "https://bookshop.example"
AUDIENCE = "bookshop-api"


def create_token(user: User) -> str:
    now = datetime.now()
    claims = {"sub": str(user.id), "role": user.role, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + LIFETIME}
    return jwt.encode(claims, get_settings().token_key.get_secret_value(), algorithm=ALGORITHM)


def read_token(token: str) -> dict:
    return jwt.decode(token, get_settings().token_key.get_secret_value(), algorithms=[ALGORITHM],
                      audience=AUDIENCE, issuer=ISSUER, leeway=timedelta(hours=12),
                      options={"require": ["sub", "role", "iss", "aud", "iat", "exp"]})


bearer = HTTPBearer()


async def current_user(credentials: Annotated[HTTPAuthorizationCredentials, Depends(bearer)]) -> CurrentUser:
    try:
        claims = read_token(credentials.credentials)
    except jwt.InvalidTokenError:
        raise HTTPException(status_code=401, detail="Invalid or expired token", headers={"WWW-Authenticate": "Bearer"})
    return CurrentUser(id=int(claims["sub"]), role=claims["role"])

# %% tags=["kata", "decoy:catch-only-expiry"]
# "An expired token is the one failure customers meet: answer it with a 401." Every other way a
# token can be wrong raises past the handler and answers 500: the attacker learns exactly which
# check their token failed, and the monitoring fills with errors that are attacks.
from datetime import UTC
from functools import lru_cache

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BOOKSHOP_")

    token_key: SecretStr


@lru_cache
def get_settings() -> Settings:
    return Settings()


ALGORITHM = "HS256"
ISSUER = "https://bookshop.example"
AUDIENCE = "bookshop-api"


def create_token(user: User) -> str:
    now = datetime.now(UTC)
    claims = {"sub": str(user.id), "role": user.role, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + LIFETIME}
    return jwt.encode(claims, get_settings().token_key.get_secret_value(), algorithm=ALGORITHM)


def read_token(token: str) -> dict:
    return jwt.decode(token, get_settings().token_key.get_secret_value(), algorithms=[ALGORITHM],
                      audience=AUDIENCE, issuer=ISSUER, options={"require": ["sub", "role", "iss", "aud", "iat", "exp"]})


bearer = HTTPBearer()


async def current_user(credentials: Annotated[HTTPAuthorizationCredentials, Depends(bearer)]) -> CurrentUser:
    try:
        claims = read_token(credentials.credentials)
    except jwt.ExpiredSignatureError:
        raise HTTPException(status_code=401, detail="Token expired", headers={"WWW-Authenticate": "Bearer"})
    return CurrentUser(id=int(claims["sub"]), role=claims["role"])

# %% tags=["kata", "decoy:random-key-per-process"]
# "No key in the code, and nothing to configure: a fresh random key each time the app starts." No
# one can guess it, but every restart logs every customer out, and two server processes refuse each
# other's tokens: the deployment's key is the one every process shares.
import secrets
from datetime import UTC

SECRET_KEY = secrets.token_urlsafe(32)
ALGORITHM = "HS256"
ISSUER = "https://bookshop.example"
AUDIENCE = "bookshop-api"


def create_token(user: User) -> str:
    now = datetime.now(UTC)
    claims = {"sub": str(user.id), "role": user.role, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + LIFETIME}
    return jwt.encode(claims, SECRET_KEY, algorithm=ALGORITHM)


def read_token(token: str) -> dict:
    return jwt.decode(token, SECRET_KEY, algorithms=[ALGORITHM], audience=AUDIENCE, issuer=ISSUER,
                      options={"require": ["sub", "role", "iss", "aud", "iat", "exp"]})


bearer = HTTPBearer()


async def current_user(credentials: Annotated[HTTPAuthorizationCredentials, Depends(bearer)]) -> CurrentUser:
    try:
        claims = read_token(credentials.credentials)
    except jwt.InvalidTokenError:
        raise HTTPException(status_code=401, detail="Invalid or expired token", headers={"WWW-Authenticate": "Bearer"})
    return CurrentUser(id=int(claims["sub"]), role=claims["role"])

# %% tags=["kata", "alternative:utcnow"]
# datetime.utcnow(): naive, but UTC, and PyJWT reads a naive datetime as UTC, so the tokens are
# right and the check accepts them. Prefer an aware datetime all the same: utcnow is deprecated
# since Python 3.12, and a naive value says nothing about its zone to the next reader or library.
from functools import lru_cache

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BOOKSHOP_")

    token_key: SecretStr


@lru_cache
def get_settings() -> Settings:
    return Settings()


ALGORITHM = "HS256"
ISSUER = "https://bookshop.example"
AUDIENCE = "bookshop-api"


def create_token(user: User) -> str:
    now = datetime.utcnow()
    claims = {"sub": str(user.id), "role": user.role, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + LIFETIME}
    return jwt.encode(claims, get_settings().token_key.get_secret_value(), algorithm=ALGORITHM)


def read_token(token: str) -> dict:
    return jwt.decode(token, get_settings().token_key.get_secret_value(), algorithms=[ALGORITHM],
                      audience=AUDIENCE, issuer=ISSUER, options={"require": ["sub", "role", "iss", "aud", "iat", "exp"]})


bearer = HTTPBearer()


async def current_user(credentials: Annotated[HTTPAuthorizationCredentials, Depends(bearer)]) -> CurrentUser:
    try:
        claims = read_token(credentials.credentials)
    except jwt.InvalidTokenError:
        raise HTTPException(status_code=401, detail="Invalid or expired token", headers={"WWW-Authenticate": "Bearer"})
    return CurrentUser(id=int(claims["sub"]), role=claims["role"])

# %% tags=["kata", "alternative:epoch-seconds-and-oauth2-scheme"]
# Times as seconds since the epoch (what a JWT holds anyway: no time zone can creep in), the key
# read from the environment when it is needed, and OAuth2PasswordBearer, which reads the same
# header and also gives the interactive docs their "Authorize" button.
import time

from fastapi.security import OAuth2PasswordBearer

ALGORITHM = "HS256"
ISSUER = "https://bookshop.example"
AUDIENCE = "bookshop-api"


def create_token(user: User) -> str:
    now = int(time.time())
    claims = {"sub": str(user.id), "role": user.role, "iss": ISSUER, "aud": AUDIENCE, "iat": now,
              "exp": now + int(LIFETIME.total_seconds())}
    return jwt.encode(claims, os.environ["BOOKSHOP_TOKEN_KEY"], algorithm=ALGORITHM)


def read_token(token: str) -> dict:
    return jwt.decode(token, os.environ["BOOKSHOP_TOKEN_KEY"], algorithms=[ALGORITHM], audience=AUDIENCE,
                      issuer=ISSUER, options={"require": ["sub", "role", "iss", "aud", "iat", "exp"]})


oauth2_scheme = OAuth2PasswordBearer(tokenUrl="login")


async def current_user(token: Annotated[str, Depends(oauth2_scheme)]) -> CurrentUser:
    try:
        claims = read_token(token)
    except jwt.InvalidTokenError:
        raise HTTPException(status_code=401, detail="Could not validate credentials",
                            headers={"WWW-Authenticate": "Bearer"})
    return CurrentUser(id=int(claims["sub"]), role=claims["role"])

# %% tags=["kata", "alternative:the-shop-auth-module"]
# The workbook's own auth module is this kata's fix, packaged: the later katas use it.
from bookshop.auth import current_user as shop_current_user
from bookshop.auth import issue_token, read_token


def create_token(user: User) -> str:
    return issue_token(user.id, user.role)


current_user = shop_current_user

# %% [markdown]
# The endpoints use only `create_token` and `current_user`, so they stay as they are while you
# fix the cell above. When there is no account for the email, the login still checks the password
# (against `NO_ACCOUNT`), as "Slow hashes, and one answer for every failed login" teaches.

# %%
app = FastAPI(lifespan=lifespan)
NO_ACCOUNT = hash_password(secrets.token_urlsafe(16))  # nobody's password


@app.post("/login")
async def log_in(credentials: LogIn, session: SessionDep) -> TokenOut:
    user = await session.scalar(select(User).where(User.email == credentials.email))
    matches = verify_password(credentials.password, user.hashed_password if user else NO_ACCOUNT)
    if user is None or not matches:
        raise HTTPException(status_code=401, detail="Wrong email or password")
    return TokenOut(access_token=create_token(user))


@app.get("/me")
async def me(user: Annotated[CurrentUser, Depends(current_user)], session: SessionDep) -> Profile:
    profile = await session.get(User, user.id)
    if profile is None:
        raise HTTPException(status_code=401, detail="Invalid or expired token", headers={"WWW-Authenticate": "Bearer"})
    return Profile.model_validate(profile)

# %% [markdown]
# ## The evidence
#
# First the time zones. The next cell logs Alice in on a server whose local time zone is UTC, then
# Los Angeles, then Tokyo (it sets the process's `TZ`, as a server's configuration does), reads the
# token's `exp` without checking it, and asks `GET /me` with the token at once.

# %% tags=["evidence"]
import time

import jwt as pyjwt

from bookshop.client import describe, local_time_zone, shop_client

ALICE = {"email": "alice@example.com", "password": "alice-in-the-shop"}


def token_of(response) -> str:
    """The token in a login's answer, or "" when there is none."""
    try:
        return str(response.json()["access_token"])
    except Exception:  # noqa: BLE001 - no JSON, no token: nothing to show
        return ""


def claims_of(token: str) -> dict:
    """A token's claims, read without checking anything."""
    try:
        return pyjwt.decode(token, options={"verify_signature": False})
    except pyjwt.InvalidTokenError:
        return {}


def from_now(seconds: float) -> str:
    minutes = round(seconds / 60)
    sign = "-" if minutes < 0 else "+"
    hours, minutes = divmod(abs(minutes), 60)
    return f"{sign}{hours} h {minutes:02d} min" if hours else f"{sign}{minutes} min"


for zone in ("UTC", "America/Los_Angeles", "Asia/Tokyo"):
    with local_time_zone(zone) as switched, shop_client(app) as client:
        if not switched:
            print(f"(this system cannot switch the process to {zone}: the row shows the local time zone)")
        token = token_of(client.post("/login", json=ALICE))
        me = client.get("/me", headers={"Authorization": f"Bearer {token}"})
    exp = claims_of(token).get("exp")
    expires = f"exp {from_now(exp - time.time())} from now" if isinstance(exp, (int, float)) else "no exp claim"
    print(f"{zone:<20} token {expires:<26} GET /me -> {describe(me, 60)}")

# %% [markdown]
# With the starter, the token made in Los Angeles expired hours before it was issued, and the one
# made in Tokyo lasts more than nine hours: a naive `datetime.now()` is the server's local time,
# and PyJWT reads a naive datetime as UTC.
#
# Now the attacks. The next cell makes the tokens the reports describe and sends each to
# `GET /me`. Where a token must be signed with the app's key, it is signed with whatever key
# signs the app's own tokens: the configured one if the app uses it, otherwise the example key
# from FastAPI's tutorial (the researcher found it on the first try).

# %% tags=["evidence"]
import base64
import json

TUTORIAL_KEY = "09d25e094faa6ca2556c818166b7a9563b93f7099f6f0f4caa6cf63b88e8d3e7"


def signs(token: str, key: str) -> bool:
    try:
        pyjwt.decode(token, key, algorithms=["HS256"], options={"verify_exp": False, "verify_aud": False,
                                                               "verify_iss": False, "verify_iat": False})
        return True
    except pyjwt.InvalidTokenError:
        return False


def with_claims(token: str, **changes) -> str:
    """``token`` with some claims changed and its signature kept as it was."""
    header, _, signature = token.split(".")
    claims = {**pyjwt.decode(token, options={"verify_signature": False}), **changes}
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{payload}.{signature}"


with shop_client(app) as client:
    own = token_of(client.post("/login", json=ALICE))
    claims = claims_of(own)
    key = next((k for k in (os.environ["BOOKSHOP_TOKEN_KEY"], TUTORIAL_KEY) if own and signs(own, k)), None)
    now = int(time.time())
    carol = {**claims, "sub": "3", "role": "staff"}
    attacks = {"Alice's own token, from POST /login": own}
    attacks["Carol (staff), signed with the tutorial's key"] = pyjwt.encode(
        {**carol, "exp": now + 900}, TUTORIAL_KEY, algorithm="HS256")
    if key:
        without = lambda name: {k: v for k, v in claims.items() if k != name}  # noqa: E731
        attacks["Alice, with no exp at all"] = pyjwt.encode(without("exp"), key, algorithm="HS256")
        attacks["Alice, expired an hour ago"] = pyjwt.encode({**claims, "exp": now - 3600}, key, algorithm="HS256")
        attacks["Alice, for the audience warehouse-api"] = pyjwt.encode({**claims, "aud": "warehouse-api"}, key, algorithm="HS256")
        attacks["Alice, with no audience"] = pyjwt.encode(without("aud"), key, algorithm="HS256")
        attacks["Alice, issued by staging"] = pyjwt.encode({**claims, "iss": "https://staging.bookshop.example"}, key, algorithm="HS256")
        attacks["Alice, with no issuer"] = pyjwt.encode(without("iss"), key, algorithm="HS256")
    attacks["Carol, unsigned (alg: none)"] = pyjwt.encode(carol, None, algorithm="none")
    attacks["Carol, signed with the attacker's own key"] = pyjwt.encode(carol, secrets.token_urlsafe(32), algorithm="HS256")
    if own:
        attacks["Alice's token, its role changed to staff"] = with_claims(own, role="staff")
    for label, token in attacks.items():
        answer = client.get("/me", headers={"Authorization": f"Bearer {token}"})
        print(f"{label:<48} -> {describe(answer, 64)}")

# %% [markdown]
# With the starter, Carol's profile comes back for a token signed with the tutorial's key, and
# Alice's profile for the tokens with no expiry, another audience, no audience, staging's issuer
# and no issuer. PyJWT refuses some tokens by itself: a bad signature, an algorithm it was not
# told to accept (`none`), an `exp` in the past, an audience the app did not expect. Everything
# else it only checks when asked: a claim that is *absent* passes, and so does any issuer.
#
# ## The check
#
# Each test is one attack: a token crafted as the reports describe, sent to `GET /me`, which must
# answer `401` with `WWW-Authenticate: Bearer`. The check signs its tokens with the key that signs
# the app's own, wherever it found it. While it runs, the server's time zone is UTC, except in the
# test that logs in from Los Angeles and from Tokyo.

# %% tags=["check"]
%%ipytest
from checks.tokens import *

# %% [markdown]
# ## Hints
#
# Stuck? Each click opens one more level: a nudge, then the concept, then a sketch of
# the code. In a terminal, `kata hint tokens` opens the same levels.

# %% [markdown] tags=["hint"]
# ### Hint 1: a nudge
#
# Read `read_token` as an attacker would: which claims must a token carry for it to be accepted,
# and whose tokens besides the shop's would pass? Then read `create_token` on a server in Los
# Angeles: which instant does `datetime.now()` return there? And who else knows `SECRET_KEY`?

# %% [markdown] tags=["hint"]
# ### Hint 2: the concept
#
# `jwt.decode` verifies the signature with the algorithms you allow, and checks `exp`, `iat` and
# `nbf` *when the token has them*; it checks the audience and the issuer only when you pass the
# ones you expect. A claim that must be there is listed in the `require` option. A JWT holds its
# times as seconds since the epoch (UTC): build them from an aware UTC datetime, never from a
# naive local one. And the key is configuration: the deployment gives it to the app, as
# "Settings are read at startup; secrets have no default" shows.
#
# Read: PyJWT, [Usage examples](https://pyjwt.readthedocs.io/en/stable/usage.html) (expiration,
# audience, issuer, requiring claims) and [API](https://pyjwt.readthedocs.io/en/stable/api.html);
# [RFC 8725, JWT Best Current Practices](https://www.rfc-editor.org/rfc/rfc8725).

# %% [markdown] tags=["hint"]
# ### Hint 3: a sketch
#
# ```python
# class Settings(BaseSettings):
#     model_config = SettingsConfigDict(env_prefix="BOOKSHOP_")
#     token_key: SecretStr                       # BOOKSHOP_TOKEN_KEY, required
#
# def create_token(user: User) -> str:
#     now = datetime.now(UTC)
#     claims = {"sub": ..., "role": ..., "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + LIFETIME}
#     return jwt.encode(claims, key, algorithm="HS256")
#
# def read_token(token: str) -> dict:
#     return jwt.decode(token, key, algorithms=["HS256"], audience=AUDIENCE, issuer=ISSUER,
#                       options={"require": ["sub", "role", "iss", "aud", "iat", "exp"]})
# ```
# `key` is the setting's value, read through a cached `get_settings()`.

# %% [markdown]
# ## The walkthrough

# %% [markdown] tags=["walkthrough"]
# ### The fix, step by step
#
# 1. **The key is the deployment's.** Read it from `BOOKSHOP_TOKEN_KEY` through a settings class,
#    as a required `SecretStr`: no default, so a deployment that forgot it does not start on a
#    public key, and the value never shows in a repr or a log. A key in the code is shared by
#    every copy of the code: staging signs production's tokens, and a key from a tutorial is
#    known to everyone who read it. A random key made when the process starts is secret but not
#    shared: each restart logs everyone out, and two workers refuse each other's tokens.
# 2. **Aware UTC times.** `datetime.now()` is the server's local time without a zone; PyJWT turns
#    a naive datetime into seconds as if it were UTC. In Los Angeles tokens were born expired, in
#    Tokyo they lived nine hours. `datetime.now(UTC)` is the same instant everywhere.
#    `datetime.utcnow()` gives the right instant too, naive, which is why the check accepts it;
#    but it is deprecated since Python 3.12, and a naive value cannot be compared with an aware
#    one (`TypeError`), so mixing them breaks the next piece of code that does.
# 3. **Say who the token is from and for.** `iss` names the shop, `aud` this API: tokens for the
#    warehouse API or from staging fail `audience=` and `issuer=`.
# 4. **Require every claim you rely on.** `options={"require": [...]}`: a token without `exp`
#    would otherwise never expire, one without `aud` or `iss` would skip those checks.
#    `verify_exp` only says whether an `exp` that is present is checked (it is, by default).
# 5. **Pin the algorithm.** `algorithms=["HS256"]`, never read from the token's header: that is
#    what turns away `alg: none` and algorithm-confusion tokens.
# 6. **Catch `jwt.InvalidTokenError`.** Every failure of `decode` is a subclass of it; catching
#    only `ExpiredSignatureError` turns every other attack into a 500.
#
# **Why not python-jose?** FastAPI's tutorial used it for years and shows PyJWT now. python-jose
# checks an expiry or an audience only when the token has one (a token with neither is accepted,
# as the decoy shows), and the workbook does not install it: the import fails. **Why not a leeway?** A leeway absorbs a few seconds of clock
# drift between servers; hours of leeway keep expired tokens alive and still let local time decide
# how long a token lasts.
#
# The shop's `bookshop.auth` module is this fix, packaged (`issue_token`, `read_token`,
# `current_user`): the katas that follow build on it.
#
# Read more: PyJWT, [Usage examples](https://pyjwt.readthedocs.io/en/stable/usage.html);
# FastAPI, [OAuth2 with Password (and hashing), Bearer with JWT tokens](https://fastapi.tiangolo.com/tutorial/security/oauth2-jwt/);
# [RFC 8725](https://www.rfc-editor.org/rfc/rfc8725); OWASP,
# [API2:2023 Broken Authentication](https://owasp.org/API-Security/editions/2023/en/0xa2-broken-authentication/).
#
# ### What to remember
# - Decoding is not checking: pin the algorithm, pass the audience and the issuer, and require
#   every claim you rely on.
# - Token times come from `datetime.now(UTC)`; a naive local time is hours off on any server not
#   on UTC.
# - The signing key comes from the deployment's settings, required and secret; never from the code.
# - Every invalid token is a 401 with `WWW-Authenticate: Bearer`: catch `jwt.InvalidTokenError`.
