"""curves.png: the 100-episode average score against episode, per setting the IQM across its
finished trials with a 95% stratified-bootstrap band."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tools.sweeping.study import Study
from tools.sweeping.summary import SeededGlobalRandom
from training.checkpoints import atomic_path

CURVE_REPS = 2_000  # stratified-bootstrap resamples of the bands (one interval per episode)
CURVE_POINTS = 200  # episodes at which the curves' IQM and band are computed, at most


def plot_curves(path: Path, study: Study) -> None:
    """100-episode average score against episode: per setting the IQM across its finished
    trials, with a 95% stratified-bootstrap band. A trial that stopped early (solved) is
    carried forward at its final value, so every seed counts at every episode."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from rliable import library as rly
    from rliable import plot_utils
    from scipy.stats import trim_mean

    from training.plotting import running_average

    labels = {"xlabel": "episode", "ylabel": "100-episode average score"}
    fig, ax = plt.subplots(figsize=(9, 5), dpi=100)
    for i, setting in enumerate(study.settings()):
        done = [o for o in study.outcomes if o.trial.setting == setting and o.finished and o.scores]
        if not done:
            continue
        length = max(len(o.scores) for o in done)
        curves = np.array(
            [
                np.pad(running_average(o.scores), (0, length - len(o.scores)), mode="edge")
                for o in done
            ]
        )
        at = np.unique(np.linspace(0, length - 1, min(length, CURVE_POINTS)).round().astype(int))
        with SeededGlobalRandom():
            points, bands = rly.get_interval_estimates(
                {setting: curves[:, None, at]},
                lambda s: trim_mean(s[:, 0, :], proportiontocut=0.25, axis=0),
                reps=CURVE_REPS,
            )
        label = f"{setting} (n={len(done)})"
        plot_utils.plot_sample_efficiency_curve(
            at + 1, {label: points[setting]}, {label: bands[setting]},
            colors={label: f"C{i % 10}"}, ax=ax, marker="", labelsize="medium",
            ticklabelsize="medium", **labels,
        )  # fmt: skip
    solve_score = study.solve_score()
    if solve_score is not None:
        ax.axhline(solve_score, color="gray", linestyle="--", linewidth=1, label="solve score")
    ax.set(**labels)  # also when no setting has a finished trial
    ax.set_title(f"SAC on {study.env_name}: IQM across seeds, 95% bootstrap band")
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", fontsize=8)
    fig.text(
        0.01, 0.01,
        "Finished trials only; a trial that stopped when solved is carried forward at its final "
        f"value. Band: stratified bootstrap over seeds (rliable, {CURVE_REPS} resamples).",
        fontsize=7, color="dimgray",
    )  # fmt: skip
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp)
    finally:
        plt.close(fig)
