"""Customer accounts: how the shop stores and checks passwords.

Passwords are hashed with Argon2id through pwdlib, the library FastAPI's security tutorial uses.
The parameters here are light (8 MiB, two passes) so that the workbook's checks stay fast; a
production service uses ``PasswordHash.recommended()`` (64 MiB, three passes), or tunes its own.
"""

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

_hasher = PasswordHash((Argon2Hasher(time_cost=2, memory_cost=8192, parallelism=1),))

ROLES = ("customer", "staff")


def hash_password(password: str) -> str:
    """An Argon2id hash of ``password``, salted: ``$argon2id$v=19$m=8192,t=2,p=1$...``."""
    return _hasher.hash(password)


def verify_password(password: str, hashed: str) -> bool:
    return _hasher.verify(password, hashed)
