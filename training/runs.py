"""A training run's folder: its configuration and the agent it describes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CONFIG_FILE = "config.json"


def load_config(run_dir: Path) -> dict[str, Any]:
    """The configuration main.py wrote beside the run's checkpoints."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist (not a run folder made by main.py)")
    try:
        return json.loads(path.read_text())
    except ValueError:
        raise ValueError(f"{path} is not valid JSON") from None


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
