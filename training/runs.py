"""A training run's folder: its configuration and the agent it describes."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CONFIG_FILE = "config.json"
SAVE_ROOT = Path(__file__).resolve().parents[1] / "save"  # default home of the run folders
# What make_agent and the training loop read from a run's configuration.
REQUIRED_KEYS = (
    "env_name", "seed", "max_steps", "n_games", "save_every", "keep_buffers", "solve_score",
    "solve_count", "update_every", "record_steps", "no_record", "tf_threads", "no_progress",
    "actor_lr", "critic_lr", "value_lr", "gamma", "tau", "buffer_size", "batch_size",
    "reward_scale", "layer1_size", "layer2_size", "learn_alpha", "alpha_lr",
)  # fmt: skip


def load_config(run_dir: Path) -> dict[str, Any]:
    """The configuration main.py wrote beside the run's checkpoints."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist (not a run folder made by main.py)")
    try:
        config = json.loads(path.read_text())
    except ValueError:
        raise ValueError(f"{path} is not valid JSON") from None
    missing = [k for k in REQUIRED_KEYS if k not in config] if isinstance(config, dict) else None
    if missing is None or missing:
        raise ValueError(f"{path} is not a configuration written by main.py (missing {missing})")
    return config


def environment_options(config: dict[str, Any]) -> dict[str, Any]:
    """The environment's constructor arguments that a run's configuration fixes."""
    return {"upright": True} if config.get("upright") else {}


def make_environment(config: dict[str, Any], **kwargs: Any):
    """The run's environment (its task, options and episode cap), built with `kwargs`."""
    from environment import create_environment

    kwargs.setdefault("max_episode_steps", config["max_steps"])
    return create_environment(config["env_name"], **environment_options(config), **kwargs)


def make_agent(config: dict[str, Any], env):
    """A SACAgent with the run's hyperparameters; sizes come from the environment's spaces."""
    from agent.agent import SACAgent

    return SACAgent(
        input_dims=env.observation_space.shape,
        n_actions=env.action_space.shape[0],
        actor_lr=config["actor_lr"],
        critic_lr=config["critic_lr"],
        value_lr=config["value_lr"],
        gamma=config["gamma"],
        tau=config["tau"],
        max_size=config["buffer_size"],
        batch_size=config["batch_size"],
        reward_scale=config["reward_scale"],
        layer1_size=config["layer1_size"],
        layer2_size=config["layer2_size"],
        learn_alpha=config["learn_alpha"],
        alpha_lr=config["alpha_lr"],
        seed=config["seed"],
    )


def most_recent_run(save_root: Path) -> Path | None:
    """The run folder under `save_root` whose newest checkpoint manifest is the newest."""
    runs = [p.parent for p in Path(save_root).glob(f"*/{CONFIG_FILE}")]

    def last_activity(run_dir: Path) -> float:
        stamps = [p.stat().st_mtime for p in run_dir.glob("checkpoint_ep*.json")]
        return max(stamps, default=(run_dir / CONFIG_FILE).stat().st_mtime)

    return max(runs, key=last_activity, default=None)


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Silence what native code prints to file descriptor 2 meanwhile."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def import_tensorflow_quietly():
    """Import TensorFlow without the notes its C++ side prints while loading (CUDA, oneDNN)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with quiet_native_stderr():
        import tensorflow as tf

        tf.config.list_physical_devices()  # probes for GPUs now, quietly
    return tf
