"""evaluation.csv: every finished trial's final policy under tools/evaluate.py's measures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from tools._common import warn
from tools.sweeping.spec import PROG, as_typed
from tools.sweeping.study import Study
from tools.sweeping.summary import aligned, write_csv

# What --evaluate measures of every finished trial's final policy (tools/evaluate.py, the
# README's robustness columns): full episodes from three start noises, and at two push
# strengths (from the default start noise) the pushes recovered and the full episodes.
EVALUATIONS = (
    ("noise_0", 0.0, None),
    ("noise_0.05", 0.05, None),
    ("noise_0.2", 0.2, None),
    ("push_0.5", 0.05, 0.5),
    ("push_1.0", 0.05, 1.0),
)
EVALUATION_FILE = "evaluation.csv"


def evaluate_trials(out_dir: Path, study: Study, episodes: int, seed: int = 0) -> None:
    """Evaluate the final policy of every finished trial (deterministic, `episodes` episodes
    per measure, seeded by `seed` as tools/evaluate.py is); write evaluation.csv and print it."""
    from tools.evaluate import evaluate
    from training.policy import PolicyError, load_policy

    rows = []
    for o in study.outcomes:
        if not o.finished or o.run_dir is None:
            continue
        try:
            policy = load_policy(o.run_dir, warn=lambda message: warn(PROG, message))
        except PolicyError as exc:
            warn(PROG, f"{o.where}: {exc}; not evaluated")
            continue
        row: dict[str, Any] = {
            "setting": o.trial.setting,
            "seed": o.trial.seed,
            "solved": as_typed(o.solved),
            "episodes": o.episodes,
            # an archived trial's policy is its final checkpoint's, copied out of it
            "checkpoint_episode": o.episodes if policy.episode is None else policy.episode,
            "evaluation_episodes": episodes,
        }
        for name, start_noise, push in EVALUATIONS:
            summary = evaluate(policy, episodes, start_noise, seed, push=push)
            row[f"full_{name}"] = summary["full_episodes"]
            if push is not None:
                row[f"recovered_{name}"] = summary["recovered"]
                row[f"pushes_{name}"] = summary["pushes"]
        rows.append(row)
        print(f"evaluated {o.where}", flush=True)
    if not rows:
        warn(PROG, "no finished trial to evaluate")
        return
    write_csv(out_dir / EVALUATION_FILE, pd.DataFrame(rows))
    print(format_evaluation(rows))
    print(f"-> {out_dir}/{EVALUATION_FILE}", flush=True)


def format_evaluation(rows: list[dict[str, Any]]) -> str:
    header = ["setting", "seed", "solved at", "ckpt"]
    header += [f"full, {n.replace('_', ' ')}" for n, _, p in EVALUATIONS if p is None]
    header += [
        f"recovered, full, {n.replace('_', ' ')}" for n, _, p in EVALUATIONS if p is not None
    ]
    lines = [header]
    for row in rows:
        n = row["evaluation_episodes"]
        line = [
            row["setting"], str(row["seed"]),
            str(row["episodes"]) if row["solved"] == "true" else "-",
            str(row["checkpoint_episode"]),
        ]  # fmt: skip
        for name, _, push in EVALUATIONS:
            if push is None:
                line.append(f"{row[f'full_{name}']}/{n}")
            else:
                recovered, pushes = row[f"recovered_{name}"], row[f"pushes_{name}"]
                share = f" ({100 * recovered / pushes:.0f} %)" if pushes else ""
                line.append(f"{recovered}/{pushes}{share}, {row[f'full_{name}']}/{n}")
        lines.append(line)
    text = aligned(lines)
    text.append(
        "deterministic policy (tools/evaluate.py) of each finished trial's newest good "
        "checkpoint; full: episodes that reached the cap (at that start noise, or pushed); "
        "recovered: pushes after which the episode went on 50 steps (start noise 0.05)"
    )
    return "\n".join(text)
