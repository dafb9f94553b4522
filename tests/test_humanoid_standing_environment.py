"""HumanoidStandingEnvironment against the numbers of the spec (shared/spec/environments.md)."""

import math

import numpy as np
import pymunk
import pytest

from environment import HumanoidStandingEnvironment

ACTION_ORDER = ("upper_leg_l", "lower_leg_l", "upper_leg_r", "lower_leg_r")
HALF_PI = math.pi / 2


@pytest.fixture
def env():
    env = HumanoidStandingEnvironment()
    env.reset(seed=0)
    return env


def test_reset_observation(env):
    obs, _ = env.reset(seed=0)
    expected = [
        [3.00, 4.53, HALF_PI, 0, 0, 0],  # torso at (300, 453)
        [3.15, 4.905, HALF_PI, 0, 0, 0],  # upper_leg_l: hip at (315, 473), 35 px long
        [3.15, 5.23, HALF_PI, 0, 0, 0],  # lower_leg_l: knee at (315, 508), 30 px long
        [2.85, 4.905, HALF_PI, 0, 0, 0],  # upper_leg_r
        [2.85, 5.23, HALF_PI, 0, 0, 0],  # lower_leg_r
    ]
    assert obs.shape == (30,) and obs.dtype == np.float32
    np.testing.assert_array_equal(obs, np.array(expected, dtype=np.float64).ravel().astype("f4"))


def test_parts_floor_and_world(env):
    assert set(env.humanoid.bodies) == {"torso", *ACTION_ORDER}  # no arms
    assert len(env.space.bodies) == 6  # five parts and the floor's static body
    floor = env.floor
    assert floor.body.body_type == pymunk.Body.STATIC
    assert tuple(floor.body.position) == (300, 550)
    assert (tuple(floor.a), tuple(floor.b), floor.radius) == ((-300, 0), (300, 0), 10)
    assert floor.friction == 0.5 and floor.elasticity == 0.8
    assert env.space.gravity == (0, 981)
    assert env.space.iterations == 10 and env.space.damping == 1.0
    lowest_foot = max(shape.bb.top for shape in env.humanoid.shapes.values())  # bb: y-down top
    assert 540 - lowest_foot == pytest.approx(2.0)  # feet hang 2 px above the floor surface


def test_action_is_an_angular_impulse_in_the_spec_order(env, monkeypatch):
    bodies = [env.humanoid.bodies[name] for name in ACTION_ORDER]
    before = {name: body.angular_velocity for name, body in env.humanoid.bodies.items()}
    seen = {}
    real_step = env.space.step

    def spy(dt):  # records the angular velocities the physics receives
        seen.update({name: b.angular_velocity for name, b in env.humanoid.bodies.items()})
        seen["dt"] = dt
        real_step(dt)

    monkeypatch.setattr(env.space, "step", spy)
    action = np.array([1.0, -0.5, 0.25, 3.0], dtype=np.float32)  # the last one is clipped to 1
    env.step(action)
    assert seen["dt"] == 1 / 50
    for body, name, value in zip(bodies, ACTION_ORDER, [1.0, -0.5, 0.25, 1.0], strict=True):
        expected = before[name] + value * 2000.0 / body.moment
        assert seen[name] == pytest.approx(expected, rel=1e-12)
    assert seen["torso"] == before["torso"]  # not actuated, no reaction


@pytest.mark.parametrize(("y", "done"), [(453.0, False), (485.0, False), (485.001, True)])
def test_torso_height_threshold(env, y, done):
    env.humanoid.bodies["torso"].position = (300, y)
    state = env._get_state()
    assert env._check_done(state) == ("torso fell" if done else None)


def test_falling_torso_ends_the_episode(env):
    for body in env.humanoid.bodies.values():
        body.position += (0, 40)  # the whole figure 40 px lower, sunk into the floor
    _, reward, terminated, _, info = env.step(np.zeros(4, dtype=np.float32))
    assert terminated and reward == 0.0 and info["termination_reason"] == "torso fell"


def test_render_shows_the_figure():
    env = HumanoidStandingEnvironment(render_mode="rgb_array")
    env.reset(seed=0)
    frame = env.render()
    assert tuple(frame[453, 300]) == (52, 152, 219)  # torso, default dynamic blue
    assert tuple(frame[545, 300]) == (149, 165, 166)  # floor
    assert tuple(frame[200, 300]) == (255, 255, 255)
