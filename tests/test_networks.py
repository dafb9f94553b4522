import math

import numpy as np
import pytest
import tensorflow as tf

from agent.networks import (
    LEAKY_SLOPE,
    LOG_STD_MAX,
    LOG_STD_MIN,
    ActorNetwork,
    CriticNetwork,
    NumpyActor,
    ValueNetwork,
    squashed_action,
)

STATE, ACTIONS, BATCH = 6, 3, 32


def _states(scale: float = 1.0, seed: int = 0) -> tf.Tensor:
    rng = np.random.default_rng(seed)
    return tf.constant(scale * rng.standard_normal((BATCH, STATE)), tf.float32)


def _leaky(x: np.ndarray) -> np.ndarray:
    return np.where(x > 0, x, LEAKY_SLOPE * x)


def _numpy_value(network: ValueNetwork, x: np.ndarray) -> np.ndarray:
    w1, b1, w2, b2, w3, b3 = (w.numpy().astype(np.float64) for w in network.weights)
    return (_leaky(_leaky(x @ w1 + b1) @ w2 + b2) @ w3 + b3)[:, 0]


def test_output_shapes_and_ranges():
    actor = ActorNetwork(ACTIONS, 32, 16, seed=1)
    critic = CriticNetwork(32, 16, seed=2)
    value = ValueNetwork(32, 16, seed=3)
    states = _states(scale=50.0)  # large inputs push the std head against its clamps
    mean, std = actor(states)
    assert mean.shape == std.shape == (BATCH, ACTIONS)
    log_std = np.log(std.numpy())
    assert np.all(log_std >= LOG_STD_MIN - 1e-5) and np.all(log_std <= LOG_STD_MAX + 1e-5)
    noise = tf.random.stateless_normal((BATCH, ACTIONS), seed=(1, 2))
    action, log_prob = actor.sample_normal(states, noise)
    assert action.shape == (BATCH, ACTIONS) and log_prob.shape == (BATCH,)
    assert np.all(np.abs(action.numpy()) <= 1.0)
    assert np.all(np.isfinite(log_prob.numpy()))
    assert critic(states, action).shape == (BATCH,)
    assert value(states).shape == (BATCH,)
    assert [w.shape for w in actor.weights[:4]] == [(STATE, 32), (32,), (32, 16), (16,)]


def test_std_is_clamped():
    actor = ActorNetwork(ACTIONS, 8, 8, seed=1)
    actor(_states())
    actor.sigma.bias.assign(np.full(ACTIONS, 1e3, np.float32))
    _, std = actor(_states())
    np.testing.assert_allclose(std.numpy(), math.exp(LOG_STD_MAX), rtol=1e-6)


def test_log_prob_matches_numpy_density():
    actor = ActorNetwork(ACTIONS, 32, 16, seed=4)
    states = _states(seed=5)
    noise = tf.random.stateless_normal((BATCH, ACTIONS), seed=(3, 4))
    action, log_prob = actor.sample_normal(states, noise)
    mean, std = (x.numpy().astype(np.float64) for x in actor(states))
    a = action.numpy().astype(np.float64)
    # Density of a = tanh(u), u ~ N(mean, std): change of variables, computed from the action.
    u = np.arctanh(a)
    log_normal = -0.5 * ((u - mean) / std) ** 2 - np.log(std * np.sqrt(2.0 * np.pi))
    expected = np.sum(log_normal - np.log(1.0 - a**2), axis=-1)
    np.testing.assert_allclose(log_prob.numpy(), expected, rtol=1e-4, atol=1e-3)


def test_log_prob_stays_finite_when_saturated():
    actor = ActorNetwork(ACTIONS, 8, 8, seed=1)
    actor(_states())
    actor.mu.bias.assign(np.full(ACTIONS, 30.0, np.float32))  # tanh(u) rounds to 1 in float32
    action, log_prob = actor.sample_normal(_states(), tf.zeros((BATCH, ACTIONS)))
    assert np.all(action.numpy() == 1.0)
    assert np.all(np.isfinite(log_prob.numpy()))


def test_numpy_forward_passes_match_keras():
    actor = ActorNetwork(ACTIONS, 32, 16, seed=6)
    value = ValueNetwork(32, 16, seed=7)
    states = _states(seed=8)
    value(states)
    np.testing.assert_allclose(
        value(states).numpy(), _numpy_value(value, states.numpy()), rtol=1e-5, atol=1e-6
    )
    mean, std = actor(states)
    np_mean, np_std = NumpyActor(actor)(states.numpy())
    np.testing.assert_allclose(np_mean, mean.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np_std, std.numpy(), rtol=1e-5, atol=1e-6)
    one_mean, _ = NumpyActor(actor)(states.numpy()[0])
    assert one_mean.shape == (ACTIONS,) and one_mean.dtype == np.float32


def test_squashed_action_is_tanh_of_mean_or_of_a_sample_from_the_rng():
    network = ActorNetwork(ACTIONS, 32, 16, seed=6)
    states = _states(seed=9)
    network(states)
    actor, state = NumpyActor(network), states.numpy()[0]
    mean, std = actor(state)
    np.testing.assert_array_equal(squashed_action(actor, state), np.tanh(mean))
    noise = np.random.default_rng(3).standard_normal(ACTIONS, dtype=np.float32)
    action = squashed_action(actor, state, np.random.default_rng(3))
    np.testing.assert_array_equal(action, np.tanh(mean + std * noise))
    assert action.dtype == np.float32 and np.all(np.abs(action) <= 1.0)
    assert not np.allclose(action, np.tanh(mean))


@pytest.mark.parametrize("network_class", [ValueNetwork, CriticNetwork])
def test_seed_fixes_initial_weights(network_class):
    def weights(seed):
        net = network_class(16, 8, seed=seed)
        args = (_states(),) if network_class is ValueNetwork else (_states(), tf.zeros((BATCH, 2)))
        net(*args)
        return [w.numpy() for w in net.weights]

    first, again, other = weights(3), weights(3), weights(4)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], other[0])


def test_critic_state_part_is_the_first_layer_without_the_action():
    critic = CriticNetwork(32, 16, seed=4)
    states = _states(seed=1)
    actions = tf.constant(np.random.default_rng(2).uniform(-1, 1, (BATCH, ACTIONS)), tf.float32)
    q = critic(states, actions).numpy()
    w1, b1, w2, b2, w3, b3 = (w.numpy().astype(np.float64) for w in critic.weights)
    x = np.concatenate([states.numpy(), actions.numpy()], axis=1).astype(np.float64)
    expected = (_leaky(_leaky(x @ w1 + b1) @ w2 + b2) @ w3 + b3)[:, 0]
    np.testing.assert_allclose(q, expected, rtol=1e-5, atol=1e-5)
    part = critic.state_part(states)
    np.testing.assert_array_equal(critic.q_from_state_part(part, actions).numpy(), q)
    with pytest.raises(RuntimeError, match="build the critic"):
        CriticNetwork(8, 8).state_part(states)
