"""How the shop knows who is calling: short-lived bearer tokens (JWT, HS256, PyJWT).

``issue_token`` signs a token for a user: ``sub`` (the user id), ``role``, ``iss`` and ``aud``
(this shop and its API), ``iat`` and ``exp`` (aware UTC, 15 minutes). ``read_token`` accepts only
such a token: the algorithm pinned, every claim required, audience and issuer checked, the
signature verified with the key from ``BOOKSHOP_TOKEN_KEY`` (read when called; without it, one
random key per process). ``current_user`` is the dependency routes use: a ``CurrentUser``, or a
401 with ``WWW-Authenticate: Bearer``.

This is the shop's token handling done right, as "Tokens are checked, not just decoded" teaches
it: later katas build on it.
"""

import functools
import os
import secrets
from datetime import UTC, datetime, timedelta
from typing import Annotated

import jwt
from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

ISSUER = "https://bookshop.example"
AUDIENCE = "bookshop-api"
ALGORITHM = "HS256"
LIFETIME = timedelta(minutes=15)
TOKEN_KEY_ENV = "BOOKSHOP_TOKEN_KEY"


@functools.cache
def _process_key() -> str:
    return secrets.token_urlsafe(32)


def token_key() -> str:
    """The signing key: ``BOOKSHOP_TOKEN_KEY``, or a random key for this process (32+ bytes)."""
    return os.environ.get(TOKEN_KEY_ENV) or _process_key()


def issue_token(user_id: int, role: str = "customer", *, now: datetime | None = None, key: str | None = None) -> str:
    issued = now or datetime.now(UTC)
    claims = {"sub": str(user_id), "role": role, "iss": ISSUER, "aud": AUDIENCE,
              "iat": issued, "exp": issued + LIFETIME}
    return jwt.encode(claims, key or token_key(), algorithm=ALGORITHM)


def read_token(token: str, *, key: str | None = None) -> dict:
    """The token's claims; raises ``jwt.InvalidTokenError`` for anything this shop did not issue."""
    return jwt.decode(token, key or token_key(), algorithms=[ALGORITHM], audience=AUDIENCE, issuer=ISSUER,
                      options={"require": ["sub", "role", "iss", "aud", "iat", "exp"]})


class CurrentUser(BaseModel):
    id: int
    role: str


bearer = HTTPBearer(auto_error=False)


def _refuse(reason: str) -> HTTPException:
    return HTTPException(status_code=status.HTTP_401_UNAUTHORIZED, detail=reason,
                         headers={"WWW-Authenticate": "Bearer"})


async def current_user(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> CurrentUser:
    if credentials is None:
        raise _refuse("Not authenticated")
    try:
        claims = read_token(credentials.credentials)
        return CurrentUser(id=int(claims["sub"]), role=str(claims["role"]))
    except (jwt.InvalidTokenError, ValueError):
        raise _refuse("Invalid or expired token") from None


CurrentUserDep = Annotated[CurrentUser, Depends(current_user)]


def bearer_header(user_id: int, role: str = "customer") -> dict[str, str]:
    """``{"Authorization": "Bearer ..."}`` for a user: what a logged-in client sends."""
    return {"Authorization": f"Bearer {issue_token(user_id, role)}"}
