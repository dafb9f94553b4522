"""Keras 3 networks of SAC v1 (Haarnoja et al. 2018): actor, twin critic, value.

Every network is state (and action) -> Dense(fc1) -> Dense(fc2) -> head, leaky-ReLU with negative
slope 0.2 on both hidden layers. Actions live in [-1, 1]; the environment applies its scale.

The actor never draws random numbers itself: the caller hands it standard-normal noise, so the
agent owns every random state (needed for exact resume). `NumpyActor` is the same actor as a
NumPy forward pass, used to act on one observation without TensorFlow's per-call overhead,
`symmetric_mean_std` makes any such actor's policy left-right symmetric, and `squashed_action`
turns either into an action.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from agent.policy import squashed_action, symmetric_mean_std  # noqa: F401 (their old home)

LEAKY_SLOPE = 0.2
STD_EPSILON = 1e-6  # added to softplus so that the standard deviation never reaches zero
LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
_LOG_2 = math.log(2.0)


def _layer_seeds(seed: int | None, count: int) -> list[int | None]:
    if seed is None:
        return [None] * count
    return [int(s) for s in np.random.SeedSequence(seed).generate_state(count)]


def _dense(units: int, seed: int | None, name: str, use_bias: bool = True) -> keras.layers.Dense:
    return keras.layers.Dense(
        units,
        kernel_initializer=keras.initializers.GlorotUniform(seed=seed),
        use_bias=use_bias,
        name=name,
    )


class _TwoHiddenLayers(keras.Model):
    """Shared trunk: Dense(fc1) -> leaky-ReLU -> Dense(fc2) -> leaky-ReLU."""

    def __init__(self, fc1_dims: int, fc2_dims: int, seeds: list[int | None], **kwargs):
        super().__init__(**kwargs)
        self.fc1_dims, self.fc2_dims = fc1_dims, fc2_dims
        self.fc1 = _dense(fc1_dims, seeds[0], "fc1")
        self.fc2 = _dense(fc2_dims, seeds[1], "fc2")

    def _trunk(self, x: tf.Tensor) -> tf.Tensor:
        x = tf.nn.leaky_relu(self.fc1(x), alpha=LEAKY_SLOPE)
        return tf.nn.leaky_relu(self.fc2(x), alpha=LEAKY_SLOPE)


class CriticNetwork(_TwoHiddenLayers):
    """Q(s, a): concat(state, action) -> 512 -> 256 -> 1. Output shape (batch,)."""

    def __init__(
        self, fc1_dims: int = 512, fc2_dims: int = 256, seed: int | None = None, **kwargs
    ) -> None:
        seeds = _layer_seeds(seed, 3)
        super().__init__(fc1_dims, fc2_dims, seeds, **kwargs)
        self.q = _dense(1, seeds[2], "q")

    def call(self, state: tf.Tensor, action: tf.Tensor) -> tf.Tensor:
        return self.q_from_state_part(self.state_part(state), action)

    def state_part(self, state: tf.Tensor) -> tf.Tensor:
        """state @ W1[:state_dims] + b1: the first layer's pre-activation without the action.

        The first layer is concat(state, action) @ W1 + b1, computed as the sum of a state part
        and an action part, so that one update evaluates Q at several actions on the same states
        from one state part, and backpropagates to the action through its few rows of W1 only.
        """
        if not self.fc1.built:
            raise RuntimeError("build the critic first by calling it on (state, action)")
        return tf.matmul(state, self.fc1.kernel[: state.shape[-1]]) + self.fc1.bias

    def q_from_state_part(self, state_part: tf.Tensor, action: tf.Tensor) -> tf.Tensor:
        """Q(s, a) from `state_part(s)`; output shape (batch,)."""
        n_actions = action.shape[-1]
        x = state_part + tf.matmul(action, self.fc1.kernel[-n_actions:])
        x = tf.nn.leaky_relu(x, alpha=LEAKY_SLOPE)
        x = tf.nn.leaky_relu(self.fc2(x), alpha=LEAKY_SLOPE)
        return tf.squeeze(self.q(x), axis=-1)

    def build(self, state_shape: Any, action_shape: Any) -> None:
        self.fc1.build((None, state_shape[-1] + action_shape[-1]))
        self.fc2.build((None, self.fc1_dims))
        self.q.build((None, self.fc2_dims))
        self.built = True


class ValueNetwork(_TwoHiddenLayers):
    """V(s): state -> 512 -> 256 -> 1. Output shape (batch,)."""

    def __init__(
        self, fc1_dims: int = 512, fc2_dims: int = 256, seed: int | None = None, **kwargs
    ) -> None:
        seeds = _layer_seeds(seed, 3)
        super().__init__(fc1_dims, fc2_dims, seeds, **kwargs)
        self.v = _dense(1, seeds[2], "v")

    def call(self, state: tf.Tensor) -> tf.Tensor:
        return tf.squeeze(self.v(self._trunk(state)), axis=-1)


class ActorNetwork(_TwoHiddenLayers):
    """Gaussian policy squashed by tanh.

    `call(state)` gives the pre-squash mean and standard deviation, each (batch, n_actions); the
    standard deviation is softplus + 1e-6, clamped so that log std stays in [-20, 2].
    """

    def __init__(
        self,
        n_actions: int,
        fc1_dims: int = 512,
        fc2_dims: int = 256,
        seed: int | None = None,
        **kwargs,
    ) -> None:
        seeds = _layer_seeds(seed, 4)
        super().__init__(fc1_dims, fc2_dims, seeds, **kwargs)
        self.n_actions = n_actions
        self.mu = _dense(n_actions, seeds[2], "mu")
        self.sigma = _dense(n_actions, seeds[3], "sigma")

    def call(self, state: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        x = self._trunk(state)
        std = tf.nn.softplus(self.sigma(x)) + STD_EPSILON
        return self.mu(x), tf.clip_by_value(std, math.exp(LOG_STD_MIN), math.exp(LOG_STD_MAX))

    def sample_normal(self, state: tf.Tensor, noise: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """Reparameterised sample: (action in (-1, 1), log pi(action | state) of shape (batch,))."""
        mean, std = self(state)
        return squashed_sample(mean, std, noise)


def squashed_sample(
    mean: tf.Tensor, std: tf.Tensor, noise: tf.Tensor
) -> tuple[tf.Tensor, tf.Tensor]:
    """a = tanh(mean + std * noise) and its log-density, summed over the action dimensions.

    log pi(a) = log N(u; mean, std) - log(1 - tanh(u)^2), the second term in the stable form
    2 * (log 2 - u - softplus(-2u)); (u - mean) / std is `noise` exactly, so it is used directly.
    """
    u = mean + std * noise
    log_normal = -0.5 * tf.square(noise) - tf.math.log(std) - _HALF_LOG_2PI
    log_det = 2.0 * (_LOG_2 - u - tf.nn.softplus(-2.0 * u))
    return tf.tanh(u), tf.reduce_sum(log_normal - log_det, axis=-1)


def actor_variables(actor: ActorNetwork) -> list:
    """The actor's variables in the order NumpyActor takes them."""
    return [v for layer in (actor.fc1, actor.fc2, actor.mu, actor.sigma) for v in layer.weights]


class NumpyActor:
    """The actor's forward pass in NumPy, from a snapshot of its weights (float32).

    Acting on one observation this way costs tens of microseconds instead of the hundreds a
    TensorFlow call costs. The snapshot must be refreshed after the actor's weights change.
    """

    def __init__(self, actor: ActorNetwork, weights: Sequence[Any] | None = None) -> None:
        """Snapshot `actor`'s weights, or take `weights` (values of `actor_variables(actor)`)."""
        if weights is None:
            weights = [v.numpy() for v in actor_variables(actor)]
        self.w1, self.b1, self.w2, self.b2, self.w_mu, self.b_mu, self.w_sigma, self.b_sigma = (
            np.asarray(w, dtype=np.float32) for w in weights
        )

    def __call__(self, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(state, dtype=np.float32)
        x = x @ self.w1 + self.b1
        x = np.where(x > 0, x, np.float32(LEAKY_SLOPE) * x)
        x = x @ self.w2 + self.b2
        x = np.where(x > 0, x, np.float32(LEAKY_SLOPE) * x)
        std = np.logaddexp(np.float32(0.0), x @ self.w_sigma + self.b_sigma) + np.float32(
            STD_EPSILON
        )
        std = np.clip(std, np.float32(math.exp(LOG_STD_MIN)), np.float32(math.exp(LOG_STD_MAX)))
        return x @ self.w_mu + self.b_mu, std
