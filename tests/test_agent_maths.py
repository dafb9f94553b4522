"""The agent's learning rules against an independent NumPy reference (tests/numpy_sac.py).

For fixed weights, a fixed batch and fixed policy noise, every quantity one update computes
(sac1: value target and loss; the critics' target and losses, the actor loss, the temperature
loss) and every network's gradient must equal the reference's, computed in float64 from the
papers' formulas with hand-written backpropagation; then one applied update must move each
network by Adam with those gradients, the targets (sac1: the target value; sac2: the target
critics) by Polyak averaging and the averaged actor by its moving average. Target networks are
first moved away from their networks, so that using one for the other shows.

Tolerance: float32 against float64, a relative 1e-5 of each array's largest magnitude (RTOL);
a step of the weights (about 3e-4 on weights of about 0.3) is only resolved to float32's
spacing at the weights (about 3e-8), so steps are held to 2e-4 of their size (STEP_RTOL),
still a thousandth of any error in a rate, a sign or a gradient.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from agent import SACAgent
from tests import numpy_sac

STATE, ACTIONS, BATCH = 6, 3, 64
RTOL = 1e-5
STEP_RTOL = 2e-4


def close(actual, expected, what: str, rtol: float = RTOL) -> None:
    """Equal within rtol of the larger of the expected array's magnitude and 1e-3."""
    expected = np.asarray(expected, np.float64)
    scale = max(float(np.max(np.abs(expected))), 1e-3)
    np.testing.assert_allclose(np.asarray(actual, np.float64), expected, rtol=0, atol=rtol * scale,
                               err_msg=what)  # fmt: skip


def make_agent(**kwargs) -> SACAgent:
    settings = dict(layer1_size=32, layer2_size=24, batch_size=BATCH, max_size=1000, seed=3)
    return SACAgent(STATE, ACTIONS, **{**settings, "jit_compile": False, **kwargs})


def fixed_batch(seed: int = 0, terminated_share: float = 0.3) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    terminated = (rng.uniform(size=BATCH) < terminated_share).astype(np.float32)
    terminated[:2] = [1.0, 0.0]  # both kinds of row, whatever the draw
    return [
        rng.standard_normal((BATCH, STATE)).astype(np.float32),
        rng.uniform(-1, 1, (BATCH, ACTIONS)).astype(np.float32),
        rng.standard_normal(BATCH).astype(np.float32),
        rng.standard_normal((BATCH, STATE)).astype(np.float32),
        terminated,
    ]


def arrays(agent: SACAgent, name: str) -> list[np.ndarray]:
    return [w.numpy() for w in agent.network(name).trainable_weights]


def reference_networks(agent: SACAgent) -> numpy_sac.Networks:
    return numpy_sac.Networks(
        **{n: numpy_sac.MLP.from_arrays(arrays(agent, n)) for n in agent.rule.networks}
    )


def reference(agent: SACAgent, batch, noise, log_alpha: float | None = None):
    learned = agent.learn_alpha
    settings = dict(
        gamma=agent.gamma, reward_scale=agent.reward_scale,
        alpha=float(np.exp(log_alpha)) if learned else 1.0,
        log_alpha=log_alpha if learned else None, target_entropy=target_entropy(agent),
    )  # fmt: skip
    if agent.algo == "sac2":
        return numpy_sac.update_sac2(reference_networks(agent), batch, noise, **settings)
    networks = reference_networks(agent)
    return numpy_sac.update(networks, batch, noise, policy_samples=agent.policy_samples, **settings)


def target_entropy(agent: SACAgent) -> float:
    """The setting as given (default -n_actions), not the agent's reading of it."""
    given = agent.get_config()["target_entropy"]
    return -float(ACTIONS) if given is None else given


def move_targets(agent: SACAgent, seed: int = 9) -> None:
    """Shift every target network's weights away from its network's."""
    rng = np.random.default_rng(seed)
    for _, target in agent.rule.targets:
        for weight in agent.network(target).weights:
            weight.assign(weight + 0.1 * rng.standard_normal(weight.shape).astype(np.float32))


def agent_update(agent: SACAgent, batch, noise):
    tensors = [tf.constant(x) for x in (*batch, noise)]
    quantities, gradients = agent.losses_and_gradients(*tensors)
    return (
        {
            k: [x.numpy() for x in v] if isinstance(v, list) else v.numpy()
            for k, v in quantities.items()
        },  # fmt: skip
        {k: [g.numpy() for g in grads] for k, grads in gradients.items()},
    )


def noise_for(agent: SACAgent, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((BATCH, agent.noise_samples, ACTIONS)).astype(np.float32)


SETTINGS = {
    "reference": dict(),  # two policy samples, reward scale 2, fixed temperature
    "one-sample": dict(policy_samples=1),
    "learned-alpha": dict(learn_alpha=True, reward_scale=1.0),
    "scale-3-gamma-0.9": dict(reward_scale=3.0, gamma=0.9),
    "sac2": dict(algo="sac2", reward_scale=3.0, gamma=0.9),
    "sac2-learned-alpha": dict(algo="sac2", learn_alpha=True, reward_scale=1.0),
    "sac2-target-entropy": dict(algo="sac2", learn_alpha=True, target_entropy=-0.5),
}


@pytest.mark.parametrize("settings", SETTINGS.values(), ids=SETTINGS.keys())
def test_every_quantity_and_gradient_of_an_update_matches_the_numpy_reference(settings):
    agent = make_agent(**settings)
    move_targets(agent)
    if agent.learn_alpha:
        agent.log_alpha.assign(-0.7)  # alpha != 1, so that a lost alpha shows
    log_alpha = float(agent.log_alpha.numpy())
    batch, noise = fixed_batch(), noise_for(agent)
    quantities, gradients = agent_update(agent, batch, noise)
    want_quantities, want_gradients = reference(agent, batch, noise, log_alpha)
    assert quantities.keys() == want_quantities.keys()
    for key, value in want_quantities.items():
        close(quantities[key], value, key)
    assert gradients.keys() == want_gradients.keys()
    for network, grads in want_gradients.items():
        assert len(gradients[network]) == len(grads), network
        for i, (got, want) in enumerate(zip(gradients[network], grads, strict=True)):
            close(got, want, f"{network} gradient {i}")


def test_the_critics_target_masks_terminal_states_only():
    """q_hat = reward_scale * r + gamma * (1 - terminated) * V'(s'), row by row: a terminal
    row is its scaled reward alone; a row cut by the time limit (stored as not terminated)
    bootstraps from V'(s')."""
    agent = make_agent(reward_scale=3.0)
    batch, noise = fixed_batch(seed=4), noise_for(agent)
    quantities, _ = agent_update(agent, batch, noise)
    _, _, reward, new_state, terminated = batch
    v_next = agent.target_value(new_state).numpy()
    ended = terminated == 1.0
    assert 0 < ended.sum() < BATCH and np.all(np.abs(v_next) > 1e-6)
    close(quantities["q_hat"][ended], 3.0 * reward[ended], "terminal rows")
    close(
        quantities["q_hat"][~ended],
        3.0 * reward[~ended] + agent.gamma * v_next[~ended],
        "bootstrapped rows",
    )


def test_two_policy_samples_use_the_second_for_the_actor():
    """policy_samples=2: the value target takes noise[:, 0] and the actor loss noise[:, 1]; with
    both samples the same the update equals the one-sample update on that sample."""
    two, one = make_agent(policy_samples=2), make_agent(policy_samples=1)
    batch = fixed_batch()
    noise = noise_for(two)
    q_two, _ = agent_update(two, batch, noise)
    q_first, _ = agent_update(one, batch, noise[:, :1])
    q_second, _ = agent_update(one, batch, noise[:, 1:])
    close(q_two["value_target"], q_first["value_target"], "value target: first sample")
    close(q_two["actor_loss"], q_second["actor_loss"], "actor loss: second sample")
    assert abs(q_first["actor_loss"] - q_second["actor_loss"]) > 1e-3


# XLA's update equals this one op by op: tests/test_agent.py::test_compiled_update_matches_eager.
@pytest.mark.parametrize(
    "compiled, algo", [(False, "sac1"), (False, "sac2")], ids=["eager", "sac2"]
)
def test_an_applied_update_is_adam_on_those_gradients_then_the_targets_move(compiled, algo):
    """learn_from_batches: each network moves by one Adam step of its own gradients, the
    targets by tau towards their new networks, the averaged actor by 1/N towards the new
    actor; the optimizers count one step, and the temperature moves only when learned."""
    agent = make_agent(
        average_actor=4, learn_alpha=True, reward_scale=1.0, jit_compile=compiled, algo=algo
    )
    move_targets(agent)
    agent.log_alpha.assign(-0.3)
    batch = fixed_batch(seed=2)
    state = agent.noise_rng.bit_generator.state
    shape = (1, BATCH, agent.noise_samples, ACTIONS)
    noise = agent.noise_rng.standard_normal(shape, dtype=np.float32)[0]
    agent.noise_rng.bit_generator.state = state  # learn_from_batches draws this noise again
    _, gradients = agent_update(agent, batch, noise)
    _, want_gradients = reference(agent, batch, noise, -0.3)
    for network, grads in want_gradients.items():  # the gradients applied are the reference's
        for got, want in zip(gradients[network], grads, strict=True):
            close(got, want, network)
    before = {n: arrays(agent, n) for n in agent.network_names}
    before["alpha"] = [agent.log_alpha.numpy()]
    agent.learn_from_batches(*(x[None] for x in batch), eager=not compiled)

    config = agent.get_config()
    lrs = dict(actor=config["actor_lr"], critic_1=config["critic_lr"], alpha=config["alpha_lr"])
    lrs.update(critic_2=lrs["critic_1"], value=config["value_lr"])
    expected = {}
    for network, grads in gradients.items():
        zeros = [np.zeros_like(g, np.float64) for g in grads]
        expected[network] = numpy_sac.adam_step(
            before[network], grads, zeros, list(zeros), 1, lrs[network]
        )
        after = arrays(agent, network) if network != "alpha" else [agent.log_alpha.numpy()]
        for i, (old, got, want) in enumerate(
            zip(before[network], after, expected[network], strict=True)
        ):  # the step itself (a few 1e-4), not the weights around it
            close(got - old, want - old, f"{network} weight {i}", STEP_RTOL)
        assert int(agent.optimizers[network].iterations.numpy()) == 1
    assert expected.keys() == {*agent.rule.trained, "alpha"}
    for network, target in agent.rule.targets:
        for old, new, got in zip(
            before[target], expected[network], arrays(agent, target), strict=True
        ):
            close(got - old, agent.tau * (new - old), target, STEP_RTOL)
    for old, new, got in zip(
        before["average_actor"], expected["actor"], arrays(agent, "average_actor"), strict=True
    ):
        close(got - old, (new - old) / 4, "averaged actor", STEP_RTOL)


# ---- CrossQ: against tests/numpy_crossq.py (forward passes in NumPy, finite differences) ------

CROSSQ = {
    "crossq": dict(algo="crossq", reward_scale=3.0, gamma=0.9),
    "crossq-renormalising": dict(algo="crossq", learn_alpha=True, reward_scale=1.0),
    "crossq-actor-not-due": dict(algo="crossq", learn_alpha=True, policy_delay=3),
}


def named(network) -> dict[str, np.ndarray]:
    return {w.path.split("/", 1)[1]: w.numpy() for w in network.weights}


def crossq_agent(settings: dict) -> SACAgent:
    """A small CrossQ agent; "renormalising": r and d in use (no warm-up) with running
    statistics away from their start, so that some r and d clip; "not due": one critic update
    made, so that the actor waits."""
    agent = make_agent(**{**settings, "layer1_size": 8, "layer2_size": 6})
    rng = np.random.default_rng(7)
    if (
        "renormalising" in str(settings)
        or settings.get("learn_alpha")
        and "policy_delay" not in settings
    ):
        for critic in (agent.critic_1, agent.critic_2):
            for norm in (critic.norm0, critic.norm1, critic.norm2):
                norm.warmup = 0
                norm.mean.assign(rng.normal(0, 0.7, norm.mean.shape).astype(np.float32))
                norm.var.assign(rng.uniform(0.05, 4.0, norm.var.shape).astype(np.float32))
                norm.scale.assign(rng.uniform(0.5, 1.5, norm.scale.shape).astype(np.float32))
                norm.offset.assign(rng.normal(0, 0.3, norm.offset.shape).astype(np.float32))
    if settings.get("policy_delay"):
        agent.optimizers["critic_1"].iterations.assign(1)
    if agent.learn_alpha:
        agent.log_alpha.assign(-0.7)
    return agent


def crossq_reference(agent: SACAgent, batch, noise):
    from tests import numpy_crossq

    nets = {name: named(agent.network(name)) for name in ("actor", "critic_1", "critic_2")}
    trained = {
        name: [w.path.split("/", 1)[1] for w in agent.network(name).trainable_weights]
        for name in nets
    }
    step = int(agent.optimizers["critic_1"].iterations.numpy())
    learned = agent.learn_alpha
    log_alpha = float(agent.log_alpha.numpy())
    return numpy_crossq.update_crossq(
        nets, trained, batch, noise, gamma=agent.gamma, reward_scale=agent.reward_scale,
        alpha=float(np.exp(log_alpha)) if learned else 1.0,
        renorm_on=step >= agent.critic_1.norm0.warmup,
        actor_due=step % agent.get_config()["policy_delay"] == 0,
        log_alpha=log_alpha if learned else None, target_entropy=target_entropy(agent),
    )  # fmt: skip


@pytest.mark.parametrize("settings", CROSSQ.values(), ids=CROSSQ.keys())
def test_crossq_matches_its_numpy_reference(settings):
    agent = crossq_agent(settings)
    batch, noise = fixed_batch(seed=5), noise_for(agent, seed=6)
    quantities, gradients = agent_update(agent, batch, noise)
    want_quantities, want_gradients = crossq_reference(agent, batch, noise)
    assert quantities.keys() == want_quantities.keys()
    assert bool(quantities["actor_due"]) == want_quantities["actor_due"]
    for key, value in want_quantities.items():
        if key.endswith("_statistics"):
            for i, (got, want) in enumerate(zip(quantities[key], value, strict=True)):
                close(got, want, f"{key} {i}")
        elif key != "actor_due":
            close(quantities[key], value, key)
    assert gradients.keys() == want_gradients.keys()
    for network, grads in want_gradients.items():
        # An offset below a normalised layer has a gradient of exactly 0 (the next layer's
        # batch mean takes it away): held to the network's largest gradient, not to 0's.
        scale = max(max(float(np.max(np.abs(g))) for g in grads), 1e-3)
        for i, (got, want) in enumerate(zip(gradients[network], grads, strict=True)):
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-4 * scale,
                                       err_msg=f"{network} gradient {i}")  # fmt: skip


@pytest.mark.parametrize("due", [True, False], ids=["actor-due", "actor-waits"])
def test_a_crossq_update_is_adam_at_beta_0_5_and_moves_the_running_statistics(due):
    """Each critic by one Adam step (beta_1 0.5) of its gradients, its running statistics to
    the joint batch's; the actor and the temperature only on every policy_delay-th update."""
    agent = make_agent(algo="crossq", learn_alpha=True, policy_delay=2, layer1_size=8,
                       layer2_size=6)  # fmt: skip
    if not due:
        agent.optimizers["critic_1"].iterations.assign(1)
        agent.optimizers["critic_2"].iterations.assign(1)
    batch = fixed_batch(seed=2)
    state = agent.noise_rng.bit_generator.state
    noise = agent.noise_rng.standard_normal((1, BATCH, 2, ACTIONS), dtype=np.float32)[0]
    agent.noise_rng.bit_generator.state = state
    quantities, gradients = agent_update(agent, batch, noise)
    before = {n: arrays(agent, n) for n in agent.network_names}
    before["alpha"] = [agent.log_alpha.numpy()]
    steps = {n: int(o.iterations.numpy()) for n, o in agent.optimizers.items()}
    agent.learn_from_batches(*(x[None] for x in batch), eager=True)
    config = agent.get_config()
    lrs = dict(actor=config["actor_lr"], critic_1=config["critic_lr"], alpha=config["alpha_lr"])
    lrs["critic_2"] = lrs["critic_1"]
    for network, grads in gradients.items():
        after = arrays(agent, network) if network != "alpha" else [agent.log_alpha.numpy()]
        if network in ("actor", "alpha") and not due:
            for old, new in zip(before[network], after, strict=True):
                np.testing.assert_array_equal(new, old, err_msg=network)
            continue
        zeros = [np.zeros_like(g, np.float64) for g in grads]
        beta_1 = 0.9 if network == "alpha" else 0.5
        count = steps[network] + 1
        want = numpy_sac.adam_step(before[network], grads, zeros, list(zeros), count,
                                   lrs[network], beta_1=beta_1)  # fmt: skip
        # At the first step beta_1 cancels out; at the second (moments still zero) it shows.
        for i, (old, got, w) in enumerate(zip(before[network], after, want, strict=True)):
            close(got - old, w - old, f"{network} weight {i}", STEP_RTOL)
    for name in ("critic_1", "critic_2"):
        running = [v.numpy() for v in agent.network(name).running_statistics()]
        for got, want in zip(running, quantities[f"{name}_statistics"], strict=True):
            np.testing.assert_array_equal(got, want)
