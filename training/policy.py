"""The final policy of a run folder or of a shipped results folder, ready to act.

Two kinds of folder hold a policy:

    run folder (main.py)   config.json + checkpoints: the actor of the newest checkpoint that
                           verifies, models_ep{N}/actor.weights.h5 (the averaged actor,
                           models_ep{N}/average_actor.weights.h5, if the run kept one)
    results folder         config.json + actor.weights.h5 (the run's policy, averaged or not)

Only the actor is built (`agent.networks.ActorNetwork`, sizes from the run's environment and
config), its weights are loaded once, and it acts as `agent.policy.ActorPolicy`, the policy a
training run hands over (`SACAgent.policy()`): deterministic actions are tanh(mean), stochastic
ones tanh(mean + std * N(0, 1)), left-right symmetric when the run was trained with
`symmetric_policy`. This is how every tool loads a trained policy. Every problem with the
folder raises `PolicyError`, whose message is one line.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agent.policy import ActorPolicy
from training.checkpoints import latest_good_checkpoint, models_dir
from training.runs import load_config, make_environment, quiet_native_stderr, task_mirror

ACTOR_WEIGHTS = "actor.weights.h5"
AVERAGE_WEIGHTS = "average_actor.weights.h5"  # a checkpoint's policy when average_actor > 0


class PolicyError(Exception):
    """A folder without a usable policy (no config, no weights, damaged or misfitting weights)."""


def _warn_on_stderr(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


@dataclass
class Policy(ActorPolicy):
    """An actor loaded from `weights_path`; `episode` is its checkpoint's (None: results)."""

    folder: Path = Path()
    config: dict[str, Any] = field(default_factory=dict)
    weights_path: Path = Path()
    episode: int | None = None

    @property
    def env_name(self) -> str:
        from environment import resolve_environment_name

        return resolve_environment_name(self.config["env_name"])

    def make_environment(self, **kwargs: Any):
        """The run's environment (task, options such as `upright`, episode cap) with `kwargs`."""
        return make_environment(self.config, **kwargs)

    def describe(self) -> str:
        source = "results" if self.episode is None else f"checkpoint of episode {self.episode}"
        symmetric = ", left-right symmetric" if self.mirror is not None else ""
        return f"{self.env_name} policy from {self.weights_path} ({source}{symmetric})"


def load_policy(
    folder: str | os.PathLike,
    warn: Callable[[str], None] = _warn_on_stderr,
    seed: int | None = None,
    episode: int | None = None,
    config: dict[str, Any] | None = None,
) -> Policy:
    """The policy in `folder` (run or results folder); `seed` seeds its stochastic actions;
    `episode`: the policy of that checkpoint of a run folder (default: the newest good one);
    `config`: the run's settings when they come from elsewhere than its config.json.

    `warn` gets one line for each damaged checkpoint skipped on the way to a good one.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise PolicyError(f"{folder} is not a folder")
    config = _load_config(folder) if config is None else config
    averaged = bool(config.get("average_actor"))
    if episode is None:
        weights_path, episode = find_actor_weights(folder, warn, averaged)
    else:
        weights_path = models_dir(folder, episode) / (
            AVERAGE_WEIGHTS if averaged else ACTOR_WEIGHTS
        )
        if not weights_path.is_file():
            raise PolicyError(f"the checkpoint of episode {episode} has no {weights_path.name}")
    env = make_environment(config)
    try:
        n_inputs, n_actions = env.observation_space.shape[0], env.action_space.shape[0]
    finally:
        env.close()
    mirror = task_mirror(config) if config.get("symmetric_policy") else None
    actor = _load_actor(weights_path, n_inputs, n_actions, config)
    return Policy(actor, mirror, np.random.default_rng(seed), folder, config, weights_path, episode)


def _load_config(folder: Path) -> dict[str, Any]:
    """The folder's config.json, checked and completed as main.py --recover reads it."""
    if not (folder / "config.json").is_file():
        raise PolicyError(
            f"{folder} has no config.json (neither a run folder made by main.py nor a results "
            "folder)"
        )
    try:
        return load_config(folder)
    except (OSError, ValueError) as error:
        raise PolicyError(_one_line(error)) from None


def find_actor_weights(
    folder: Path, warn: Callable[[str], None] = _warn_on_stderr, averaged: bool = False
) -> tuple[Path, int | None]:
    """(actor weights file, checkpoint episode or None for a results folder); `averaged`: the
    run kept an averaged actor (average_actor > 0), whose weights a checkpoint's policy is."""
    shipped = folder / ACTOR_WEIGHTS
    if shipped.is_file():
        return shipped, None
    checkpoint = latest_good_checkpoint(folder, warn=warn)
    if checkpoint is None:
        raise PolicyError(f"{folder} holds neither {ACTOR_WEIGHTS} nor a good checkpoint")
    path = checkpoint.models_dir / (AVERAGE_WEIGHTS if averaged else ACTOR_WEIGHTS)
    if not path.is_file():
        raise PolicyError(f"the checkpoint of episode {checkpoint.episode} has no {path.name}")
    return path, checkpoint.episode


def _load_actor(path: Path, n_inputs: int, n_actions: int, config: dict[str, Any]):
    """A NumpyActor with the weights of `path`, for the network that `config` describes."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with quiet_native_stderr():
        import tensorflow as tf

        tf.config.list_physical_devices()  # probes for GPUs now, quietly
        from agent.networks import ActorNetwork, NumpyActor

        actor = ActorNetwork(n_actions, config["layer1_size"], config["layer2_size"])
        actor(np.zeros((1, n_inputs), dtype=np.float32))
    network = (
        f"{n_inputs} inputs, layers of {config['layer1_size']} and {config['layer2_size']}, "
        f"{n_actions} actions"
    )
    try:
        with quiet_native_stderr():
            actor.load_weights(str(path))
    except ValueError:
        raise PolicyError(
            f"{path} does not fit the actor that config.json describes ({network})"
        ) from None
    except Exception as error:  # h5py and Keras raise many kinds for a damaged file
        raise PolicyError(f"{path} is unreadable or damaged ({_one_line(error)})") from None
    return NumpyActor(actor)


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text if len(text) <= 200 else text[:197] + "..."
