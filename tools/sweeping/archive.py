"""--archive: a small copy of a sweep that --report and --evaluate still read."""

from __future__ import annotations

from pathlib import Path

from tools._common import ToolError, warn
from tools.sweeping.spec import PROG, RUNS_DIR, SPEC_FILE, read_spec
from tools.sweeping.study import PEAK_MEMORY_FILE, read_outcome


def archive_sweep(sweep_dir: Path, out_dir: Path) -> list[str]:
    """Copy of the sweep in `sweep_dir` what its report and evaluation read into the new folder
    `out_dir`: sweep.json and, of every finished trial, config.json, train_log.csv, train.png,
    its peak memory, the final checkpoint's manifest and training state, and its policy as
    actor.weights.h5 (below a megabyte per trial). The copy is a sweep folder --report
    [--evaluate] reads, each of its runs a folder tools/evaluate.py and --agent take; it cannot
    be resumed. Returns the trials left out (unfinished)."""
    import shutil

    from training import checkpoints as ckpt
    from training.policy import ACTOR_WEIGHTS, PolicyError, find_actor_weights
    from training.runs import load_config

    spec = read_spec(sweep_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise ToolError(f"--out {out_dir} is not empty: archive into a new folder")
    finished, left_out = [], []
    for trial in spec.trials():
        outcome = read_outcome(sweep_dir, trial)
        run_dir = sweep_dir / RUNS_DIR / trial.key
        if not outcome.finished:
            left_out.append(trial.key)
            continue
        try:
            averaged = bool(load_config(run_dir).get("average_actor"))
            policy, episode = find_actor_weights(run_dir, lambda m: warn(PROG, m), averaged)
        except (OSError, ValueError, PolicyError) as exc:
            raise ToolError(f"{run_dir}: {exc}") from None
        newest = ckpt.list_checkpoint_episodes(run_dir)[-1]
        if episode != newest:
            raise ToolError(f"{run_dir}: its final checkpoint ({newest}) does not verify")
        finished.append((trial.key, run_dir, policy, newest))
    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy2(sweep_dir / SPEC_FILE, out_dir / SPEC_FILE)
    for key, run_dir, policy, episode in finished:
        target = out_dir / RUNS_DIR / key
        state = ckpt.models_dir(target, episode) / ckpt.TRAINING_STATE_FILE
        state.parent.mkdir(parents=True)
        for name in ("config.json", "train_log.csv", "train.png", PEAK_MEMORY_FILE):
            if (run_dir / name).exists():
                shutil.copy2(run_dir / name, target / name)
        shutil.copy2(ckpt.manifest_file(run_dir, episode), ckpt.manifest_file(target, episode))
        shutil.copy2(ckpt.models_dir(run_dir, episode) / ckpt.TRAINING_STATE_FILE, state)
        shutil.copy2(policy, target / ACTOR_WEIGHTS)
    print(
        f"archived {len(finished)} finished trial(s) of {sweep_dir} -> {out_dir}"
        + (f"; left out (unfinished): {', '.join(left_out)}" if left_out else ""),
        flush=True,
    )
    return left_out
