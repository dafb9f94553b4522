"""A legged humanoid that must keep standing, simulated with pymunk."""

from __future__ import annotations

from collections.abc import Sequence

from environment.environment import POSITION_SCALE
from environment.humanoid import LEG_PARTS, HumanoidEnvironment


class HumanoidStandingEnvironment(HumanoidEnvironment):
    """A torso on two two-part legs; kick the leg joints to keep the torso up.

    ## Description
    The humanoid of `environment/humanoid.py` without arms: torso (50 x 30 px box, mass 30,
    upright) and upper/lower legs (35 x 8 and 30 x 8 px, mass 5 each) joined by free pivots;
    friction 1.0, elasticity 0.1. Left and right parts of the same kind collide, different kinds
    do not. The floor is a static segment (-300, 0)-(300, 0) on its own body at (300, 550),
    radius 10 (surface at y = 540), friction 0.5, elasticity 0.8. Pixels, y down, gravity
    (0, 981) px/s^2, one `space.step(1/50)` per environment step.

    ## Action Space
    `Box(-1, 1, (4,), float32)`, in the order upper_leg_l, lower_leg_l, upper_leg_r, lower_leg_r.
    "Angular impulse": before the step each limb's angular velocity grows by
    `a * 2000 / limb_moment` (rad/s); only that limb changes (no reaction on its parent).

    ## Observation Space
    30 values: a 6-value block for each of torso, upper_leg_l, lower_leg_l, upper_leg_r,
    lower_leg_r, in that order:
    | offset in block | observation      | unit           |
    |-----------------|------------------|----------------|
    | 0               | x / 100          | px / 100       |
    | 1               | y / 100 (down)   | px / 100       |
    | 2               | angle            | rad, unwrapped |
    | 3               | vx / 100         | px/s / 100     |
    | 4               | vy / 100         | px/s / 100     |
    | 5               | angular velocity | rad/s          |

    ## Rewards
    1.0 for every step that does not terminate the episode, 0.0 for the terminating step.

    ## Starting State
    Torso centre at (300, 453), angle pi/2; legs straight down (angle pi/2) from the hips at
    torso-local (20, -+15), i.e. world x 315 and 285; the feet hang 2 px above the floor;
    everything at rest. Deterministic unless `start_noise` > 0.

    ## Episode End
    Termination: the torso centre's y / 100 > 4.85, i.e. more than 32 px below its start
    ("torso fell"); or a non-finite physics state. Truncation: 400 steps.

    ## Pushes and Camera
    `push(strength)` adds `strength * 100` px/s to the torso's horizontal velocity (at its
    centre; the joints share it with the limbs on the next step). The zoomed camera follows the
    torso's x and keeps the floor line y = 550 px in place; at zoom 2 the whole figure and the
    floor under it stay in view.

    ## Arguments
    See `BaseEnvironment`: `enable_rendering`, `render_mode`, `max_episode_steps`, `start_noise`,
    `zoom`.
    """

    state_size = 30
    action_size = 4
    action_scale = 2000.0  # angular impulse (mass px^2 / s) per unit action

    PARTS = LEG_PARTS
    TORSO_POSITION = (300.0, 453.0)  # px
    ACTUATED = ("upper_leg_l", "lower_leg_l", "upper_leg_r", "lower_leg_r")
    action_names = ACTUATED
    OBSERVED = ("torso", "upper_leg_l", "lower_leg_l", "upper_leg_r", "lower_leg_r")
    MAX_TORSO_Y = 4.85  # px / 100 (observation units): the torso has fallen below this

    def _check_done(self, state: list[float]) -> str | None:
        if state[1] > self.MAX_TORSO_Y:
            return "torso fell"
        return None

    def limit_shares(self, observation: Sequence[float]) -> list[float]:
        start_y = self.TORSO_POSITION[1] / POSITION_SCALE
        return [max(0.0, observation[1] - start_y) / (self.MAX_TORSO_Y - start_y)]
