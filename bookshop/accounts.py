"""Customer accounts: how the shop stores and checks passwords.

Passwords are hashed with Argon2id through pwdlib, the library FastAPI's security tutorial uses.
The parameters here are light (8 MiB, two passes) so that the workbook's checks stay fast; a
production service uses ``PasswordHash.recommended()`` (64 MiB, three passes), or tunes its own.

``password_work`` is a spy: it records every Argon2 computation an app makes, with its cost.
"""

import re
import threading
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import argon2.exceptions
import argon2.low_level
from argon2 import _password_hasher
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

_hasher = PasswordHash((Argon2Hasher(time_cost=2, memory_cost=8192, parallelism=1),))

ROLES = ("customer", "staff")


def hash_password(password: str) -> str:
    """An Argon2id hash of ``password``, salted: ``$argon2id$v=19$m=8192,t=2,p=1$...``."""
    return _hasher.hash(password)


def verify_password(password: str, hashed: str) -> bool:
    return _hasher.verify(password, hashed)


# --- how much password work the app does: every Argon2 computation, with the cost it asked for ---

_PARAMETERS = re.compile(rb"\$m=(\d+),t=(\d+),p=(\d+)\$")
_argon2_lock = threading.Lock()


@dataclass(frozen=True)
class Argon2Work:
    """One Argon2 computation: a new hash (``"hash"``) or a check against a stored one
    (``"verify"``), and the cost it costs: memory in KiB, passes, lanes."""

    operation: str
    memory_cost: int
    time_cost: int
    parallelism: int

    @property
    def cost(self) -> tuple[int, int, int]:
        return self.memory_cost, self.time_cost, self.parallelism

    def __str__(self) -> str:
        memory = f"{self.memory_cost // 1024} MiB" if self.memory_cost % 1024 == 0 else f"{self.memory_cost} KiB"
        return f"{self.operation} ({memory}, {self.time_cost} pass{'es' if self.time_cost != 1 else ''})"


@contextmanager
def password_work(*, cheap: bool = False, never_match: Collection[str] = ()) -> Iterator[list[Argon2Work]]:
    """Record every Argon2 computation made through argon2-cffi meanwhile (pwdlib's Argon2 hasher
    uses it), from any thread, with the cost the code asked for. Nothing here reads a clock.

    ``cheap=True`` is for checks: each new hash is computed with the lowest parameters instead
    (it still reads ``$argon2id$``), and is recorded at the cost the code asked for, as is every
    later check against it. A password in ``never_match`` is one a check made up (random, sent for
    an email nobody has): checked against a hash not made meanwhile, it is recorded at that hash's
    cost and answered "no match" without spending the cost, which is the answer it would get.
    """
    log: list[Argon2Work] = []
    asked: dict[bytes, tuple[int, int, int]] = {}  # hash made meanwhile -> the cost the code asked for
    made_up = {password.encode() for password in never_match}
    original_hash, original_verify = _password_hasher.hash_secret, _password_hasher.verify_secret

    def hash_secret(secret, salt, time_cost, memory_cost, parallelism, hash_len, type, version=argon2.low_level.ARGON2_VERSION):
        log.append(Argon2Work("hash", memory_cost, time_cost, parallelism))
        if not cheap:
            return original_hash(secret, salt, time_cost, memory_cost, parallelism, hash_len, type, version)
        encoded = original_hash(secret, salt, 1, 8 * parallelism, parallelism, hash_len, type, version)
        asked[encoded] = (memory_cost, time_cost, parallelism)
        return encoded

    def verify_secret(hash, secret, type):
        found = _PARAMETERS.search(hash)
        cost = asked.get(hash) or (tuple(int(n) for n in found.groups()) if found else (0, 0, 0))
        log.append(Argon2Work("verify", *cost))
        if hash not in asked and secret in made_up:
            raise argon2.exceptions.VerifyMismatchError("The secret does not match the hash.")
        return original_verify(hash, secret, type)

    with _argon2_lock:
        _password_hasher.hash_secret, _password_hasher.verify_secret = hash_secret, verify_secret
    try:
        yield log
    finally:
        with _argon2_lock:
            _password_hasher.hash_secret, _password_hasher.verify_secret = original_hash, original_verify
