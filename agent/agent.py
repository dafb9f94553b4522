"""Soft Actor-Critic, 2018 "v1" (arXiv 1801.01290): twin critics, a value network V and a target
value network V', entropy weight through the reward scale; learned temperature as an option.

One update, in the reference's order (every loss and gradient depends only on the parameters
before the update, so they are all computed first and then applied, or all skipped):

1. value:   target = min(Q1, Q2)(s, a~) - alpha * log pi(a~|s), a~ ~ pi(.|s) (no gradient);
            loss 0.5 * mean((V(s) - target)^2)
2. actor:   loss mean(alpha * log pi(a~|s) - min(Q1, Q2)(s, a~)), a~ reparameterised
   (alpha, if learned: loss -mean(log_alpha * (log pi(a~|s) - n_actions)))
3. critics: q_hat = reward_scale * r + gamma * (1 - terminated) * V'(s');
            loss_i 0.5 * mean((Qi(s, a) - q_hat)^2)
4. V' <- tau * V + (1 - tau) * V'
5. (with `average_actor=N` > 0) A <- A + (actor - A) / N: the averaged actor A, an exponential
   moving average of the actor's weights over about N updates

The averaged actor is the policy a run hands over (`policy()`: the one recorded and shipped):
the actor's own weights keep moving with every update, and on the balance tasks a snapshot of
them can be much less steady than the training episodes around it, while their average is not.

How the agent acts is fixed when it is built: `act(observation)` samples the actor, or with
`act_averaged` the averaged actor in the episodes that count toward solving (once it has
AVERAGE_WARMUP windows of updates behind it), in the left-right symmetric version of the policy
with `symmetric_policy`; with `mirror_transitions` every transition remembered is also
remembered reflected. The last two need the task's `mirror` (environment.Mirror).

With `policy_samples=2` (default) the actor loss (and the temperature loss) use a second a~,
drawn independently of the value target's, as the reference did; with `policy_samples=1` steps
1 and 2 share one sample a~ and one evaluation of pi(.|s) and Q1, Q2 at it, as the authors' own
SAC v1 code does (11 % fewer FLOPs). Both estimate the same expectations. Q1 and Q2 are
evaluated at a~ and at the buffer's action from one state part of their first layer
(`CriticNetwork.state_part`).

The agent owns all its randomness, so that a saved agent resumes bit for bit (on CPU, same
thread settings): `action_rng` for action noise, `memory.rng` for batch indices, `noise_rng`
for the actor's noise inside the update (all NumPy generators).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from agent import AVERAGE_WARMUP, LOSS_NAMES
from agent.buffer import ReplayBuffer
from agent.networks import (
    ActorNetwork,
    CriticNetwork,
    NumpyActor,
    ValueNetwork,
    actor_variables,
    squashed_action,
    squashed_sample,
)
from agent.policy import ActorPolicy

NETWORK_NAMES = ("actor", "critic_1", "critic_2", "value", "target_value")
AVERAGE_ACTOR = "average_actor"  # the sixth network, with average_actor > 0
# Constructor arguments that fix the shapes of saved weights and optimizer slots.
_STRUCTURAL_KEYS = (
    "input_dims", "n_actions", "layer1_size", "layer2_size", "learn_alpha", "average_actor",
)  # fmt: skip
_OLDER_DEFAULTS = {"average_actor": 0}  # structural keys that agents saved before they existed
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


_POSITIVE_INTS = ("n_actions", "max_size", "batch_size", "layer1_size", "layer2_size")
_POSITIVE_FLOATS = ("actor_lr", "critic_lr", "value_lr", "alpha_lr", "reward_scale")


def _check_arguments(args: dict[str, Any]) -> None:
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
    if args["seed"] is not None and not (whole(args["seed"]) and args["seed"] >= 0):
        raise ValueError(f"seed must be None or a whole number >= 0, got {args['seed']!r}")


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
        policy_samples: int = 2,
        average_actor: int = 0,
        act_averaged: bool = False,
        symmetric_policy: bool = False,
        mirror_transitions: bool = False,
        mirror: Any = None,
        seed: int | None = None,
        jit_compile: bool = True,
    ) -> None:
        _check_arguments(locals())
        if (symmetric_policy or mirror_transitions) and mirror is None:
            raise ValueError("symmetric_policy and mirror_transitions need the task's mirror")
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
            policy_samples=int(policy_samples),
            average_actor=int(average_actor),
            act_averaged=bool(act_averaged),
            symmetric_policy=bool(symmetric_policy),
            mirror_transitions=bool(mirror_transitions),
            seed=None if seed is None else int(seed),
            jit_compile=bool(jit_compile),
        )
        self.input_dims = tuple(dims)
        self.n_actions = int(n_actions)
        self.gamma, self.tau, self.reward_scale = float(gamma), float(tau), float(reward_scale)
        self.batch_size = int(batch_size)
        self.learn_alpha = bool(learn_alpha)
        self.policy_samples = int(policy_samples)
        self.average_actor = None  # the averaged actor network, built with average_actor > 0
        self.mirror = mirror
        self._symmetry = mirror if symmetric_policy else None  # for acting
        self._reflection = mirror if mirror_transitions else None  # for remembering
        # act_averaged: counted episodes are played by the average from this many updates on
        self._average_from = AVERAGE_WARMUP * int(average_actor) if act_averaged else None
        self.network_names = NETWORK_NAMES + ((AVERAGE_ACTOR,) if average_actor else ())
        self.target_entropy = -float(n_actions)
        self.update_count = 0  # updates attempted, skipped ones included
        self.skipped_updates = 0  # updates dropped because a loss or gradient was not finite

        self._build(max_size, actor_lr, critic_lr, value_lr, alpha_lr, seed)
        self._numpy_actor: NumpyActor | None = None  # refreshed lazily after weights change
        self._numpy_average: NumpyActor | None = None  # likewise, of the averaged actor
        self._compile_learn(jit_compile)

    def _build(
        self,
        max_size: int,
        actor_lr: float,
        critic_lr: float,
        value_lr: float,
        alpha_lr: float,
        seed: int | None,
    ) -> None:
        """The buffer, the generators, the five networks and their optimizers."""
        n_actions = self.n_actions
        layer1_size, layer2_size = self._config["layer1_size"], self._config["layer2_size"]
        # One seed sequence feeds every random stream; seed=None draws fresh OS entropy.
        streams = np.random.SeedSequence(seed).spawn(7)

        def int_seed(stream: np.random.SeedSequence) -> int:
            return int(stream.generate_state(1)[0])

        self.memory = ReplayBuffer(max_size, self.input_dims, n_actions, seed=streams[0])
        self.action_rng = np.random.default_rng(streams[1])
        self.noise_rng = np.random.default_rng(streams[2])

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
        if self._config["average_actor"]:
            self.average_actor = ActorNetwork(
                n_actions, **sizes, seed=int_seed(streams[3]), name=AVERAGE_ACTOR
            )
            self.average_actor(state)
            self.average_actor.set_weights(self.actor.get_weights())

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

    def _compile_learn(self, jit_compile: bool) -> None:
        """Trace the K-update call once (compiled by XLA unless `jit_compile` is False)."""
        n_actions = self.n_actions
        block = (None, self.batch_size)
        signature = (
            tf.TensorSpec((*block, *self.input_dims), tf.float32),  # states
            tf.TensorSpec((*block, n_actions), tf.float32),  # actions
            tf.TensorSpec(block, tf.float32),  # rewards
            tf.TensorSpec((*block, *self.input_dims), tf.float32),  # new states
            tf.TensorSpec(block, tf.float32),  # terminated
            tf.TensorSpec((*block, self.policy_samples, n_actions), tf.float32),  # actor noise
        )
        # One compiled call runs K updates and also returns the new weights of the actor (and
        # of the averaged actor), so acting needs no separate read of the variables. The noise
        # is drawn in NumPy and handed in: the eager path then sees the same numbers, and a call
        # is a single XLA launch (a TensorFlow random op around it cost about a millisecond).
        actors = [self.actor] + ([self.average_actor] if self.average_actor is not None else [])
        snapshots = [actor_variables(actor) for actor in actors]
        self._learn_function = tf.function(
            lambda *args: (
                *self._run_updates(*args),
                [[tf.identity(v) for v in variables] for variables in snapshots],
            ),
            input_signature=signature,
            jit_compile=jit_compile,
        )
        self._compiled_learn = self._learn_function.get_concrete_function()  # traced once

    def network(self, name: str) -> keras.Model:
        """One of `network_names` (NETWORK_NAMES, and AVERAGE_ACTOR with average_actor > 0)."""
        if name not in self.network_names:
            raise KeyError(f"unknown network {name!r}; expected one of {self.network_names}")
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

    def choose_action(
        self,
        observation: np.ndarray,
        deterministic: bool = False,
        averaged: bool = False,
        mirror: Any = None,
    ) -> np.ndarray:
        """Action in [-1, 1], float32, shape (n_actions,) (or (n, n_actions) for n observations).

        Stochastic: tanh(mean + std * noise) with noise from `action_rng`; deterministic:
        tanh(mean), which draws no random numbers. `averaged`: act with the averaged actor (the
        policy a run hands over), if the agent keeps one, else with the actor. `mirror` (the
        task's environment.Mirror): act with that policy's left-right symmetric version
        (`networks.symmetric_mean_std`).
        """
        actor = self._numpy(averaged and self.average_actor is not None)
        rng = None if deterministic else self.action_rng
        return squashed_action(actor, observation, rng, mirror)

    def _numpy(self, averaged: bool) -> NumpyActor:
        """The NumPy snapshot of the actor (or of the averaged actor), taken when stale."""
        if averaged:
            if self._numpy_average is None:
                self._numpy_average = NumpyActor(self.average_actor)
            return self._numpy_average
        if self._numpy_actor is None:
            self._numpy_actor = NumpyActor(self.actor)
        return self._numpy_actor

    def act(
        self, observation: np.ndarray, deterministic: bool = False, counted: bool = True
    ) -> np.ndarray:
        """The action the agent plays in training: sampled (or tanh(mean) if `deterministic`)
        from the actor, or with `act_averaged` from the averaged actor once it has made
        AVERAGE_WARMUP x average_actor updates and the episode is `counted` toward solving
        (with a curriculum, one played at the perturbations' full share); left-right
        symmetric with `symmetric_policy`."""
        averaged = (
            counted and self._average_from is not None and self.update_count >= self._average_from
        )
        return self.choose_action(observation, deterministic, averaged, self._symmetry)

    def policy(self, rng: np.random.Generator | None = None) -> ActorPolicy:
        """The policy a run hands over, as it is now: the averaged actor if the agent keeps
        one, else the actor; symmetric with `symmetric_policy`. Stochastic actions draw from
        `rng` (default: the agent's own action generator)."""
        actor = self._numpy(self.average_actor is not None)
        return ActorPolicy(actor, self._symmetry, self.action_rng if rng is None else rng)

    def remember(
        self,
        state: np.ndarray,
        action: np.ndarray,
        reward: float,
        new_state: np.ndarray,
        terminated: bool,
    ) -> None:
        """Store a transition (and, with `mirror_transitions`, its reflection: the same reward,
        the limits being symmetric); `terminated` must exclude time-limit truncations."""
        self.memory.store_transition(state, action, reward, new_state, terminated)
        if self._reflection is not None:
            reflect = self._reflection
            self.memory.store_transition(
                reflect.observation(state), reflect.action(action), reward,
                reflect.observation(new_state), terminated,
            )  # fmt: skip

    # ---- learning -------------------------------------------------------------------------

    def learn(self, n_updates: int = 1) -> dict[str, float] | None:
        """Run `n_updates` updates in one compiled call on batches sampled from the memory.

        Returns the losses averaged over the applied updates, `alpha`, and `skipped` (updates of
        this call dropped for a non-finite loss or gradient); None while the memory holds less
        than one batch.
        """
        if isinstance(n_updates, bool) or not isinstance(n_updates, int | np.integer):
            raise ValueError(f"n_updates must be a whole number, got {n_updates!r}")
        if n_updates < 1:
            raise ValueError(f"n_updates must be at least 1, got {n_updates}")
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
        noise = self.noise_rng.standard_normal(
            (batch[0].shape[0], self.batch_size, self.policy_samples, self.n_actions),
            dtype=np.float32,
        )
        batch.append(tf.convert_to_tensor(noise))
        if eager:
            losses, finite = self._run_updates(*batch)
            self._numpy_actor = self._numpy_average = None
        else:
            losses, finite, (weights, *average) = self._compiled_learn(*batch)
            self._numpy_actor = NumpyActor(self.actor, [w.numpy() for w in weights])
            self._numpy_average = (
                NumpyActor(self.average_actor, [w.numpy() for w in average[0]]) if average else None
            )
        losses, finite = losses.numpy(), finite.numpy()
        skipped = len(finite) - int(np.count_nonzero(finite))
        self.update_count += len(finite)
        self.skipped_updates += skipped
        means = (
            losses[finite].mean(axis=0)
            if skipped < len(finite)
            else np.full(len(LOSS_NAMES), np.nan)
        )
        result = {
            name: float(value)
            for name, value in zip(LOSS_NAMES, means, strict=True)
            if self.learn_alpha or name != "alpha_loss"
        }
        result["skipped"] = float(skipped)
        return result

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

    def losses_and_gradients(
        self,
        state: tf.Tensor,
        action: tf.Tensor,
        reward: tf.Tensor,
        new_state: tf.Tensor,
        terminated: tf.Tensor,
        noise: tf.Tensor,
    ) -> tuple[dict[str, tf.Tensor], dict[str, list[tf.Tensor]]]:
        """What one update computes from one batch, before anything is applied: the quantities
        (`value_target`, `q_hat`, `alpha`, the losses named in LOSS_NAMES) and each trained
        network's gradients (keys of `optimizers`; "alpha" only with learned temperature).

        `noise` is (batch, policy_samples, n_actions) standard normal: the policy samples.
        """
        alpha = tf.exp(self.log_alpha) if self.learn_alpha else tf.constant(1.0)
        with tf.GradientTape(persistent=True) as tape:
            mean, std = self.actor(state)
            state_part_1 = self.critic_1.state_part(state)
            state_part_2 = self.critic_2.state_part(state)

            def sampled_q(sample_noise: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
                new_action, log_prob = squashed_sample(mean, std, sample_noise)
                q_new = tf.minimum(
                    self.critic_1.q_from_state_part(state_part_1, new_action),
                    self.critic_2.q_from_state_part(state_part_2, new_action),
                )
                return q_new, log_prob

            q_new, log_prob = sampled_q(noise[:, 0])
            value_target = tf.stop_gradient(q_new - alpha * log_prob)
            if self.policy_samples == 2:
                q_new, log_prob = sampled_q(noise[:, 1])
            actor_loss = tf.reduce_mean(alpha * log_prob - q_new)
            value_loss = 0.5 * tf.reduce_mean(tf.square(self.value(state) - value_target))
            q_hat = tf.stop_gradient(
                self.reward_scale * reward
                + self.gamma * (1.0 - terminated) * self.target_value(new_state)
            )
            q_1 = self.critic_1.q_from_state_part(state_part_1, action)
            q_2 = self.critic_2.q_from_state_part(state_part_2, action)
            critic_1_loss = 0.5 * tf.reduce_mean(tf.square(q_1 - q_hat))
            critic_2_loss = 0.5 * tf.reduce_mean(tf.square(q_2 - q_hat))
            if self.learn_alpha:
                alpha_loss = -tf.reduce_mean(
                    self.log_alpha * tf.stop_gradient(log_prob + self.target_entropy)
                )
            else:
                alpha_loss = tf.constant(0.0)
        # Each loss is differentiated with respect to its own network only: the actor loss
        # does not move the critics, the value target does not move anything.
        gradients = {
            "value": tape.gradient(value_loss, self.value.trainable_weights),
            "actor": tape.gradient(actor_loss, self.actor.trainable_weights),
            "critic_1": tape.gradient(critic_1_loss, self.critic_1.trainable_weights),
            "critic_2": tape.gradient(critic_2_loss, self.critic_2.trainable_weights),
        }
        if self.learn_alpha:
            gradients["alpha"] = tape.gradient(alpha_loss, [self.log_alpha])
        del tape
        quantities = dict(
            value_target=value_target,
            q_hat=q_hat,
            value_loss=value_loss,
            actor_loss=actor_loss,
            critic_1_loss=critic_1_loss,
            critic_2_loss=critic_2_loss,
            alpha=alpha,
            alpha_loss=alpha_loss,
        )
        return quantities, gradients

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
        quantities, gradients = self.losses_and_gradients(
            state, action, reward, new_state, terminated, noise
        )
        losses = tf.stack([quantities[name] for name in LOSS_NAMES])
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
            if self.average_actor is not None:
                rate = 1.0 / self._config["average_actor"]
                for weight, average in zip(
                    self.actor.weights, self.average_actor.weights, strict=True
                ):
                    average.assign_add(rate * (weight - average))
            return tf.constant(True)

        tf.cond(finite, apply, lambda: tf.constant(False))
        return losses, finite

    # ---- saving ---------------------------------------------------------------------------

    def saved_nbytes(self) -> int:
        """Bytes of the arrays `save_models` and `save_replay_buffer` write (every weight and
        optimizer variable, the filled part of the buffer), before the files' own overhead."""
        variables = [w for name in self.network_names for w in self.network(name).weights]
        variables += [v for optimizer in self.optimizers.values() for v in optimizer.variables]
        weights = sum(int(np.prod(v.shape)) * np.dtype(v.dtype).itemsize for v in variables)
        filled = len(self.memory)
        buffer = sum(getattr(self.memory, name)[:1].nbytes * filled for name in ReplayBuffer.ARRAYS)
        return weights + buffer

    def save_models(self, folder: str | os.PathLike) -> None:
        """A `<name>.weights.h5` file per network (five, six with the averaged actor) and
        `agent_state.npz` (optimizers, alpha, random states, counters; no pickle)."""
        os.makedirs(folder, exist_ok=True)
        for name in self.network_names:
            self.network(name).save_weights(os.path.join(folder, f"{name}.weights.h5"))
        state = {
            "config": np.asarray(json.dumps(self.get_config())),
            "update_count": np.int64(self.update_count),
            "skipped_updates": np.int64(self.skipped_updates),
            "log_alpha": self.log_alpha.numpy(),
            "noise_rng_state": np.asarray(json.dumps(self.noise_rng.bit_generator.state)),
            "action_rng_state": np.asarray(json.dumps(self.action_rng.bit_generator.state)),
        }
        for name, optimizer in self.optimizers.items():
            for i, variable in enumerate(optimizer.variables):
                state[f"optimizer_{name}_{i:03d}"] = np.asarray(variable.numpy())
        with open(os.path.join(folder, _STATE_FILE), "wb") as f:
            np.savez(f, **state)

    def load_models(self, folder: str | os.PathLike) -> None:
        """Restore what `save_models` wrote into this agent (built with the same sizes)."""
        paths = [os.path.join(folder, f"{name}.weights.h5") for name in self.network_names]
        paths.append(os.path.join(folder, _STATE_FILE))
        missing = [p for p in paths if not os.path.isfile(p)]
        if missing:
            raise FileNotFoundError(f"missing model file(s): {', '.join(missing)}")
        with np.load(paths[-1], allow_pickle=False) as data:
            state = {key: data[key] for key in data.files}
        if "noise_rng_state" not in state:
            raise ValueError(
                f"{paths[-1]} was written by an earlier version of this agent (one that drew "
                "two policy samples per update); it cannot be resumed with this one"
            )
        saved = json.loads(str(state["config"]))
        mismatch = {
            key: (saved.get(key, _OLDER_DEFAULTS.get(key)), self._config[key])
            for key in _STRUCTURAL_KEYS
            if saved.get(key, _OLDER_DEFAULTS.get(key)) != self._config[key]
        }
        if mismatch:
            details = ", ".join(f"{k}: saved {s}, this agent {c}" for k, (s, c) in mismatch.items())
            raise ValueError(f"models in {os.fspath(folder)!r} do not fit this agent ({details})")
        for name, path in zip(self.network_names, paths, strict=False):
            self.network(name).load_weights(path)
        for name, optimizer in self.optimizers.items():
            n_saved = sum(key.startswith(f"optimizer_{name}_") for key in state)
            if n_saved != len(optimizer.variables):
                raise ValueError(f"{paths[-1]}: {name} optimizer state does not fit this agent")
            for i, variable in enumerate(optimizer.variables):
                variable.assign(state[f"optimizer_{name}_{i:03d}"])
        self.log_alpha.assign(state["log_alpha"])
        self.noise_rng.bit_generator.state = json.loads(str(state["noise_rng_state"]))
        self.action_rng.bit_generator.state = json.loads(str(state["action_rng_state"]))
        self.update_count = int(state["update_count"])
        self.skipped_updates = int(state["skipped_updates"])
        self._numpy_actor = None
        self._numpy_average = None

    def save_replay_buffer(self, folder: str | os.PathLike) -> None:
        os.makedirs(folder, exist_ok=True)
        self.memory.save(os.path.join(folder, _BUFFER_FILE))

    def load_replay_buffer(self, folder: str | os.PathLike) -> None:
        path = os.path.join(folder, _BUFFER_FILE)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"missing replay buffer file: {path}")
        self.memory.load(path)
