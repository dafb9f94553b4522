"""The learning rules an agent can update with (`--algo`): what one update computes from one
batch, before anything is applied, and which target networks then move.

sac1 (default, the reference's): SAC 2018 "v1" (arXiv 1801.01290) with twin critics, a value
network V and its Polyak-averaged target V'.

1. value:   target = min(Q1, Q2)(s, a~) - alpha * log pi(a~|s), a~ ~ pi(.|s) (no gradient);
            loss 0.5 * mean((V(s) - target)^2)
2. actor:   loss mean(alpha * log pi(a~|s) - min(Q1, Q2)(s, a~)), a~ reparameterised
3. critics: q_hat = reward_scale * r + gamma * (1 - terminated) * V'(s');
            loss_i 0.5 * mean((Qi(s, a) - q_hat)^2)
4. V' <- tau * V + (1 - tau) * V'

sac2: SAC "v2" (arXiv 1812.05905): no value network; each critic has a Polyak-averaged target
critic Qi', and the critics' target carries the entropy term itself:

1. critics: a' ~ pi(.|s') (no gradient);
            q_hat = reward_scale * r + gamma * (1 - terminated) *
                    (min(Q1', Q2')(s', a') - alpha * log pi(a'|s'));
            loss_i 0.5 * mean((Qi(s, a) - q_hat)^2)
2. actor:   as sac1's, a~ ~ pi(.|s)
3. Qi' <- tau * Qi + (1 - tau) * Qi'

Both: with a learned temperature, loss -mean(log_alpha * (log pi(a~|s) + target_entropy))
(target_entropy default -n_actions). Every loss and gradient depends only on the parameters
before the update, so they are all computed first and then applied, or all skipped.

The policy noise of one update is (batch, samples, n_actions) standard normal: sac1 takes
`policy_samples` of it (the second, if any, for the actor), sac2 and crossq two: a' from the
first, a~ from the second. crossq (no target networks, batch renormalisation, a delayed actor)
is in agent/crossq.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import tensorflow as tf

from agent.crossq import Batch, Update, crossq
from agent.networks import squashed_sample

ALGORITHMS = ("sac1", "sac2", "crossq")


@dataclass(frozen=True)
class Rule:
    """What an algorithm builds and moves besides the actor, the critics and the temperature."""

    networks: tuple[str, ...]  # every network it keeps (save files, optimizers' subjects)
    trained: tuple[str, ...]  # the networks an optimizer moves (with "alpha" when learned)
    targets: tuple[tuple[str, str], ...]  # (network, its Polyak-averaged target)
    losses: tuple[str, ...]  # the losses it reports, of agent.LOSS_NAMES


RULES = {
    "sac1": Rule(
        networks=("actor", "critic_1", "critic_2", "value", "target_value"),
        trained=("actor", "critic_1", "critic_2", "value"),
        targets=(("value", "target_value"),),
        losses=("value_loss", "actor_loss", "critic_1_loss", "critic_2_loss"),
    ),
    "sac2": Rule(
        networks=("actor", "critic_1", "critic_2", "target_critic_1", "target_critic_2"),
        trained=("actor", "critic_1", "critic_2"),
        targets=(("critic_1", "target_critic_1"), ("critic_2", "target_critic_2")),
        losses=("actor_loss", "critic_1_loss", "critic_2_loss"),
    ),
    "crossq": Rule(  # agent/crossq.py
        networks=("actor", "critic_1", "critic_2"),
        trained=("actor", "critic_1", "critic_2"),
        targets=(),
        losses=("actor_loss", "critic_1_loss", "critic_2_loss"),
    ),
}


def noise_samples(algo: str, policy_samples: int) -> int:
    """Policy samples one update draws noise for."""
    return policy_samples if algo == "sac1" else 2


def _temperature(agent: Any) -> tf.Tensor:
    return tf.exp(agent.log_alpha) if agent.learn_alpha else tf.constant(1.0)


def _alpha_loss(agent: Any, log_prob: tf.Tensor) -> tf.Tensor:
    if not agent.learn_alpha:
        return tf.constant(0.0)
    return -tf.reduce_mean(agent.log_alpha * tf.stop_gradient(log_prob + agent.target_entropy))


def _gradients(
    agent: Any, tape: tf.GradientTape, losses: dict[str, tf.Tensor]
) -> dict[str, list[tf.Tensor]]:
    """Each loss differentiated with respect to its own network only (the actor loss does not
    move the critics); "alpha" with a learned temperature."""
    gradients = {
        name: tape.gradient(losses[name], agent.network(name).trainable_weights)
        for name in losses
        if name != "alpha"
    }
    if agent.learn_alpha:
        gradients["alpha"] = tape.gradient(losses["alpha"], [agent.log_alpha])
    return gradients


def sac1(agent: Any, batch: Batch) -> Update:
    """SAC v1's quantities and gradients (module docstring). With policy_samples=1 the value
    target and the actor loss share one sample a~ and one evaluation of pi(.|s) and Q1, Q2 at
    it (about 10 % fewer FLOPs); Q1 and Q2 are evaluated at a~ and at the buffer's action from
    one state part of their first layer (`CriticNetwork.state_part`)."""
    state, action, reward, new_state, terminated, noise = batch
    alpha = _temperature(agent)
    with tf.GradientTape(persistent=True) as tape:
        mean, std = agent.actor(state)
        state_part_1 = agent.critic_1.state_part(state)
        state_part_2 = agent.critic_2.state_part(state)

        def sampled_q(sample_noise: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            new_action, log_prob = squashed_sample(mean, std, sample_noise)
            q_new = tf.minimum(
                agent.critic_1.q_from_state_part(state_part_1, new_action),
                agent.critic_2.q_from_state_part(state_part_2, new_action),
            )
            return q_new, log_prob

        q_new, log_prob = sampled_q(noise[:, 0])
        value_target = tf.stop_gradient(q_new - alpha * log_prob)
        if agent.policy_samples == 2:
            q_new, log_prob = sampled_q(noise[:, 1])
        actor_loss = tf.reduce_mean(alpha * log_prob - q_new)
        value_loss = 0.5 * tf.reduce_mean(tf.square(agent.value(state) - value_target))
        q_hat = tf.stop_gradient(
            agent.reward_scale * reward
            + agent.gamma * (1.0 - terminated) * agent.target_value(new_state)
        )
        q_1 = agent.critic_1.q_from_state_part(state_part_1, action)
        q_2 = agent.critic_2.q_from_state_part(state_part_2, action)
        critic_1_loss = 0.5 * tf.reduce_mean(tf.square(q_1 - q_hat))
        critic_2_loss = 0.5 * tf.reduce_mean(tf.square(q_2 - q_hat))
        alpha_loss = _alpha_loss(agent, log_prob)
    losses = dict(value=value_loss, actor=actor_loss, critic_1=critic_1_loss)
    losses.update(critic_2=critic_2_loss, alpha=alpha_loss)
    gradients = _gradients(agent, tape, losses)
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


def sac2(agent: Any, batch: Batch) -> Update:
    """SAC v2's quantities and gradients (module docstring); `value_loss` is reported as 0."""
    state, action, reward, new_state, terminated, noise = batch
    alpha = _temperature(agent)
    next_mean, next_std = agent.actor(new_state)
    next_action, next_log_prob = squashed_sample(next_mean, next_std, noise[:, 0])
    next_q = tf.minimum(
        agent.target_critic_1(new_state, next_action),
        agent.target_critic_2(new_state, next_action),
    )
    q_hat = tf.stop_gradient(
        agent.reward_scale * reward
        + agent.gamma * (1.0 - terminated) * (next_q - alpha * next_log_prob)
    )
    with tf.GradientTape(persistent=True) as tape:
        mean, std = agent.actor(state)
        state_part_1 = agent.critic_1.state_part(state)
        state_part_2 = agent.critic_2.state_part(state)
        new_action, log_prob = squashed_sample(mean, std, noise[:, 1])
        q_new = tf.minimum(
            agent.critic_1.q_from_state_part(state_part_1, new_action),
            agent.critic_2.q_from_state_part(state_part_2, new_action),
        )
        actor_loss = tf.reduce_mean(alpha * log_prob - q_new)
        q_1 = agent.critic_1.q_from_state_part(state_part_1, action)
        q_2 = agent.critic_2.q_from_state_part(state_part_2, action)
        critic_1_loss = 0.5 * tf.reduce_mean(tf.square(q_1 - q_hat))
        critic_2_loss = 0.5 * tf.reduce_mean(tf.square(q_2 - q_hat))
        alpha_loss = _alpha_loss(agent, log_prob)
    losses = dict(actor=actor_loss, critic_1=critic_1_loss, critic_2=critic_2_loss)
    losses["alpha"] = alpha_loss
    gradients = _gradients(agent, tape, losses)
    del tape
    quantities = dict(
        q_hat=q_hat,
        value_loss=tf.constant(0.0),
        actor_loss=actor_loss,
        critic_1_loss=critic_1_loss,
        critic_2_loss=critic_2_loss,
        alpha=alpha,
        alpha_loss=alpha_loss,
    )
    return quantities, gradients


LOSSES_AND_GRADIENTS = {"sac1": sac1, "sac2": sac2, "crossq": crossq}
