"""Every task's reflection about x = 300 px (`env.mirror`): tables, start states, dynamics."""

import math

import numpy as np
import pytest

from environment import create_environment
from environment.environment import MIRROR_X, POSITION_SCALE

TASKS = [
    ("cartpole", {}),
    ("standing", {}),
    ("bolla-rolla", {}),
    ("bolla-rolla", {"upright": True, "relative_x": True}),
]


def make(name, **kwargs):
    env = create_environment(name, **kwargs)
    env.reset(seed=0)
    return env


@pytest.mark.parametrize(("name", "options"), TASKS)
def test_mirror_is_its_own_inverse(name, options):
    env = make(name, **options)
    rng = np.random.default_rng(0)
    observation = rng.normal(size=(5, env.state_size))
    action = rng.uniform(-1, 1, size=(5, env.action_size))
    mirror = env.mirror
    twice = mirror.observation(mirror.observation(observation))
    np.testing.assert_allclose(twice, observation, atol=1e-6)
    np.testing.assert_allclose(mirror.action(mirror.action(action)), action, atol=1e-7)
    assert mirror.observation(observation[0]).dtype == np.float32
    assert mirror.action(action[0]).shape == (env.action_size,)


@pytest.mark.parametrize(("name", "options"), TASKS[1:])
def test_a_humanoid_starts_symmetric(name, options):
    env = create_environment(name, **options)
    observation, _ = env.reset(seed=0)
    np.testing.assert_allclose(env.mirror.observation(observation), observation, atol=1e-6)


def test_bolla_rolla_mirror_swaps_the_named_blocks():
    """Indices of the documented layout: ball 0-1, plank 2-5, torso 6-11, then the limbs, the
    left upper leg at 36-41 and the right one at 48-53; actions upper_arm_l .. lower_leg_r."""
    env = make("bolla-rolla")
    observation = np.arange(60, dtype=np.float64) / 7
    mirrored = env.mirror.observation(observation)
    centre = 2 * MIRROR_X / POSITION_SCALE
    x, y, angle, vx, vy, w = observation[36:42]
    expected = [centre - x, y, math.pi - angle, -vx, vy, -w]
    np.testing.assert_allclose(mirrored[48:54], expected, rtol=1e-6)
    np.testing.assert_allclose(mirrored[0:2], [centre - observation[0], -observation[1]], rtol=1e-6)
    plank_x, plank_angle, plank_vx, plank_w = observation[2:6]
    np.testing.assert_allclose(
        mirrored[2:6], [centre - plank_x, -plank_angle, -plank_vx, -plank_w], rtol=1e-6
    )
    torso = observation[6:12]
    np.testing.assert_allclose(mirrored[8], math.pi - torso[2], rtol=1e-6)
    action = np.arange(1, 9, dtype=np.float64) / 10  # arms l, arms r, legs l, legs r
    np.testing.assert_allclose(
        env.mirror.action(action), -action[[2, 3, 0, 1, 6, 7, 4, 5]], rtol=1e-6
    )


def test_relative_positions_mirror_like_absolute_ones():
    absolute, relative = make("bolla-rolla"), make("bolla-rolla", relative_x=True)
    rng = np.random.default_rng(1)
    for _ in range(5):
        action = rng.uniform(-1, 1, 8).astype(np.float32)
        seen, *_ = absolute.step(action)
        seen_relative, *_ = relative.step(action)
    x_columns = [0, 2, *range(6, 60, 6)]

    def to_relative(observation):
        observation = np.array(observation, dtype=np.float64)
        observation[x_columns] -= observation[2]
        return observation

    np.testing.assert_allclose(
        relative.mirror.observation(seen_relative),
        to_relative(absolute.mirror.observation(seen)),
        atol=1e-5,
    )


@pytest.mark.parametrize(("name", "options"), TASKS[1:])
def test_a_humanoid_moves_as_its_reflection_until_it_touches_down(name, options):
    """Two episodes from the symmetric start, one driven by actions and the other by their
    reflections, stay each other's reflection while only gravity, the joints and the actions
    act (to 1e-3: the joint solver's order already shows; the feet land on step 5 or 6, and
    from then on the contact solver's order breaks the symmetry)."""
    seen, reflected = make(name, **options), make(name, **options)
    rng = np.random.default_rng(2)
    for _ in range(3):
        action = rng.uniform(-1, 1, seen.action_size).astype(np.float32)
        observation, *_ = seen.step(action)
        other, *_ = reflected.step(seen.mirror.action(action))
        np.testing.assert_allclose(seen.mirror.observation(observation), other, atol=1e-3)
        assert np.abs(observation - other).max() > 0.1  # the actions did break the symmetry


def test_a_cartpole_moves_as_its_reflection():
    seen, reflected = make("cartpole"), make("cartpole")
    vx, vy = reflected.cart.velocity  # the start impulse, reflected
    reflected.cart.velocity = (-vx, vy)
    rng = np.random.default_rng(3)
    for _ in range(100):
        action = rng.uniform(-1, 1, 1).astype(np.float32)
        observation, _, terminated, _, _ = seen.step(action)
        other, _, terminated_too, _, _ = reflected.step(seen.mirror.action(action))
        np.testing.assert_allclose(seen.mirror.observation(observation), other, atol=1e-4)
        assert terminated == terminated_too
        if terminated:
            break


@pytest.mark.parametrize("folder", ["bolla-rolla-upright-seed0", "standing-robust-seed0"])
def test_a_reflected_step_is_closer_than_the_observation_determines_a_step(folder):
    """benchmarks/mirror_error.py on a shipped agent's states: a reflected step departs from
    the reflection of the step by less (median) than the same step departs from itself without
    the contact cache the observation does not hold."""
    from benchmarks.mirror_error import measure
    from tests.policy_helpers import REPO

    errors = measure(REPO / "results" / folder, episodes=2, every=10)
    assert len(errors["reflection"]) >= 40
    assert np.median(errors["reflection"]) < np.median(errors["contact cache"])


@pytest.mark.parametrize(("name", "options"), TASKS)
def test_the_symmetric_policy_acts_in_the_mirror_as_the_mirror_of_itself(name, options):
    """symmetric_mean_std: at the reflected state the mean is the reflected mean and the spread
    the swapped spread, for an actor that is far from symmetric itself."""
    from agent.networks import ActorNetwork, NumpyActor, symmetric_mean_std

    env = make(name, **options)
    actor = ActorNetwork(env.action_size, 16, 16, seed=1)
    actor(np.zeros((1, env.state_size), dtype=np.float32))
    numpy_actor, mirror = NumpyActor(actor), env.mirror
    states = np.random.default_rng(2).normal(size=(6, env.state_size)).astype(np.float32)
    mean, std = symmetric_mean_std(numpy_actor, mirror, states)
    reflected_mean, reflected_std = symmetric_mean_std(
        numpy_actor, mirror, mirror.observation(states)
    )
    np.testing.assert_allclose(reflected_mean, mirror.action(mean), atol=2e-5)
    np.testing.assert_allclose(reflected_std, std[..., mirror.action_index], atol=2e-5)
    plain_mean, plain_std = numpy_actor(states)
    assert (
        np.max(np.abs(numpy_actor(mirror.observation(states))[0] - mirror.action(plain_mean)))
        > 1e-2
    )
    one_mean, one_std = symmetric_mean_std(numpy_actor, mirror, states[0])
    assert one_mean.shape == (env.action_size,)
    np.testing.assert_allclose(one_mean, mean[0], atol=1e-6)
    np.testing.assert_allclose(one_std, std[0], atol=1e-6)
    # A symmetric actor is its own symmetric version.
    np.testing.assert_allclose(
        symmetric_mean_std(lambda s: symmetric_mean_std(numpy_actor, mirror, s), mirror, states)[0],
        mean, atol=2e-5,
    )  # fmt: skip
    assert np.all(plain_std > 0) and np.all(std > 0)


def test_an_agent_acts_with_the_symmetric_policy_when_given_the_mirror():
    """choose_action(..., mirror=): deterministic actions reflect with the state; sampled ones
    are tanh(symmetric mean + symmetric spread * the agent's own noise)."""
    from agent.agent import SACAgent
    from agent.networks import NumpyActor, symmetric_mean_std

    env = make("bolla-rolla", upright=True, relative_x=True)
    agent = SACAgent(
        input_dims=(env.state_size,), n_actions=env.action_size, layer1_size=16, layer2_size=16,
        batch_size=4, max_size=100, seed=0,
    )  # fmt: skip
    observation, _ = env.reset(seed=3)
    observation = observation + np.float32(0.1)  # off the symmetric start
    mirror = env.mirror
    action = agent.choose_action(observation, deterministic=True, mirror=mirror)
    reflected = agent.choose_action(
        mirror.observation(observation), deterministic=True, mirror=mirror
    )
    np.testing.assert_allclose(reflected, mirror.action(action), atol=2e-5)
    assert np.max(np.abs(action - agent.choose_action(observation, deterministic=True))) > 1e-3
    state = agent.action_rng.bit_generator.state
    sampled = agent.choose_action(observation, mirror=mirror)
    agent.action_rng.bit_generator.state = state
    noise = agent.action_rng.standard_normal(env.action_size, dtype=np.float32)
    mean, std = symmetric_mean_std(NumpyActor(agent.actor), mirror, observation)
    np.testing.assert_allclose(sampled, np.tanh(mean + std * noise), atol=1e-6)
