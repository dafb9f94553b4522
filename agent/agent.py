"""Soft Actor-Critic: twin critics, a tanh-squashed Gaussian actor, entropy weight through the
reward scale or a learned temperature; the update of SAC v1 (the reference's, a value network V
and its target V') or of SAC v2 (target critics instead), `algo` (agent/updates.py has both).

One update computes every loss and gradient from the parameters before it, then applies them
all (or skips them all when one is not finite): an Adam step per trained network (and for the
temperature, if learned), the targets moved by tau (V' towards V; Q1', Q2' towards Q1, Q2), and
(with `average_actor=N` > 0) A <- A + (actor - A) / N: the averaged actor A, an exponential
moving average of the actor's weights over about N updates.

The averaged actor is the policy a run hands over (`policy()`: the one recorded and shipped):
the actor's own weights keep moving with every update, and on the balance tasks a snapshot of
them can be much less steady than the training episodes around it, while their average is not.

How the agent acts is fixed when it is built: `act(observation)` samples the actor, or with
`act_averaged` the averaged actor in the episodes that count toward solving (once it has
AVERAGE_WARMUP windows of updates behind it), in the left-right symmetric version of the policy
with `symmetric_policy`; with `mirror_transitions` every transition remembered is also
remembered reflected. The last two need the task's `mirror` (environment.Mirror).

With `policy_samples=2` (default, sac1 only) the actor loss (and the temperature loss) use a
second a~, drawn independently of the value target's, as the reference did; with
`policy_samples=1` both share one sample a~, as the authors' own SAC v1 code does (about 10 %
fewer FLOPs). Both estimate the same expectations.

The agent owns all its randomness, so that a saved agent resumes bit for bit (on CPU, same
thread settings): `action_rng` for action noise, `memory.rng` for batch indices, `noise_rng`
for the actor's noise inside the update (all NumPy generators).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from agent import AVERAGE_WARMUP, LOSS_NAMES, crossq
from agent.arguments import check_arguments, configure_threads, recorded_config  # noqa: F401
from agent.buffer import ReplayBuffer
from agent.crossq import Batch, CrossQCritic
from agent.files import AgentFiles
from agent.networks import (
    ActorNetwork,
    CriticNetwork,
    NumpyActor,
    ValueNetwork,
    actor_variables,
    squashed_action,
)
from agent.policy import ActorPolicy
from agent.updates import LOSSES_AND_GRADIENTS, RULES, noise_samples

NETWORK_NAMES = RULES["sac1"].networks  # the reference's five networks
AVERAGE_ACTOR = "average_actor"  # the sixth network, with average_actor > 0


class SACAgent(AgentFiles):
    """SAC agent. Actions are in [-1, 1]; the environment applies its action scale.

    With `learn_alpha=False` (default) the entropy weight alpha is 1 and `reward_scale` sets the
    balance between reward and entropy (the reference's 2). With `learn_alpha=True`, alpha =
    exp(log_alpha) is tuned towards `target_entropy` (None: -n_actions); use `reward_scale=1`
    then. `algo` is the update: "sac1" (the reference's) or "sac2" (agent/updates.py).
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
        algo: str = "sac1",
        target_entropy: float | None = None,
        policy_delay: int = 1,
    ) -> None:
        check_arguments(locals())
        if (symmetric_policy or mirror_transitions) and mirror is None:
            raise ValueError("symmetric_policy and mirror_transitions need the task's mirror")
        self._config = recorded_config(locals())
        dims = self._config["input_dims"]
        self.input_dims = (dims,) if isinstance(dims, int) else tuple(dims)
        self.n_actions = int(n_actions)
        self.gamma, self.tau, self.reward_scale = float(gamma), float(tau), float(reward_scale)
        self.batch_size = int(batch_size)
        self.learn_alpha = bool(learn_alpha)
        self.policy_samples = int(policy_samples)
        self.algo = str(algo)
        self.policy_delay = int(policy_delay)
        self.noise_samples = noise_samples(self.algo, self.policy_samples)
        self.average_actor = None  # the averaged actor network, built with average_actor > 0
        self.mirror = mirror
        self._symmetry = mirror if symmetric_policy else None  # for acting
        self._reflection = mirror if mirror_transitions else None  # for remembering
        # act_averaged: counted episodes are played by the average from this many updates on
        self._average_from = AVERAGE_WARMUP * int(average_actor) if act_averaged else None
        self.rule = RULES[self.algo]
        self._reported = (*self.rule.losses, "alpha", *(("alpha_loss",) if learn_alpha else ()))
        self.network_names = self.rule.networks + ((AVERAGE_ACTOR,) if average_actor else ())
        self.target_entropy = -float(n_actions) if target_entropy is None else float(target_entropy)
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
        """The buffer, the generators, the networks and their optimizers."""
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
        critic = CrossQCritic if self.algo == "crossq" else CriticNetwork
        self.critic_1 = critic(**sizes, seed=int_seed(streams[4]), name="critic_1")
        self.critic_2 = critic(**sizes, seed=int_seed(streams[5]), name="critic_2")
        state, action = tf.zeros((1, *self.input_dims)), tf.zeros((1, n_actions))
        self.actor(state)
        self.critic_1(state, action)
        self.critic_2(state, action)
        if self.algo == "sac1":
            value_seed = int_seed(streams[6])
            self.value = ValueNetwork(**sizes, seed=value_seed, name="value")
            self.target_value = ValueNetwork(**sizes, seed=value_seed, name="target_value")
            self.value(state)
            self.target_value(state)
        elif self.algo == "sac2":  # the target critics start as copies of the critics
            for i, stream in ((1, streams[4]), (2, streams[5])):
                target = CriticNetwork(**sizes, seed=int_seed(stream), name=f"target_critic_{i}")
                target(state, action)
                setattr(self, f"target_critic_{i}", target)
        for network, target in self.rule.targets:
            self.network(target).set_weights(self.network(network).get_weights())
        if self._config["average_actor"]:
            self.average_actor = ActorNetwork(
                n_actions, **sizes, seed=int_seed(streams[3]), name=AVERAGE_ACTOR
            )
            self.average_actor(state)
            self.average_actor.set_weights(self.actor.get_weights())

        self.log_alpha = tf.Variable(0.0, dtype=tf.float32, name="log_alpha")
        rates = dict(actor=actor_lr, critic_1=critic_lr, critic_2=critic_lr, value=value_lr)
        beta_1 = crossq.ADAM_BETA_1 if self.algo == "crossq" else 0.9
        self.optimizers = {
            name: keras.optimizers.Adam(rates[name], beta_1=beta_1, name=f"{name}_optimizer")
            for name in self.rule.trained
        }
        self.optimizers["alpha"] = keras.optimizers.Adam(alpha_lr, name="alpha_optimizer")
        for name, optimizer in self.optimizers.items():
            optimizer.build(self._trained_weights(name))

    def _compile_learn(self, jit_compile: bool) -> None:
        """Define the K-update call (compiled by XLA unless `jit_compile` is False); it is traced
        once, at the first compiled learn, so that an agent that only acts never traces it."""
        n_actions = self.n_actions
        block = (None, self.batch_size)
        signature = (
            tf.TensorSpec((*block, *self.input_dims), tf.float32),  # states
            tf.TensorSpec((*block, n_actions), tf.float32),  # actions
            tf.TensorSpec(block, tf.float32),  # rewards
            tf.TensorSpec((*block, *self.input_dims), tf.float32),  # new states
            tf.TensorSpec(block, tf.float32),  # terminated
            tf.TensorSpec((*block, self.noise_samples, n_actions), tf.float32),  # actor noise
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
        self._compiled_learn = None

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
            (batch[0].shape[0], self.batch_size, self.noise_samples, self.n_actions),
            dtype=np.float32,
        )
        batch.append(tf.convert_to_tensor(noise))
        if eager:
            losses, finite = self._run_updates(*batch)
            self._numpy_actor = self._numpy_average = None
        else:
            if self._compiled_learn is None:
                self._compiled_learn = self._learn_function.get_concrete_function()
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
            if name in self._reported
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
        (`q_hat`, `alpha`, the losses named in LOSS_NAMES; sac1 also `value_target`) and each
        trained network's gradients (keys of `optimizers`; "alpha" only with learned
        temperature), by the agent's learning rule (agent/updates.py).

        `noise` is (batch, noise_samples, n_actions) standard normal: the policy samples.
        """
        batch = Batch(state, action, reward, new_state, terminated, noise)
        return LOSSES_AND_GRADIENTS[self.algo](self, batch)

    def _update(self, *batch: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """One SAC update (see the module docstring) of one batch, as `losses_and_gradients`
        takes it; returns (losses, all finite)."""
        quantities, gradients = self.losses_and_gradients(*batch)
        losses = tf.stack([quantities[name] for name in LOSS_NAMES])
        finite = tf.reduce_all(tf.math.is_finite(losses))
        for grads in gradients.values():
            for grad in grads:
                finite = tf.logical_and(finite, tf.reduce_all(tf.math.is_finite(grad)))

        due = quantities.get("actor_due")  # crossq: whether the actor updates this time
        delayed = ("actor", "alpha") if due is not None else ()

        def step(names: Sequence[str]) -> tf.Tensor:
            for name in names:
                self.optimizers[name].apply_gradients(
                    zip(gradients[name], self._trained_weights(name), strict=True)
                )
            return tf.constant(True)

        def apply() -> tf.Tensor:
            step([name for name in gradients if name not in delayed])
            if delayed:
                names = [name for name in delayed if name in gradients]
                tf.cond(due, lambda: step(names), lambda: tf.constant(False))
            for name in ("critic_1", "critic_2"):
                if f"{name}_statistics" in quantities:
                    running = self.network(name).running_statistics()
                    for variable, value in zip(
                        running, quantities[f"{name}_statistics"], strict=True
                    ):
                        variable.assign(value)
            for network, target in self.rule.targets:
                for weight, moved in zip(
                    self.network(network).weights, self.network(target).weights, strict=True
                ):
                    moved.assign(self.tau * weight + (1.0 - self.tau) * moved)
            if self.average_actor is not None:
                rate = 1.0 / self._config["average_actor"]
                for weight, average in zip(
                    self.actor.weights, self.average_actor.weights, strict=True
                ):
                    average.assign_add(rate * (weight - average))
            return tf.constant(True)

        tf.cond(finite, apply, lambda: tf.constant(False))
        return losses, finite
