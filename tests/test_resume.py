"""Exact resume and crash safety of training runs (main.py in subprocesses)."""

from __future__ import annotations

import random
import shutil
import signal
import time
from pathlib import Path

import h5py
import numpy as np

from tests.test_main import TINY, _start, _wait_for_checkpoint, read_log, run_main
from training import checkpoints as ckpt


def _h5_arrays(path: Path) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as handle:
        handle.visititems(
            lambda name, obj: (
                arrays.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None
            )
        )
    return arrays


def _folder_arrays(folder: Path) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {}
    for file in sorted(folder.iterdir()):
        if file.name.endswith(".h5"):
            for key, value in _h5_arrays(file).items():
                arrays[f"{file.name}/{key}"] = value
        elif file.suffix == ".npz":
            with np.load(file, allow_pickle=False) as data:
                for key in data.files:
                    arrays[f"{file.name}/{key}"] = data[key]
    return arrays


def _assert_same_arrays(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert a.keys() == b.keys()
    assert a, "nothing compared"
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_a_resumed_run_is_identical_to_an_uninterrupted_one(tmp_path):
    args = [*TINY, "--no_record", "--save_every", "3"]
    straight, split = tmp_path / "straight", tmp_path / "split"
    result = run_main("--save_dir", str(straight), "--n_games", "6", *args)
    assert result.returncode == 0, result.stderr
    result = run_main("--save_dir", str(split), "--n_games", "3", *args)
    assert result.returncode == 0, result.stderr
    result = run_main("--recover", "--save_dir", str(split), "--n_games", "6", "--no_record")
    assert result.returncode == 0, result.stderr

    np.testing.assert_array_equal(
        np.load(straight / "score_history_6.npy"), np.load(split / "score_history_6.npy")
    )
    rows_a, rows_b = read_log(straight), read_log(split)
    for row in rows_a + rows_b:
        row.pop("wall_time")
    assert rows_a == rows_b and len(rows_a) == 6
    assert sum(int(r["steps"]) for r in rows_a) > 3 * 16, "updates must have happened"
    _assert_same_arrays(
        _folder_arrays(straight / "models_ep6"), _folder_arrays(split / "models_ep6")
    )
    _assert_same_arrays(
        _folder_arrays(straight / "replay_buffer_ep6"), _folder_arrays(split / "replay_buffer_ep6")
    )
    state_a = ckpt.verify_checkpoint(straight, 6).training_state()
    state_b = ckpt.verify_checkpoint(split, 6).training_state()
    for state in (state_a, state_b):
        state.pop("wall_time")
    assert state_a == state_b


def test_damaged_newest_checkpoint_falls_back_in_one_line(tmp_path):
    run_dir = tmp_path / "run"
    result = run_main("--save_dir", str(run_dir), "--n_games", "3", "--no_record", *TINY)
    assert result.returncode == 0, result.stderr
    buffer_file = next((run_dir / "replay_buffer_ep3").iterdir())
    data = bytearray(buffer_file.read_bytes())
    data[len(data) // 3] ^= 0xFF
    buffer_file.write_bytes(bytes(data))
    resumed = run_main("--recover", "--save_dir", str(run_dir), "--n_games", "4", "--no_record")
    assert resumed.returncode == 0, resumed.stderr
    warnings = [line for line in resumed.stderr.splitlines() if "damaged" in line]
    assert len(warnings) == 1 and "episode 3" in warnings[0]
    assert "resuming CartpoleEnvironment from episode 2" in resumed.stdout
    assert buffer_file.exists(), "recovery must not delete anything"

    for episode in (1, 2):  # every checkpoint damaged: one line, non-zero, nothing deleted
        (run_dir / f"score_history_{episode}.npy").write_bytes(b"junk")
    (run_dir / "score_history_3.npy").unlink()
    (run_dir / "score_history_4.npy").write_bytes(b"junk")
    before = sorted(p.name for p in run_dir.iterdir())
    failed = run_main("--recover", "--save_dir", str(run_dir), "--no_record")
    assert failed.returncode == 2
    assert failed.stderr.strip().splitlines()[-1].startswith("main.py: error: nothing to recover")
    assert sorted(p.name for p in run_dir.iterdir()) == before


def test_kill_torture(tmp_path):
    """SIGKILL training at random moments (some during saves); every time recovery continues."""
    rng = random.Random(1234)
    run_dir = tmp_path / "run"
    args = [*TINY, "--no_record", "--n_games", "100000", "--buffer_size", "200000"]
    args += ["--max_steps", "10"]
    process = _start(run_dir, *args)
    kills = during_save = 0
    progress: list[int] = []
    started = time.monotonic()
    newest = 0
    while time.monotonic() - started < 100 or kills < 5:
        _wait_for_checkpoint(run_dir, process, after=newest)
        # A random moment after the (resumed) process has written a new checkpoint.
        time.sleep(rng.uniform(0.0, 1.5))
        saving = any(run_dir.glob(".tmp_checkpoint_ep*"))
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=60)
        kills += 1
        during_save += saving
        checkpoint = ckpt.latest_good_checkpoint(run_dir, warn=lambda m: None)
        assert checkpoint is not None
        ckpt.verify_checkpoint(run_dir, checkpoint.episode)  # the manifest checks out
        progress.append(checkpoint.episode)
        newest = max(ckpt.list_checkpoint_episodes(run_dir))
        process = _start(run_dir, "--recover", "--no_record")
    _wait_for_checkpoint(run_dir, process, after=newest)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGINT, err
    assert "resuming CartpoleEnvironment from episode" in out
    print(f"survived {kills} kills ({during_save} during a save) in "
          f"{time.monotonic() - started:.0f} s; checkpoints reached {progress}")  # fmt: skip
    assert kills >= 5
    assert progress[-1] > progress[0], "training must make progress across kills"
    shutil.rmtree(run_dir)
