"""training/log.py: the per-episode CSV log, cut back to a checkpoint on resume, and set aside
(never deleted) when it cannot be read."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.callbacks import EpisodeReport
from training.log import LOG_FIELDS, CsvLog, prepare_for_resume, read_rows

SCORES = [10.0, 20.0, 30.0, 40.0]


def report(episode: int, losses: dict[str, float] | None = None) -> EpisodeReport:
    return EpisodeReport(
        episode=episode, score=SCORES[episode - 1], avg_score=0.0, steps=episode,
        total_steps=episode * 10, updates=episode, skipped_updates=0, wall_time=episode / 3,
        steps_per_second=1.0, solved=False, losses=losses or {},
    )  # fmt: skip


def write_log(path: Path, episodes: int) -> None:
    log = CsvLog(path)
    for episode in range(1, episodes + 1):
        log(report(episode, {"value_loss": 0.5} if episode > 1 else None))
    log.close()


def test_rows_are_flushed_and_appended(tmp_path):
    path = tmp_path / "train_log.csv"
    log = CsvLog(path)
    log(report(1))
    assert len(read_rows(path)) == 1  # flushed: a crash keeps it
    log.close()
    log = CsvLog(path)  # a resumed run appends, without a second header
    log(report(2, {"value_loss": 0.25}))
    log.close()
    rows = read_rows(path)
    assert [r["episode"] for r in rows] == ["1", "2"] and tuple(rows[0]) == LOG_FIELDS
    assert rows[0]["value_loss"] == "" and rows[1]["value_loss"] == "0.25"
    assert rows[1]["wall_time"] == "0.667"


def test_resume_cuts_the_log_back_to_the_checkpoint(tmp_path):
    path = tmp_path / "train_log.csv"
    write_log(path, 4)
    before = read_rows(path)
    assert prepare_for_resume(path, 2, SCORES[:2]) is None
    assert read_rows(path) == before[:2]
    assert list(tmp_path.iterdir()) == [path]
    assert prepare_for_resume(tmp_path / "none.csv", 2, SCORES) is None  # no log: nothing to do


def test_rows_after_the_checkpoint_are_not_read(tmp_path):
    """A row cut short by a crash after the checkpoint (a full disk, a kill) costs nothing."""
    path = tmp_path / "train_log.csv"
    write_log(path, 3)
    path.write_bytes(path.read_bytes() + b"4,40.0,1")
    assert prepare_for_resume(path, 3, SCORES[:3]) is None
    assert [r["episode"] for r in read_rows(path)] == ["1", "2", "3"]


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda data: b"\xef\xbb\xbf" + data, "its header is not the log's"),
        (lambda data: data.replace(b"\n2,", b"\nx,", 1), "line 3 is garbled"),
        (lambda data: data.replace(b"\n2,", b"\n5,", 1), "line 3 breaks the episode sequence"),
        (lambda data: data.replace(b"\n2,", b"\n2,extra,", 1), "line 3 is garbled"),
        (lambda data: data.replace(b"\n2,20.0,", b"\n2,", 1)[:-30], "line 3 is garbled"),
        (lambda data: data[:-1] + b"\xff\n", "it is not UTF-8 text"),
        (lambda data: data[: data.index(b"\n3,")], "it ends at episode 2, before the checkpoint's"),
        (lambda data: b"", "its header is not the log's"),
    ],
    ids=[
        "bom",
        "garbled",
        "sequence",
        "extra-field",
        "missing-fields",
        "not-utf8",
        "short",
        "empty",
    ],
)
def test_an_unreadable_log_is_set_aside_and_rebuilt_from_the_scores(tmp_path, damage, reason):
    path = tmp_path / "train_log.csv"
    write_log(path, 3)
    damaged = damage(path.read_bytes())
    path.write_bytes(damaged)
    note = prepare_for_resume(path, 3, SCORES)
    assert note == (
        f"train_log.csv could not be used ({reason}): kept as train_log.unreadable.csv; "
        "a new log starts from the checkpoint's 3 scores"
    )
    assert (tmp_path / "train_log.unreadable.csv").read_bytes() == damaged
    rows = read_rows(path)
    assert [(r["episode"], r["score"], r["avg_score"]) for r in rows] == [
        ("1", "10.0", "10.0"), ("2", "20.0", "15.0"), ("3", "30.0", "20.0"),
    ]  # fmt: skip


def test_an_earlier_unreadable_log_is_never_overwritten(tmp_path):
    path = tmp_path / "train_log.csv"
    (tmp_path / "train_log.unreadable.csv").write_bytes(b"first")
    path.write_bytes(b"second")
    prepare_for_resume(path, 1, SCORES)
    assert (tmp_path / "train_log.unreadable.csv").read_bytes() == b"first"
    assert (tmp_path / "train_log.unreadable2.csv").read_bytes() == b"second"
