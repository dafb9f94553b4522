"""CrossQ's learning rule in NumPy (float64), from the papers' formulas (Bhatt et al. 2024,
arXiv 1902.05605; batch renormalisation: Ioffe 2017, arXiv 1702.03275), to check the agent
against. The forward passes are written here; the gradients are central finite differences of
the losses (the quantities without gradient - the critics' target, and r and d of batch
renormalisation - held at their values), so no backpropagation is shared with the agent or with
the SAC reference.

Weights are dicts {name: array} named as the agent's variables (`variable.path` without the
network's prefix: "norm0/scale", "fc1/kernel", ...).
"""

from __future__ import annotations

import numpy as np

from tests.numpy_sac import MLP, policy, sample

SLOPE = 0.2
MOMENTUM, EPSILON, R_MAX, D_MAX = 0.99, 1e-3, 3.0, 5.0
STEP = 1e-6  # finite-difference step


def lrelu(z: np.ndarray) -> np.ndarray:
    return np.where(z > 0, z, SLOPE * z)


def renorm(x, w, prefix, training, renorm_on, fixed=None):
    """Batch renormalisation of x; (output, [new mean, new var], (r, d))."""
    scale, offset = w[f"{prefix}/scale"], w[f"{prefix}/offset"]  # 1 and 0 in norm0
    mean, var = w[f"{prefix}/mean"], w[f"{prefix}/var"]
    sigma = np.sqrt(var + EPSILON)
    if not training:
        return scale * (x - mean) / sigma + offset, [], None
    batch_mean = x.mean(axis=0)
    batch_var = ((x - batch_mean) ** 2).mean(axis=0)
    batch_sigma = np.sqrt(batch_var + EPSILON)
    if fixed is not None:
        r, d = fixed
    elif renorm_on:
        r = np.clip(batch_sigma / sigma, 1.0 / R_MAX, R_MAX)
        d = np.clip((batch_mean - mean) / sigma, -D_MAX, D_MAX)
    else:
        r, d = np.ones_like(sigma), np.zeros_like(sigma)
    y = scale * ((x - batch_mean) / batch_sigma * r + d) + offset
    moved = [mean + (1 - MOMENTUM) * (batch_mean - mean), var + (1 - MOMENTUM) * (batch_var - var)]
    return y, moved, (r, d)


def critic(w, s, a, training, renorm_on=False, fixed=None):
    """Q(s, a), the moved running statistics and each layer's (r, d)."""
    fixed = fixed or [None, None, None]
    x, moved, rds = np.concatenate([s, a], axis=1), [], []
    x, stats, rd = renorm(x, w, "norm0", training, renorm_on, fixed[0])
    moved, rds = moved + stats, rds + [rd]
    for i, dense in ((1, "fc1"), (2, "fc2")):
        x = x @ w[f"{dense}/kernel"]  # no bias: the normalisation would take it away
        x, stats, rd = renorm(x, w, f"norm{i}", training, renorm_on, fixed[i])
        moved, rds = moved + stats, rds + [rd]
        x = lrelu(x)
    return (x @ w["q/kernel"] + w["q/bias"])[:, 0], moved, rds


def actor_mlp(w) -> MLP:
    names = ["fc1/kernel", "fc1/bias", "fc2/kernel", "fc2/bias", "mu/kernel", "mu/bias",
             "sigma/kernel", "sigma/bias"]  # fmt: skip
    return MLP.from_arrays([w[n] for n in names])


def numeric_gradient(loss, weights: dict, names: list[str]) -> list[np.ndarray]:
    """d loss / d weights[name] by central differences, for each of `names`."""
    grads = []
    for name in names:
        base = weights[name]
        grad = np.zeros_like(base)
        for index in np.ndindex(base.shape):
            saved = base[index]
            base[index] = saved + STEP
            up = loss()
            base[index] = saved - STEP
            down = loss()
            base[index] = saved
            grad[index] = (up - down) / (2 * STEP)
        grads.append(grad)
    return grads


def update_crossq(nets, trained, batch, noise, *, gamma, reward_scale, alpha, renorm_on,
                  actor_due, log_alpha=None, target_entropy=0.0):  # fmt: skip
    """The quantities and gradients of one CrossQ update. `nets` maps "actor", "critic_1",
    "critic_2" to weight dicts; `trained[name]` lists each network's trained weights' names in
    the agent's order (the gradients come in that order)."""
    nets = {k: {n: np.array(v, np.float64) for n, v in w.items()} for k, w in nets.items()}
    s, a, r, s_, d = (np.asarray(x, np.float64) for x in batch)
    noise = np.asarray(noise, np.float64)
    n = len(s)
    mean, std, _, _ = policy(actor_mlp(nets["actor"]), s_)
    next_action, next_log_prob, _ = sample(mean, std, noise[:, 0])
    joint_s, joint_a = np.concatenate([s, s_]), np.concatenate([a, next_action])
    q, moved, fixed = {}, {}, {}
    for name in ("critic_1", "critic_2"):
        q[name], moved[name], fixed[name] = critic(nets[name], joint_s, joint_a, True, renorm_on)
    next_q = np.minimum(q["critic_1"][n:], q["critic_2"][n:])
    q_hat = reward_scale * r + gamma * (1.0 - d) * (next_q - alpha * next_log_prob)
    quantities = dict(q_hat=q_hat, value_loss=0.0, alpha=alpha, actor_due=actor_due)
    gradients = {}
    for name in ("critic_1", "critic_2"):

        def critic_loss(name=name):
            q_now = critic(nets[name], joint_s, joint_a, True, fixed=fixed[name])[0][:n]
            return 0.5 * np.mean((q_now - q_hat) ** 2)

        quantities[f"{name}_loss"] = critic_loss()
        quantities[f"{name}_statistics"] = moved[name]
        gradients[name] = numeric_gradient(critic_loss, nets[name], trained[name])

    mean, std, _, _ = policy(actor_mlp(nets["actor"]), s)
    action, log_prob, _ = sample(mean, std, noise[:, 1])

    def actor_loss():
        mean, std, _, _ = policy(actor_mlp(nets["actor"]), s)
        action, log_prob, _ = sample(mean, std, noise[:, 1])
        q_new = np.minimum(
            critic(nets["critic_1"], s, action, False)[0],
            critic(nets["critic_2"], s, action, False)[0],
        )
        return np.mean(alpha * log_prob - q_new)

    if actor_due:
        quantities["actor_loss"] = actor_loss()
        gradients["actor"] = numeric_gradient(actor_loss, nets["actor"], trained["actor"])
    else:
        quantities["actor_loss"] = 0.0
        gradients["actor"] = [np.zeros_like(nets["actor"][name]) for name in trained["actor"]]
    quantities["alpha_loss"] = 0.0
    if log_alpha is not None:
        due = 1.0 if actor_due else 0.0
        quantities["alpha_loss"] = -due * np.mean(log_alpha * (log_prob + target_entropy))
        gradients["alpha"] = [np.asarray(-due * np.mean(log_prob + target_entropy))]
    return quantities, gradients
