"""Scratch folders: in memory where the system has room, and none left behind by a process that
ended without its exit handlers."""

import subprocess
import sys

from bookshop import scratch


def test_a_folder_left_by_a_process_that_is_gone_is_removed_by_the_next_one(tmp_path, monkeypatch):
    monkeypatch.setattr(scratch, "scratch_root", lambda: str(tmp_path))
    code = ("import os; from bookshop import scratch; "
            f"scratch.scratch_root = lambda: {str(tmp_path)!r}; "
            "print(scratch.scratch_folder('bookshop-')); os._exit(0)")  # as a forked child leaves
    left = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert (tmp_path / left.rsplit("/", 1)[1]).is_dir()
    scratch._sweep.cache_clear()
    mine = scratch.scratch_folder("bookshop-")
    assert not (tmp_path / left.rsplit("/", 1)[1]).exists()
    assert mine.is_dir() and mine.parent == tmp_path
    scratch._sweep.cache_clear()
    scratch.scratch_folder("bookshop-")
    assert mine.is_dir(), "a live process's folder was removed"


def test_memory_is_used_only_with_room_to_spare(monkeypatch):
    class Small:
        f_bavail, f_frsize = 16 * 2**20 // 4096, 4096  # 16 MiB, as a container's /dev/shm may be

    monkeypatch.setattr(scratch.os, "statvfs", lambda path: Small)
    scratch.scratch_root.cache_clear()
    try:
        assert scratch.scratch_root() != str(scratch.MEMORY)
    finally:
        scratch.scratch_root.cache_clear()
