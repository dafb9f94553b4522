"""How exact a reflected transition is, beside how exact the observation itself can be.

    python benchmarks/mirror_error.py [FOLDER] [--episodes 3] [--every 5]

`--mirror` trains on every transition and its reflection (`env.mirror`). The tasks are
symmetric, but the physics solver treats contacts one after another, in an order a mirror does
not reverse, so a reflected step is not exactly the step of the reflected state. This script
measures by how much, on the states a trained humanoid policy visits (default: the shipped
upright bolla rolla agent): every `--every` steps of its deterministic episodes (start noise
0.05), the state of every body is copied into two fresh scenes, one as it is and one
reflected, and both take one step (the action, and its reflection). Printed, over all those
states, the median and 90th percentile of the largest difference in the observed values:

- "reflection": the reflected scene's step against the reflection of the plain copy's step;
- "contact cache": the plain copy's step against the episode's own step from the same state.

A fresh scene lacks the contact impulses chipmunk carries from step to step (its warm start),
which the observation does not hold either: the second figure is how far the observation is
from determining the next one. A reflection error below it is less than the variation the
task itself shows a learner.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import numpy as np

from environment.environment import MIRROR_X
from environment.humanoid import mirror_name

DEFAULT_FOLDER = Path(__file__).resolve().parent.parent / "results" / "bolla-rolla-upright-seed0"


def _bodies(env) -> dict:
    bodies = dict(env.humanoid.bodies)
    for name in ("plank", "ball"):
        if hasattr(env, name):
            bodies[name] = getattr(env, name)
    return bodies


def _copy_state(source, target, reflect: bool, start_angles: dict[str, float]) -> None:
    """Give every body of `target` the state of its counterpart in `source` (reflected)."""
    state = {
        name: (body.position, body.angle, body.velocity, body.angular_velocity)
        for name, body in _bodies(source).items()
    }
    for name, body in _bodies(target).items():
        mate = mirror_name(name) if reflect else name
        (x, y), angle, (vx, vy), spin = state[mate]
        if reflect:
            x, vx, spin = 2 * MIRROR_X - x, -vx, -spin
            angle = start_angles[name] + start_angles[mate] - angle
        body.position, body.angle = (x, y), angle
        body.velocity, body.angular_velocity = (vx, vy), spin


def measure(folder: Path = DEFAULT_FOLDER, episodes: int = 3, every: int = 5) -> dict:
    """{"reflection": [...], "contact cache": [...]}: the largest difference per sampled state."""
    from training.policy import load_policy

    policy = load_policy(folder)
    env = policy.make_environment(start_noise=0.05)  # tools/evaluate.py's episodes
    plain, reflected = policy.make_environment(), policy.make_environment()
    plain.reset(seed=0)
    start_angles = {name: body.angle for name, body in _bodies(plain).items()}
    errors: dict[str, list[float]] = {"reflection": [], "contact cache": []}
    for episode in range(episodes):
        observation, _ = env.reset(seed=episode)
        mirror = env.mirror
        for step in range(env.max_episode_steps):
            action = policy.act(observation)
            if step % every == 0:
                plain.reset(seed=0)
                reflected.reset(seed=0)
                _copy_state(env, plain, False, start_angles)
                _copy_state(env, reflected, True, start_angles)
                plain_next, *_ = plain.step(action)
                reflected_next, *_ = reflected.step(mirror.action(action))
            observation, _, terminated, truncated, _ = env.step(action)
            if step % every == 0:
                errors["reflection"].append(
                    float(np.abs(mirror.observation(plain_next) - reflected_next).max())
                )
                errors["contact cache"].append(float(np.abs(plain_next - observation).max()))
            if terminated or truncated:
                break
    return errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT_FOLDER)
    parser.add_argument("--episodes", type=int, default=3)
    parser.add_argument("--every", type=int, default=5)
    args = parser.parse_args()
    errors = measure(args.folder, args.episodes, args.every)
    print(f"policy {args.folder}, {len(errors['reflection'])} states")
    print("largest difference of one step | median | 90th percentile")
    for name, values in errors.items():
        print(f"{name:31} | {np.median(values):.3f} | {np.percentile(values, 90):.3f}")


if __name__ == "__main__":
    main()
