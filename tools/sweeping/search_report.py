"""A search's report, read from its run folders: search.csv (one row per candidate), best.yaml
(the best complete candidate as a recipe main.py --recipe runs) and search.png (each
candidate's objective in the order they started, and the best so far)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tools.sweeping.search import (
    RUNS_DIR,
    STOPPED_FILE,
    SearchSpec,
    _seed_state,
    checked,
    objective,
    read_check,
    read_search,
)
from tools.sweeping.spec import SWEEP_DEFAULTS, Trial, as_typed
from tools.sweeping.study import read_run
from tools.sweeping.summary import write_csv
from training.checkpoints import atomic_path

SEARCH_CSV, BEST_RECIPE, SEARCH_PLOT = "search.csv", "best.yaml", "search.png"


@dataclass
class Candidate:
    key: str
    values: dict[str, str]  # the searched settings
    started: float  # when its first run folder was made (orders the candidates)
    solved: list[bool]  # per seed that ended
    minutes: list[float]  # per seed that ended: training minutes (capped)
    episodes: list[int]  # per seed started
    complete: bool  # every seed ended
    stopped_early: bool = False  # by ASHA (an incomplete candidate it did not stop: unfinished)
    checks: list[str] = field(default_factory=list)  # per seed ended: "full/episodes", or "-"

    def objective(self, spec: SearchSpec) -> float:
        """search.objective of the seeds that ended."""
        ended = list(zip(self.solved, self.minutes, strict=True))
        return objective(ended, len(spec.seeds), spec.time_cap)


def read_candidates(search_dir: Path, spec: SearchSpec) -> list[Candidate]:
    """Every candidate that started, in the order it started."""
    from training.runs import load_config

    runs = search_dir / RUNS_DIR
    stopped_file = search_dir / STOPPED_FILE
    stopped = set(stopped_file.read_text().split()) if stopped_file.exists() else set()
    keys = sorted({p.name.rpartition(",seed=")[0] for p in runs.glob("c*,seed=*")})
    candidates = []
    for key in keys:
        first = runs / f"{key},seed={spec.seeds[0]}"
        if not (first / "config.json").exists():
            continue
        config = load_config(first)
        values = spec.applicable({k: as_typed(config[k]) for k in spec.space})
        candidate = Candidate(key, values, (first / "config.json").stat().st_mtime, [], [], [],
                              True)  # fmt: skip
        for seed in spec.seeds:
            run_dir = runs / f"{key},seed={seed}"
            if (run_dir / "config.json").exists():
                candidate.episodes.append(read_run(run_dir, Trial(key, "", seed, {}), "").episodes)
            ended = checked(run_dir, _seed_state(run_dir, spec.time_cap), spec.check)
            if ended is None:
                candidate.complete = False
                break
            candidate.solved.append(ended[0])
            result = read_check(run_dir) if spec.check else None
            candidate.checks.append(_check_text(result))
            candidate.minutes.append(min(ended[1] / 60.0, spec.time_cap))
        candidate.stopped_early = not candidate.complete and key in stopped
        candidates.append(candidate)
    return sorted(candidates, key=lambda c: c.started)


def _check_text(result: dict[str, Any] | None) -> str:
    """A seed's final check in search.csv: "full/episodes", with pushes "+recovered/pushes"."""
    if result is None:
        return "-"
    text = f"{result['full']}/{result['episodes']}"
    return text + (f"+{result['recovered']}/{result['pushes']}" if "pushes" in result else "")


def search_table(spec: SearchSpec, candidates: list[Candidate]) -> pd.DataFrame:
    rows = []
    for number, c in enumerate(candidates, 1):
        rows.append({
            "candidate": number, "key": c.key, **c.values,
            "seeds": " ".join(map(str, spec.seeds)),
            "objective_minutes": round(c.objective(spec), 3),
            "seeds_solved": sum(c.solved),
            "minutes": " ".join(f"{m:.2f}" for m in c.minutes),
            "episodes": " ".join(map(str, c.episodes)),
            **({"final_check": " ".join(c.checks)} if spec.check else {}),
            "stopped_early": c.stopped_early,
            "complete": c.complete,
        })  # fmt: skip
    table = pd.DataFrame(rows)
    # The space file's order (a conditional entry's column would otherwise come last).
    searched = [k for k in spec.space if k in table.columns]
    rest = [k for k in table.columns if k not in searched and k not in ("candidate", "key")]
    return table[["candidate", "key", *searched, *rest]] if rows else table


def best_candidate(spec: SearchSpec, candidates: list[Candidate]) -> Candidate | None:
    complete = [c for c in candidates if c.complete]
    return min(complete, key=lambda c: c.objective(spec)) if complete else None


def best_recipe(
    search_dir: Path, spec: SearchSpec, best: Candidate, path: Path | None = None
) -> str:
    """best.yaml's text: the base settings that matter (not the sweep's own defaults) and the
    candidate's values, under a header saying where they come from and how to run it (from
    `path`, where it is written: the search's folder unless a report goes elsewhere)."""
    settings = {"env_name": spec.env_name}
    settings.update({k: v for k, v in spec.fixed.items() if SWEEP_DEFAULTS.get(k) != v})
    settings.update(best.values)
    minutes = " ".join(f"{m:.2f}" for m in best.minutes)
    header = [
        f"# The best candidate ({best.key}) of the search {search_dir.name}: {spec.samples} "
        f"candidates, seeds {' '.join(map(str, spec.seeds))}, T_cap {spec.time_cap:g} min.",
        f"# Objective {best.objective(spec):.3f} min (training minutes per seed: {minutes}; "
        f"episodes: {' '.join(map(str, best.episodes))}).",
        f"#   python main.py --recipe {_from_here(path or search_dir / BEST_RECIPE)} --seed 0",
    ]
    lines = [f"{k}: {_yaml_value(v)}" for k, v in settings.items() if k != "recipe"]
    return "\n".join(header + lines) + "\n"


def _from_here(path: Path) -> Path:
    """`path` relative to the working folder when it is below it."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return path


def _yaml_value(text: str) -> str:
    import yaml

    return (
        yaml.safe_dump(yaml.safe_load(text), default_flow_style=True).strip().removesuffix("\n...")
    )


def plot_search(path: Path, spec: SearchSpec, candidates: list[Candidate]) -> None:
    """Each candidate's objective by the order it started (hollow: stopped early by ASHA, or
    unfinished, counted at T_cap for the seeds not ended), and the best complete one so far."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(9, 5), dpi=100)
    numbers = np.arange(1, len(candidates) + 1)
    objectives = np.array([c.objective(spec) for c in candidates])
    complete = np.array([c.complete for c in candidates], dtype=bool)
    ax.scatter(numbers[complete], objectives[complete], color="C0", label="complete", zorder=3)
    stopped = np.array([c.stopped_early for c in candidates], dtype=bool)
    ax.scatter(numbers[stopped], objectives[stopped], facecolors="none", edgecolors="C1",
               label="stopped early", zorder=3)  # fmt: skip
    unfinished = ~complete & ~stopped
    if unfinished.any():
        ax.scatter(numbers[unfinished], objectives[unfinished], facecolors="none",
                   edgecolors="gray", label="unfinished", zorder=3)  # fmt: skip
    best = np.minimum.accumulate(np.where(complete, objectives, np.inf))
    shown = np.isfinite(best)
    if shown.any():  # each level holds from its candidate on, the last for half a candidate more
        steps_x = np.append(numbers[shown], len(candidates) + 0.5)
        ax.step(steps_x, np.append(best[shown], best[-1]), where="post", color="C2",
                label="best so far")  # fmt: skip
    ax.axhline(spec.time_cap, color="gray", linestyle="--", linewidth=1, label="T_cap")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("candidate (in the order started)")
    ax.set_ylabel("objective: mean training minutes to solve per seed")
    ax.set_title(f"search on {spec.env_name}: {len(candidates)} candidates")
    ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def report_search(search_dir: Path, out_dir: Path | None = None) -> list[Candidate]:
    """Write search.csv, best.yaml (when a candidate is complete) and search.png; print the
    best candidates."""
    spec = read_search(search_dir)
    out_dir = out_dir or search_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    candidates = read_candidates(search_dir, spec)
    table = search_table(spec, candidates)
    write_csv(out_dir / SEARCH_CSV, table)
    if candidates:
        plot_search(out_dir / SEARCH_PLOT, spec, candidates)
    best = best_candidate(spec, candidates)
    if best is not None:
        with atomic_path(out_dir / BEST_RECIPE) as tmp:
            Path(tmp).write_text(best_recipe(search_dir, spec, best, out_dir / BEST_RECIPE))
    stopped = sum(c.stopped_early for c in candidates)
    unfinished = sum(not c.complete and not c.stopped_early for c in candidates)
    print(
        f"search {search_dir.name}: {len(candidates)} candidates, {stopped} stopped early"
        + (f", {unfinished} unfinished" if unfinished else "")
        + f"; T_cap {spec.time_cap:g} min",
        flush=True,
    )
    if len(table):
        shown = table.sort_values("objective_minutes").head(5)
        print(shown.drop(columns=["key", "seeds"]).to_string(index=False), flush=True)
    if best is not None:
        print(f"best: {best.key}, objective {best.objective(spec):.3f} min", flush=True)
    print(f"-> {out_dir}/{SEARCH_CSV}, {SEARCH_PLOT}" + (f", {BEST_RECIPE}" if best else ""))
    return candidates
