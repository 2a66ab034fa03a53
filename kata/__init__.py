"""The workbook's harness: read the manifest, build notebooks, run checks, drive the `kata` CLI."""

from collections.abc import Callable


class KataError(Exception):
    """A problem the learner or author can fix; its message names the file and the next command."""


_phase = ["the check"]
_listeners: list[Callable[[str], None]] = []


def report_phase(text: str) -> None:
    """Note what is running now (a cell, a test), so a check stopped by its time limit, or ended
    by the code it ran, can say where."""
    _phase[0] = text
    for listener in _listeners:
        listener(text)


def current_phase() -> str:
    return _phase[0]


def listen_to_phases(listener: Callable[[str], None]) -> None:
    _listeners.append(listener)
