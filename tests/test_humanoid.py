"""The shared humanoid builder: parts table, placement, joints, collision rule, actuation."""

import itertools
import math

import pymunk
import pytest

from environment.humanoid import (
    ALL_PARTS,
    PARTS,
    PROP_FILTER,
    Humanoid,
    kick,
)

# The parts table of environment/humanoid.py's docstring:
# name: (length, width, mass, angle, parent, parent anchor, child anchor).
SPEC = {
    "torso": (50, 30, 30, math.pi / 2, None, None, None),
    "upper_arm_l": (30, 8, 5, 0.0, "torso", (-15, -15), (-15, 0)),
    "lower_arm_l": (25, 8, 5, 0.0, "upper_arm_l", (15, 0), (-12.5, 0)),
    "upper_arm_r": (30, 8, 5, math.pi, "torso", (-15, 15), (-15, 0)),
    "lower_arm_r": (25, 8, 5, math.pi, "upper_arm_r", (15, 0), (-12.5, 0)),
    "upper_leg_l": (35, 8, 5, math.pi / 2, "torso", (20, -15), (-17.5, 0)),
    "lower_leg_l": (30, 8, 5, math.pi / 2, "upper_leg_l", (17.5, 0), (-15, 0)),
    "upper_leg_r": (35, 8, 5, math.pi / 2, "torso", (20, 15), (-17.5, 0)),
    "lower_leg_r": (30, 8, 5, math.pi / 2, "upper_leg_r", (17.5, 0), (-15, 0)),
}
# Hand-computed centres for the torso at (300, 390) (y down; torso local +x points down).
CENTRES = {
    "torso": (300, 390),
    "upper_arm_l": (330, 375),
    "lower_arm_l": (357.5, 375),
    "upper_arm_r": (270, 375),
    "lower_arm_r": (242.5, 375),
    "upper_leg_l": (315, 427.5),
    "lower_leg_l": (315, 460),
    "upper_leg_r": (285, 427.5),
    "lower_leg_r": (285, 460),
}


def kind(name: str) -> str:
    return name.removesuffix("_l").removesuffix("_r")


@pytest.fixture
def humanoid():
    space = pymunk.Space()  # no gravity: nothing moves unless pushed
    return space, Humanoid(space, (300, 390))


def test_parts_table_matches_the_documented_one():
    assert set(PARTS) == set(SPEC) and ALL_PARTS[0] == "torso"
    for name, (length, width, mass, angle, parent, parent_anchor, child_anchor) in SPEC.items():
        part = PARTS[name]
        assert (part.length, part.width, part.mass, part.angle) == (length, width, mass, angle)
        assert part.parent == parent and part.kind == kind(name)
        if parent is not None:
            assert part.parent_anchor == parent_anchor and part.child_anchor == child_anchor


def test_bodies_shapes_and_placement(humanoid):
    space, figure = humanoid
    for name, (length, width, mass, angle, *_) in SPEC.items():
        body = figure.bodies[name]
        shape = figure.shapes[name]
        assert body.mass == mass and body.angle == angle
        assert body.moment == pytest.approx(pymunk.moment_for_box(mass, (length, width)))
        assert tuple(body.position) == pytest.approx(CENTRES[name])
        xs = [v.x for v in shape.get_vertices()]
        ys = [v.y for v in shape.get_vertices()]
        assert (max(xs) - min(xs), max(ys) - min(ys)) == pytest.approx((length, width))
        assert shape.friction == 1.0 and shape.elasticity == 0.1


def test_free_pivot_joints_at_the_anchors(humanoid):
    space, figure = humanoid
    joints = list(space.constraints)
    assert len(joints) == len(SPEC) - 1
    assert all(type(joint) is pymunk.PivotJoint for joint in joints)  # no limits, no motors
    pairs = set()
    for joint in joints:
        a_world = joint.a.local_to_world(joint.anchor_a)
        b_world = joint.b.local_to_world(joint.anchor_b)
        assert tuple(a_world) == pytest.approx(tuple(b_world), abs=1e-9)
        pairs.add((joint.a, joint.b))
    for name, spec in SPEC.items():
        if spec[4] is not None:
            assert (figure.bodies[spec[4]], figure.bodies[name]) in pairs


def test_only_the_named_parts_are_built():
    space = pymunk.Space()
    legs = Humanoid(space, (300, 453), ("torso", "upper_leg_l", "lower_leg_l"))
    assert set(legs.bodies) == {"torso", "upper_leg_l", "lower_leg_l"}
    assert len(space.bodies) == 3
    with pytest.raises(ValueError, match="parent"):
        Humanoid(pymunk.Space(), (300, 300), ("torso", "lower_leg_l"))


def _overlap_hits(space: pymunk.Space, figure: Humanoid, a: str, b: str) -> bool:
    """Move b onto a (so they overlap) and ask the space whether a's shape would hit b's."""
    body_a, body_b = figure.bodies[a], figure.bodies[b]
    body_b.position, body_b.angle = body_a.position, body_a.angle
    space.reindex_shapes_for_body(body_b)
    assert figure.shapes[a].shapes_collide(figure.shapes[b]).points  # geometric overlap
    return figure.shapes[b] in [hit.shape for hit in space.shape_query(figure.shapes[a])]


@pytest.mark.parametrize(("a", "b"), list(itertools.combinations(SPEC, 2)))
def test_collision_rule_same_kind_collides_different_kinds_pass_through(a, b):
    space = pymunk.Space()
    figure = Humanoid(space, (300, 390))
    assert _overlap_hits(space, figure, a, b) == (kind(a) == kind(b))


@pytest.mark.parametrize("part", list(SPEC))
def test_every_part_collides_with_props(part):
    space = pymunk.Space()
    figure = Humanoid(space, (300, 390))
    prop = pymunk.Segment(space.static_body, (0, 0), (600, 0), 5)
    prop.filter = PROP_FILTER
    space.add(prop)
    figure.bodies[part].position = (300, 0)
    space.reindex_shapes_for_body(figure.bodies[part])
    assert prop in [hit.shape for hit in space.shape_query(figure.shapes[part])]


def _separation_after_overlap(a: str, b: str) -> float:
    """Overlap two parts in a gravity-free space, simulate, return how far b was pushed."""
    space = pymunk.Space()
    figure = Humanoid(space, (300, 390))
    for joint in list(space.constraints):
        space.remove(joint)  # free bodies, so only contacts can move them
    body_a, body_b = figure.bodies[a], figure.bodies[b]
    body_b.position = body_a.position + (0, 3)
    body_b.angle = body_a.angle
    start = body_b.position
    for _ in range(10):
        space.step(1 / 50)
    return abs(body_b.position - start)


def test_collision_rule_by_simulation():
    assert _separation_after_overlap("upper_leg_l", "upper_leg_r") > 1.0  # same kind: pushed
    assert _separation_after_overlap("lower_arm_l", "lower_arm_r") > 1.0
    assert _separation_after_overlap("upper_leg_l", "lower_leg_l") == 0.0  # pass through
    assert _separation_after_overlap("torso", "upper_arm_l") == 0.0


def test_kick_changes_only_each_limbs_angular_velocity(humanoid):
    space, figure = humanoid
    names = ("upper_arm_l", "lower_leg_r")
    bodies = [figure.bodies[n] for n in names]
    gains = figure.actuation_gains(names, 2000.0)
    figure.bodies["upper_arm_l"].angular_velocity = 0.5
    kick(bodies, gains, [1.0, -0.25])
    assert bodies[0].angular_velocity == pytest.approx(0.5 + 2000.0 / bodies[0].moment)
    assert bodies[1].angular_velocity == pytest.approx(-0.25 * 2000.0 / bodies[1].moment)
    for name, body in figure.bodies.items():
        assert tuple(body.velocity) == (0, 0)
        if name not in names:
            assert body.angular_velocity == 0.0  # no reaction on the parent
