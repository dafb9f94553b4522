"""Cart-pole on a floor, simulated with pymunk."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pymunk

from environment.environment import (
    BROWN,
    DT,
    MIRROR_X,
    POSITION_SCALE,
    SCREEN_SIZE,
    BaseEnvironment,
    Mirror,
)

# The hot path talks to chipmunk through pymunk's own C bindings when they are there: reading
# the four observed numbers this way costs a third of the Vec2d-building attribute route, and
# the test suite checks both routes agree. Setting the force equals applying it at the centre:
# nothing else applies forces here.
try:
    from pymunk._chipmunk_cffi import lib as _chipmunk

    def _body_handle(body: pymunk.Body) -> object:
        return body._body

    _set_force = _chipmunk.cpBodySetForce
    _position = _chipmunk.cpBodyGetPosition
    _velocity = _chipmunk.cpBodyGetVelocity
    _angle = _chipmunk.cpBodyGetAngle
    _angular_velocity = _chipmunk.cpBodyGetAngularVelocity
except (ImportError, AttributeError):  # another pymunk build: the public attributes

    def _body_handle(body: pymunk.Body) -> object:
        return body

    _set_force = pymunk.Body.force.fset
    _position = pymunk.Body.position.fget
    _velocity = pymunk.Body.velocity.fget
    _angle = pymunk.Body.angle.fget
    _angular_velocity = pymunk.Body.angular_velocity.fget


# Reflected about x = 300 px: the cart's x and every velocity and angle change sign; so does the
# force. (The start impulse is not reflected: it is the start, not the dynamics.)
_MIRROR = Mirror(
    index=np.arange(4),
    sign=np.array([-1.0, -1.0, -1.0, -1.0]),
    offset=np.array([2 * MIRROR_X / POSITION_SCALE, 0.0, 0.0, 0.0]),
    action_index=np.array([0]),
    action_sign=np.array([-1.0]),
)


class CartpoleEnvironment(BaseEnvironment):
    """A pole hinged on a cart that slides on a floor; push the cart to keep the pole upright.

    ## Description
    A cart (box 50 x 30 px, mass 1) rests on a static floor segment from (0, 550) to (600, 550)
    (radius 5, so its surface is at y = 545). A pole (box 10 x 100 px, mass 0.1) stands on it,
    joined by one free pivot at world point (300, 515) - the pole's bottom end and the cart's top.
    Cart and pole never collide with each other; both collide with the floor. Friction is 0
    everywhere; the floor's elasticity is 1.0 and the others' 0 (chipmunk multiplies them).
    Pixels, y down, gravity (0, 981) px/s^2, one `space.step(1/50)` per environment step.

    ## Action Space
    `Box(-1, 1, (1,), float32)`: a horizontal force `a * 1000` (px mass/s^2, +x = right) applied at
    the cart's centre for exactly one step.

    ## Observation Space
    | index | observation         | unit            |
    |-------|---------------------|-----------------|
    | 0     | cart x / 100        | px / 100        |
    | 1     | cart vx / 100       | px/s / 100      |
    | 2     | pole angle          | rad, unwrapped  |
    | 3     | pole angular vel.   | rad/s           |

    ## Rewards
    1.0 for every step that does not terminate the episode, 0.0 for the terminating step.

    ## Starting State
    Cart at (300, 530), pole at (300, 465), both at rest, then an impulse (50, 0) at the cart's
    centre: the first observation is exactly [3.0, 0.5, 0.0, 0.0]. Deterministic unless
    `start_noise` > 0.

    ## Episode End
    Termination: |pole angle| > 0.21 rad ("pole fell"), or the cart's centre leaves the screen,
    x < 0 or x > 600 px ("cart left the screen"); or a non-finite physics state.
    Truncation: 400 steps.

    ## Pushes and Camera
    `push(strength)` adds `strength * 100` px/s to the pole's horizontal velocity (at its centre,
    50 px above the pivot; the joint shares it with the cart on the next step). The zoomed
    camera follows the cart's x and keeps the floor line y = 550 px in place.

    ## Arguments
    See `BaseEnvironment`: `enable_rendering`, `render_mode`, `max_episode_steps`, `start_noise`,
    `zoom`.
    """

    state_size = 4
    action_size = 1
    action_scale = 1000.0  # px mass / s^2 per unit action
    action_names = ("cart_force",)

    FLOOR_A = (0.0, 550.0)  # px
    FLOOR_B = (600.0, 550.0)  # px
    FLOOR_RADIUS = 5.0  # px
    FLOOR_ELASTICITY = 1.0
    CART_SIZE = (50.0, 30.0)  # px, width x height
    CART_MASS = 1.0
    CART_POSITION = (300.0, 530.0)  # px
    POLE_SIZE = (10.0, 100.0)  # px, width x height
    POLE_MASS = 0.1
    POLE_POSITION = (300.0, 465.0)  # px
    PIVOT_POINT = (300.0, 515.0)  # px, world
    START_IMPULSE = (50.0, 0.0)  # px mass / s, at the cart's centre
    MAX_POLE_ANGLE = 0.21  # rad
    MIN_CART_X = 0.0  # px
    MAX_CART_X = float(SCREEN_SIZE[0])  # px
    CAMERA_Y = FLOOR_A[1]  # px: zooming keeps the floor line in place

    @property
    def push_body(self) -> pymunk.Body:
        return self.pole

    @property
    def camera_subject(self) -> pymunk.Body:
        return self.cart

    @property
    def mirror(self) -> Mirror:
        return _MIRROR

    def _create_objects(self) -> None:
        space = self.space
        floor = pymunk.Segment(space.static_body, self.FLOOR_A, self.FLOOR_B, self.FLOOR_RADIUS)
        floor.elasticity = self.FLOOR_ELASTICITY

        self.cart = pymunk.Body(
            self.CART_MASS, pymunk.moment_for_box(self.CART_MASS, self.CART_SIZE)
        )
        self.cart.position = self.CART_POSITION
        cart_shape = pymunk.Poly.create_box(self.cart, self.CART_SIZE)

        self.pole = pymunk.Body(
            self.POLE_MASS, pymunk.moment_for_box(self.POLE_MASS, self.POLE_SIZE)
        )
        self.pole.position = self.POLE_POSITION
        pole_shape = pymunk.Poly.create_box(self.pole, self.POLE_SIZE)
        pole_shape.color = BROWN

        # One group: shapes of the same non-zero group never collide with each other.
        cart_shape.filter = pole_shape.filter = pymunk.ShapeFilter(group=1)
        pivot = pymunk.PivotJoint(self.cart, self.pole, self.PIVOT_POINT)
        space.add(floor, self.cart, cart_shape, self.pole, pole_shape, pivot)
        self.cart.apply_impulse_at_local_point(self.START_IMPULSE, (0.0, 0.0))
        self._cart_handle, self._pole_handle = _body_handle(self.cart), _body_handle(self.pole)

    def _step_simulation(self, action: list[float]) -> None:
        # The force is reset after every space.step, so it acts for exactly one step.
        _set_force(self._cart_handle, (action[0] * self.action_scale, 0.0))
        self.space.step(DT)

    def _get_state(self) -> list[float]:
        cart, pole = self._cart_handle, self._pole_handle
        return [
            _position(cart).x / POSITION_SCALE,
            _velocity(cart).x / POSITION_SCALE,
            _angle(pole),
            _angular_velocity(pole),
        ]

    def _check_done(self, state: list[float]) -> str | None:
        if not -self.MAX_POLE_ANGLE <= state[2] <= self.MAX_POLE_ANGLE:
            return "pole fell"
        if not self.MIN_CART_X <= state[0] * POSITION_SCALE <= self.MAX_CART_X:
            return "cart left the screen"
        return None

    def limit_shares(self, observation: Sequence[float]) -> list[float]:
        x = observation[0] * POSITION_SCALE
        start = self.CART_POSITION[0]
        room = self.MAX_CART_X - start if x >= start else start - self.MIN_CART_X
        return [abs(observation[2]) / self.MAX_POLE_ANGLE, abs(x - start) / room]
