"""The room's settings, read from the environment once, when the app starts.

`KATA_ROOM_TEACHER_TOKEN` has no default: a room without it refuses to start (`kata room serve`
makes one and prints it). Everything else has a default that suits a workshop on one laptop.
"""

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class RoomSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KATA_ROOM_", frozen=True)

    teacher_token: SecretStr = Field(min_length=16)  # required: the only key that reads the class
    data: Path  # the room's own folder: its SQLite database lives here
    workbook: Path  # the teacher's workbook: the katas, their titles and walkthroughs
    track: str = "full"  # the katas the page shows, in this order
    folder: Path | None = None  # the shared-folder transport to read results from (see folder.py)
    max_body: int = Field(default=64 * 1024, gt=0)  # bytes a request body may have
    scan_every: float = Field(default=1.0, gt=0)  # seconds between two reads of the shared folder
