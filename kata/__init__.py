"""The workbook's harness: read the manifest, build notebooks, run checks, drive the `kata` CLI."""


class KataError(Exception):
    """A problem the learner or author can fix; its message names the file and the next command."""


_phase = ["the check"]


def report_phase(text: str) -> None:
    """Note what is running now (a cell, a test), so a check stopped by its time limit can say where."""
    _phase[0] = text


def current_phase() -> str:
    return _phase[0]
