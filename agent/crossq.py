"""CrossQ (Bhatt et al., ICLR 2024, arXiv 1902.05605): SAC without target networks, whose
critics normalise their layers with batch renormalisation and see the current and the next
state-action pairs in one joint batch, so that both are normalised by the same statistics.

One update (`crossq`), every loss and gradient from the parameters before it:

1. critics: a' ~ pi(.|s') (no gradient); the joint batch [(s, a); (s', a')] goes through each
   critic in training mode (batch statistics of the joint batch); q_hat = reward_scale * r +
   gamma * (1 - terminated) * (min(Q1, Q2)(s', a') - alpha * log pi(a'|s')) (no gradient);
   loss_i 0.5 * mean((Qi(s, a) - q_hat)^2). The running statistics move towards the joint
   batch's.
2. actor (every `policy_delay`-th update; with it the temperature): a~ ~ pi(.|s), the critics
   in evaluation mode (running statistics); loss mean(alpha * log pi(a~|s) - min(Q1, Q2)(s, a~)).

A critic is concat(s, a) -> BRN -> Dense(fc1) -> BRN -> leaky-ReLU -> Dense(fc2) -> BRN ->
leaky-ReLU -> Dense(1). The input's normalisation has no scale and offset, and the hidden
Dense layers no bias: the normalisation after each would take them away (their gradients are
exactly zero, and Adam would turn the rounding noise in them into steps).

Batch renormalisation (Ioffe 2017) in training mode: with the batch's
mean m_B and standard deviation s_B = sqrt(var_B + eps), and the running m and
s = sqrt(var + eps), x_hat = (x - m_B) / s_B * r + d, r = clip(s_B / s, 1/r_max, r_max),
d = clip((m_B - m) / s, -d_max, d_max) (both without gradient; r = 1, d = 0 for the first
`warmup` updates: plain batch normalisation); y = scale * x_hat + offset. In evaluation mode
y = scale * (x - m) / s + offset. Running statistics: m += (1 - momentum) * (m_B - m), likewise
var with var_B. Adam's beta_1 is 0.5 for the actor and the critics, as the paper's.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import keras
import tensorflow as tf

from agent.networks import LEAKY_SLOPE, _dense, _layer_seeds, squashed_sample

MOMENTUM = 0.99
EPSILON = 1e-3
R_MAX, D_MAX = 3.0, 5.0
WARMUP = 100_000  # updates of plain batch normalisation before r and d take effect
ADAM_BETA_1 = 0.5


class Batch(NamedTuple):
    """One update's batch, as `SACAgent.losses_and_gradients` takes it: noise is (batch,
    samples, n_actions) standard normal, the policy samples."""

    state: tf.Tensor
    action: tf.Tensor
    reward: tf.Tensor
    new_state: tf.Tensor
    terminated: tf.Tensor
    noise: tf.Tensor


# What a learning rule returns: its quantities (losses, targets, ...) and each trained network's
# gradients (and "alpha"'s, with a learned temperature).
Update = tuple[dict[str, Any], dict[str, list[tf.Tensor]]]


class BatchRenorm(keras.layers.Layer):
    """Batch renormalisation over the batch axis (module docstring)."""

    def __init__(self, affine: bool = True, warmup: int = WARMUP, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.affine, self.warmup = affine, warmup

    def build(self, input_shape: Any) -> None:
        n = int(input_shape[-1])
        trained = self.affine  # without: scale 1 and offset 0, fixed
        self.scale = self.add_weight(
            shape=(n,), initializer="ones", name="scale", trainable=trained
        )
        self.offset = self.add_weight(
            shape=(n,), initializer="zeros", name="offset", trainable=trained
        )
        self.mean = self.add_weight(shape=(n,), initializer="zeros", name="mean", trainable=False)
        self.var = self.add_weight(shape=(n,), initializer="ones", name="var", trainable=False)
        self.built = True

    def normalise(
        self, x: tf.Tensor, training: bool, step: tf.Tensor | None = None
    ) -> tuple[tf.Tensor, list[tf.Tensor]]:
        """The layer's output and, in training mode, the running [mean, var] it moves to."""
        sigma = tf.sqrt(self.var + EPSILON)
        if not training:
            return self.scale * (x - self.mean) / sigma + self.offset, []
        batch_mean = tf.reduce_mean(x, axis=0)
        batch_var = tf.reduce_mean(tf.square(x - batch_mean), axis=0)
        batch_sigma = tf.sqrt(batch_var + EPSILON)
        r = tf.stop_gradient(tf.clip_by_value(batch_sigma / sigma, 1.0 / R_MAX, R_MAX))
        d = tf.stop_gradient(tf.clip_by_value((batch_mean - self.mean) / sigma, -D_MAX, D_MAX))
        if step is not None:
            renorm = tf.cast(step >= self.warmup, tf.float32)
            r = renorm * r + (1.0 - renorm)
            d = renorm * d
        x_hat = (x - batch_mean) / batch_sigma * r + d
        moved = [
            self.mean + (1.0 - MOMENTUM) * (tf.stop_gradient(batch_mean) - self.mean),
            self.var + (1.0 - MOMENTUM) * (tf.stop_gradient(batch_var) - self.var),
        ]
        return self.scale * x_hat + self.offset, moved


class CrossQCritic(keras.Model):
    """Q(s, a) with batch renormalisation (module docstring); output shape (batch,)."""

    def __init__(self, fc1_dims: int = 512, fc2_dims: int = 256, seed: int | None = None,
                 **kwargs: Any) -> None:  # fmt: skip
        super().__init__(**kwargs)
        seeds = _layer_seeds(seed, 3)
        self.fc1_dims, self.fc2_dims = fc1_dims, fc2_dims
        self.norm0 = BatchRenorm(affine=False, name="norm0")
        self.norm1, self.norm2 = BatchRenorm(name="norm1"), BatchRenorm(name="norm2")
        self.fc1 = _dense(fc1_dims, seeds[0], "fc1", use_bias=False)
        self.fc2 = _dense(fc2_dims, seeds[1], "fc2", use_bias=False)
        self.q = _dense(1, seeds[2], "q")

    def build(self, state_shape: Any, action_shape: Any) -> None:
        n_in = state_shape[-1] + action_shape[-1]
        self.norm0.build((None, n_in))
        self.fc1.build((None, n_in))
        self.norm1.build((None, self.fc1_dims))
        self.fc2.build((None, self.fc1_dims))
        self.norm2.build((None, self.fc2_dims))
        self.q.build((None, self.fc2_dims))
        self.built = True

    def call(self, state: tf.Tensor, action: tf.Tensor) -> tf.Tensor:
        return self.evaluate(state, action, training=False)[0]

    def evaluate(
        self, state: tf.Tensor, action: tf.Tensor, training: bool, step: tf.Tensor | None = None
    ) -> tuple[tf.Tensor, list[tf.Tensor]]:
        """Q and, in training mode, the running statistics of each layer after this batch."""
        x, moved = self.norm0.normalise(tf.concat([state, action], axis=-1), training, step)
        for dense, norm in ((self.fc1, self.norm1), (self.fc2, self.norm2)):
            x, stats = norm.normalise(dense(x), training, step)
            x = tf.nn.leaky_relu(x, alpha=LEAKY_SLOPE)
            moved += stats
        return tf.squeeze(self.q(x), axis=-1), moved

    def running_statistics(self) -> list[tf.Variable]:
        """The variables `evaluate(training=True)` returns new values of, in its order."""
        return [v for norm in (self.norm0, self.norm1, self.norm2) for v in (norm.mean, norm.var)]


def crossq(agent: Any, batch: Batch) -> Update:
    """CrossQ's quantities and gradients (module docstring): also `critic_i_statistics`, the
    running statistics each critic moves to, and `actor_due`, whether the actor (and the
    temperature) update this time; their gradients are zero when it does not."""
    state, action, reward, new_state, terminated, noise = batch
    alpha = tf.exp(agent.log_alpha) if agent.learn_alpha else tf.constant(1.0)
    step = agent.optimizers["critic_1"].iterations  # critic updates applied so far
    next_mean, next_std = agent.actor(new_state)
    next_action, next_log_prob = squashed_sample(next_mean, next_std, noise[:, 0])
    next_action = tf.stop_gradient(next_action)
    joint_state = tf.concat([state, new_state], axis=0)
    joint_action = tf.concat([action, next_action], axis=0)
    n = tf.shape(state)[0]
    gradients: dict[str, list[tf.Tensor]] = {}
    quantities: dict[str, Any] = {}
    with tf.GradientTape(persistent=True) as tape:
        q_joint, statistics = {}, {}
        for name in ("critic_1", "critic_2"):
            q_joint[name], statistics[name] = agent.network(name).evaluate(
                joint_state, joint_action, training=True, step=step
            )
        next_q = tf.minimum(q_joint["critic_1"][n:], q_joint["critic_2"][n:])
        q_hat = tf.stop_gradient(
            agent.reward_scale * reward
            + agent.gamma * (1.0 - terminated) * (next_q - alpha * next_log_prob)
        )
        losses = {
            name: 0.5 * tf.reduce_mean(tf.square(q_joint[name][:n] - q_hat))
            for name in ("critic_1", "critic_2")
        }
    for name in ("critic_1", "critic_2"):
        gradients[name] = tape.gradient(losses[name], agent.network(name).trainable_weights)
        quantities[f"{name}_statistics"] = statistics[name]
    del tape

    due = tf.equal(step % agent.policy_delay, 0)
    actor_loss, alpha_loss, alpha_grad, *actor_grads = _delayed_actor(
        agent, state, noise, alpha, due
    )
    gradients["actor"] = list(actor_grads)
    if agent.learn_alpha:
        gradients["alpha"] = [alpha_grad]
    quantities.update(
        q_hat=q_hat,
        value_loss=tf.constant(0.0),
        actor_loss=actor_loss,
        critic_1_loss=losses["critic_1"],
        critic_2_loss=losses["critic_2"],
        alpha=alpha,
        alpha_loss=alpha_loss,
        actor_due=due,
    )
    return quantities, gradients


def _delayed_actor(
    agent: Any, state: tf.Tensor, noise: tf.Tensor, alpha: tf.Tensor, due: tf.Tensor
) -> tuple[tf.Tensor, ...]:
    """(actor loss, temperature loss, its gradient, *the actor's gradients) when `due`, zeros
    otherwise (computing nothing): the critics in evaluation mode, a~ from noise[:, 1]."""
    actor_weights = agent.actor.trainable_weights

    def actor_part() -> tuple[tf.Tensor, ...]:
        with tf.GradientTape(persistent=True) as tape:
            mean, std = agent.actor(state)
            new_action, log_prob = squashed_sample(mean, std, noise[:, 1])
            q_new = tf.minimum(
                agent.critic_1.evaluate(state, new_action, training=False)[0],
                agent.critic_2.evaluate(state, new_action, training=False)[0],
            )
            actor_loss = tf.reduce_mean(alpha * log_prob - q_new)
            alpha_loss = (
                -tf.reduce_mean(agent.log_alpha * tf.stop_gradient(log_prob + agent.target_entropy))
                if agent.learn_alpha
                else tf.constant(0.0)
            )
        grads = tape.gradient(actor_loss, actor_weights)
        alpha_grad = tape.gradient(alpha_loss, agent.log_alpha) if agent.learn_alpha else None
        del tape
        alpha_grad = tf.zeros_like(agent.log_alpha) if alpha_grad is None else alpha_grad
        return (actor_loss, alpha_loss, alpha_grad, *grads)

    def skipped() -> tuple[tf.Tensor, ...]:
        zeros = [tf.zeros_like(w) for w in actor_weights]
        return (tf.constant(0.0), tf.constant(0.0), tf.zeros_like(agent.log_alpha), *zeros)

    return tf.cond(due, actor_part, skipped)
