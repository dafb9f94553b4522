"""The agent's constructor checks and TensorFlow's thread settings."""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from agent.updates import ALGORITHMS


def configure_threads(n: int | None) -> None:
    """Use `n` TensorFlow intra-op and inter-op threads (None: TensorFlow's default).

    Must run before TensorFlow does any work. Results are bit-reproducible for one setting;
    a resumed run should use the setting of the run it continues.
    """
    if n is None:
        return
    try:
        tf.config.threading.set_intra_op_parallelism_threads(n)
        tf.config.threading.set_inter_op_parallelism_threads(n)
    except RuntimeError as error:
        raise RuntimeError(
            "configure_threads() must be called before TensorFlow does any work"
        ) from error


_POSITIVE_INTS = (
    "n_actions", "max_size", "batch_size", "layer1_size", "layer2_size", "policy_delay",
)  # fmt: skip
_POSITIVE_FLOATS = ("actor_lr", "critic_lr", "value_lr", "alpha_lr", "reward_scale")


def check_arguments(args: dict[str, Any]) -> None:
    """ValueError naming the first constructor argument that cannot work, and its rule."""

    def whole(value: Any) -> bool:
        return isinstance(value, int | np.integer) and not isinstance(value, bool)

    def number(value: Any) -> bool:
        return isinstance(value, int | float | np.number) and not isinstance(value, bool)

    dims = args["input_dims"]
    dims = [dims] if np.isscalar(dims) else list(dims)
    if not dims or not all(whole(d) and d >= 1 for d in dims):
        raise ValueError(f"input_dims must be positive whole numbers, got {args['input_dims']!r}")
    for name in _POSITIVE_INTS:
        if not (whole(args[name]) and args[name] >= 1):
            raise ValueError(f"{name} must be a whole number >= 1, got {args[name]!r}")
    for name in _POSITIVE_FLOATS:
        if not (number(args[name]) and np.isfinite(args[name]) and args[name] > 0):
            raise ValueError(f"{name} must be a positive finite number, got {args[name]!r}")
    for name in ("gamma", "tau"):
        if not (number(args[name]) and 0 < args[name] <= 1):
            raise ValueError(f"{name} must lie in (0, 1], got {args[name]!r}")
    if args["policy_samples"] not in (1, 2) or isinstance(args["policy_samples"], bool):
        raise ValueError(f"policy_samples must be 1 or 2, got {args['policy_samples']!r}")
    if not (whole(args["average_actor"]) and args["average_actor"] >= 0):
        raise ValueError(
            f"average_actor must be a whole number >= 0, got {args['average_actor']!r}"
        )
    if args["algo"] not in ALGORITHMS:
        raise ValueError(f"algo must be one of {', '.join(ALGORITHMS)}, got {args['algo']!r}")
    entropy = args["target_entropy"]
    if entropy is not None and not (number(entropy) and np.isfinite(entropy)):
        raise ValueError(f"target_entropy must be None or a finite number, got {entropy!r}")
    if args["seed"] is not None and not (whole(args["seed"]) and args["seed"] >= 0):
        raise ValueError(f"seed must be None or a whole number >= 0, got {args['seed']!r}")


# The arguments an agent records (get_config, its checkpoints), in order, with their types;
# None stays None for the optional ones.
_RECORDED = dict(
    n_actions=int, actor_lr=float, critic_lr=float, value_lr=float, gamma=float, tau=float,
    max_size=int, batch_size=int, reward_scale=float, layer1_size=int, layer2_size=int,
    learn_alpha=bool, alpha_lr=float, policy_samples=int, average_actor=int, act_averaged=bool,
    symmetric_policy=bool, mirror_transitions=bool, seed=int, jit_compile=bool, algo=str,
    target_entropy=float, policy_delay=int,
)  # fmt: skip
_OPTIONAL = ("seed", "target_entropy")


def recorded_config(args: dict[str, Any]) -> dict[str, Any]:
    """The constructor's (checked) arguments as plain values: input_dims an int or a list."""
    dims = args["input_dims"]
    config: dict[str, Any] = {
        "input_dims": int(dims) if np.isscalar(dims) else [int(d) for d in dims]
    }
    for name, kind in _RECORDED.items():
        value = args[name]
        config[name] = None if value is None and name in _OPTIONAL else kind(value)
    return config
