"""What the run folders say: each trial's outcome (finished, solved, episodes, steps, wall time,
scores), and a study, the trials a report covers: one sweep's, or several sweeps' and finished
run folders' of one environment, grouped into settings by what differs between them."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tools._common import ToolError, warn
from tools.sweeping.spec import PROG, RUNS_DIR, Spec, Trial, as_typed, is_sweep, read_spec
from training.config import RunConfig, resumable_settings


@dataclass
class Outcome:
    """What one trial's run folder says about it."""

    trial: Trial
    finished: bool = False  # solved, or out of episodes, and checkpointed
    solved: bool = False
    episodes: int = 0
    total_steps: int = 0
    wall_time: float = 0.0  # s of the training loop, every session of the run
    n_games: int = 0
    scores: list[float] = field(default_factory=list)
    where: str = ""  # the run folder, relative to the report's folder
    run_dir: Path | None = None
    peak_memory_mb: float | None = None  # its trial's process, when a sweep recorded it

    def relabelled(self, setting: str, where: str) -> Outcome:
        return dataclasses.replace(
            self, trial=dataclasses.replace(self.trial, setting=setting), where=where
        )

    @property
    def episodes_to_solve(self) -> int | None:
        return self.episodes if self.solved else None

    @property
    def episodes_or_cap(self) -> float:
        """Episodes to solve; an unsolved trial counts at its episode cap."""
        return float(self.episodes if self.solved else self.n_games)

    @property
    def final_avg_score(self) -> float | None:
        return float(np.mean(self.scores[-100:])) if self.scores else None


PEAK_MEMORY_FILE = "peak_memory_mb.txt"


def record_peak_memory(run_dir: Path) -> None:
    """Keep in the run folder the most resident memory (MB) a process that ran its trial has
    held: this one's so far, or an earlier one's (before a retry or a --resume) if larger. A
    search's candidate runs its seeds in one process: each seed's folder has its peak so far."""
    import resource

    from training.checkpoints import atomic_path

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux
    peak = max(peak, read_peak_memory(run_dir) or 0.0)
    with atomic_path(run_dir / PEAK_MEMORY_FILE) as tmp:
        Path(tmp).write_text(f"{peak:.1f}\n")


def read_peak_memory(run_dir: Path) -> float | None:
    try:
        return float((run_dir / PEAK_MEMORY_FILE).read_text())
    except (OSError, ValueError):
        return None


def read_outcome(sweep_dir: Path, trial: Trial) -> Outcome:
    """The trial's state from its run folder: config.json, the newest checkpoint, the log."""
    return read_run(sweep_dir / RUNS_DIR / trial.key, trial, f"{RUNS_DIR}/{trial.key}")


def read_run(run_dir: Path, trial: Trial, where: str, replay: bool = False) -> Outcome:
    """The state of the run in `run_dir`: a finished run is one whose newest checkpoint says
    so; with `replay`, a run folder without checkpoints (a shipped result: config.json,
    train_log.csv and the policy) is finished when its log is solved by the solved rule or
    reaches n_games."""
    from training import checkpoints as ckpt
    from training.log import LOG_FILE, UnreadableLog, read_rows
    from training.loop import solved_at
    from training.runs import load_config

    outcome = Outcome(trial, where=where, run_dir=run_dir)
    if not (run_dir / "config.json").exists():
        return outcome  # not started yet
    try:
        outcome.n_games = int(load_config(run_dir)["n_games"])
        rows = read_rows(run_dir / LOG_FILE) if (run_dir / LOG_FILE).exists() else []
    except (OSError, ValueError, UnreadableLog, UnicodeDecodeError) as exc:
        warn(PROG, f"{run_dir}: {exc}; counted as unfinished")
        return outcome
    state: dict[str, Any] = {}
    episodes = ckpt.list_checkpoint_episodes(run_dir)
    if episodes:
        path = ckpt.models_dir(run_dir, episodes[-1]) / ckpt.TRAINING_STATE_FILE
        try:
            state = json.loads(path.read_text())
        except (OSError, ValueError):
            state = {}
        state = state if isinstance(state, dict) else {}
    if state.get("finished"):  # the checkpoint's counters are the truth; the log may say more
        try:
            outcome.episodes = int(state["episode"])
            outcome.total_steps = int(state["total_steps"])
            outcome.wall_time = float(state["wall_time"])
            outcome.solved = bool(state["solved"])
            outcome.finished = True
            rows = rows[: outcome.episodes]
        except (KeyError, TypeError, ValueError):
            warn(PROG, f"{path} is not a training state; counted as unfinished")
    if replay and not episodes and rows:
        solved = solved_at(trial.config(), [float(row["score"]) for row in rows])
        if solved is not None or len(rows) >= outcome.n_games:
            outcome.finished, outcome.solved = True, solved is not None
            rows = rows[: solved or outcome.n_games]
            outcome.episodes = len(rows)
            outcome.total_steps = int(_number(rows[-1].get("total_steps"), 0))
            outcome.wall_time = _number(rows[-1].get("wall_time"), 0.0)
    if not outcome.finished and rows:
        last = rows[-1]
        outcome.episodes = int(last["episode"])
        outcome.total_steps = int(_number(last.get("total_steps"), 0))
        outcome.wall_time = _number(last.get("wall_time"), 0.0)
    outcome.scores = [float(row["score"]) for row in rows]
    outcome.peak_memory_mb = read_peak_memory(run_dir)
    return outcome


def _number(text: str | None, default: float) -> float:
    try:
        return float(text) if text not in (None, "") else default
    except ValueError:
        return default


@dataclass
class Study:
    """What a report covers: the trials of one sweep, or of several sweeps of one environment,
    grouped into settings that `columns` tell apart."""

    env_name: str
    columns: list[str]
    outcomes: list[Outcome]

    def settings(self) -> list[str]:
        return list(dict.fromkeys(o.trial.setting for o in self.outcomes))

    @staticmethod
    def value(trial: Trial, key: str) -> str:
        """The trial's value of a setting, as typed (its default when the sweep left it)."""
        if key in trial.values:
            return trial.values[key]
        return as_typed(getattr(RunConfig(), key))

    def solve_score(self) -> float | None:
        scores = {o.trial.config().solve_score for o in self.outcomes}
        return scores.pop() if len(scores) == 1 else None


def sweep_study(sweep_dir: Path, spec: Spec) -> Study:
    outcomes = [read_outcome(sweep_dir, t) for t in spec.trials()]
    return Study(spec.env_name, list(spec.grid), outcomes)


def run_folder_trial(run_dir: Path) -> Trial:
    """A finished run folder (main.py's, or a shipped result) as a one-trial sweep."""
    from training.runs import load_config

    try:
        recorded = load_config(run_dir)
    except (OSError, ValueError) as exc:
        raise ToolError(f"{run_dir}: {exc}") from None
    if recorded.get("seed") is None:
        raise ToolError(f"{run_dir}/config.json records no seed")
    values = {k: as_typed(v) for k, v in recorded.items()}
    return Trial(run_dir.name, "all", int(recorded["seed"]), values)


def combined_study(folders: Sequence[Path]) -> Study:
    """Several sweeps (and finished run folders, such as a shipped result) as one: a setting
    is labelled by every setting whose value differs between the trials (a sweep's grid, or
    what its --set changed)."""
    per_sweep: list[tuple[Path, Trial]] = []  # (sweep folder, or the run folder; trial)
    swept: list[str] = []
    for folder in folders:
        if is_sweep(folder):
            spec = read_spec(folder)
            per_sweep += [(folder, _as_recorded(folder, t)) for t in spec.trials()]
            swept += spec.grid
        else:
            per_sweep.append((folder, run_folder_trial(folder)))
    envs = sorted({t.values["env_name"] for _, t in per_sweep})
    if len(envs) > 1:
        raise ToolError(f"--report: these sweeps train different environments ({', '.join(envs)})")
    # Settings that only change how a run is watched or kept (tensorboard, save_every, ...)
    # never label a setting; n_games does (it is the cap unsolved trials count at).
    quiet = resumable_settings() - {"n_games"}
    keys = dict.fromkeys(  # a recipe's name neither: its settings are there
        k for _, t in per_sweep for k in t.values if k not in ("seed", "env_name", "recipe", *quiet)
    )
    keys = dict.fromkeys([*(k for k in swept if k in keys), *keys])  # swept ones first
    # Sweeps of different recipes (a fast recipe beside the reference's): the recipe's name
    # stands for the settings it sets, and only what differs within one recipe labels too.
    by_recipe: dict[str, list[Trial]] = {}
    for _, trial in per_sweep:
        by_recipe.setdefault(Study.value(trial, "recipe"), []).append(trial)
    columns = ["recipe"] if len(by_recipe) > 1 else []
    columns += [
        k for k in keys if any(len({Study.value(t, k) for t in g}) > 1 for g in by_recipe.values())
    ]
    outcomes: dict[tuple[str, int], Outcome] = {}
    for sweep_dir, trial in per_sweep:
        label = ",".join(f"{k}={Study.value(trial, k)}" for k in columns) or "all"
        if is_sweep(sweep_dir):
            outcome = read_outcome(sweep_dir, trial)
            outcome = outcome.relabelled(label, f"{sweep_dir.name}/{outcome.where}")
        else:
            outcome = read_run(sweep_dir, trial, sweep_dir.name, replay=True)
            outcome = outcome.relabelled(label, outcome.where)
        key = (label, trial.seed)
        if key in outcomes:
            outcome = _one_of(outcomes[key], outcome, f"{label}, seed {trial.seed}")
        outcomes[key] = outcome
    return Study(envs[0], columns, list(outcomes.values()))


def _one_of(first: Outcome, second: Outcome, what: str) -> Outcome:
    """The trial that counts when two folders of a report hold it: the finished one (a trial
    lost with its machine and run again in another sweep), or of two unfinished ones the one
    further on. Two finished runs of one trial are an error: the report would have to choose."""
    if first.finished and second.finished:
        raise ToolError(
            f"--report: {what} is finished in more than one sweep ({first.where}, {second.where})"
        )
    kept = max(first, second, key=lambda o: (o.finished, o.episodes))  # a tie keeps the first
    other = second if kept is first else first
    warn(PROG, f"{what} is in two folders: counted from {kept.where}, not {other.where}")
    return kept


def _as_recorded(sweep_dir: Path, trial: Trial) -> Trial:
    """The trial with every setting its run recorded (a setting its sweep left to the default
    has the default of the code that ran it, which may not be today's)."""
    from training.runs import load_config

    try:
        recorded = load_config(sweep_dir / RUNS_DIR / trial.key)
    except (OSError, ValueError):
        return trial  # not started (today's defaults hold), or unreadable (reported later)
    values = {k: as_typed(v) for k, v in recorded.items() if k not in ("seed", "env_name")}
    return dataclasses.replace(trial, values={**values, **trial.values})
