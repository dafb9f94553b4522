"""Fixed-seed reference runs: reorganising the code must not change what is learned.

Three short runs of main.py, whose settings make every training option act within a few dozen
episodes, were written once and committed in tests/reference_logs/: their train_log.csv and a
checksum of every weight of the final checkpoint.

- `cartpole`: the default settings (the reference's networks and hyperparameters).
- `standing`: start noise, pushes every 20 steps and a ramp of 3 successes.
- `bolla-rolla-upright-robust`: every option of the robust upright recipe at once (upright,
  relative_x, gamma, margin penalty, uniform pushes, a ramp by successes, mirror augmentation,
  the symmetric policy, the averaged actor playing), on small networks.

On the CPU model that wrote them (`cpu` in reference.json) a rerun must give the same log in
every column but wall_time, value for value, and the same weights (SHA-256 of every array). The
math kernels of TensorFlow and XLA differ between CPU models, and a trajectory that differs in
one update drifts apart, so elsewhere the test holds the episodes played before the first update
to the same scores and step counts (they depend on the seed alone) and the first losses logged
to a relative 1e-3.

After a change that is meant to change what is learned, write them again (and say why in the
commit):

    python -m tests.test_reference_logs --write
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import h5py
import numpy as np
import pytest

from tests.run_helpers import (
    REFERENCE_LOGS,
    REPO,
    cpu_model,
    read_log,
    subprocess_env,
    yield_the_cpu,
)
from training import checkpoints as ckpt
from training.config import AVERAGE_WARMUP
from training.loop import PUSH_STREAM

FOLDER = REFERENCE_LOGS
REFERENCE = FOLDER / "reference.json"
COMMON = ("--seed", "0", "--no_record", "--no_progress", "--save_every", "1000")
SMALL = ("--layer1_size", "64", "--layer2_size", "64", "--batch_size", "64")
RUNS: dict[str, tuple[str, ...]] = {
    "cartpole": ("--env_name", "cartpole", "--n_games", "40"),
    "standing": (
        "--env_name", "standing", "--n_games", "24", "--max_steps", "100", *SMALL,
        "--start_noise", "0.2", "--train_push", "1.0", "--train_push_every", "20",
        "--perturb_ramp", "3", "--ramp_by_success", "--solve_score", "20", "--solve_count", "50",
    ),
    "bolla-rolla-upright-robust": (
        "--env_name", "bolla-rolla", "--n_games", "24", "--max_steps", "100", *SMALL,
        "--upright", "--relative_x", "--gamma", "0.995", "--margin_penalty", "1",
        "--start_noise", "0.2", "--train_push", "1.0", "--train_push_every", "20",
        "--push_uniform", "--perturb_ramp", "3", "--ramp_by_success", "--mirror",
        "--symmetric_policy", "--average_actor", "10", "--act_averaged",
        "--solve_score", "20", "--solve_count", "50",
    ),
}  # fmt: skip
LOSS_COLUMNS = ("value_loss", "actor_loss", "critic_1_loss", "critic_2_loss")


def weight_checksums(models_dir: Path) -> dict[str, dict[str, float | str]]:
    """Per network file: the SHA-256 of its arrays (in file order) and their float64 sum."""
    out: dict[str, dict[str, float | str]] = {}
    for path in sorted(models_dir.glob("*.weights.h5")):
        with h5py.File(path, "r") as handle:
            names: list[str] = []
            handle.visit(names.append)
            arrays = [handle[n][()] for n in names if isinstance(handle[n], h5py.Dataset)]
        digest = hashlib.sha256(b"".join(np.ascontiguousarray(a).tobytes() for a in arrays))
        total = float(sum(np.asarray(a, np.float64).sum() for a in arrays))
        out[path.name.removesuffix(".weights.h5")] = {"sha256": digest.hexdigest(), "sum": total}
    return out


def start(name: str, folder: Path) -> subprocess.Popen:
    """Start reference `name` (main.py in a subprocess) into `folder`/name."""
    return subprocess.Popen(
        [sys.executable, str(REPO / "main.py"), "--save_dir", str(folder / name), *RUNS[name],
         *COMMON],
        cwd=REPO, env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, preexec_fn=yield_the_cpu,
    )  # fmt: skip


def finish(name: str, folder: Path, process: subprocess.Popen) -> tuple[list, dict, dict]:
    """Wait for reference `name`: (log rows without wall_time, weight checksums, the final
    checkpoint's training state)."""
    _, err = process.communicate(timeout=600)
    assert process.returncode == 0, err
    run_dir = folder / name
    rows = [{k: v for k, v in row.items() if k != "wall_time"} for row in read_log(run_dir)]
    episode = max(ckpt.list_checkpoint_episodes(run_dir))
    state = json.loads((run_dir / f"models_ep{episode}" / "training_state.json").read_text())
    return rows, weight_checksums(run_dir / f"models_ep{episode}"), state


def train(name: str, folder: Path) -> tuple[list, dict, dict]:
    return finish(name, folder, start(name, folder))


def write() -> None:
    """Run the three references and write tests/reference_logs/."""
    scratch = Path(tempfile.mkdtemp(prefix="reference-logs-"))
    reference: dict = {"cpu": cpu_model(), "runs": {}}
    try:
        for name in RUNS:
            rows, checksums, _ = train(name, scratch)
            (FOLDER / name).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(scratch / name / "train_log.csv", FOLDER / name / "train_log.csv")
            reference["runs"][name] = {"args": list(RUNS[name]), "weights": checksums}
            print(f"{name}: {len(rows)} episodes, {rows[-1]['total_steps']} steps")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    REFERENCE.write_text(json.dumps(reference, indent=2) + "\n")
    print(f"wrote {FOLDER} on {reference['cpu']}")


def reference_rows(name: str) -> list[dict[str, str]]:
    rows = read_log(FOLDER / name)
    return [{k: v for k, v in row.items() if k != "wall_time"} for row in rows]


def start_all() -> tuple[Path, dict[str, subprocess.Popen]]:
    """The three runs, started at once in a new folder (they share the cores; each run is as
    deterministic beside others as alone). tests/conftest.py starts them with the session."""
    folder = Path(tempfile.mkdtemp(prefix="reference-logs-"))
    return folder, {name: start(name, folder) for name in RUNS}


def stop_all(folder: Path, processes: dict[str, subprocess.Popen]) -> None:
    for process in processes.values():
        if process.poll() is None:
            process.kill()
        process.communicate()
    shutil.rmtree(folder, ignore_errors=True)


def test_the_reference_runs_exercise_every_option():
    """What the committed logs show: the ramps reached their full share, the averaged actor had
    enough updates to play the episodes after it, and the runs were not cut short by solving."""
    reference = json.loads(REFERENCE.read_text())
    assert set(reference["runs"]) == set(RUNS)
    for name, args in RUNS.items():
        assert reference["runs"][name]["args"] == list(args), f"{name}: --write again"
        rows = reference_rows(name)
        assert len(rows) == int(args[args.index("--n_games") + 1]), name
        assert int(rows[-1]["updates"]) > 0 and all(int(r["skipped_updates"]) == 0 for r in rows)
        if "--perturb_ramp" not in args:
            continue
        solve_score = float(args[args.index("--solve_score") + 1])
        successes = [i for i, r in enumerate(rows) if float(r["score"]) >= solve_score]
        assert len(successes) >= 3, name  # the ramp of 3 successes reached the full share
        full_from = successes[2] + 1  # the first episode played at the full share
        assert len(rows) - full_from >= 5, name
        if "--act_averaged" in args:
            warmup = AVERAGE_WARMUP * int(args[args.index("--average_actor") + 1])
            played = [r for r in rows[full_from:] if int(r["updates"]) - int(r["steps"]) >= warmup]
            assert len(played) >= 5, name  # episodes the averaged actor played


@pytest.mark.parametrize("name", list(RUNS))
def test_a_fixed_seed_run_learns_what_the_reference_learned(name, reference_runs):
    reference = json.loads(REFERENCE.read_text())
    folder, processes = reference_runs
    rows, checksums, state = finish(name, folder, processes[name])
    expected = reference_rows(name)
    if "--train_push" in RUNS[name]:  # the pushes drew from their generator
        fresh = np.random.default_rng(np.random.SeedSequence(0, spawn_key=(PUSH_STREAM,)))
        assert state["random"]["push"] != fresh.bit_generator.state
    if cpu_model() == reference["cpu"]:
        assert rows == expected
        assert checksums == reference["runs"][name]["weights"]
        return
    # Another CPU model: see the module docstring.
    assert len(rows) >= 1 and rows[0].keys() == expected[0].keys()
    before_learning = [r for r in expected if int(r["updates"]) == 0]
    for row, want in zip(rows, before_learning, strict=False):
        assert (row["score"], row["steps"]) == (want["score"], want["steps"])
    first = next(i for i, r in enumerate(expected) if r["value_loss"])
    for column in LOSS_COLUMNS:
        np.testing.assert_allclose(
            float(rows[first][column]), float(expected[first][column]), rtol=1e-3, err_msg=column
        )


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit(f"usage: python -m tests.test_reference_logs --write  (from {REPO})")
    write()
