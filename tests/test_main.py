"""End-to-end runs of main.py in subprocesses, with tiny budgets."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from environment.video import count_frames
from training import checkpoints as ckpt

REPO = Path(__file__).resolve().parents[1]
TINY = [
    "--max_steps", "25",
    "--layer1_size", "16",
    "--layer2_size", "16",
    "--batch_size", "16",
    "--buffer_size", "5000",
    "--record_steps", "20",
    "--save_every", "1",
    "--seed", "3",
    "--tf_threads", "1",
]  # fmt: skip


def run_main(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPO / "main.py"), *args],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(SDL_VIDEODRIVER="dummy", SDL_AUDIODRIVER="dummy", TF_CPP_MIN_LOG_LEVEL="3")
    env["CUDA_VISIBLE_DEVICES"] = ""
    return env


def read_log(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "train_log.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def one_error_line(result: subprocess.CompletedProcess) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("env_name", "canonical"),
    [
        ("cartpole", "CartpoleEnvironment"),
        ("standing", "HumanoidStandingEnvironment"),
        ("bolla-rolla", "BollaRollaEnvironment"),
    ],
)
def test_smoke_run_writes_every_artifact(tmp_path, env_name, canonical):
    run_dir = tmp_path / "run"
    result = run_main("--env_name", env_name, "--save_dir", str(run_dir), "--n_games", "3", *TINY)
    assert result.returncode == 0, result.stderr
    for episode in (1, 2, 3):
        assert f"episode {episode} score " in result.stdout
        assert (run_dir / f"models_ep{episode}" / "actor.weights.h5").is_file()
        assert (run_dir / f"score_history_{episode}.npy").is_file()
        assert ckpt.verify_checkpoint(run_dir, episode)
    # Replay buffers are kept for the newest two checkpoints only.
    assert sorted(p.name for p in run_dir.glob("replay_buffer_ep*")) == [
        "replay_buffer_ep2",
        "replay_buffer_ep3",
    ]
    scores = np.load(run_dir / "score_history_3.npy")
    assert scores.shape == (3,) and np.all((scores >= 1) & (scores <= 25))
    rows = read_log(run_dir)
    assert [int(r["episode"]) for r in rows] == [1, 2, 3]
    assert [float(r["score"]) for r in rows] == scores.tolist()
    assert int(rows[-1]["total_steps"]) == int(sum(int(r["steps"]) for r in rows))
    config = json.loads((run_dir / "config.json").read_text())
    assert config["env_name"] == canonical
    assert config["seed"] == 3 and config["n_games"] == 3
    assert (run_dir / "train.png").stat().st_size > 10_000
    assert count_frames(run_dir / "simulation.mp4") == 20
    assert count_frames(run_dir / "simulation_h264.mp4") == 20


def test_recover_continues_at_the_right_episode(tmp_path):
    run_dir = tmp_path / "run"
    first = run_main("--save_dir", str(run_dir), "--n_games", "2", "--no_record", *TINY)
    assert first.returncode == 0, first.stderr
    first_scores = np.load(run_dir / "score_history_2.npy")
    second = run_main("--recover", "--save_dir", str(run_dir), "--n_games", "4", "--no_record")
    assert second.returncode == 0, second.stderr
    assert "resuming CartpoleEnvironment from episode 2" in second.stdout
    assert "episode 3 score" in second.stdout and "episode 1 score" not in second.stdout
    scores = np.load(run_dir / "score_history_4.npy")
    assert scores.shape == (4,)
    np.testing.assert_array_equal(scores[:2], first_scores)
    assert [int(r["episode"]) for r in read_log(run_dir)] == [1, 2, 3, 4]
    # A finished run is not trained again.
    again = run_main("--recover", "--save_dir", str(run_dir), "--no_record")
    assert again.returncode == 0 and "already finished at episode 4" in again.stdout


def test_a_fresh_run_into_a_used_folder_is_refused(tmp_path):
    run_dir = tmp_path / "run"
    assert (
        run_main("--save_dir", str(run_dir), "--n_games", "1", "--no_record", *TINY).returncode == 0
    )
    before = sorted(p.name for p in run_dir.iterdir())
    refused = run_main("--save_dir", str(run_dir), "--n_games", "1", "--no_record", *TINY)
    assert refused.returncode != 0
    assert "--recover" in one_error_line(refused)
    assert sorted(p.name for p in run_dir.iterdir()) == before
    replaced = run_main(
        "--save_dir", str(run_dir), "--n_games", "1", "--no_record", "--overwrite", *TINY
    )
    assert replaced.returncode == 0, replaced.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--env_name", "Pendulum"], "cartpole"),
        (["--n_games", "many"], "--n_games must be a whole number"),
        (["--n_games", "0"], "--n_games"),
        (["--no_such_flag"], "unrecognized"),
        (["--batch_size", "64", "--buffer_size", "32"], "--batch_size"),
    ],
)
def test_user_errors_are_one_line_and_non_zero(tmp_path, args, expected):
    result = run_main("--save_dir", str(tmp_path / "run"), *args, timeout=60)
    assert result.returncode == 2
    assert expected in one_error_line(result)
    assert not (tmp_path / "run").exists()


def test_recover_with_nothing_to_recover(tmp_path):
    result = run_main("--recover", "--save_dir", str(tmp_path / "nothing"), timeout=60)
    assert result.returncode == 2
    assert "nothing to recover" in one_error_line(result)


def test_help_documents_every_flag():
    result = run_main("--help", timeout=60)
    assert result.returncode == 0
    for flag in ["--env_name", "--recover", "--n_games", "--max_steps", "--save_every"]:
        assert flag in result.stdout
    for flag in ["--solve_score", "--solve_count", "--seed", "--save_dir", "--record_steps"]:
        assert flag in result.stdout
    for flag in ["--no_record", "--update_every", "--overwrite", "--tf_threads", "--keep_buffers"]:
        assert flag in result.stdout
    for flag in ["--reward_scale", "--actor_lr", "--batch_size", "--learn_alpha"]:
        assert flag in result.stdout


def _start(run_dir: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(REPO / "main.py"), "--save_dir", str(run_dir), *args],
        cwd=REPO,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_checkpoint(
    run_dir: Path, process: subprocess.Popen, after: int = 0, timeout: float = 120
) -> None:
    """Wait until the run has a checkpoint newer than episode `after`."""
    deadline = time.monotonic() + timeout
    while max(ckpt.list_checkpoint_episodes(run_dir), default=0) <= after:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.1)


def _wait_for_log_rows(run_dir: Path, process: subprocess.Popen, rows: int) -> None:
    deadline = time.monotonic() + 120
    while not (run_dir / "train_log.csv").exists() or len(read_log(run_dir)) < rows:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the run made no progress"
        time.sleep(0.1)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_mid_run_writes_a_checkpoint_and_exits(tmp_path, signum):
    """No checkpoint for the current episode yet: the signal writes one (marked interrupted)."""
    run_dir = tmp_path / "run"
    process = _start(run_dir, "--n_games", "100000", "--no_record", *TINY, "--save_every", "1000")
    _wait_for_log_rows(run_dir, process, 3)
    process.send_signal(signum)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 128 + signum, err
    assert "checkpoint written" in err and "--recover" in err
    checkpoint = ckpt.latest_good_checkpoint(run_dir)
    assert checkpoint is not None and checkpoint.manifest["interrupted"] is True
    episodes = [line for line in out.splitlines() if line.startswith("episode ")]
    assert checkpoint.episode == len(episodes) >= 3
    resumed = run_main("--recover", "--save_dir", str(run_dir), "--n_games",
                       str(checkpoint.episode + 1), "--no_record")  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert f"episode {checkpoint.episode + 1} score" in resumed.stdout


def test_a_signal_keeps_an_exact_checkpoint_of_the_same_episode(tmp_path):
    """With a checkpoint after every episode, a signal keeps it rather than overwrite it."""
    run_dir = tmp_path / "run"
    process = _start(run_dir, "--n_games", "100000", "--no_record", *TINY)
    _wait_for_checkpoint(run_dir, process, after=2)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "kept the checkpoint" in err or "its checkpoint is complete" in err, err
    checkpoint = ckpt.latest_good_checkpoint(run_dir)
    assert checkpoint.manifest["interrupted"] is False
    episodes = [line for line in out.splitlines() if line.startswith("episode ")]
    assert checkpoint.episode == len(episodes)


@pytest.mark.slow
def test_cartpole_is_solved_with_the_default_settings(tmp_path):
    """The reference needed about 450 episodes; the defaults here must do far better."""
    run_dir = tmp_path / "run"
    result = run_main(
        "--save_dir", str(run_dir), "--seed", "0", "--n_games", "400", "--no_record",
        timeout=1500,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    solved = [line for line in result.stdout.splitlines() if line.startswith("solved at episode")]
    assert solved, result.stdout[-2000:]
    print(solved[0])


def test_a_run_folder_that_is_a_file_is_one_line(tmp_path):
    target = tmp_path / "taken"
    target.write_text("mine")
    result = run_main("--save_dir", str(target), "--n_games", "1", timeout=60)
    assert result.returncode == 2
    assert "cannot use" in one_error_line(result)
    assert target.read_text() == "mine"


def test_a_second_process_on_the_same_run_is_refused(tmp_path):
    run_dir = tmp_path / "run"
    process = _start(run_dir, "--n_games", "100000", "--no_record", *TINY)
    try:
        _wait_for_checkpoint(run_dir, process)
        second = run_main("--recover", "--save_dir", str(run_dir), timeout=60)
        assert second.returncode == 2
        assert "in use by another training process" in one_error_line(second)
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=120)
    assert ckpt.latest_good_checkpoint(run_dir) is not None


def test_overwrite_also_removes_the_old_runs_videos(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.json").write_text("{}")
    (run_dir / "recordings").mkdir()
    (run_dir / "recordings" / "recording_ep1.mp4").write_bytes(b"old")
    (run_dir / "simulation.mp4").write_bytes(b"old")
    (run_dir / "notes.txt").write_text("mine")
    result = run_main(
        "--save_dir", str(run_dir), "--n_games", "1", "--no_record", "--overwrite", *TINY
    )
    assert result.returncode == 0, result.stderr
    assert not (run_dir / "recordings").exists() and not (run_dir / "simulation.mp4").exists()
    assert (run_dir / "notes.txt").read_text() == "mine"
