"""The workbook's harness: read the manifest, build notebooks, run checks, drive the `kata` CLI."""


class KataError(Exception):
    """A problem the learner or author can fix; its message names the file and the next command."""
