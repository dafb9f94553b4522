"""BollaRollaEnvironment (balance ball) against the numbers of its class docstring."""

import math

import numpy as np
import pymunk
import pytest

from environment import BollaRollaEnvironment
from environment.humanoid import PROP_FILTER

ACTION_ORDER = (
    "upper_arm_l",
    "lower_arm_l",
    "upper_arm_r",
    "lower_arm_r",
    "upper_leg_l",
    "lower_leg_l",
    "upper_leg_r",
    "lower_leg_r",
)
HALF_PI = math.pi / 2


@pytest.fixture
def env():
    env = BollaRollaEnvironment()
    env.reset(seed=0)
    return env


def test_reset_observation(env):
    obs, _ = env.reset(seed=0)
    expected = [3.0, 0.0]  # ball x, vx
    expected += [3.0, 0.0, 0.0, 0.0]  # plank x, angle, vx, angular velocity
    blocks = [  # T-pose, torso at (300, 390)
        (3.00, 3.90, HALF_PI),  # torso
        (3.30, 3.75, 0.0),  # upper_arm_l: shoulder at (315, 375)
        (3.575, 3.75, 0.0),  # lower_arm_l
        (2.70, 3.75, math.pi),  # upper_arm_r: shoulder at (285, 375)
        (2.425, 3.75, math.pi),  # lower_arm_r
        (3.15, 4.275, HALF_PI),  # upper_leg_l
        (3.15, 4.60, HALF_PI),  # lower_leg_l
        (2.85, 4.275, HALF_PI),  # upper_leg_r
        (2.85, 4.60, HALF_PI),  # lower_leg_r
    ]
    for x, y, angle in blocks:
        expected += [x, y, angle, 0.0, 0.0, 0.0]
    assert obs.shape == (60,) and obs.dtype == np.float32
    np.testing.assert_allclose(obs, np.array(expected, dtype=np.float32), rtol=0, atol=1e-6)


def test_props(env):
    plank, ball = env.plank, env.ball
    (plank_shape,) = plank.shapes
    (ball_shape,) = ball.shapes
    assert isinstance(plank_shape, pymunk.Segment) and isinstance(ball_shape, pymunk.Circle)
    assert tuple(plank.position) == (300, 482.5) and tuple(ball.position) == (300, 515)
    assert (tuple(plank_shape.a), tuple(plank_shape.b), plank_shape.radius) == (
        (-60, 0),
        (60, 0),
        5,
    )
    assert plank.mass == 2 and plank.moment == pytest.approx(pymunk.moment_for_box(2, (120, 5)))
    assert ball_shape.radius == 25 and ball.mass == 10
    assert ball.moment == pytest.approx(0.5 * 10 * 25**2)  # solid disc
    for shape in (plank_shape, ball_shape):
        assert shape.friction == 1.0 and shape.elasticity == 0.8
        assert shape.filter == PROP_FILTER
    assert plank_shape.color == (139, 69, 19, 255) and ball_shape.color == (32, 175, 205, 255)
    assert tuple(env.floor.body.position) == (300, 550) and env.floor.radius == 10
    assert env.floor.friction == 0.5 and env.floor.elasticity == 0.8
    assert set(env.humanoid.bodies) == {"torso", *ACTION_ORDER}


def test_stack_geometry_at_reset(env):
    feet = max(env.humanoid.shapes[n].bb.top for n in ("lower_leg_l", "lower_leg_r"))
    plank_top = 482.5 - 5
    assert plank_top - feet == pytest.approx(2.5)
    (ball_shape,) = env.ball.shapes
    floor_surface = env.floor.body.position.y - env.floor.radius
    assert ball_shape.bb.top == pytest.approx(floor_surface) == 540  # the ball touches it


@pytest.mark.parametrize("part", ACTION_ORDER + ("torso",))
def test_every_part_can_land_on_the_plank(env, part):
    body = env.humanoid.bodies[part]
    body.position = env.plank.position
    env.space.reindex_shapes_for_body(body)
    (plank_shape,) = env.plank.shapes
    assert plank_shape in [hit.shape for hit in env.space.shape_query(env.humanoid.shapes[part])]


def test_action_is_an_angular_impulse_in_the_documented_order(env, monkeypatch):
    before = {name: body.angular_velocity for name, body in env.humanoid.bodies.items()}
    seen = {}
    real_step = env.space.step

    def spy(dt):
        seen.update({name: b.angular_velocity for name, b in env.humanoid.bodies.items()})
        real_step(dt)

    monkeypatch.setattr(env.space, "step", spy)
    values = [0.1, -0.2, 0.3, -0.4, 0.5, -0.6, 0.7, -0.8]
    env.step(np.array(values, dtype=np.float32))
    for name, value in zip(ACTION_ORDER, values, strict=True):
        moment = env.humanoid.bodies[name].moment
        expected = before[name] + float(np.float32(value)) * 2000.0 / moment
        assert seen[name] == pytest.approx(expected, rel=1e-12)
    assert seen["torso"] == before["torso"]


def _state_with(env, plank_angle=0.0, torso_angle=HALF_PI, torso_dx=0.0, ball_dx=0.0):
    env.plank.angle = plank_angle
    torso = env.humanoid.bodies["torso"]
    torso.angle = torso_angle
    torso.position = (env.plank.position.x + torso_dx, torso.position.y)
    env.ball.position = (env.plank.position.x + ball_dx, env.ball.position.y)
    return env._check_done(env._get_state())


@pytest.mark.parametrize(
    ("angle", "done"), [(0.8, False), (0.80001, True), (-0.8, False), (-0.80001, True)]
)
def test_plank_angle_threshold(env, angle, done):
    assert _state_with(env, plank_angle=angle) == ("plank tilted" if done else None)


@pytest.mark.parametrize(
    ("angle", "done"),
    [(1.57 + 1.4999, False), (1.57 + 1.5001, True), (1.57 - 1.4999, False), (1.57 - 1.5001, True)],
)
def test_torso_angle_threshold(env, angle, done):
    assert _state_with(env, torso_angle=angle) == ("torso tilted" if done else None)


@pytest.mark.parametrize(
    ("dx", "done"), [(40.0, False), (40.001, True), (-40.0, False), (-40.001, True)]
)
def test_torso_left_the_plank_threshold(env, dx, done):
    assert _state_with(env, torso_dx=dx) == ("torso left the plank" if done else None)


@pytest.mark.parametrize(
    ("dx", "done"), [(40.0, False), (40.001, True), (-40.0, False), (-40.001, True)]
)
def test_ball_left_the_plank_threshold(env, dx, done):
    assert _state_with(env, ball_dx=dx) == ("ball left the plank" if done else None)


def test_left_the_plank_checks_end_real_episodes(env):
    """Both checks fire (the reference compared x/100 with 40 px, so they never did)."""
    env.ball.position += (45, 0)  # ball slid 45 px from under the plank's centre
    _, reward, terminated, _, info = env.step(np.zeros(8, dtype=np.float32))
    assert terminated and reward == 0.0 and info["termination_reason"] == "ball left the plank"
    env.reset()
    for body in env.humanoid.bodies.values():
        body.position += (-45, 0)  # the whole humanoid 45 px to the left of the plank centre
    _, _, terminated, _, info = env.step(np.zeros(8, dtype=np.float32))
    assert terminated and info["termination_reason"] == "torso left the plank"


def test_render_colours():
    env = BollaRollaEnvironment(render_mode="rgb_array")
    env.reset(seed=0)
    frame = env.render()
    assert tuple(frame[515, 290]) == (32, 175, 205)  # ball, cyan
    assert tuple(frame[482, 250]) == (139, 69, 19)  # plank, brown
    assert tuple(frame[400, 300]) == (52, 152, 219)  # torso, blue


# ---- upright=True: the standing task's fall rule on top of the four ----------------------


def _episode_length(env, policy) -> tuple[int, str | None]:
    env.reset(seed=0)
    for step in range(1, 401):
        _, reward, terminated, truncated, info = env.step(policy())
        if terminated or truncated:
            return step, info.get("termination_reason")
    raise AssertionError("the episode did not end within 400 steps")


@pytest.mark.parametrize(("y", "done"), [(422.0, False), (422.01, True)])
def test_upright_torso_fell_threshold(y, done):
    env = BollaRollaEnvironment(upright=True)
    env.reset(seed=0)
    env.humanoid.bodies["torso"].position = (300.0, y)
    assert env._check_done(env._get_state()) == ("torso fell" if done else None)


def test_upright_is_off_by_default(env):
    env.humanoid.bodies["torso"].position = (300.0, 450.0)  # sitting low on the plank
    assert not env.upright and env._check_done(env._get_state()) is None


def test_upright_shortens_a_passive_episode():
    zeros = lambda: np.zeros(8, dtype=np.float32)  # noqa: E731
    assert _episode_length(BollaRollaEnvironment(), zeros) == (30, "plank tilted")
    assert _episode_length(BollaRollaEnvironment(upright=True), zeros) == (20, "torso fell")


def test_upright_keeps_physics_observation_and_reward():
    plain, upright = BollaRollaEnvironment(), BollaRollaEnvironment(upright=True)
    rng = np.random.default_rng(1)
    first = [env.reset(seed=3)[0] for env in (plain, upright)]
    np.testing.assert_array_equal(*first)
    for _ in range(15):  # both still alive: identical steps
        action = rng.uniform(-0.2, 0.2, 8).astype(np.float32)
        a, b = plain.step(action), upright.step(action)
        np.testing.assert_array_equal(a[0], b[0])
        assert a[1:4] == b[1:4]


def test_upright_factory_and_gymnasium_id():
    import gymnasium

    from environment import create_environment

    assert create_environment("bolla-rolla", upright=True).upright
    env = gymnasium.make("PymunkBollaRollaUpright-v0")
    assert env.unwrapped.upright and env.spec.max_episode_steps == 400
    assert not gymnasium.make("PymunkBollaRolla-v0").unwrapped.upright
    with pytest.raises(ValueError, match="upright"):
        BollaRollaEnvironment(upright="yes")


# ---- relative_x=True: horizontal positions from the plank centre --------------------------

X_INDEX = [0, 2, *range(6, 60, 6)]  # ball, plank, then the first entry of every block


def _shift_scene(env, dx):
    for body in env.space.bodies:
        body.position = (body.position.x + dx, body.position.y)


def test_relative_x_measures_every_horizontal_position_from_the_plank():
    plain, relative = (
        BollaRollaEnvironment(upright=True),
        BollaRollaEnvironment(relative_x=True, upright=True),
    )
    rng = np.random.default_rng(2)
    observations = [env.reset(seed=4)[0] for env in (plain, relative)]
    assert relative._x_index.tolist() == X_INDEX
    for _ in range(12):  # both still alive: the same physics, the same ends
        expected = observations[0].astype(np.float64)
        expected[X_INDEX] -= expected[2]
        np.testing.assert_allclose(observations[1], expected, atol=1e-6)
        assert observations[1][2] == 0.0
        action = rng.uniform(-0.3, 0.3, 8).astype(np.float32)
        a, b = plain.step(action), relative.step(action)
        assert a[1:4] == b[1:4]
        observations = [a[0], b[0]]


@pytest.mark.parametrize("dx", [-60.0, 25.0])
def test_relative_x_does_not_see_the_whole_scene_move_sideways(dx):
    env = BollaRollaEnvironment(relative_x=True)
    env.reset(seed=0)
    before = env._get_state()
    _shift_scene(env, dx)
    np.testing.assert_allclose(env._get_state(), before, atol=1e-9)
    plain = BollaRollaEnvironment()
    plain.reset(seed=0)
    start = plain._get_state()
    _shift_scene(plain, dx)
    assert plain._get_state()[6] == pytest.approx(start[6] + dx / 100)  # the default sees it


@pytest.mark.parametrize(("dx", "reason"), [(40.01, "torso left the plank"), (39.99, None)])
def test_relative_x_keeps_the_termination_rules(dx, reason):
    env = BollaRollaEnvironment(relative_x=True)
    env.reset(seed=0)
    torso = env.humanoid.bodies["torso"]
    torso.position = (env.plank.position.x + dx, torso.position.y)
    assert env._check_done(env._get_state()) == reason
    shares = env.limit_shares(env._get_state())
    assert shares[2] == pytest.approx(dx / 40.0)


def test_relative_x_is_off_by_default_and_checked():
    from environment import create_environment

    assert not BollaRollaEnvironment().relative_x
    assert create_environment("bolla-rolla", relative_x=True).relative_x
    with pytest.raises(ValueError, match="relative_x must be True or False"):
        BollaRollaEnvironment(relative_x=1)
