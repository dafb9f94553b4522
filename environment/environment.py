"""BaseEnvironment: the Gymnasium environment that the three pymunk tasks share.

A subclass builds its bodies into a fresh `pymunk.Space` on every reset and implements five hooks
(the reference's names): `_create_objects`, `_step_simulation`, `_get_state`, `_calculate_reward`
(a default is given) and `_check_done`, and names two bodies: `push_body` (what `push` moves)
and `camera_subject` (what the zoomed camera follows). Everything else - spaces, seeding, action
validation, the episode cap, the non-finite-state guard, pushes, the camera, rendering and
recording - lives here, once.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
# A window's frames are plain software blits: SDL's OpenGL-accelerated window surface would load
# Mesa's llvmpipe, whose LLVM clashes with the one inside TensorFlow (a segfault at set_mode as
# soon as both are in one process, e.g. a window that shows an agent).
os.environ.setdefault("SDL_FRAMEBUFFER_ACCELERATION", "0")

import gymnasium
import numpy as np
import pygame
import pymunk
import pymunk.batch
import pymunk.pygame_util
from gymnasium import spaces
from gymnasium.error import ResetNeeded

from environment.drawing import (  # noqa: F401 (the camera and the frames live there)
    BACKGROUND_COLOR,
    CAMERA_MARGIN,
    SCREEN_SIZE,
    Drawing,
    camera_offset,
    pygame_to_cvimage,
    surface_to_rgb,
)

FPS = 50
DT = 1 / FPS  # s, one environment step = one space.step(DT), no sub-stepping
MAX_EPISODE_STEPS = 400
GRAVITY = (0.0, 981.0)  # px/s^2, y grows downward

POSITION_SCALE = 100.0  # observed positions and linear velocities are divided by this
MIRROR_X = SCREEN_SIZE[0] / 2  # px: every scene is symmetric about this vertical line
BROWN = (139, 69, 19, 255)  # pole and plank
CYAN = (32, 175, 205, 255)  # ball


# Bounds of what a caller may ask for. Start noise and pushes are velocities in observation
# units (x 100 px/s; rad/s for start noise's spin): at 10, 1,000 px/s carries a body across the
# 600 px scene in 30 steps and 10 rad/s turns a pole past its 0.21 rad limit in one, so a
# stronger one only ends the episode sooner (and 1e40 overflows the float32 observation).
MAX_START_NOISE = 10.0
MAX_PUSH = 10.0  # either side
MAX_ZOOM = 8.0  # the 600 px frame then shows 75 px of the world, about a forearm

NON_FINITE_REASON = "non-finite physics state"
# Observations must have a Euclidean norm below this, so that every value fits in float32.
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_hypot, _array, _float32 = math.hypot, np.array, np.float32  # step() is the hot path


def _checked_start_noise(value: Any) -> float:
    if not (_is_real(value) and 0 <= value <= MAX_START_NOISE):
        raise ValueError(f"start_noise must be a number in [0, {MAX_START_NOISE:g}], got {value!r}")
    return float(value)


def _is_real(value: Any) -> bool:
    """A real number of Python or NumPy (bool excluded)."""
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_
    )


def _finite_point(value: Any, what: str) -> tuple[float, float]:
    """`value` as a finite (x, y) pair of floats; ValueError naming `what` otherwise."""
    try:
        x, y = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a pair of numbers (x, y), got {value!r}") from None
    if not (math.isfinite(x) and math.isfinite(y)):
        raise ValueError(f"{what} must be finite, got {value!r}")
    return x, y


class BodyStateReader:
    """Reads every body of a space in one C call (`pymunk.batch`), for fast observations.

    `read()` returns a float64 view with one row [x, y, angle, vx, vy, angular velocity] per
    body of the space (px, rad, px/s, rad/s), valid until the next `read()`. `offset(body)` is
    where that body's row starts; `COLUMNS` names the six columns.
    """

    COLUMNS = ("x", "y", "angle", "vx", "vy", "angular_velocity")
    _FIELDS = (
        pymunk.batch.BodyFields.POSITION
        | pymunk.batch.BodyFields.ANGLE
        | pymunk.batch.BodyFields.VELOCITY
        | pymunk.batch.BodyFields.ANGULAR_VELOCITY
    )

    def __init__(self, space: pymunk.Space) -> None:
        self._space = space
        self._buffer = pymunk.batch.Buffer()
        pymunk.batch.get_space_bodies(space, pymunk.batch.BodyFields.BODY_ID, self._buffer)
        ids = memoryview(self._buffer.int_buf()).cast("P").tolist()
        self._row = {body_id: row for row, body_id in enumerate(ids)}

    def offset(self, body: pymunk.Body) -> int:
        return self._row[body.id] * len(self.COLUMNS)

    def read(self) -> np.ndarray:
        self._buffer.clear()
        pymunk.batch.get_space_bodies(self._space, self._FIELDS, self._buffer)
        return np.frombuffer(self._buffer.float_buf(), dtype=np.float64)


@dataclass(frozen=True)
class Mirror:
    """A task seen in a mirror: the scene reflected about the vertical line x = `MIRROR_X`.

    `observation(obs)` is how the reflected scene is observed: `offset + sign * obs[index]`
    (left and right parts swapped, horizontal positions reflected, horizontal velocities,
    angles and angular velocities reversed). `action(a)` is the action that does in the
    reflected scene what `a` does in this one: `action_sign * a[action_index]`. Both are
    their own inverse.
    """

    index: np.ndarray
    sign: np.ndarray
    offset: np.ndarray
    action_index: np.ndarray
    action_sign: np.ndarray

    def observation(self, observation: Any) -> np.ndarray:
        values = np.asarray(observation, dtype=np.float64)[..., self.index]
        return (self.offset + self.sign * values).astype(np.float32)

    def action(self, action: Any) -> np.ndarray:
        values = np.asarray(action, dtype=np.float64)[..., self.action_index]
        return (self.action_sign * values).astype(np.float32)


class BaseEnvironment(Drawing, gymnasium.Env[np.ndarray, np.ndarray]):
    """Common machinery of the pymunk tasks; a subclass's docstring is its specification.

    ## Action Space
    `Box(-1, 1, (action_size,), float32)`. A finite action outside [-1, 1] is clipped; an action
    of the wrong shape, a non-numeric one, or one holding NaN/inf raises `ValueError`. The
    physics receives `value * action_scale`.

    ## Observation Space
    `Box(-3.4e38, 3.4e38, (state_size,), float32)`: every observation is finite float32.
    Positions and linear velocities are divided by 100 (px -> "metres"); angles (rad) and
    angular velocities (rad/s) are raw and never wrapped.

    ## Rewards
    1.0 for every step that does not terminate the episode, 0.0 for the terminating step.

    ## Episode End
    Termination: the subclass's rules, or a non-finite (or float32-overflowing) physics state,
    which ends the episode with `info["termination_reason"] == "non-finite physics state"` and
    returns the last finite observation instead of NaN. Truncation: after `max_episode_steps`
    steps. Calling `step` before `reset` or after the episode ended raises
    `gymnasium.error.ResetNeeded`.

    ## Pushes
    `push(strength)` adds `strength * 100` px/s (observation units, so 1.0 = 100 px/s; negative
    pushes to the left, -x; at most `MAX_PUSH`, 10, either way) to the horizontal velocity of the
    subclass's `push_body`, at once:
    the next `step` starts from the pushed state. `apply_impulse_at(body, point, impulse)` applies
    an impulse (mass px/s) at a world point of one of the space's dynamic bodies, and
    `pick_body(point)` finds the dynamic body under a world point (what a mouse drag grabs).
    Both validate their numbers (finite, else `ValueError`) and need a `reset` first.

    ## Mirror
    Every task is symmetric about the vertical line x = 300 px: its bodies, rules and rewards
    look the same in a mirror. `mirror` (a `Mirror`, after `reset`) maps an observation and an
    action to their reflections, so a transition reflected is one the task can produce too -
    up to the order in which the physics solver treats contacts: one step from a reflected
    state of a humanoid on its feet differs from the reflected step by a fraction of a rad/s in
    the limbs' angular velocities, less than a step from the same state differs with and
    without chipmunk's contact cache, which the observation does not hold
    (`benchmarks/mirror_error.py`). Training's `--mirror` learns from every transition and
    its reflection.

    ## Camera
    Every frame (window, `rgb_array`, recording) is 600 x 600. At `zoom` 1 it shows the world's
    600 x 600 px as they are. Otherwise the world is scaled by `zoom` about a point whose x is the
    `camera_subject`'s (the cart, the torso) and whose y is the class's `CAMERA_Y` (the floor
    line), so that point stays where it is at zoom 1; then the view shifts just enough to keep
    every dynamic body 10 px inside the frame. When they cannot all fit, they are centred
    horizontally and their lowest point (feet, ball, cart) is kept in view. `world_to_screen`
    and `screen_to_world` convert points with the transform of the last frame drawn.

    ## Arguments
    - `enable_rendering`: the reference's flag; True means `render_mode="human"`.
    - `render_mode`: None, "human" (a 600 x 600 window updated every step at 50 fps) or
      "rgb_array" (`render()` returns a (600, 600, 3) uint8 frame drawn offscreen).
    - `max_episode_steps`: the truncation cap (400).
    - `start_noise`: half-width of a uniform perturbation added at reset to every dynamic body's
      linear velocity (in observation units, i.e. x 100 px/s) and angular velocity (rad/s),
      0 to `MAX_START_NOISE` (10). 0 (default) keeps the start state deterministic. Drawn from
      `self.np_random` only. `reset(options={"start_noise": x})` uses x for that reset (a
      curriculum growing the noise episode by episode).
    - `zoom`: the camera's magnification, above 0 and at most `MAX_ZOOM` (8); 1, the default,
      is the full 600 x 600 px world; 2 shows a 300 x 300 px part of it around the subject.

    ## Recording
    `start_recording(filename, fps=None, h264=False)` / `end_recording()` write a 600 x 600 mp4v
    video (plus `<stem>_h264.mp4` if `h264`): one frame of the reset state (or of the current
    state when recording starts mid-episode) and one per step. Works without a window.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["human", "rgb_array"], "render_fps": FPS}

    state_size: ClassVar[int]
    action_size: ClassVar[int]
    action_scale: ClassVar[float]
    action_names: ClassVar[tuple[str, ...]]  # what each action dimension drives, in order
    CAMERA_Y: ClassVar[float] = SCREEN_SIZE[1] / 2  # px, world y that zooming keeps in place

    def __init__(
        self,
        enable_rendering: bool = False,
        render_mode: str | None = None,
        max_episode_steps: int = MAX_EPISODE_STEPS,
        start_noise: float = 0.0,
        zoom: float = 1.0,
    ) -> None:
        if enable_rendering:
            if render_mode not in (None, "human"):
                raise ValueError(
                    "enable_rendering=True means render_mode='human', "
                    f"got render_mode={render_mode!r}"
                )
            render_mode = "human"
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be one of {self.metadata['render_modes']} or None, "
                f"got {render_mode!r}"
            )
        if isinstance(max_episode_steps, bool) or not isinstance(max_episode_steps, int):
            raise ValueError(f"max_episode_steps must be an int, got {max_episode_steps!r}")
        if max_episode_steps < 1:
            raise ValueError(f"max_episode_steps must be at least 1, got {max_episode_steps}")
        start_noise = _checked_start_noise(start_noise)
        if not (_is_real(zoom) and 0 < zoom <= MAX_ZOOM):
            raise ValueError(f"zoom must be a number in (0, {MAX_ZOOM:g}], got {zoom!r}")

        self.render_mode = render_mode
        self.max_episode_steps = max_episode_steps
        self.start_noise = float(start_noise)
        self.zoom = float(zoom)
        # Finite bounds: every observation is finite float32 (see the non-finite guard in step).
        self.observation_space = spaces.Box(
            -_FLOAT32_MAX, _FLOAT32_MAX, (self.state_size,), np.float32
        )
        self.action_space = spaces.Box(-1.0, 1.0, (self.action_size,), np.float32)

        self.space: pymunk.Space | None = None
        self.steps = 0
        self._episode_over = True  # no episode until reset()
        self._last_obs: np.ndarray | None = None
        self._action_shape = (self.action_size,)

        self._surface: pygame.Surface | None = None
        self._draw_options: pymunk.pygame_util.DrawOptions | None = None
        self._view = pymunk.Transform.identity()  # world -> screen of the last frame drawn
        self._window_open = False
        self._clock: pygame.time.Clock | None = None
        self._video = None  # an environment.video.VideoWriter while recording
        self._show_frames = render_mode == "human"  # draw after every step (window/recording)

    # ------------------------------------------------------------------ hooks
    def _create_objects(self) -> None:
        """Add the task's bodies, shapes and joints to the fresh `self.space`."""
        raise NotImplementedError

    def _step_simulation(self, action: list[float]) -> None:
        """Apply the clipped action (agent scale, in [-1, 1]) and advance the space by DT."""
        raise NotImplementedError

    def _get_state(self) -> list[float]:
        """The observation as Python floats (the base class checks them and makes float32)."""
        raise NotImplementedError

    def _check_done(self, state: list[float]) -> str | None:
        """The termination reason for this (finite) state, or None to continue."""
        raise NotImplementedError

    def _calculate_reward(self, terminated: bool) -> float:
        return 0.0 if terminated else 1.0

    def limit_shares(self, observation: Sequence[float]) -> list[float]:
        """How much of each termination limit `observation` uses, one share per rule: 0 at the
        start state's value, 1 at the limit (a share above 1 ends the episode). Training's
        `--margin_penalty` learns from these; the episode end itself is `_check_done`'s."""
        raise NotImplementedError

    @property
    def push_body(self) -> pymunk.Body:
        """The body that `push` moves (the pole, the torso)."""
        raise NotImplementedError

    @property
    def camera_subject(self) -> pymunk.Body:
        """The body whose x the zoomed camera follows (the cart, the torso)."""
        raise NotImplementedError

    @property
    def mirror(self) -> Mirror:
        """The task's reflection about x = `MIRROR_X` (see "Mirror"); needs a `reset` first."""
        raise NotImplementedError

    # -------------------------------------------------------------- gym API
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        noise = self.start_noise
        if options and "start_noise" in options:
            noise = _checked_start_noise(options["start_noise"])
        self.space = pymunk.Space()
        self.space.gravity = GRAVITY
        self._create_objects()
        if noise > 0:
            self._perturb_start(noise)
        self.steps = 0
        state = self._get_state()
        if not math.hypot(*state) < _FLOAT32_MAX:
            raise RuntimeError(f"{type(self).__name__} built a non-finite start state: {state}")
        obs = np.array(state, dtype=np.float32)
        self._last_obs = obs
        self._episode_over = False
        self._show_frame()
        return obs.copy(), {"steps": 0}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self._episode_over:
            raise ResetNeeded(
                "call reset() before step(): "
                + ("no episode has started" if self.space is None else "the episode has ended")
            )
        self._step_simulation(self._validate_action(action))
        self.steps = steps = self.steps + 1
        state = self._get_state()
        if _hypot(*state) < _FLOAT32_MAX:  # False for NaN, inf and float32 overflow
            obs = _array(state, dtype=_float32)
            self._last_obs = obs
            reason = self._check_done(state)
        else:
            obs = self._last_obs.copy()
            reason = NON_FINITE_REASON
        if reason is None:
            terminated = False
            truncated = steps >= self.max_episode_steps
            info: dict[str, Any] = {"steps": steps}
        else:
            terminated = True
            truncated = False
            info = {"steps": steps, "termination_reason": reason}
        if terminated or truncated:
            self._episode_over = True
        if self._show_frames:
            self._show_frame()
        return obs, self._calculate_reward(terminated), terminated, truncated, info

    def _validate_action(self, action: Any) -> list[float]:
        """The action as a list of floats clipped to [-1, 1]; ValueError if malformed."""
        if (
            type(action) is np.ndarray
            and action.shape == self._action_shape
            and action.dtype.kind == "f"
        ):
            values = action.tolist()
        else:
            try:
                array = np.asarray(action)
            except (TypeError, ValueError) as error:
                raise ValueError(
                    f"expected an action of shape {self._action_shape}, got {action!r} ({error})"
                ) from None
            if array.shape != self._action_shape or array.dtype.kind not in "iuf":
                raise ValueError(
                    f"expected an action of shape {self._action_shape} holding real numbers, "
                    f"got shape {array.shape} and dtype {array.dtype}"
                )
            values = [float(v) for v in array.tolist()]
        if _hypot(*values) <= 1.0:  # fast path: finite and inside [-1, 1] (False for NaN)
            return values
        if not all(map(math.isfinite, values)):
            raise ValueError(
                f"expected a finite action of shape {self._action_shape}, got {values}"
            )
        return [-1.0 if v < -1.0 else 1.0 if v > 1.0 else v for v in values]

    def _perturb_start(self, noise: float) -> None:
        for body in self.space.bodies:
            if body.body_type == pymunk.Body.DYNAMIC:
                dvx, dvy, dw = self.np_random.uniform(-noise, noise, size=3).tolist()
                vx, vy = body.velocity
                body.velocity = (vx + dvx * POSITION_SCALE, vy + dvy * POSITION_SCALE)
                body.angular_velocity += dw

    # --------------------------------------------------------------- pushes
    def _require_space(self, doing: str) -> pymunk.Space:
        if self.space is None:
            raise ResetNeeded(f"call reset() before {doing}: there is no state yet")
        return self.space

    def push(self, strength: float) -> None:
        """Add `strength * 100` px/s to `push_body`'s horizontal velocity (+ = right), now."""
        if not (_is_real(strength) and -MAX_PUSH <= strength <= MAX_PUSH):
            raise ValueError(
                f"push strength must be a number in [-{MAX_PUSH:g}, {MAX_PUSH:g}], got {strength!r}"
            )
        self._require_space("push()")
        body = self.push_body
        vx, vy = body.velocity
        body.velocity = (vx + float(strength) * POSITION_SCALE, vy)

    def observe(self) -> np.ndarray:
        """The observation of the scene as it is now (after moving its bodies by hand, say):
        what `step` would return before simulating. It does not step or change the episode."""
        self._require_space("observe()")
        state = self._get_state()
        if not _hypot(*state) < _FLOAT32_MAX:
            raise ValueError(f"the scene as it is now has a non-finite observation: {state}")
        return np.array(state, dtype=np.float32)

    def apply_impulse_at(
        self,
        body: pymunk.Body,
        point: tuple[float, float],
        impulse: tuple[float, float],
    ) -> None:
        """Apply `impulse` (mass px/s, world axes) to `body` at the world `point` (px), now."""
        space = self._require_space("apply_impulse_at()")
        point = _finite_point(point, "point")
        impulse = _finite_point(impulse, "impulse")
        if body.space is not space or body.body_type != pymunk.Body.DYNAMIC:
            raise ValueError("body must be a dynamic body of this environment's current space")
        body.apply_impulse_at_world_point(impulse, point)

    def pick_body(
        self, point: tuple[float, float], max_distance: float = 0.0
    ) -> tuple[pymunk.Body, pymunk.Vec2d] | None:
        """The dynamic body whose shape is nearest to the world `point` (px), no farther than
        `max_distance`, and `point` in that body's local coordinates; None if there is none."""
        space = self._require_space("pick_body()")
        point = _finite_point(point, "point")
        dynamic = [
            query
            for query in space.point_query(point, max_distance, pymunk.ShapeFilter())
            if query.shape.body.body_type == pymunk.Body.DYNAMIC
        ]
        if not dynamic:
            return None
        body = min(dynamic, key=lambda query: query.distance).shape.body
        return body, body.world_to_local(point)
