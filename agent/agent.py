"""Soft Actor-Critic, 2018 "v1" (arXiv 1801.01290): twin critics, a value network V and a target
value network V', entropy weight through the reward scale; learned temperature as an option.

One update, in the reference's order (every loss and gradient depends only on the parameters
before the update, so they are all computed first and then applied, or all skipped):

1. value:   target = min(Q1, Q2)(s, a1) - alpha * log pi(a1|s), a1 ~ pi(.|s);
            loss 0.5 * mean((V(s) - target)^2)
2. actor:   loss mean(alpha * log pi(a2|s) - min(Q1, Q2)(s, a2)), a2 ~ pi(.|s) reparameterised
   (alpha, if learned: loss -mean(log_alpha * (log pi(a2|s) - n_actions)))
3. critics: q_hat = reward_scale * r + gamma * (1 - terminated) * V'(s');
            loss_i 0.5 * mean((Qi(s, a) - q_hat)^2)
4. V' <- tau * V + (1 - tau) * V'

The agent owns all its randomness, so that a saved agent resumes bit for bit (on CPU, same
thread settings): `action_rng` (NumPy) for action noise, `memory.rng` (NumPy) for batch indices,
`tf_rng` (`tf.random.Generator`) for the actor's noise inside the update.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from agent.buffer import ReplayBuffer
from agent.networks import (
    ActorNetwork,
    CriticNetwork,
    NumpyActor,
    ValueNetwork,
    actor_variables,
    squashed_sample,
)

NETWORK_NAMES = ("actor", "critic_1", "critic_2", "value", "target_value")
_OPTIMIZER_NAMES = ("actor", "critic_1", "critic_2", "value", "alpha")
_LOSS_NAMES = ("value_loss", "actor_loss", "critic_1_loss", "critic_2_loss", "alpha_loss", "alpha")
# Constructor arguments that fix the shapes of saved weights and optimizer slots.
_STRUCTURAL_KEYS = ("input_dims", "n_actions", "layer1_size", "layer2_size", "learn_alpha")
_STATE_FILE = "agent_state.npz"
_BUFFER_FILE = "replay_buffer.npz"


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


class SACAgent:
    """SAC v1 agent. Actions are in [-1, 1]; the environment applies its action scale.

    With `learn_alpha=False` (default) the entropy weight alpha is 1 and `reward_scale` sets the
    balance between reward and entropy (the reference's 2). With `learn_alpha=True`, alpha =
    exp(log_alpha) is tuned towards the target entropy -n_actions; use `reward_scale=1` then.
    """

    def __init__(
        self,
        input_dims: int | Sequence[int],
        n_actions: int,
        actor_lr: float = 3e-4,
        critic_lr: float = 3e-4,
        value_lr: float = 3e-4,
        gamma: float = 0.99,
        tau: float = 0.005,
        max_size: int = 1_000_000,
        batch_size: int = 256,
        reward_scale: float = 2.0,
        layer1_size: int = 512,
        layer2_size: int = 256,
        learn_alpha: bool = False,
        alpha_lr: float = 3e-4,
        seed: int | None = None,
        jit_compile: bool = True,
    ) -> None:
        scalar_dims = np.isscalar(input_dims)
        dims = [int(input_dims)] if scalar_dims else [int(d) for d in input_dims]
        self._config = dict(
            input_dims=dims[0] if scalar_dims else dims,
            n_actions=int(n_actions),
            actor_lr=float(actor_lr),
            critic_lr=float(critic_lr),
            value_lr=float(value_lr),
            gamma=float(gamma),
            tau=float(tau),
            max_size=int(max_size),
            batch_size=int(batch_size),
            reward_scale=float(reward_scale),
            layer1_size=int(layer1_size),
            layer2_size=int(layer2_size),
            learn_alpha=bool(learn_alpha),
            alpha_lr=float(alpha_lr),
            seed=None if seed is None else int(seed),
            jit_compile=bool(jit_compile),
        )
        self.input_dims = tuple(dims)
        self.n_actions = int(n_actions)
        self.gamma, self.tau, self.reward_scale = float(gamma), float(tau), float(reward_scale)
        self.batch_size = int(batch_size)
        self.learn_alpha = bool(learn_alpha)
        self.target_entropy = -float(n_actions)
        self.update_count = 0  # updates attempted, skipped ones included
        self.skipped_updates = 0  # updates dropped because a loss or gradient was not finite

        # One seed sequence feeds every random stream; seed=None draws fresh OS entropy.
        streams = np.random.SeedSequence(seed).spawn(7)

        def int_seed(stream: np.random.SeedSequence) -> int:
            return int(stream.generate_state(1)[0])

        self.memory = ReplayBuffer(max_size, self.input_dims, n_actions, seed=streams[0])
        self.action_rng = np.random.default_rng(streams[1])
        self.tf_rng = tf.random.Generator.from_seed(int_seed(streams[2]), alg="philox")

        sizes = dict(fc1_dims=layer1_size, fc2_dims=layer2_size)
        self.actor = ActorNetwork(n_actions, **sizes, seed=int_seed(streams[3]), name="actor")
        self.critic_1 = CriticNetwork(**sizes, seed=int_seed(streams[4]), name="critic_1")
        self.critic_2 = CriticNetwork(**sizes, seed=int_seed(streams[5]), name="critic_2")
        value_seed = int_seed(streams[6])
        self.value = ValueNetwork(**sizes, seed=value_seed, name="value")
        self.target_value = ValueNetwork(**sizes, seed=value_seed, name="target_value")
        state, action = tf.zeros((1, *self.input_dims)), tf.zeros((1, n_actions))
        self.actor(state)
        self.critic_1(state, action)
        self.critic_2(state, action)
        self.value(state)
        self.target_value(state)
        self.target_value.set_weights(self.value.get_weights())

        self.log_alpha = tf.Variable(0.0, dtype=tf.float32, name="log_alpha")
        self.optimizers = {
            "actor": keras.optimizers.Adam(actor_lr, name="actor_optimizer"),
            "critic_1": keras.optimizers.Adam(critic_lr, name="critic_1_optimizer"),
            "critic_2": keras.optimizers.Adam(critic_lr, name="critic_2_optimizer"),
            "value": keras.optimizers.Adam(value_lr, name="value_optimizer"),
            "alpha": keras.optimizers.Adam(alpha_lr, name="alpha_optimizer"),
        }
        for name, optimizer in self.optimizers.items():
            optimizer.build(self._trained_weights(name))

        self._numpy_actor: NumpyActor | None = None  # refreshed lazily after weights change
        block = (None, self.batch_size)
        batch_signature = (
            tf.TensorSpec((*block, *self.input_dims), tf.float32),
            tf.TensorSpec((*block, n_actions), tf.float32),
            tf.TensorSpec(block, tf.float32),
            tf.TensorSpec((*block, *self.input_dims), tf.float32),
            tf.TensorSpec(block, tf.float32),
        )
        noise_signature = tf.TensorSpec((*block[:1], 2, self.batch_size, n_actions), tf.float32)
        self._compiled_updates = tf.function(
            self._run_updates,
            input_signature=(*batch_signature, noise_signature),
            jit_compile=jit_compile,
        )
        # The noise is drawn outside the XLA cluster: XLA's normal sampler gives other numbers
        # than TensorFlow's kernel, and the eager path must see the same noise.
        # The call also returns the actor's new weights, so acting needs no separate read of
        # the variables (eight eager reads cost more than a small update).
        actor_weights = actor_variables(self.actor)
        self._compiled_learn = tf.function(
            lambda *batch: (
                *self._compiled_updates(*batch, self._draw_noise(batch[0])),
                [tf.identity(v) for v in actor_weights],
            ),
            input_signature=batch_signature,
        )

    def network(self, name: str) -> keras.Model:
        """One of NETWORK_NAMES."""
        if name not in NETWORK_NAMES:
            raise KeyError(f"unknown network {name!r}; expected one of {NETWORK_NAMES}")
        return getattr(self, name)

    def _trained_weights(self, optimizer_name: str) -> list:
        if optimizer_name == "alpha":
            return [self.log_alpha]
        return self.network(optimizer_name).trainable_weights

    def get_config(self) -> dict[str, Any]:
        return dict(self._config)

    @property
    def alpha(self) -> float:
        return float(np.exp(self.log_alpha.numpy())) if self.learn_alpha else 1.0

    # ---- acting ---------------------------------------------------------------------------

    def choose_action(self, observation: np.ndarray, deterministic: bool = False) -> np.ndarray:
        """Action in [-1, 1], float32, shape (n_actions,) (or (n, n_actions) for n observations).

        Stochastic: tanh(mean + std * noise) with noise from `action_rng`; deterministic:
        tanh(mean), which draws no random numbers.
        """
        if self._numpy_actor is None:
            self._numpy_actor = NumpyActor(self.actor)
        mean, std = self._numpy_actor(observation)
        if deterministic:
            return np.tanh(mean)
        return np.tanh(mean + std * self.action_rng.standard_normal(mean.shape, dtype=np.float32))

    def remember(
        self,
        state: np.ndarray,
        action: np.ndarray,
        reward: float,
        new_state: np.ndarray,
        terminated: bool,
    ) -> None:
        """Store a transition; `terminated` must exclude time-limit truncations."""
        self.memory.store_transition(state, action, reward, new_state, terminated)

    # ---- learning -------------------------------------------------------------------------

    def learn(self, n_updates: int = 1) -> dict[str, float] | None:
        """Run `n_updates` updates in one compiled call on batches sampled from the memory.

        Returns the losses averaged over the applied updates, `alpha`, and `skipped` (updates of
        this call dropped for a non-finite loss or gradient); None while the memory holds less
        than one batch.
        """
        if len(self.memory) < self.batch_size:
            return None
        return self.learn_from_batches(*self.memory.sample_batches(n_updates, self.batch_size))

    def learn_from_batches(
        self,
        states: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        new_states: np.ndarray,
        terminated: np.ndarray,
        eager: bool = False,
    ) -> dict[str, float]:
        """One update per leading index of the arrays, each shaped (K, batch_size, ...).

        `eager=True` runs the same update op by op without tf.function (the reference
        implementation the compiled path is tested against; slow).
        """
        batch = [
            tf.convert_to_tensor(np.asarray(x, dtype=np.float32))
            for x in (states, actions, rewards, new_states, terminated)
        ]
        if eager:
            losses, finite = self._run_updates(*batch, self._draw_noise(batch[0]))
            self._numpy_actor = None
        else:
            losses, finite, weights = self._compiled_learn(*batch)
            self._numpy_actor = NumpyActor(self.actor, [w.numpy() for w in weights])
        losses, finite = losses.numpy(), finite.numpy()
        skipped = len(finite) - int(np.count_nonzero(finite))
        self.update_count += len(finite)
        self.skipped_updates += skipped
        means = (
            losses[finite].mean(axis=0)
            if skipped < len(finite)
            else np.full(len(_LOSS_NAMES), np.nan)
        )
        result = {
            name: float(value)
            for name, value in zip(_LOSS_NAMES, means, strict=True)
            if self.learn_alpha or name != "alpha_loss"
        }
        result["skipped"] = float(skipped)
        return result

    def _draw_noise(self, states: tf.Tensor) -> tf.Tensor:
        return self.tf_rng.normal(
            tf.stack([tf.shape(states)[0], 2, self.batch_size, self.n_actions])
        )

    def _run_updates(
        self,
        states: tf.Tensor,
        actions: tf.Tensor,
        rewards: tf.Tensor,
        new_states: tf.Tensor,
        terminated: tf.Tensor,
        noise: tf.Tensor,
    ) -> tuple[tf.Tensor, tf.Tensor]:
        n_updates = tf.shape(states)[0]
        losses = tf.TensorArray(tf.float32, size=n_updates)
        finite = tf.TensorArray(tf.bool, size=n_updates)
        for k in tf.range(n_updates):
            step_losses, step_finite = self._update(
                states[k], actions[k], rewards[k], new_states[k], terminated[k], noise[k]
            )
            losses = losses.write(k, step_losses)
            finite = finite.write(k, step_finite)
        return losses.stack(), finite.stack()

    def _update(
        self,
        state: tf.Tensor,
        action: tf.Tensor,
        reward: tf.Tensor,
        new_state: tf.Tensor,
        terminated: tf.Tensor,
        noise: tf.Tensor,
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """One SAC update (see the module docstring); returns (losses, all finite)."""
        alpha = tf.exp(self.log_alpha) if self.learn_alpha else tf.constant(1.0)
        with tf.GradientTape() as actor_tape:
            # pi(.|s) is the same for the value target and the actor loss: one forward pass,
            # two independent samples.
            mean, std = self.actor(state)
            new_action, log_prob = squashed_sample(mean, std, noise[1])
            q_new = tf.minimum(self.critic_1(state, new_action), self.critic_2(state, new_action))
            actor_loss = tf.reduce_mean(alpha * log_prob - q_new)
        value_action, value_log_prob = squashed_sample(mean, std, noise[0])
        value_action, value_log_prob = (
            tf.stop_gradient(value_action),
            tf.stop_gradient(value_log_prob),
        )
        value_target = (
            tf.minimum(self.critic_1(state, value_action), self.critic_2(state, value_action))
            - alpha * value_log_prob
        )
        with tf.GradientTape() as value_tape:
            value_loss = 0.5 * tf.reduce_mean(tf.square(self.value(state) - value_target))
        q_hat = self.reward_scale * reward + self.gamma * (1.0 - terminated) * self.target_value(
            new_state
        )
        with tf.GradientTape() as critic_tape:
            critic_1_loss = 0.5 * tf.reduce_mean(tf.square(self.critic_1(state, action) - q_hat))
            critic_2_loss = 0.5 * tf.reduce_mean(tf.square(self.critic_2(state, action) - q_hat))
            critic_loss = critic_1_loss + critic_2_loss
        critic_weights = self.critic_1.trainable_weights + self.critic_2.trainable_weights
        gradients = {
            "value": value_tape.gradient(value_loss, self.value.trainable_weights),
            "actor": actor_tape.gradient(actor_loss, self.actor.trainable_weights),
        }
        critic_gradients = critic_tape.gradient(critic_loss, critic_weights)
        n_critic_1 = len(self.critic_1.trainable_weights)
        gradients["critic_1"] = critic_gradients[:n_critic_1]
        gradients["critic_2"] = critic_gradients[n_critic_1:]
        if self.learn_alpha:
            with tf.GradientTape() as alpha_tape:
                alpha_loss = -tf.reduce_mean(
                    self.log_alpha * tf.stop_gradient(log_prob + self.target_entropy)
                )
            gradients["alpha"] = alpha_tape.gradient(alpha_loss, [self.log_alpha])
        else:
            alpha_loss = tf.constant(0.0)

        losses = tf.stack([value_loss, actor_loss, critic_1_loss, critic_2_loss, alpha_loss, alpha])
        finite = tf.reduce_all(tf.math.is_finite(losses))
        for grads in gradients.values():
            for grad in grads:
                finite = tf.logical_and(finite, tf.reduce_all(tf.math.is_finite(grad)))

        def apply() -> tf.Tensor:
            for name, grads in gradients.items():
                self.optimizers[name].apply_gradients(
                    zip(grads, self._trained_weights(name), strict=True)
                )
            for weight, target in zip(self.value.weights, self.target_value.weights, strict=True):
                target.assign(self.tau * weight + (1.0 - self.tau) * target)
            return tf.constant(True)

        tf.cond(finite, apply, lambda: tf.constant(False))
        return losses, finite

    # ---- saving ---------------------------------------------------------------------------

    def save_models(self, folder: str | os.PathLike) -> None:
        """Five `<name>.weights.h5` files and `agent_state.npz` (optimizers, alpha, random
        states, counters; no pickle)."""
        os.makedirs(folder, exist_ok=True)
        for name in NETWORK_NAMES:
            self.network(name).save_weights(os.path.join(folder, f"{name}.weights.h5"))
        state = {
            "config": np.asarray(json.dumps(self.get_config())),
            "update_count": np.int64(self.update_count),
            "skipped_updates": np.int64(self.skipped_updates),
            "log_alpha": self.log_alpha.numpy(),
            "tf_rng_state": self.tf_rng.state.numpy(),
            "tf_rng_algorithm": np.int64(self.tf_rng.algorithm),
            "action_rng_state": np.asarray(json.dumps(self.action_rng.bit_generator.state)),
        }
        for name, optimizer in self.optimizers.items():
            for i, variable in enumerate(optimizer.variables):
                state[f"optimizer_{name}_{i:03d}"] = np.asarray(variable.numpy())
        with open(os.path.join(folder, _STATE_FILE), "wb") as f:
            np.savez(f, **state)

    def load_models(self, folder: str | os.PathLike) -> None:
        """Restore what `save_models` wrote into this agent (built with the same sizes)."""
        paths = [os.path.join(folder, f"{name}.weights.h5") for name in NETWORK_NAMES]
        paths.append(os.path.join(folder, _STATE_FILE))
        missing = [p for p in paths if not os.path.isfile(p)]
        if missing:
            raise FileNotFoundError(f"missing model file(s): {', '.join(missing)}")
        with np.load(paths[-1], allow_pickle=False) as data:
            state = {key: data[key] for key in data.files}
        saved = json.loads(str(state["config"]))
        mismatch = {
            key: (saved.get(key), self._config[key])
            for key in _STRUCTURAL_KEYS
            if saved.get(key) != self._config[key]
        }
        if mismatch:
            details = ", ".join(f"{k}: saved {s}, this agent {c}" for k, (s, c) in mismatch.items())
            raise ValueError(f"models in {os.fspath(folder)!r} do not fit this agent ({details})")
        for name, path in zip(NETWORK_NAMES, paths, strict=False):
            self.network(name).load_weights(path)
        for name, optimizer in self.optimizers.items():
            n_saved = sum(key.startswith(f"optimizer_{name}_") for key in state)
            if n_saved != len(optimizer.variables):
                raise ValueError(f"{paths[-1]}: {name} optimizer state does not fit this agent")
            for i, variable in enumerate(optimizer.variables):
                variable.assign(state[f"optimizer_{name}_{i:03d}"])
        self.log_alpha.assign(state["log_alpha"])
        if int(state["tf_rng_algorithm"]) != self.tf_rng.algorithm:
            raise ValueError("saved TensorFlow generator uses another algorithm")
        self.tf_rng.state.assign(state["tf_rng_state"])
        self.action_rng.bit_generator.state = json.loads(str(state["action_rng_state"]))
        self.update_count = int(state["update_count"])
        self.skipped_updates = int(state["skipped_updates"])
        self._numpy_actor = None

    def save_replay_buffer(self, folder: str | os.PathLike) -> None:
        os.makedirs(folder, exist_ok=True)
        self.memory.save(os.path.join(folder, _BUFFER_FILE))

    def load_replay_buffer(self, folder: str | os.PathLike) -> None:
        path = os.path.join(folder, _BUFFER_FILE)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"missing replay buffer file: {path}")
        self.memory.load(path)
