"""Bolla rolla: a humanoid balancing on a plank that rides on a ball."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pymunk

from environment.environment import BROWN, CYAN, POSITION_SCALE
from environment.humanoid import ALL_PARTS, PROP_FILTER, HumanoidEnvironment


class BollaRollaEnvironment(HumanoidEnvironment):
    """A full humanoid stands on a plank lying on a ball; keep all three stacked.

    ## Description
    The humanoid of `environment/humanoid.py` with arms (T-pose at reset): torso 50 x 30 px
    (mass 30), upper/lower arms 30 x 8 / 25 x 8, upper/lower legs 35 x 8 / 30 x 8 (mass 5 each),
    free pivots, friction 1.0, elasticity 0.1; left and right parts of the same kind collide,
    different kinds do not. Under its feet a plank - a dynamic segment (-60, 0)-(60, 0), radius 5,
    mass 2, moment of a 120 x 5 box, friction 1.0, elasticity 0.8 - lies on a ball (circle radius
    25, mass 10, solid-disc moment, friction 1.0, elasticity 0.8) that rests on the floor (static
    segment (-300, 0)-(300, 0) on its own body at (300, 550), radius 10, friction 0.5,
    elasticity 0.8). Pixels, y down, gravity (0, 981) px/s^2, one `space.step(1/50)` per step.

    ## Action Space
    `Box(-1, 1, (8,), float32)`, in the order upper_arm_l, lower_arm_l, upper_arm_r, lower_arm_r,
    upper_leg_l, lower_leg_l, upper_leg_r, lower_leg_r. "Angular impulse": before the step each
    limb's angular velocity grows by `a * 2000 / limb_moment` (rad/s); only that limb changes.

    ## Observation Space
    | index   | observation                     | unit           |
    |---------|---------------------------------|----------------|
    | 0       | ball x / 100                    | px / 100       |
    | 1       | ball vx / 100                   | px/s / 100     |
    | 2       | plank x / 100                   | px / 100       |
    | 3       | plank angle                     | rad, unwrapped |
    | 4       | plank vx / 100                  | px/s / 100     |
    | 5       | plank angular velocity          | rad/s          |
    | 6 - 11  | torso block                     | see below      |
    | 12 - 35 | upper_arm_l, lower_arm_l, upper_arm_r, lower_arm_r blocks | see below |
    | 36 - 59 | upper_leg_l, lower_leg_l, upper_leg_r, lower_leg_r blocks | see below |
    A block is [x / 100, y / 100 (down), angle (rad, unwrapped), vx / 100, vy / 100,
    angular velocity (rad/s)]; the torso's angle is at index 8.

    With `relative_x=True` every horizontal position (indices 0, 2 and the first of every block:
    6, 12, ..., 54) is measured from the plank centre instead of the scene's origin, so index 2
    is always 0 and the observation does not change when the whole scene moves sideways (the
    floor is 600 px long and the task has no place to hold). Everything else is unchanged,
    termination included: its rules compare x positions with the plank's only.

    ## Rewards
    1.0 for every step that does not terminate the episode, 0.0 for the terminating step.

    ## Starting State
    Torso centre at (300, 390), angle pi/2; arms horizontal (T-pose); legs straight down, feet
    2.5 px above the plank at (300, 482.5); the ball at (300, 515) touches the floor (y = 540).
    Everything at rest. Deterministic unless `start_noise` > 0.

    ## Episode End
    Termination, the first that holds: |plank angle| > 0.8 rad ("plank tilted");
    |torso angle - 1.57| > 1.5 rad ("torso tilted"); the torso centre more than 40 px in x from
    the plank centre ("torso left the plank"); the ball centre more than 40 px in x from the
    plank centre ("ball left the plank"); with `upright=True` only, the torso centre more than
    32 px below its start, i.e. y / 100 > 4.22 ("torso fell"); or a non-finite physics state.
    Truncation: 400 steps.

    Without `upright` the humanoid may fold its legs and sit on the plank, which the four rules
    allow (the reference's agent learned exactly that). `upright=True` adds the standing task's
    rule (a fall of 32 px, relative to this task's start at y = 390 px), so that only a
    humanoid that keeps standing on the plank survives. Physics, observation, reward and the
    other rules are the same with and without it.

    ## Pushes and Camera
    `push(strength)` adds `strength * 100` px/s to the torso's horizontal velocity (at its
    centre; the joints share it with the limbs on the next step). The zoomed camera follows the
    torso's x and keeps the floor line y = 550 px in place; at zoom 2 the whole figure, the plank,
    the ball and the floor under it stay in view.

    ## Arguments
    See `BaseEnvironment`: `enable_rendering`, `render_mode`, `max_episode_steps`, `start_noise`,
    `zoom`.
    `upright` (bool, default False): also end the episode when the torso falls (above).
    `relative_x` (bool, default False): observe horizontal positions from the plank centre.
    The Gymnasium ids are `PymunkBollaRolla-v0` and, with `upright=True`,
    `PymunkBollaRollaUpright-v0`.
    """

    state_size = 60
    action_size = 8
    action_scale = 2000.0  # angular impulse (mass px^2 / s) per unit action

    PARTS = ALL_PARTS
    TORSO_POSITION = (300.0, 390.0)  # px
    ACTUATED = (
        "upper_arm_l",
        "lower_arm_l",
        "upper_arm_r",
        "lower_arm_r",
        "upper_leg_l",
        "lower_leg_l",
        "upper_leg_r",
        "lower_leg_r",
    )
    OBSERVED = ("torso", *ACTUATED)
    action_names = ACTUATED

    PLANK_POSITION = (300.0, 482.5)  # px
    PLANK_HALF_LENGTH = 60.0  # px, segment (-60, 0)-(60, 0)
    PLANK_RADIUS = 5.0  # px
    PLANK_MASS = 2.0
    PLANK_MOMENT_BOX = (120.0, 5.0)  # px, the box whose moment the plank gets
    BALL_POSITION = (300.0, 515.0)  # px
    BALL_RADIUS = 25.0  # px
    BALL_MASS = 10.0
    PROP_FRICTION = 1.0
    PROP_ELASTICITY = 0.8

    MAX_PLANK_ANGLE = 0.8  # rad
    UPRIGHT_TORSO_ANGLE = 1.57  # rad, the reference's value (not pi / 2)
    MAX_TORSO_TILT = 1.5  # rad from UPRIGHT_TORSO_ANGLE
    MAX_OFFSET = 40.0  # px, in x, of the torso and of the ball from the plank centre
    MAX_UPRIGHT_TORSO_Y = 4.22  # px / 100: 32 px below the start (upright=True only)
    PLANK_X_INDEX = 2  # where the observation holds the plank centre's x

    def __init__(
        self, *args: Any, upright: bool = False, relative_x: bool = False, **kwargs: Any
    ) -> None:
        for name, value in (("upright", upright), ("relative_x", relative_x)):
            if not isinstance(value, bool):
                raise ValueError(f"{name} must be True or False, got {value!r}")
        self.upright = upright
        self.relative_x = relative_x
        super().__init__(*args, **kwargs)

    def _create_props(self) -> None:
        self.plank = pymunk.Body(
            self.PLANK_MASS, pymunk.moment_for_box(self.PLANK_MASS, self.PLANK_MOMENT_BOX)
        )
        self.plank.position = self.PLANK_POSITION
        half = self.PLANK_HALF_LENGTH
        plank_shape = pymunk.Segment(self.plank, (-half, 0.0), (half, 0.0), self.PLANK_RADIUS)
        plank_shape.color = BROWN

        self.ball = pymunk.Body(
            self.BALL_MASS, pymunk.moment_for_circle(self.BALL_MASS, 0.0, self.BALL_RADIUS)
        )
        self.ball.position = self.BALL_POSITION
        ball_shape = pymunk.Circle(self.ball, self.BALL_RADIUS)
        ball_shape.color = CYAN

        for shape in (plank_shape, ball_shape):
            shape.friction = self.PROP_FRICTION
            shape.elasticity = self.PROP_ELASTICITY
            shape.filter = PROP_FILTER
        self.space.add(self.plank, plank_shape, self.ball, ball_shape)

    def _prop_observation(self) -> list[tuple[pymunk.Body, tuple[str, ...]]]:
        return [(self.ball, ("x", "vx")), (self.plank, ("x", "angle", "vx", "angular_velocity"))]

    def _get_state(self) -> list[float]:
        if not self.relative_x:
            return super()._get_state()
        values = self._observed_values()
        values[self._x_index] -= values[self.PLANK_X_INDEX]  # the plank's own x becomes 0
        return values.tolist()

    def _mirror_x_offset(self) -> float:
        # Measured from the plank centre, a horizontal position is simply reversed.
        return 0.0 if self.relative_x else super()._mirror_x_offset()

    def _check_done(self, state: list[float]) -> str | None:
        if abs(state[3]) > self.MAX_PLANK_ANGLE:
            return "plank tilted"
        if abs(state[8] - self.UPRIGHT_TORSO_ANGLE) > self.MAX_TORSO_TILT:
            return "torso tilted"
        if abs(state[6] - state[2]) * POSITION_SCALE > self.MAX_OFFSET:
            return "torso left the plank"
        if abs(state[0] - state[2]) * POSITION_SCALE > self.MAX_OFFSET:
            return "ball left the plank"
        if self.upright and state[7] > self.MAX_UPRIGHT_TORSO_Y:
            return "torso fell"
        return None

    def limit_shares(self, observation: Sequence[float]) -> list[float]:
        state = observation
        shares = [
            abs(state[3]) / self.MAX_PLANK_ANGLE,
            abs(state[8] - self.UPRIGHT_TORSO_ANGLE) / self.MAX_TORSO_TILT,
            abs(state[6] - state[2]) * POSITION_SCALE / self.MAX_OFFSET,
            abs(state[0] - state[2]) * POSITION_SCALE / self.MAX_OFFSET,
        ]
        if self.upright:
            start_y = self.TORSO_POSITION[1] / POSITION_SCALE
            shares.append(max(0.0, state[7] - start_y) / (self.MAX_UPRIGHT_TORSO_Y - start_y))
        return shares
