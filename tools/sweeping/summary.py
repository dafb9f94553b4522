"""The report's tables: trials.csv (one row per trial), summary.csv (one row per setting:
solved fraction, median and IQM of episodes and minutes to solve with 95% stratified-bootstrap
intervals, rliable's) and the table printed from it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tools.sweeping.spec import as_typed
from tools.sweeping.study import Study
from training.checkpoints import atomic_path

BOOTSTRAP_REPS = 10_000  # stratified-bootstrap resamples of the summary's intervals
BOOTSTRAP_SEED = 0  # the intervals are reproducible: --report twice writes the same files


def trials_table(study: Study) -> pd.DataFrame:
    """trials.csv: one row per trial, in the study's order; empty where a trial has no value
    (not solved: no episodes to solve; not started: no final average)."""
    trials = study.outcomes
    table = pd.DataFrame(
        {
            "setting": [o.trial.setting for o in trials],
            "seed": [o.trial.seed for o in trials],
            **{k: [study.value(o.trial, k) for o in trials] for k in study.columns},
            "finished": [as_typed(o.finished) for o in trials],
            "solved": [as_typed(o.solved) for o in trials],
            "episodes_to_solve": pd.array([o.episodes_to_solve for o in trials], dtype="Int64"),
            "episodes": [o.episodes for o in trials],
            "total_steps": [o.total_steps for o in trials],
            "wall_time": [round(o.wall_time, 3) for o in trials],
            "final_avg_score": [_rounded(o.final_avg_score, 3) for o in trials],
            "run_dir": [o.where for o in trials],
        }
    )
    if any(o.peak_memory_mb is not None for o in trials):  # a sweep's trials (not older ones)
        table.insert(len(table.columns) - 1, "peak_memory_mb",
                     [o.peak_memory_mb for o in trials])  # fmt: skip
    return table


def write_csv(path: Path, table: pd.DataFrame) -> None:
    """`table` as CSV (an empty cell for a missing value; the csv module's CRLF line ends, as
    the files written before pandas wrote them)."""
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False, lineterminator="\r\n")


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(float(value), digits)


class SeededGlobalRandom:
    """rliable's resampling draws from NumPy's global generator: seed it, then put it back."""

    def __enter__(self) -> None:
        self.saved = np.random.get_state()  # noqa: NPY002 (rliable uses the global one)
        np.random.seed(BOOTSTRAP_SEED)  # noqa: NPY002

    def __exit__(self, *exc: object) -> None:
        np.random.set_state(self.saved)  # noqa: NPY002


def _median_and_iqm(scores: np.ndarray) -> np.ndarray:
    """Median and IQM of each column of a (runs x measures) array."""
    return np.array([f(scores[:, j]) for j in range(scores.shape[1]) for f in (_median, iqm)])


def iqm(scores: np.ndarray) -> float:
    """The interquartile mean: the mean of what is left once a quarter of the values is cut off
    each end (rounded down), exactly as rliable's aggregate_iqm (scipy's trim_mean) computes it,
    without their per-call overhead, which was most of a report's 10,000-resample bootstrap."""
    values = np.ravel(scores)
    cut = int(0.25 * len(values))
    kept = np.partition(values, (cut, len(values) - cut - 1))[cut : len(values) - cut]
    return float(kept.mean())


def _median(scores: np.ndarray) -> float:
    # rliable's aggregate_median is the median over tasks of each task's mean over runs: with
    # one task, a mean. Here the median is over runs (seeds).
    return float(np.median(scores))


SUMMARY_MEASURES = ("episodes", "minutes")
STATS = ("median", "iqm")


def summary_table(study: Study) -> pd.DataFrame:
    """summary.csv: one row per setting, in the study's order: counts, and median and IQM of
    episodes and minutes to solve, each with its 95% stratified-bootstrap interval over the
    finished trials. An unsolved trial counts at its episode cap and with its whole wall time.
    """
    trials = pd.DataFrame(
        {
            "setting": [o.trial.setting for o in study.outcomes],
            **{k: [study.value(o.trial, k) for o in study.outcomes] for k in study.columns},
            "finished": [o.finished for o in study.outcomes],
            "solved": [o.solved for o in study.outcomes],
            "episodes": [o.episodes_or_cap for o in study.outcomes],
            "minutes": [o.wall_time / 60.0 for o in study.outcomes],
            "peak_memory_mb": [o.peak_memory_mb for o in study.outcomes],
        }
    )
    rows = []
    for setting, mine in trials.groupby("setting", sort=False):
        done = mine[mine["finished"]]
        rows.append(
            {
                "setting": setting,
                **mine.iloc[0][study.columns].to_dict(),
                "trials": len(done),
                "unfinished": len(mine) - len(done),
                "solved": int(done["solved"].sum()),
                "solved_fraction": _rounded(done["solved"].mean() if len(done) else None, 4),
                **_intervals(setting, done[list(SUMMARY_MEASURES)].to_numpy()),
                **_peak_memory(mine["peak_memory_mb"]),
            }
        )
    return pd.DataFrame(rows)


def _peak_memory(peaks: pd.Series) -> dict[str, float]:
    """The largest peak resident memory of a setting's trials, where a sweep recorded it."""
    known = peaks.dropna()
    return {"peak_memory_mb_max": round(float(known.max()), 1)} if len(known) else {}


def _intervals(setting: str, scores: np.ndarray) -> dict[str, float | None]:
    """Median and IQM of each column of a (finished trials x measures) array, with their 95%
    stratified-bootstrap intervals (rliable's); None for each when no trial finished."""
    from rliable import library as rly

    names = [f"{m}_{s}" for m in SUMMARY_MEASURES for s in STATS]
    if not len(scores):
        return {f"{n}{part}": None for n in names for part in ("", "_low", "_high")}
    with SeededGlobalRandom():
        points, intervals = rly.get_interval_estimates(
            {setting: scores}, _median_and_iqm, reps=BOOTSTRAP_REPS
        )
    (low, high), point = intervals[setting], points[setting]
    return {
        f"{name}{part}": _rounded(values[i], 3)
        for i, name in enumerate(names)
        for part, values in (("", point), ("_low", low), ("_high", high))
    }


def aligned(lines: list[list[str]]) -> list[str]:
    """Rows of cells as text columns: the first left-aligned, the others right-aligned, a rule
    under the header row."""
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    text = [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        )
        for line in lines
    ]
    text.insert(1, "  ".join("-" * w for w in widths))
    return text


def format_table(study: Study, summary: pd.DataFrame) -> str:
    def cell(row: dict[str, Any], measure: str, stat: str, digits: int) -> str:
        value = row[f"{measure}_{stat}"]
        if pd.isna(value):
            return "-"
        low, high = row[f"{measure}_{stat}_low"], row[f"{measure}_{stat}_high"]
        return f"{value:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"

    header = [
        "setting", "trials", "solved", "episodes: median [95% CI]", "episodes: IQM [95% CI]",
        "minutes: median [95% CI]", "minutes: IQM [95% CI]",
    ]  # fmt: skip
    lines = [header]
    for row in summary.to_dict("records"):
        trials = str(row["trials"]) + (
            f" (+{row['unfinished']} unfinished)" if row["unfinished"] else ""
        )
        solved = f"{row['solved']}/{row['trials']}" if row["trials"] else "-"
        lines.append(
            [
                row["setting"], trials, solved,
                cell(row, "episodes", "median", 0), cell(row, "episodes", "iqm", 1),
                cell(row, "minutes", "median", 1), cell(row, "minutes", "iqm", 1),
            ]
        )  # fmt: skip
    text = aligned(lines)
    caps = sorted({o.trial.config().n_games for o in study.outcomes})
    cap = ", ".join(map(str, caps))
    text += [
        f"episodes / minutes: to solve, over finished trials; an unsolved trial counts at the "
        f"episode cap (n_games = {cap}) and with its whole wall-clock.",
        "minutes: wall-clock of the training loop (train_log.csv's wall_time), not start-up.",
        f"95% CI: stratified bootstrap over seeds (rliable, {BOOTSTRAP_REPS} resamples); IQM: "
        "mean of the middle 50%.",
    ]
    return "\n".join(text)
