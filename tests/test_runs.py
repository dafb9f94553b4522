"""training/runs.py: what a run folder holds, its configuration and the objects it describes."""

from __future__ import annotations

import json
import os

import pytest

from training import checkpoints as ckpt
from training.config import ConfigError, RunConfig
from training.runs import (
    RUN_OUTPUTS,
    RunError,
    load_config,
    make_agent,
    make_environment,
    most_recent_run,
    recovered_config,
    remove_run,
    used_by,
)

# One example of everything a run writes, as the patterns of RUN_OUTPUTS and checkpoints match.
EVERY_OUTPUT = [
    "config.json", "train_log.csv", "train_log.unreadable2.csv", "train.png", "simulation.mp4",
    "simulation_h264.mp4", "recordings/recording_ep1.mp4", "tensorboard/events",
    "checkpoint_ep1.json", "models_ep1/actor.weights.h5", "replay_buffer_ep1/replay_buffer.npz",
    "score_history_1.npy", ".tmp_checkpoint_ep2_99/x",
]  # fmt: skip


def make_files(folder, names):
    for name in names:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(b"x")


def test_used_by_names_every_output_and_remove_run_deletes_only_them(tmp_path):
    assert used_by(tmp_path / "missing") == [] and used_by(tmp_path) == []
    make_files(tmp_path, EVERY_OUTPUT)
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "mine").mkdir()
    found = used_by(tmp_path)
    assert "checkpoints" in found
    assert {p.split("/")[0] for p in EVERY_OUTPUT[:8]} <= set(found)
    assert len(RUN_OUTPUTS) == 8, "a new output: add it to EVERY_OUTPUT above"
    remove_run(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine", "notes.txt"]
    assert used_by(tmp_path) == []


def test_load_config_checks_like_flags_and_fills_defaults(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json does not exist"):
        load_config(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ConfigError, match="config.json is not valid JSON"):
        load_config(tmp_path)
    (tmp_path / "config.json").write_text("[1, 2]")
    with pytest.raises(ConfigError, match="not a configuration written by main.py"):
        load_config(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"env_name": "cartpole", "gamma": 2}))
    with pytest.raises(ConfigError, match=r"config.json: gamma must lie in \(0, 1\] \(got 2.0\)"):
        load_config(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"env_name": "cartpole", "save_dir": "x"}))
    # Missing settings take their defaults; policy_samples the value older runs used (1).
    assert load_config(tmp_path) == RunConfig(policy_samples=1).to_dict()


def test_recovered_config_comes_from_the_manifest_when_config_json_is_gone(tmp_path):
    config = RunConfig(env_name="standing", seed=4, n_games=9)
    ckpt.write_json_atomic(
        ckpt.manifest_file(tmp_path, 2), {"config": {**config.to_dict(), "save_dir": "elsewhere"}}
    )
    checkpoint = ckpt.Checkpoint(
        tmp_path, 2, json.loads((tmp_path / "checkpoint_ep2.json").read_text())
    )
    restored, note = recovered_config(tmp_path, checkpoint)
    assert restored == config
    assert note == "config.json was missing: restored from the manifest of episode 2"
    assert json.loads((tmp_path / "config.json").read_text()) == {
        **config.to_dict(), "save_dir": str(tmp_path),
    }  # fmt: skip
    assert recovered_config(tmp_path, checkpoint) == (config, None)  # now from config.json
    (tmp_path / "config.json").unlink()
    with pytest.raises(RunError, match="manifest holds no configuration"):
        recovered_config(tmp_path, ckpt.Checkpoint(tmp_path, 2, {}))


def test_the_most_recent_run_is_the_one_with_the_newest_checkpoint(tmp_path):
    assert most_recent_run(tmp_path) is None
    for name, stamp in (("Old", 1_000), ("New", 2_000), ("Empty", 1_500)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text("{}")
        os.utime(tmp_path / name / "config.json", (stamp, stamp))
        if name != "Empty":
            manifest = tmp_path / name / "checkpoint_ep1.json"
            manifest.write_text("{}")
            os.utime(manifest, (stamp, stamp))
    os.utime(tmp_path / "Old" / "config.json", (3_000, 3_000))  # the config's age does not count
    assert most_recent_run(tmp_path) == tmp_path / "New"


def test_the_agent_takes_its_sizes_from_the_environments_spaces():
    config = RunConfig(env_name="bolla-rolla", upright=True, max_steps=7, layer1_size=8,
                       layer2_size=8, batch_size=4, buffer_size=10, seed=1)  # fmt: skip
    env = make_environment(config)
    try:
        assert env.unwrapped.upright and env.unwrapped.max_episode_steps == 7
        agent = make_agent(config.to_dict(), env, jit_compile=False)
    finally:
        env.close()
    assert agent.input_dims == env.observation_space.shape
    assert agent.n_actions == env.action_space.shape[0]
    assert agent.get_config()["max_size"] == 10 and agent.get_config()["seed"] == 1
