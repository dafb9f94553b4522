"""What the training loop reports after every finished episode, and the listeners it ships.

`train(..., callbacks=[...])` calls each callback with an `EpisodeReport` once per finished
episode, in order. The CSV log (`training/log.py`), the progress bar and TensorBoard are
callbacks; a sweep adds its own to report to Ray Tune. A callback may raise `StopTraining`
to end the run after this episode (a checkpoint is written, as at the end of any run).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class EpisodeReport:
    """One finished training episode. Losses are means over the episode's updates (absent
    before the first update; alpha_loss only with learn_alpha)."""

    episode: int
    score: float
    avg_score: float  # mean of the last 100 scores
    steps: int
    total_steps: int
    updates: int
    skipped_updates: int
    wall_time: float  # s of training so far, over every session of the run
    steps_per_second: float  # this episode's
    solved: bool  # this episode completed the solving streak
    losses: dict[str, float] = field(default_factory=dict)


Callback = Callable[[EpisodeReport], None]


class StopTraining(Exception):
    """Raised by a callback to end the run after the current episode."""


class ProgressBar:
    """A tqdm bar over the episode budget, or plain lines when the output is not a terminal."""

    def __init__(self, total: int, initial: int, enabled: bool = True) -> None:
        self.bar = None
        if enabled and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=initial, unit="ep", dynamic_ncols=True)

    def __call__(self, report: EpisodeReport) -> None:
        message = (
            f"episode {report.episode} score {report.score:.1f} avg_score {report.avg_score:.1f}"
        )
        if self.bar is None:
            print(message, flush=True)
            return
        self.bar.update(1)
        self.bar.set_postfix(
            score=f"{report.score:.0f}",
            avg=f"{report.avg_score:.1f}",
            steps_s=f"{report.steps_per_second:.0f}",
            refresh=False,
        )
        self.bar.write(message)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class TensorBoardLog:
    """Per-episode scalars for `tensorboard --logdir <run folder>` (in <run>/tensorboard)."""

    def __init__(self, run_dir: Path) -> None:
        import tensorflow as tf

        self.tf = tf
        self.writer = tf.summary.create_file_writer(str(Path(run_dir) / "tensorboard"))

    def __call__(self, report: EpisodeReport) -> None:
        scalars = {
            "episode/score": report.score,
            "episode/avg_score_100": report.avg_score,
            "episode/steps": report.steps,
            "episode/steps_per_second": report.steps_per_second,
            **{f"losses/{k}": v for k, v in report.losses.items()},
        }
        with self.writer.as_default(step=report.episode):
            for name, value in scalars.items():
                self.tf.summary.scalar(name, value)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
