"""SAC's learning rules in NumPy (float64), written from the papers' formulas, to check the
agent against: a reference independent of TensorFlow, its automatic differentiation and the
agent's own algebraic shortcuts. `update` is SAC v1 (Haarnoja et al. 2018, arXiv 1801.01290,
eqs. 5-13, with twin critics); `update_sac2` is SAC v2 (arXiv 1812.05905, eqs. 5-7 and 17-18:
target critics, the entropy term in the critics' target).

- Networks are two hidden leaky-ReLU layers; their gradients are backpropagated by hand.
- log pi(a|s) is the density of u = mean + std * noise under N(mean, std), computed from u as
  written, minus log(1 - tanh(u)^2) as written (the agent uses noise directly and a stable form).
- Gradients of the actor loss go through the reparameterised sample: d/d(mean) and d/d(std)
  of log pi and of min(Q1, Q2)(s, tanh(u)).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SLOPE = 0.2  # leaky-ReLU negative slope
STD_MIN, STD_MAX = np.exp(-20.0), np.exp(2.0)


def lrelu(z: np.ndarray) -> np.ndarray:
    return np.where(z > 0, z, SLOPE * z)


def lrelu_grad(z: np.ndarray) -> np.ndarray:
    return np.where(z > 0, 1.0, SLOPE)


@dataclass
class MLP:
    """x -> leaky(x W1 + b1) -> leaky(. W2 + b2) -> heads (W, b) each."""

    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray
    heads: list[tuple[np.ndarray, np.ndarray]]

    @classmethod
    def from_arrays(cls, arrays: list[np.ndarray]) -> MLP:
        a = [np.asarray(x, np.float64) for x in arrays]
        return cls(a[0], a[1], a[2], a[3], [(a[i], a[i + 1]) for i in range(4, len(a), 2)])

    def forward(self, x: np.ndarray) -> tuple[list[np.ndarray], dict]:
        z1 = x @ self.w1 + self.b1
        h1 = lrelu(z1)
        z2 = h1 @ self.w2 + self.b2
        h2 = lrelu(z2)
        outs = [h2 @ w + b for w, b in self.heads]
        return outs, dict(x=x, z1=z1, h1=h1, z2=z2, h2=h2)

    def backward(
        self, cache: dict, d_outs: list[np.ndarray]
    ) -> tuple[list[np.ndarray], np.ndarray]:
        """Gradients of sum(d_out * out) w.r.t. (W1, b1, W2, b2, heads...) and w.r.t. x."""
        head_grads: list[np.ndarray] = []
        dh2 = np.zeros_like(cache["h2"])
        for (w, _), d in zip(self.heads, d_outs, strict=True):
            head_grads += [cache["h2"].T @ d, d.sum(axis=0)]
            dh2 += d @ w.T
        dz2 = dh2 * lrelu_grad(cache["z2"])
        dh1 = dz2 @ self.w2.T
        dz1 = dh1 * lrelu_grad(cache["z1"])
        grads = [cache["x"].T @ dz1, dz1.sum(axis=0), cache["h1"].T @ dz2, dz2.sum(axis=0)]
        return grads + head_grads, dz1 @ self.w1.T


def softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass
class Networks:
    actor: MLP  # heads: mean, pre-softplus std
    critic_1: MLP  # input concat(state, action)
    critic_2: MLP
    value: MLP | None = None  # sac1
    target_value: MLP | None = None
    target_critic_1: MLP | None = None  # sac2
    target_critic_2: MLP | None = None


def q_value(critic: MLP, state: np.ndarray, action: np.ndarray):
    (q,), cache = critic.forward(np.concatenate([state, action], axis=1))
    return q[:, 0], cache


def policy(actor: MLP, state: np.ndarray):
    (mean, pre), cache = actor.forward(state)
    raw = softplus(pre) + 1e-6
    std = np.clip(raw, STD_MIN, STD_MAX)
    dstd_dpre = sigmoid(pre) * ((raw >= STD_MIN) & (raw <= STD_MAX))  # zero where clipped
    return mean, std, dstd_dpre, cache


def sample(mean: np.ndarray, std: np.ndarray, noise: np.ndarray):
    """Action tanh(u), u = mean + std * noise, and log pi(action), from the paper's formulas."""
    u = mean + std * noise
    log_normal = -0.5 * ((u - mean) / std) ** 2 - np.log(std) - 0.5 * np.log(2.0 * np.pi)
    log_prob = np.sum(log_normal - np.log(1.0 - np.tanh(u) ** 2), axis=1)
    return np.tanh(u), log_prob, u


def update(
    nets: Networks,
    batch: tuple[np.ndarray, ...],
    noise: np.ndarray,
    *,
    gamma: float,
    reward_scale: float,
    alpha: float,
    policy_samples: int,
    log_alpha: float | None = None,
    target_entropy: float = 0.0,
) -> tuple[dict[str, np.ndarray | float], dict[str, list[np.ndarray]]]:
    """The quantities and gradients of one update (as `SACAgent.losses_and_gradients`)."""
    s, a, r, s_, d = (np.asarray(x, np.float64) for x in batch)
    noise = np.asarray(noise, np.float64)
    n = len(s)
    mean, std, _, _ = policy(nets.actor, s)

    # Value: V(s) towards E[min Q(s, a~) - alpha log pi(a~|s)], a~ from the first sample.
    action_0, log_prob_0, _ = sample(mean, std, noise[:, 0])
    value_target = min_q(nets, s, action_0)[0] - alpha * log_prob_0
    (v,), v_cache = nets.value.forward(s)
    value_loss = 0.5 * np.mean((v[:, 0] - value_target) ** 2)
    value_grads, _ = nets.value.backward(v_cache, [(v - value_target[:, None]) / n])

    # Critics: Q(s, a) towards reward_scale * r + gamma * (1 - terminated) * V'(s').
    (v_next,), _ = nets.target_value.forward(s_)
    q_hat = reward_scale * r + gamma * (1.0 - d) * v_next[:, 0]
    critic_losses, critic_grads = critics_part(nets, s, a, q_hat)

    eps = noise[:, 1] if policy_samples == 2 else noise[:, 0]
    actor_loss, actor_grads, log_prob = actor_part(nets, s, eps, alpha)

    quantities = dict(
        value_target=value_target,
        q_hat=q_hat,
        value_loss=value_loss,
        actor_loss=actor_loss,
        critic_1_loss=critic_losses[0],
        critic_2_loss=critic_losses[1],
        alpha=alpha,
        alpha_loss=0.0,
    )
    gradients = dict(
        value=value_grads, actor=actor_grads, critic_1=critic_grads[0], critic_2=critic_grads[1]
    )
    temperature_part(quantities, gradients, log_prob, log_alpha, target_entropy)
    return quantities, gradients


def min_q(nets: Networks, s: np.ndarray, action: np.ndarray):
    """min(Q1, Q2)(s, action), which critic gave it (True: the first) and both caches."""
    (q1, c1), (q2, c2) = q_value(nets.critic_1, s, action), q_value(nets.critic_2, s, action)
    return np.minimum(q1, q2), q1 <= q2, c1, c2


def critics_part(nets: Networks, s: np.ndarray, a: np.ndarray, q_hat: np.ndarray):
    """Both critics' losses 0.5 mean((Q(s, a) - q_hat)^2) and their gradients."""
    losses, grads = [], []
    for critic in (nets.critic_1, nets.critic_2):
        q, cache = q_value(critic, s, a)
        losses.append(0.5 * np.mean((q - q_hat) ** 2))
        grads.append(critic.backward(cache, [(q - q_hat)[:, None] / len(s)])[0])
    return losses, grads


def actor_part(nets: Networks, s: np.ndarray, eps: np.ndarray, alpha: float):
    """Actor loss mean(alpha log pi(a~|s) - min Q(s, a~)), a~ = tanh(mean + std * eps), its
    gradients through the reparameterised sample, and log pi(a~|s)."""
    n = len(s)
    mean, std, dstd_dpre, actor_cache = policy(nets.actor, s)
    action, log_prob, u = sample(mean, std, eps)
    q_min, first, c1, c2 = min_q(nets, s, action)
    actor_loss = np.mean(alpha * log_prob - q_min)
    # dQ/da of the critic that gave the minimum, per row.
    n_actions = action.shape[1]
    _, dx1 = nets.critic_1.backward(c1, [np.ones((n, 1))])  # each row's own dQ/d(s, a)
    _, dx2 = nets.critic_2.backward(c2, [np.ones((n, 1))])
    dq_da = np.where(first[:, None], dx1, dx2)[:, -n_actions:]
    dtanh = 1.0 - np.tanh(u) ** 2
    # log pi = sum(-0.5 noise^2 - log std - c + ...) - log(1 - tanh(u)^2): at a fixed noise,
    # d/du of -log(1 - tanh(u)^2) is 2 tanh(u); d/d(std) also has -1/std.
    dlogp_du = 2.0 * np.tanh(u)
    d_mean = (alpha * dlogp_du - dq_da * dtanh) / n
    d_std = (alpha * (-1.0 / std + dlogp_du * eps) - dq_da * dtanh * eps) / n
    actor_grads, _ = nets.actor.backward(actor_cache, [d_mean, d_std * dstd_dpre])
    return actor_loss, actor_grads, log_prob


def temperature_part(quantities, gradients, log_prob, log_alpha, target_entropy) -> None:
    """With a learned temperature: loss -mean(log_alpha * (log pi + target)), its gradient."""
    if log_alpha is not None:
        quantities["alpha_loss"] = -np.mean(log_alpha * (log_prob + target_entropy))
        gradients["alpha"] = [np.asarray(-np.mean(log_prob + target_entropy))]


def update_sac2(
    nets: Networks,
    batch: tuple[np.ndarray, ...],
    noise: np.ndarray,
    *,
    gamma: float,
    reward_scale: float,
    alpha: float,
    log_alpha: float | None = None,
    target_entropy: float = 0.0,
) -> tuple[dict[str, np.ndarray | float], dict[str, list[np.ndarray]]]:
    """SAC v2's quantities and gradients: a' ~ pi(.|s') from noise[:, 0], a~ ~ pi(.|s) from
    noise[:, 1]."""
    s, a, r, s_, d = (np.asarray(x, np.float64) for x in batch)
    noise = np.asarray(noise, np.float64)
    # Critics: Q(s, a) towards r_s r + gamma (1 - d) (min Q'(s', a') - alpha log pi(a'|s')).
    next_mean, next_std, _, _ = policy(nets.actor, s_)
    next_action, next_log_prob, _ = sample(next_mean, next_std, noise[:, 0])
    next_q = np.minimum(
        q_value(nets.target_critic_1, s_, next_action)[0],
        q_value(nets.target_critic_2, s_, next_action)[0],
    )
    q_hat = reward_scale * r + gamma * (1.0 - d) * (next_q - alpha * next_log_prob)
    critic_losses, critic_grads = critics_part(nets, s, a, q_hat)
    actor_loss, actor_grads, log_prob = actor_part(nets, s, noise[:, 1], alpha)
    quantities = dict(
        q_hat=q_hat,
        value_loss=0.0,
        actor_loss=actor_loss,
        critic_1_loss=critic_losses[0],
        critic_2_loss=critic_losses[1],
        alpha=alpha,
        alpha_loss=0.0,
    )
    gradients = dict(actor=actor_grads, critic_1=critic_grads[0], critic_2=critic_grads[1])
    temperature_part(quantities, gradients, log_prob, log_alpha, target_entropy)
    return quantities, gradients


def adam_step(
    weights: list[np.ndarray],
    grads: list[np.ndarray],
    m: list[np.ndarray],
    v: list[np.ndarray],
    step: int,
    lr: float,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    epsilon: float = 1e-7,
) -> list[np.ndarray]:
    """Adam (Kingma and Ba), in Keras's form: the bias corrections folded into the rate."""
    rate = lr * np.sqrt(1.0 - beta_2**step) / (1.0 - beta_1**step)
    out = []
    for w, g, mi, vi in zip(weights, grads, m, v, strict=True):
        g = np.asarray(g, np.float64)
        mi = beta_1 * mi + (1.0 - beta_1) * g
        vi = beta_2 * vi + (1.0 - beta_2) * g**2
        out.append(np.asarray(w, np.float64) - rate * mi / (np.sqrt(vi) + epsilon))
    return out
