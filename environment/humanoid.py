"""The one humanoid builder shared by the standing and the bolla rolla environments.

Every part is a dynamic box of `length` (along its local x) x `width` (along its local y), with a
box moment, friction 1.0 and elasticity 0.1. A child part is created at its own angle and placed
so that its child anchor (local) lands on its parent's anchor (local) in world space; a free
pivot joint (no limits, no motor) joins the two there. Coordinates are pymunk's: px, y down, so
the torso's angle pi/2 turns its local +x downwards (head up, hips down).

Collision rule: parts of *different* kinds (torso, upper arm, lower arm, upper leg, lower leg)
never collide with each other; the left and right parts of the *same* kind do; every part
collides with the floor and the props. It is expressed with shape-filter categories and masks:
each kind has its own category bit and a mask without the other kinds' bits. (One ShapeFilter
group for the whole figure would also stop left and right from colliding: not equivalent.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pymunk

from environment.environment import (
    DT,
    MIRROR_X,
    POSITION_SCALE,
    BaseEnvironment,
    BodyStateReader,
    Mirror,
)

PART_FRICTION = 1.0
PART_ELASTICITY = 0.1

KINDS = ("torso", "upper_arm", "lower_arm", "upper_leg", "lower_leg")
_KIND_CATEGORY = {kind: 1 << index for index, kind in enumerate(KINDS)}
_ALL_KINDS = sum(_KIND_CATEGORY.values())
PROP_CATEGORY = 1 << len(KINDS)  # floor, plank, ball: collide with everything
PROP_FILTER = pymunk.ShapeFilter(categories=PROP_CATEGORY)


def kind_filter(kind: str) -> pymunk.ShapeFilter:
    """Shape filter of a humanoid part of `kind`: collides with its own kind and with props."""
    category = _KIND_CATEGORY[kind]
    return pymunk.ShapeFilter(
        categories=category, mask=pymunk.ShapeFilter.ALL_MASKS() ^ (_ALL_KINDS ^ category)
    )


@dataclass(frozen=True)
class Part:
    """One box of the humanoid; anchors are in the parent's / this part's local px."""

    name: str
    kind: str
    length: float  # px, along local x
    width: float  # px, along local y
    mass: float
    angle: float  # rad, initial
    parent: str | None = None
    parent_anchor: tuple[float, float] = (0.0, 0.0)
    child_anchor: tuple[float, float] = (0.0, 0.0)


# fmt: off
PARTS: dict[str, Part] = {part.name: part for part in (
    Part("torso",       "torso",     50, 30, 30, math.pi / 2),
    Part("upper_arm_l", "upper_arm", 30,  8,  5, 0.0,         "torso",       (-15, -15), (-15, 0)),
    Part("lower_arm_l", "lower_arm", 25,  8,  5, 0.0,         "upper_arm_l", (15, 0), (-12.5, 0)),
    Part("upper_arm_r", "upper_arm", 30,  8,  5, math.pi,     "torso",       (-15, 15), (-15, 0)),
    Part("lower_arm_r", "lower_arm", 25,  8,  5, math.pi,     "upper_arm_r", (15, 0), (-12.5, 0)),
    Part("upper_leg_l", "upper_leg", 35,  8,  5, math.pi / 2, "torso",       (20, -15), (-17.5, 0)),
    Part("lower_leg_l", "lower_leg", 30,  8,  5, math.pi / 2, "upper_leg_l", (17.5, 0), (-15, 0)),
    Part("upper_leg_r", "upper_leg", 35,  8,  5, math.pi / 2, "torso",       (20, 15), (-17.5, 0)),
    Part("lower_leg_r", "lower_leg", 30,  8,  5, math.pi / 2, "upper_leg_r", (17.5, 0), (-15, 0)),
)}
# fmt: on

LEG_PARTS = ("torso", "upper_leg_l", "lower_leg_l", "upper_leg_r", "lower_leg_r")
ALL_PARTS = tuple(PARTS)

FLOOR_POSITION = (300.0, 550.0)  # px, the floor's own static body
FLOOR_HALF_LENGTH = 300.0  # px, segment from (-300, 0) to (300, 0) around it
FLOOR_RADIUS = 10.0  # px, so the floor's surface is at y = 540
FLOOR_FRICTION = 0.5
FLOOR_ELASTICITY = 0.8


class Humanoid:
    """The parts named in `part_names` (parents before children), built into `space`.

    `bodies[name]` is each part's body, `shapes[name]` its box, `joints` the pivot joints.
    """

    def __init__(
        self,
        space: pymunk.Space,
        torso_position: tuple[float, float],
        part_names: tuple[str, ...] = ALL_PARTS,
    ) -> None:
        self.bodies: dict[str, pymunk.Body] = {}
        self.shapes: dict[str, pymunk.Poly] = {}
        for name in part_names:
            part = PARTS[name]
            body = pymunk.Body(
                part.mass, pymunk.moment_for_box(part.mass, (part.length, part.width))
            )
            body.angle = part.angle
            if part.parent is None:
                body.position = torso_position
            else:
                if part.parent not in self.bodies:
                    raise ValueError(f"part {name!r} needs its parent {part.parent!r} built first")
                parent = self.bodies[part.parent]
                joint_point = parent.local_to_world(part.parent_anchor)
                body.position = joint_point - pymunk.Vec2d(*part.child_anchor).rotated(part.angle)
            shape = pymunk.Poly.create_box(body, (part.length, part.width))
            shape.friction = PART_FRICTION
            shape.elasticity = PART_ELASTICITY
            shape.filter = kind_filter(part.kind)
            space.add(body, shape)
            if part.parent is not None:
                joint = pymunk.PivotJoint(
                    self.bodies[part.parent], body, part.parent_anchor, part.child_anchor
                )
                space.add(joint)
            self.bodies[name] = body
            self.shapes[name] = shape

    def actuation_gains(self, names: tuple[str, ...], action_scale: float) -> list[float]:
        """Angular velocity change per unit action of each named limb: scale / moment (rad/s)."""
        return [action_scale / self.bodies[name].moment for name in names]


_get_angular_velocity = pymunk.Body.angular_velocity.fget
# The property's own setter, skipping pymunk's generic __setattr__ hook (3x faster per call).
_set_angular_velocity = pymunk.Body.angular_velocity.fset


def mirror_name(name: str) -> str:
    """The part a mirror puts in the place of `name`: left and right swap, the torso stays."""
    side = {"_l": "_r", "_r": "_l"}.get(name[-2:])
    return name[:-2] + side if side else name


# Columns that change sign in a mirror (a body's angle also gets an offset: see _build_mirror).
_MIRRORED_COLUMNS = ("x", "angle", "vx", "angular_velocity")


def kick(bodies: list[pymunk.Body], gains: list[float], action: list[float]) -> None:
    """Angular-impulse actuation: each limb's angular velocity grows by action * gain.

    Only that limb changes (no reaction on its parent); applied before the step.
    """
    for body, gain, value in zip(bodies, gains, action, strict=True):
        _set_angular_velocity(body, _get_angular_velocity(body) + value * gain)


def add_floor(space: pymunk.Space) -> pymunk.Segment:
    """The floor of both humanoid tasks: a segment on its own static body, a prop."""
    body = pymunk.Body(body_type=pymunk.Body.STATIC)
    body.position = FLOOR_POSITION
    floor = pymunk.Segment(body, (-FLOOR_HALF_LENGTH, 0.0), (FLOOR_HALF_LENGTH, 0.0), FLOOR_RADIUS)
    floor.friction = FLOOR_FRICTION
    floor.elasticity = FLOOR_ELASTICITY
    floor.filter = PROP_FILTER
    space.add(body, floor)
    return floor


class HumanoidEnvironment(BaseEnvironment):
    """What the humanoid tasks share: floor, humanoid, angular-impulse actuation, observation.

    A subclass sets `PARTS` (built in order), `TORSO_POSITION`, `ACTUATED` (action order) and
    `OBSERVED` (parts observed as full 6-value blocks, in order); it may add props in
    `_create_props` and list their observed columns in `_prop_observation` (they come first);
    and it implements `_check_done`. `push` moves the torso; the zoomed camera follows the
    torso's x and keeps the floor line (y = 550 px) in place.
    """

    PARTS: ClassVar[tuple[str, ...]]
    TORSO_POSITION: ClassVar[tuple[float, float]]  # px
    ACTUATED: ClassVar[tuple[str, ...]]
    OBSERVED: ClassVar[tuple[str, ...]]
    CAMERA_Y = FLOOR_POSITION[1]  # px
    _mirror: Mirror | None = None  # built at the first reset (it needs the bodies)

    @property
    def push_body(self) -> pymunk.Body:
        return self.humanoid.bodies["torso"]

    @property
    def camera_subject(self) -> pymunk.Body:
        return self.humanoid.bodies["torso"]

    def _create_props(self) -> None:
        """Add task-specific props (shapes with `PROP_FILTER`) to `self.space`."""

    def _prop_observation(self) -> list[tuple[pymunk.Body, tuple[str, ...]]]:
        """(prop body, observed columns of `BodyStateReader.COLUMNS`), placed first."""
        return []

    def _create_objects(self) -> None:
        self.floor = add_floor(self.space)
        self.humanoid = Humanoid(self.space, self.TORSO_POSITION, self.PARTS)
        self._create_props()
        bodies = self.humanoid.bodies
        self._actuated = [bodies[name] for name in self.ACTUATED]
        self._gains = self.humanoid.actuation_gains(self.ACTUATED, self.action_scale)

        layout = self._prop_observation()
        layout += [(bodies[name], BodyStateReader.COLUMNS) for name in self.OBSERVED]
        self._reader = BodyStateReader(self.space)
        index, divisor, x_index = [], [], []
        for body, columns in layout:
            offset = self._reader.offset(body)
            for column in columns:
                if column == "x":
                    x_index.append(len(index))
                index.append(offset + BodyStateReader.COLUMNS.index(column))
                divisor.append(1.0 if column in ("angle", "angular_velocity") else POSITION_SCALE)
        if len(index) != self.state_size:
            raise RuntimeError(f"observation layout has {len(index)} values, not {self.state_size}")
        self._obs_index = np.array(index, dtype=np.intp)
        self._obs_divisor = np.array(divisor, dtype=np.float64)
        self._x_index = np.array(x_index, dtype=np.intp)  # the horizontal positions in it
        if self._mirror is None:
            self._mirror = self._build_mirror(layout)

    @property
    def mirror(self) -> Mirror:
        self._require_space("mirror")
        return self._mirror

    def _mirror_x_offset(self) -> float:
        """Twice the mirror line in observation units: a horizontal position x becomes this - x."""
        return 2 * MIRROR_X / POSITION_SCALE

    def _build_mirror(self, layout: list[tuple[pymunk.Body, tuple[str, ...]]]) -> Mirror:
        """The reflection of this observation layout (built before the start noise, so every
        body still has its start angle): a part's values go to its mirror part's place; a body
        starting at angle a0 whose mirror part starts at b0 has angle a0 + b0 - a reflected
        (the plank and the torso: -a and pi - a); props mirror onto themselves."""
        bodies = self.humanoid.bodies
        names = {body: name for name, body in bodies.items()}
        place = {}
        for body, columns in layout:
            for column in columns:
                place[body, column] = len(place)
        index, sign, offset = [], [], []
        for body, columns in layout:
            mate = bodies[mirror_name(names[body])] if body in names else body
            for column in columns:
                index.append(place[mate, column])
                sign.append(-1.0 if column in _MIRRORED_COLUMNS else 1.0)
                offset.append(
                    self._mirror_x_offset() if column == "x"
                    else body.angle + mate.angle if column == "angle"
                    else 0.0
                )  # fmt: skip
        actions = list(self.ACTUATED)
        return Mirror(
            index=np.array(index, dtype=np.intp),
            sign=np.array(sign),
            offset=np.array(offset),
            action_index=np.array([actions.index(mirror_name(n)) for n in actions], np.intp),
            action_sign=-np.ones(len(actions)),
        )

    def _step_simulation(self, action: list[float]) -> None:
        kick(self._actuated, self._gains, action)
        self.space.step(DT)

    def _observed_values(self) -> np.ndarray:
        """The observation as a new float64 array (positions and velocities scaled)."""
        return self._reader.read()[self._obs_index] / self._obs_divisor

    def _get_state(self) -> list[float]:
        return self._observed_values().tolist()
