"""Score-against-episode plots of a training run."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from training.checkpoints import atomic_path


def running_average(scores: Sequence[float], window: int = 100) -> np.ndarray:
    """Mean of the last `window` scores at every episode (fewer at the start)."""
    scores = np.asarray(scores, dtype=np.float64)
    cumulative = np.concatenate([[0.0], np.cumsum(scores)])
    ends = np.arange(1, len(scores) + 1)
    starts = np.maximum(0, ends - window)
    return (cumulative[ends] - cumulative[starts]) / (ends - starts)


def plot_learning_curve(
    scores: Sequence[float], path: Path, title: str, solve_score: float | None = None
) -> None:
    """Write a PNG of every episode's score with its 100-episode average."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    episodes = np.arange(1, len(scores) + 1)
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    ax.plot(episodes, scores, color="tab:blue", alpha=0.35, linewidth=0.8, label="score")
    ax.plot(
        episodes,
        running_average(scores),
        color="tab:blue",
        linewidth=2,
        label="100-episode average",
    )
    if solve_score is not None:
        ax.axhline(solve_score, color="tab:green", linestyle="--", linewidth=1, label="solve score")
    ax.set_xlabel("episode")
    ax.set_ylabel("score (steps balanced)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    fig.tight_layout()
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp)
    finally:
        plt.close(fig)
