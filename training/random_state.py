"""Every random state of a run outside the agent, as JSON, so that a resumed run goes on exactly.

The agent saves its own generators with its weights; what is left is Python's and NumPy's global
generators (seeded for good measure), the environment's generator (start noise) and the
generator of training pushes.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np


def seed_globals(seed: int) -> None:
    """Seed Python's, NumPy's and TensorFlow's global generators."""
    import tensorflow as tf

    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002
    tf.random.set_seed(seed)


def capture(env, push_rng: np.random.Generator) -> dict[str, Any]:
    return {
        "python": _jsonable(random.getstate()),
        "numpy_global": _jsonable(np.random.get_state(legacy=False)),  # noqa: NPY002
        "env": env.unwrapped.np_random.bit_generator.state,
        "push": push_rng.bit_generator.state,
    }


def restore(states: dict[str, Any], env, push_rng: np.random.Generator) -> None:
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    np.random.set_state(states["numpy_global"])  # noqa: NPY002
    generator = np.random.Generator(np.random.PCG64())
    generator.bit_generator.state = states["env"]
    env.unwrapped.np_random = generator
    if "push" in states:  # absent in checkpoints written before training pushes existed
        push_rng.bit_generator.state = states["push"]


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.integer):
        return int(value)
    return value
