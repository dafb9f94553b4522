"""Exact resume and crash safety of training runs: damaged checkpoints and side files, SIGKILL
at random moments, a full disk. Every recovered run must go on exactly as if nothing happened."""

from __future__ import annotations

import json
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

import main
from tests.run_helpers import (
    TINY_SETTINGS,
    Background,
    assert_same_run,
    error_lines,
    flags,
    folder_arrays,
    one_error_line,
    read_log,
    run_main,
    start_main,
    train_tiny,
    wait_for_checkpoint,
    wait_for_save,
)
from tests.tool_helpers import call_main
from training import checkpoints as ckpt

# The runs that are killed, or whose disk fills up, and the uninterrupted run they must match:
# short episodes and a checkpoint after each, so that a kill can land anywhere.
CRASH_EPISODES = 20
CRASH_RUN = flags({**TINY_SETTINGS, "max_steps": 10, "n_games": CRASH_EPISODES, "no_record": True})


def run_cli(*argv: str | Path) -> int:
    return call_main(main.main, *argv)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The crash tests' run, made by main.py without interruption. It runs beside the first
    crash test; `uninterrupted()` waits for it and gives its folder."""
    folder = tmp_path_factory.mktemp("uninterrupted")
    run = Background(folder, "--save_dir", folder / "run", *CRASH_RUN, "--no_progress")

    def finished() -> Path:
        code, _, err = run.wait(timeout=300)
        assert code == 0, err
        return folder / "run"

    yield finished
    run.stop()


@pytest.mark.parametrize(
    "algo",
    [dict(), dict(algo="crossq", learn_alpha=True, reward_scale=1.0, policy_delay=3)],
    ids=["sac1", "crossq"],  # sac2's agent resumes exactly too: tests/test_agent.py
)
def test_a_resumed_run_is_identical_to_an_uninterrupted_one(tmp_path, no_xla, algo):
    """A finished run given a larger budget with --recover goes on as if it had never stopped
    (and so does any run recovered from a checkpoint: see the kill torture below)."""
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert train_tiny(straight, n_games=4, save_every=2, **algo)[0].finished
    assert train_tiny(split, n_games=2, save_every=2, **algo)[0].finished
    result, said = train_tiny(split, n_games=4, recover=True)
    assert result.finished and "resuming CartpoleEnvironment from episode 2" in said.logged[0]
    assert_same_run(straight, split, 4)
    rows = read_log(straight)
    assert int(rows[1]["updates"]) > 0 and int(rows[-1]["updates"]) > int(rows[1]["updates"])


def test_a_damaged_newest_checkpoint_falls_back_in_one_line(run_copy, no_xla, capsys):
    run_dir = run_copy
    buffer_file = next((run_dir / "replay_buffer_ep3").iterdir())
    data = bytearray(buffer_file.read_bytes())
    data[len(data) // 3] ^= 0xFF
    buffer_file.write_bytes(bytes(data))
    assert run_cli("--recover", "--save_dir", run_dir, "--n_games", "4", "--no_record") == 0
    captured = capsys.readouterr()
    warnings = [line for line in captured.err.splitlines() if "damaged" in line]
    assert len(warnings) == 1 and "episode 3" in warnings[0]
    assert "resuming CartpoleEnvironment from episode 2" in captured.out
    assert buffer_file.exists(), "recovery must not delete anything"

    for episode in (1, 2):  # every checkpoint damaged: one line, exit 2, nothing deleted
        (run_dir / f"score_history_{episode}.npy").write_bytes(b"junk")
    (run_dir / "score_history_3.npy").unlink()
    (run_dir / "score_history_4.npy").write_bytes(b"junk")
    before = sorted(p.name for p in run_dir.iterdir())
    assert run_cli("--recover", "--save_dir", run_dir, "--no_record") == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("main.py: error: nothing to recover")
    assert sorted(p.name for p in run_dir.iterdir()) == before


def test_deleted_replay_buffers_fall_back_to_a_pruned_checkpoint_and_an_empty_buffer(
    run_copy, no_xla, capsys
):
    """A checkpoint whose replay buffer was deleted by hand is incomplete: --recover says so in
    one line each and falls back to episode 1, whose buffer the run pruned itself (its manifest
    says so). That one resumes with an empty buffer, and says so: the agent learns again only
    once the buffer holds a batch."""
    for episode in (3, 2):
        shutil.rmtree(run_copy / f"replay_buffer_ep{episode}")
    assert ckpt.verify_checkpoint(run_copy, 1).manifest["buffer_pruned"] is True
    updates_before = int(read_log(run_copy)[0]["updates"])
    assert run_cli("--recover", "--save_dir", run_copy, "--n_games", "2", "--no_record") == 0
    captured = capsys.readouterr()
    assert error_lines(captured.err) == [
        *(
            f"checkpoint of episode {episode} is damaged (replay_buffer_ep{episode}/"
            "replay_buffer.npz is missing); trying an older one"
            for episode in (3, 2)
        ),
        "the checkpoint of episode 1 has no replay buffer (pruned): training goes on with an "
        "empty buffer",
    ]
    assert "resuming CartpoleEnvironment from episode 1" in captured.out
    (_, row), batch = read_log(run_copy), TINY_SETTINGS["batch_size"]
    steps = int(row["steps"])
    assert int(row["updates"]) == updates_before + max(0, steps - batch + 1)
    buffer = folder_arrays(ckpt.buffer_dir(run_copy, 2))
    assert buffer["replay_buffer.npz/mem_cntr"] == steps


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda data: b"\xef\xbb\xbf" + data, id="byte-order-mark"),
        pytest.param(lambda data: data.replace(b"\n2,", b"\n2;;\x00,", 1), id="garbled-row"),
        pytest.param(lambda data: data[:40] + b"\xff\xfe" + data[40:], id="not-utf8"),
        pytest.param(lambda data: data[: data.index(b"\n2,")], id="cut-short"),
    ],
)
def test_an_unreadable_log_never_blocks_recover(run_copy, no_xla, capsys, damage):
    """The checkpoint is the truth: the log is kept aside under a new name, one line says so,
    and a new log starts from the checkpoint's score history."""
    log = run_copy / "train_log.csv"
    damaged = damage(log.read_bytes())
    log.write_bytes(damaged)
    assert run_cli("--recover", "--save_dir", run_copy, "--n_games", "4", "--no_record") == 0
    line = one_error_line(capsys.readouterr().err)
    assert line.startswith("train_log.csv could not be used (") and line.endswith(
        "kept as train_log.unreadable.csv; a new log starts from the checkpoint's 3 scores"
    ), line
    assert (run_copy / "train_log.unreadable.csv").read_bytes() == damaged
    rows = read_log(run_copy)
    scores = np.load(run_copy / "score_history_4.npy")
    assert [int(r["episode"]) for r in rows] == [1, 2, 3, 4]
    assert [float(r["score"]) for r in rows] == scores.tolist()
    assert float(rows[2]["avg_score"]) == pytest.approx(scores[:3].mean())
    assert rows[3]["steps"] and rows[3]["value_loss"]  # the new episode's row is complete


def test_a_deleted_config_is_restored_from_the_checkpoint(run_copy, no_xla, capsys):
    """Every manifest holds the run's configuration: --recover uses the newest good one and
    writes config.json back."""
    saved = json.loads((run_copy / "config.json").read_text())
    (run_copy / "config.json").unlink()
    assert run_cli("--recover", "--save_dir", run_copy, "--n_games", "4", "--no_record") == 0
    captured = capsys.readouterr()
    assert one_error_line(captured.err) == (
        "config.json was missing: restored from the manifest of episode 3"
    )
    assert "resuming CartpoleEnvironment from episode 3" in captured.out
    restored = json.loads((run_copy / "config.json").read_text())
    assert restored == {**saved, "n_games": 4, "no_record": True, "save_dir": str(run_copy)}


def test_kill_torture(tmp_path, uninterrupted):
    """SIGKILL training at random moments, and in the middle of saves; every time recovery
    continues, and the run ends exactly as the one never killed: same log, weights, buffer and
    counters."""
    rng = random.Random(1234)
    run_dir = tmp_path / "run"
    process = start_main(run_dir, *CRASH_RUN, "--no_progress")
    kills = during_save = newest = 0
    progress: list[int] = []
    started = time.monotonic()
    while kills < 4 and wait_for_checkpoint(run_dir, process, after=newest):
        # After the (resumed) process has written a new checkpoint: every other kill as soon
        # as the next save starts, the others at a random moment (in an episode, a save, the
        # plot, the log...).
        if kills % 2:
            wait_for_save(run_dir, process)
        else:
            time.sleep(rng.uniform(0.0, 0.6))
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=60)
        if process.returncode != -signal.SIGKILL:
            break  # it had finished meanwhile
        kills += 1
        # The save's temporary folder outlives the process only if it was killed mid-save
        # (the recovered run removes it).
        during_save += any(run_dir.glob(".tmp_checkpoint_ep*"))
        checkpoint = ckpt.latest_good_checkpoint(run_dir, warn=lambda m: None)
        assert checkpoint is not None
        progress.append(checkpoint.episode)
        newest = max(ckpt.list_checkpoint_episodes(run_dir))
        process = start_main(run_dir, "--recover", "--no_progress")
    out, err = process.communicate(timeout=240)
    assert process.returncode == 0, err
    print(f"survived {kills} kills ({during_save} during a save) in "
          f"{time.monotonic() - started:.0f} s; checkpoints reached {progress}")  # fmt: skip
    assert kills >= 4 and during_save >= 1
    assert not any(run_dir.glob(".tmp_checkpoint_ep*"))
    assert progress == sorted(progress), "training must never go back"
    assert_same_run(uninterrupted(), run_dir, CRASH_EPISODES)


@pytest.fixture
def small_disk(tmp_path):
    """A 12 MB tmpfs, mostly filled: a few checkpoints of a tiny run fit, then the disk is
    full. Skips where mounting is not permitted."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=12m", "tmpfs", str(disk)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        free = shutil.disk_usage(disk).free
        (disk / "ballast").write_bytes(b"\0" * (free - 1_800_000))
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_a_full_disk_loses_nothing(tmp_path, small_disk, uninterrupted):
    """A checkpoint that cannot be written: one line saying the disk is full and which
    checkpoint is the newest good one, no temporary folder left to keep the disk full, a
    non-zero exit; the folder copied to a disk with room continues exactly with --recover."""
    run_dir = small_disk / "run"
    result = run_main("--save_dir", run_dir, *CRASH_RUN, "--no_progress")
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr
    line = one_error_line(result.stderr)
    good = ckpt.latest_good_checkpoint(run_dir, warn=lambda m: None)
    assert good is not None and 0 < good.episode < CRASH_EPISODES
    assert line == (
        f"main.py: error: the disk is full ({run_dir}): the newest good checkpoint is episode "
        f"{good.episode}; free some space (or copy the folder to a disk with room) and continue "
        "with --recover"
    )
    assert sorted(p.name for p in run_dir.glob(".*")) == [".lock"]  # no temporary files
    assert ckpt.list_checkpoint_episodes(run_dir)[-1] == good.episode

    roomy = tmp_path / "roomy"
    shutil.copytree(run_dir, roomy)
    resumed = run_main("--recover", "--save_dir", roomy, "--no_progress")
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming CartpoleEnvironment from episode {good.episode}" in resumed.stdout
    assert error_lines(resumed.stderr) == []
    assert_same_run(uninterrupted(), roomy, CRASH_EPISODES)
