"""Where throwaway files go: the scratch databases and folders of checks and notebooks."""

import atexit
import contextlib
import functools
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

MEMORY = Path("/dev/shm")
MEMORY_TO_SPARE = 256 * 2**20  # bytes: Docker's default /dev/shm (64 MiB) is too small to lend


@functools.cache
def scratch_root() -> str:
    """The folder scratch databases and check folders go in: memory (/dev/shm) where the system
    has plenty, else the system's temporary folder. On a disk, every commit of a database waits
    for the disk to sync (1.4 ms on the virtual machine this was measured on, against 0.13 ms in
    memory); scratch copies are thrown away, so none needs to survive a power cut."""
    try:
        usage = os.statvfs(MEMORY)
        if usage.f_bavail * usage.f_frsize >= MEMORY_TO_SPARE and os.access(MEMORY, os.W_OK | os.X_OK):
            return str(MEMORY)
    except (OSError, AttributeError):  # no /dev/shm (macOS, Windows)
        pass
    return tempfile.gettempdir()


def new_folder(prefix: str) -> Path:
    """A new folder in ``scratch_root()``, for the caller to remove. One a process leaves behind
    (killed, or a forked child that leaves with ``os._exit``) is removed by the next process to
    ask for one, as its name says whose it was."""
    _sweep()
    return Path(tempfile.mkdtemp(prefix=f"{prefix}pid{os.getpid()}-", dir=scratch_root()))


def scratch_folder(prefix: str) -> Path:
    """A new folder in ``scratch_root()``, removed when this process ends."""
    path = new_folder(prefix)
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


@contextlib.contextmanager
def temporary_folder(prefix: str) -> Iterator[Path]:
    """A new folder in ``scratch_root()``, removed when the block ends."""
    path = new_folder(prefix)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


OWNER = re.compile(r"-pid(\d+)-[a-z0-9_]{8}$")  # mkdtemp's suffix is eight of these characters


@functools.cache
def _sweep() -> None:
    with contextlib.suppress(OSError):
        for entry in os.scandir(scratch_root()):
            owner = OWNER.search(entry.name)
            if owner and entry.is_dir(follow_symlinks=False) and not _alive(int(owner.group(1))):
                shutil.rmtree(entry.path, ignore_errors=True)  # another user's: not ours to remove


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # someone else's process
        return True
    return True
