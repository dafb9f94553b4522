"""The per-episode CSV log of a run (train_log.csv), a training callback.

The log is a side file: the checkpoint is the truth. On resume the rows after the checkpoint's
episode are dropped; a log that cannot be read (a byte-order mark, garbled rows) is moved aside
under a new name, never deleted, and a new one is started from the checkpoint's scores.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from agent import LOSS_NAMES
from training.callbacks import EpisodeReport
from training.checkpoints import atomic_path

LOG_FILE = "train_log.csv"
LOG_FIELDS = (
    "episode", "score", "avg_score", "steps", "total_steps", "updates", "skipped_updates",
    "wall_time", *LOSS_NAMES,
)  # fmt: skip


class CsvLog:
    """Appends one row per episode and flushes it, so the log is complete up to a crash."""

    def __init__(self, path: Path) -> None:
        new = not path.exists() or path.stat().st_size == 0
        self.handle = open(path, "a", newline="")
        self.writer = csv.DictWriter(self.handle, fieldnames=LOG_FIELDS)
        if new:
            self.writer.writeheader()

    def __call__(self, report: EpisodeReport) -> None:
        self.writer.writerow(
            {
                "episode": report.episode,
                "score": report.score,
                "avg_score": report.avg_score,
                "steps": report.steps,
                "total_steps": report.total_steps,
                "updates": report.updates,
                "skipped_updates": report.skipped_updates,
                "wall_time": round(report.wall_time, 3),
                **{k: report.losses.get(k, "") for k in LOSS_NAMES},
            }
        )
        self.handle.flush()

    def close(self) -> None:
        self.handle.close()


class UnreadableLog(ValueError):
    """A log whose header or rows are not what CsvLog writes."""


def read_rows(path: Path, last_episode: int | None = None) -> list[dict[str, str]]:
    """The rows of a log up to `last_episode` (None: all), checked: UTF-8, the exact header,
    whole rows and episodes 1, 2, 3, ... Rows after `last_episode` are not checked."""
    try:
        return _read_rows(path, last_episode)
    except UnicodeDecodeError:
        raise UnreadableLog("it is not UTF-8 text") from None


def _read_rows(path: Path, last_episode: int | None) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != LOG_FIELDS:
            raise UnreadableLog("its header is not the log's")
        rows: list[dict[str, str]] = []
        for row in reader:
            if last_episode is not None and len(rows) == last_episode:
                break
            try:
                if None in row or None in row.values():  # too many or too few fields
                    raise ValueError
                episode = int(row["episode"])
                float(row["score"])
            except (TypeError, ValueError):
                raise UnreadableLog(f"line {reader.line_num} is garbled") from None
            if episode != len(rows) + 1:
                raise UnreadableLog(f"line {reader.line_num} breaks the episode sequence")
            rows.append(row)
    return rows


def prepare_for_resume(path: Path, episode: int, scores: Sequence[float]) -> str | None:
    """Make the log end at `episode`; return a one-line note if the old log had to be set aside."""
    if not path.exists():
        return None
    try:
        rows = read_rows(path, last_episode=episode)
        if len(rows) < episode:
            raise UnreadableLog(f"it ends at episode {len(rows)}, before the checkpoint's")
    except UnreadableLog as exc:
        aside = free_name(path.with_name(f"{path.stem}.unreadable{path.suffix}"))
        path.rename(aside)
        _write(path, _rows_from_scores(scores[:episode]))
        return (
            f"{path.name} could not be used ({exc}): kept as {aside.name}; "
            f"a new log starts from the checkpoint's {episode} scores"
        )
    _write(path, rows)
    return None


def _rows_from_scores(scores: Sequence[float]) -> list[dict[str, object]]:
    rows = []
    for i, score in enumerate(scores):
        window = scores[max(0, i - 99) : i + 1]
        rows.append({"episode": i + 1, "score": score, "avg_score": sum(window) / len(window)})
    return rows


def _write(path: Path, rows: list) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=LOG_FIELDS)
        writer.writeheader()
        writer.writerows(rows)


def free_name(path: Path) -> Path:
    """`path`, or `<stem>2<suffix>`, `<stem>3<suffix>`, ... : the first name not taken."""
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}{n}{path.suffix}")
    return candidate
