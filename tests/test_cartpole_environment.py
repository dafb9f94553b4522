"""CartpoleEnvironment against the numbers of its class docstring (its specification)."""

import math

import numpy as np
import pymunk
import pytest

from environment import CartpoleEnvironment


@pytest.fixture
def env():
    env = CartpoleEnvironment()
    env.reset(seed=0)
    return env


def shapes_of(body: pymunk.Body) -> list[pymunk.Shape]:
    return list(body.shapes)


def test_reset_observation(env):
    obs, _ = env.reset(seed=0)
    assert obs.dtype == np.float32
    assert obs.tolist() == [3.0, 0.5, 0.0, 0.0]


def test_bodies_shapes_and_joint(env):
    cart, pole = env.cart, env.pole
    assert cart.mass == 1.0 and pole.mass == 0.1
    assert cart.moment == pytest.approx(pymunk.moment_for_box(1.0, (50, 30)))
    assert pole.moment == pytest.approx(pymunk.moment_for_box(0.1, (10, 100)))
    assert tuple(cart.position) == (300, 530) and tuple(pole.position) == (300, 465)
    (cart_shape,) = shapes_of(cart)
    (pole_shape,) = shapes_of(pole)
    assert cart_shape.bb.right - cart_shape.bb.left == pytest.approx(50)
    assert cart_shape.bb.bottom - cart_shape.bb.top == pytest.approx(-30)  # pymunk bb: y up
    assert pole_shape.bb.right - pole_shape.bb.left == pytest.approx(10)
    assert abs(pole_shape.bb.top - pole_shape.bb.bottom) == pytest.approx(100)
    for shape in (cart_shape, pole_shape):
        assert shape.friction == 0.0 and shape.elasticity == 0.0
    assert pole_shape.color == (139, 69, 19, 255)
    (floor,) = [s for s in env.space.shapes if s.body.body_type == pymunk.Body.STATIC]
    assert (tuple(floor.a), tuple(floor.b), floor.radius) == ((0, 550), (600, 550), 5)
    assert floor.friction == 0.0 and floor.elasticity == 1.0
    (joint,) = env.space.constraints
    assert isinstance(joint, pymunk.PivotJoint)
    assert tuple(cart.local_to_world(joint.anchor_a)) == pytest.approx((300, 515))
    assert tuple(pole.local_to_world(joint.anchor_b)) == pytest.approx((300, 515))
    assert env.space.gravity == (0, 981)


def test_cart_and_pole_do_not_collide_but_both_hit_the_floor(env):
    (cart_shape,) = shapes_of(env.cart)
    (pole_shape,) = shapes_of(env.pole)
    (floor,) = [s for s in env.space.shapes if s.body.body_type == pymunk.Body.STATIC]
    env.pole.position = env.cart.position  # the pole now crosses the cart's middle
    env.pole.angle = math.pi / 2
    env.space.reindex_shapes_for_body(env.pole)
    assert cart_shape.shapes_collide(pole_shape).points  # they do overlap geometrically
    assert cart_shape not in [hit.shape for hit in env.space.shape_query(pole_shape)]
    pole_shape.filter = pymunk.ShapeFilter()  # without their shared group they would collide
    assert cart_shape in [hit.shape for hit in env.space.shape_query(pole_shape)]
    env.pole.position = (300, 548)  # the pole lying on the floor line
    env.space.reindex_shapes_for_body(env.pole)
    assert floor in [hit.shape for hit in env.space.shape_query(pole_shape)]
    assert floor in [hit.shape for hit in env.space.shape_query(cart_shape)]  # cart rests on it


def test_action_is_a_horizontal_force_for_exactly_one_step():
    envs = [CartpoleEnvironment(), CartpoleEnvironment()]
    momenta = []
    for env, action in zip(envs, (1.0, 0.0), strict=True):
        env.reset(seed=0)
        env.step(np.array([action], dtype=np.float32))
        momenta.append(env.cart.mass * env.cart.velocity.x + env.pole.mass * env.pole.velocity.x)
        assert tuple(env.cart.force) == (0.0, 0.0)  # not carried into the next step
    # Friction is 0 and the floor is flat: the only horizontal impulse is the action's F * dt.
    assert momenta[0] - momenta[1] == pytest.approx(1000.0 * 0.02, rel=1e-9)
    left = CartpoleEnvironment()
    left.reset(seed=0)
    obs, *_ = left.step(np.array([-1.0], dtype=np.float32))
    assert obs[1] < 0.5  # pushing left slows the cart (it starts moving right at 50 px/s)


@pytest.mark.parametrize(
    ("angle", "done"),
    [(0.0, False), (0.21, False), (0.2100001, True), (-0.21, False), (-0.2100001, True)],
)
def test_pole_angle_threshold(env, angle, done):
    env.pole.angle = angle
    state = env._get_state()
    assert env._check_done(state) == ("pole fell" if done else None)


@pytest.mark.parametrize(
    ("x", "done"),
    [(300.0, False), (0.0, False), (-0.001, True), (600.0, False), (600.001, True)],
)
def test_screen_edge_thresholds(env, x, done):
    env.cart.position = (x, 530)
    state = env._get_state()
    assert env._check_done(state) == ("cart left the screen" if done else None)


@pytest.mark.parametrize(("x", "vx"), [(599.0, 100.0), (1.0, -100.0)])
def test_leaving_the_screen_ends_the_episode(x, vx):
    """The right edge too: the reference compared x/100 with 600 px, so it never fired."""
    env = CartpoleEnvironment()
    env.reset(seed=0)
    shift = x - env.cart.position.x
    for body in (env.cart, env.pole):
        body.position = (body.position.x + shift, body.position.y)
        body.velocity = (vx, 0.0)
        body.angular_velocity = 0.0
    obs, reward, terminated, _, info = env.step(np.zeros(1, dtype=np.float32))
    assert terminated and reward == 0.0
    assert info["termination_reason"] == "cart left the screen"
    assert (obs[0] > 6.0) if vx > 0 else (obs[0] < 0.0)


def test_pole_falling_ends_the_episode(env):
    env.pole.angle = 0.3
    _, reward, terminated, _, info = env.step(np.zeros(1, dtype=np.float32))
    assert terminated and reward == 0.0 and info["termination_reason"] == "pole fell"


def test_render_colours():
    env = CartpoleEnvironment(render_mode="rgb_array")
    env.reset(seed=0)
    frame = env.render()
    assert tuple(frame[440, 300]) == (139, 69, 19)  # pole, brown
    assert tuple(frame[538, 290]) == (52, 152, 219)  # cart, default dynamic blue
    assert tuple(frame[550, 100]) == (149, 165, 166)  # floor, static grey
    assert tuple(frame[300, 100]) == (255, 255, 255)  # background


def test_fast_state_read_matches_pymunk_attributes(env):
    """The observation read through chipmunk's bindings equals pymunk's public attributes."""
    rng = np.random.default_rng(5)
    env.reset(seed=0)
    for _ in range(30):
        obs, _, terminated, truncated, _ = env.step(rng.uniform(-1, 1, 1).astype(np.float32))
        cart, pole = env.cart, env.pole
        expected = [cart.position.x / 100, cart.velocity.x / 100, pole.angle, pole.angular_velocity]
        assert env._get_state() == expected
        np.testing.assert_array_equal(obs, np.array(expected, dtype=np.float32))
        if terminated or truncated:
            env.reset()
