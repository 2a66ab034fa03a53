"""What the room accepts and what it answers, validated and bounded: an unknown field, an overlong
text or a list too long is refused (422) before anything is stored."""

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

NAME = r"^[\w][\w .'-]{0,39}$"  # a learner's name: letters, digits, spaces, . ' - _ (up to 40)


class In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class JoinIn(In):
    name: str = Field(pattern=NAME)


class JoinOut(BaseModel):
    learner: str
    token: str  # the learner's own key: it writes their results, and nothing else
    katas: list[str]


class FailingTest(In):
    test: str = Field(max_length=200)
    sentence: str = Field(max_length=300)
    observed: str = Field(default="", max_length=600)  # what the check saw: never the learner's code


class ResultIn(In):
    uid: str = Field(pattern=r"^[0-9a-f]{32}$")  # made once by the learner: a re-send is recognised
    kata: str = Field(max_length=80)
    kind: Literal["check", "hint", "walkthrough"]
    status: Literal["passed", "failed"] | None = None
    failing: list[FailingTest] = Field(default_factory=list, max_length=40)
    attempts: int = Field(default=0, ge=0, le=100_000)
    hint: int = Field(default=0, ge=0, le=4)
    walkthrough: bool = False
    first_check: str | None = Field(default=None, max_length=32)
    last_check: str | None = Field(default=None, max_length=32)
    at: AwareDatetime


class ResultsIn(In):
    results: list[ResultIn] = Field(min_length=1, max_length=50)


class ResultsOut(BaseModel):
    stored: int
    already: int  # re-sends of results the room had


class WalkthroughOut(BaseModel):
    kata: str
    text: str


class RevealsOut(BaseModel):
    revealed: list[str]


class FailureOut(BaseModel):
    kata: str
    number: int
    test: str
    sentence: str
    observed: str
    learners: int


class KataOut(BaseModel):
    id: str
    number: int
    title: str
    minutes: int | None
    done: int
    failing: int
    not_started: int
    revealed: bool
    common_failure: FailureOut | None


class StuckOut(BaseModel):
    learner: str
    kata: str
    number: int
    title: str
    since: str
    minutes: float
    sentence: str
    attempts: int
    hint: int


class LearnerOut(BaseModel):
    name: str
    done: int
    failing: int
    hints: int
    last_seen: str | None


class SummaryOut(BaseModel):
    generated: datetime
    track: str
    learners: int
    katas: list[KataOut]
    stuck: list[StuckOut]
    most_common_failure: FailureOut | None
    class_: list[LearnerOut] = Field(serialization_alias="class")
