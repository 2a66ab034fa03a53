"""Tracks (tracks/*.toml): ordered subsets of the katas with their minutes; `kata list --track`,
and a workspace that follows the recorded track. Kata numbers stay whatever the track."""

import json

import pytest

from kata import KataError
from kata.tracks import load_track, names
from tests.conftest import KATAS, ROOT, WORKBOOK, copy_workbook, kata


@pytest.mark.parametrize("name", names(ROOT))
def test_every_track_names_known_katas_once(name):
    track = load_track(ROOT, name, KATAS)
    assert track.katas and len(set(track.katas)) == len(track.katas) and track.title


def test_the_tracks_a_teacher_and_a_lead_need_exist():
    assert {"full", "workshop-3h", "onboarding-week"} <= set(names(ROOT))
    assert load_track(ROOT, "full", KATAS).katas == tuple(KATAS)
    assert 100 <= load_track(ROOT, "workshop-3h", KATAS).minutes <= 120, "about 110 hands-on minutes"
    week = load_track(ROOT, "onboarding-week", KATAS)
    assert 5 * 60 <= week.minutes <= 12 * 60 and [k.number for k in week.katas] == sorted(k.number for k in week.katas)


def test_a_track_naming_an_unknown_kata_says_which(tmp_path):
    (tmp_path / "tracks").mkdir()
    (tmp_path / "tracks" / "mine.toml").write_text('katas = ["lifespan", "no-such-kata"]\n')
    with pytest.raises(KataError, match="no-such-kata"):
        load_track(tmp_path, "mine", KATAS)
    with pytest.raises(KataError, match="Known tracks: mine"):
        load_track(tmp_path, "nope", KATAS)


@pytest.fixture
def fresh(tmp_path):
    """A workbook with its tracks, before `kata update` made any copies."""
    return copy_workbook(tmp_path, *WORKBOOK, "tracks")


def test_list_with_a_track_shows_its_katas_their_stable_numbers_and_minutes_left(fresh):
    track = load_track(ROOT, "workshop-3h", KATAS)
    out = kata(fresh, "list", "--track", "workshop-3h", check=0).stdout
    assert f"about {track.minutes} minutes" in out and f"0/{len(track.katas)} done, about {track.minutes} minutes left" in out
    for k in track.katas:
        assert f"{k.number:>2}  {k.title}" in out and f"{k.minutes} min" in out
    outside = next(k for k in KATAS if k not in track.katas)
    assert outside.title not in out
    data = json.loads(kata(fresh, "list", "--track", "workshop-3h", "--json", check=0).stdout)
    assert [r["number"] for r in data["katas"]] == [k.number for k in track.katas]
    assert data["track"] == "workshop-3h" and data["minutes_left"] == track.minutes and data["total"] == len(track.katas)
    done = kata(fresh, "list", "--track", "nope", check=2)
    assert "There is no track 'nope'" in done.stderr


def test_the_workspace_follows_the_recorded_track(fresh):
    track = load_track(ROOT, "workshop-3h", KATAS)
    done = kata(fresh, "update", "--track", "workshop-3h", "--quiet", check=0)
    assert "Following the track 'workshop-3h'" in done.stdout
    made = sorted(p.name for p in (fresh / "workspace").rglob("*.ipynb"))
    assert made == sorted(k.notebook.name for k in track.katas)
    data = json.loads(kata(fresh, "list", "--json", check=0).stdout)
    assert data["track"] == "workshop-3h" and len(data["katas"]) == len(track.katas)
    kata(fresh, "update", "--track", "full", "--quiet", check=0)
    assert len(list((fresh / "workspace").rglob("*.ipynb"))) == len(KATAS)
