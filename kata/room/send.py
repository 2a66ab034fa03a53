"""The background sender: `python -m kata.room.send ROOT` sends what ROOT's outbox holds, then ends.

Started by kata.room.client.record_event after each check, hint and walkthrough, detached from
the command or kernel that started it. One sender works at a time; a second one finding it busy
ends at once, and the busy one looks again before it ends, so nothing waits for long.
"""

import sys
from pathlib import Path

from kata.room.client import flush


def main(root: str) -> int:
    for _ in range(3):  # what arrived while another sender was finishing goes now, not next time
        sent, left = flush(Path(root))
        if not left or not sent:
            break
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
