"""A trained actor's policy, as every tool and recording acts with it (NumPy only: no
TensorFlow is needed to act)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class ActorPolicy:
    """Acts with `actor` (state -> (mean, std) before tanh, such as `NumpyActor`).

    `act(observation)` is tanh(mean), which draws no random numbers; with
    `deterministic=False` it is tanh(mean + std * N(0, 1)), the noise from `rng`. With the
    task's `mirror` (environment.Mirror) the policy is the actor's left-right symmetric version
    (`networks.symmetric_mean_std`), as a run trained with `symmetric_policy` acts.
    """

    actor: Any
    mirror: Any = None
    rng: np.random.Generator = field(default_factory=np.random.default_rng)

    def act(self, observation: np.ndarray, deterministic: bool = True) -> np.ndarray:
        """Action in [-1, 1], float32, (n_actions,) or (n, n_actions) for n observations."""
        rng = None if deterministic else self.rng
        return squashed_action(self.actor, observation, rng, self.mirror)


def symmetric_mean_std(actor: Any, mirror: Any, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation (before tanh) of the left-right symmetric version of the
    policy of `actor` (a callable state -> (mean, std), such as `NumpyActor`).

    With the task's `mirror` (environment.Mirror: the reflection of an observation and of an
    action), the symmetric policy's distribution at s averages the actor's at s with the actor's
    at the reflected state, reflected back: mean = (mu(s) + m(mu(m(s)))) / 2 and std =
    (sigma(s) + sigma(m(s))[swapped]) / 2, where m(.) reflects and the spread swaps without
    signs. It acts in the reflected scene exactly as the reflection of what it does here, so a
    push to the left and one to the right meet the same balance. `state` is one observation or
    a batch of them.
    """
    state = np.asarray(state, dtype=np.float32)
    mean, std = actor(np.stack([state, mirror.observation(state)]))
    return (
        np.float32(0.5) * (mean[0] + mirror.action(mean[1])),
        np.float32(0.5) * (std[0] + std[1][..., mirror.action_index]),
    )


def squashed_action(
    actor: Any,
    observation: np.ndarray,
    rng: np.random.Generator | None = None,
    mirror: Any = None,
) -> np.ndarray:
    """Action in [-1, 1] of `actor` (state -> (mean, std), such as `NumpyActor`) at `observation`.

    Deterministic without `rng`: tanh(mean), which draws no random numbers; stochastic with it:
    tanh(mean + std * N(0, 1)). With the task's `mirror`, the policy is its left-right symmetric
    version (`symmetric_mean_std`).
    """
    if mirror is None:
        mean, std = actor(observation)
    else:
        mean, std = symmetric_mean_std(actor, mirror, observation)
    if rng is None:
        return np.tanh(mean)
    return np.tanh(mean + std * rng.standard_normal(mean.shape, dtype=np.float32))
