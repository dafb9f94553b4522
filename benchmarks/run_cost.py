"""What the runs of sweeps cost in update arithmetic, per setting: FLOPs per update, updates per
episode, episodes and environment steps to solve, and the update FLOPs of a whole run.

    python -m benchmarks.run_cost sweeps/verify-cartpole sweeps/verify-cartpole-fast
    python -m benchmarks.run_cost results/sweeps/cartpole-fast/archive  # an --archive too

FLOPs per update are counted from each setting's layer sizes, batch and update (`--algo`,
`--policy_samples`, `--policy_delay`) as benchmarks/update_throughput.py counts them (matrix
products; its --check-flops holds the count to XLA's compiled update). A run makes one update
per `update_every` environment steps (the buffer's warm-up of one batch aside), so its update
FLOPs are steps / update_every x FLOPs per update. Figures are medians over the setting's
finished trials (an unsolved trial counts with all its steps); settings are labelled as
`tools/sweep.py --report` labels them. Nothing is timed: the sweeps' own minutes are in their
reports.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from benchmarks.update_throughput import update_flops


def dimensions(env_name: str) -> tuple[int, int]:
    """(state size, action size) of an environment."""
    from environment import create_environment

    env = create_environment(env_name)
    try:
        return env.observation_space.shape[0], env.action_space.shape[0]
    finally:
        env.close()


def setting_costs(folders: list[Path]) -> list[dict[str, object]]:
    """One row per setting of the sweeps in `folders` (tools/sweep.py's combined report)."""
    from tools.sweeping.study import combined_study

    study = combined_study(folders)
    state, actions = dimensions(study.env_name)
    rows = []
    for setting in study.settings():
        finished = [o for o in study.outcomes if o.trial.setting == setting and o.finished]
        if not finished:
            continue
        config = finished[0].trial.config()
        flops = update_flops(
            state, actions, config.layer1_size, config.layer2_size, config.batch_size,
            config.algo, config.policy_samples, config.policy_delay,
        )  # fmt: skip
        steps = statistics.median(o.total_steps for o in finished)
        rows.append({
            "setting": setting,
            "trials": len(finished),
            "solved": sum(o.solved for o in finished),
            "MFLOP/update": flops / 1e6,
            "updates/episode": statistics.median(
                o.total_steps / o.episodes / config.update_every for o in finished
            ),
            "episodes": statistics.median(o.episodes for o in finished),
            "steps": steps,
            "run GFLOP": statistics.median(
                o.total_steps / config.update_every * flops / 1e9 for o in finished
            ),
        })  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+", type=Path, help="sweep folders (or archives)")
    args = parser.parse_args()
    try:
        rows = setting_costs(args.folders)
    except Exception as exc:  # a folder that is not a sweep, sweeps of two tasks, ...
        sys.exit(f"run_cost.py: {exc}")
    print(f"{'MFLOP/update':>12} {'updates/ep':>10} {'episodes':>8} {'steps':>8} "
          f"{'run GFLOP':>9} {'solved':>7}  setting")  # fmt: skip
    for row in rows:
        print(
            f"{row['MFLOP/update']:12.1f} {row['updates/episode']:10.1f} {row['episodes']:8.1f} "
            f"{row['steps']:8.0f} {row['run GFLOP']:9.0f} {row['solved']:>3}/{row['trials']:<3}  "
            f"{row['setting']}"
        )


if __name__ == "__main__":
    main()
