"""Steps per second of each environment's step() beside the bare pymunk physics it wraps.

    python benchmarks/env_step.py [--steps 4000] [--rounds 5]

For each task, in one run: (a) `env.step(action)` without rendering, fed a zero float32 action
array (validation, clipping, actuation, physics, observation, checks, info - everything);
(b) the bare physics of the same bodies: `space.step(1/50)` plus reading the observed
quantities with plain pymunk attribute access (`body.position`, `body.angle`, ...) into a
float32 numpy array; (c) for context, `space.step(1/50)` alone. All replay the same episodes -
zero actions leave the physics identical, so all simulate exactly the same states - and
episode resets are not timed. Every round times each episode in the three ways, interleaved;
an episode's best time over the rounds counts (the machine is shared: the minimum is the least
disturbed figure), and steps/s = steps / sum of the episodes' best times. The overhead is
env time / bare time - 1; the target is at most 25%. The humanoid environments read their
bodies in one batched call (`pymunk.batch`), which is faster than (b)'s attribute reads, so
their overhead can be negative.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Callable

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import numpy as np

from environment import ENVIRONMENT_CLASSES, BaseEnvironment
from environment.environment import DT

TARGET_OVERHEAD = 0.25
MODES = ("env", "bare", "physics")  # env.step / space.step + attribute read / space.step


def bare_reader(env: BaseEnvironment) -> Callable[[], np.ndarray]:
    """State read of the env's bodies written with plain pymunk attribute access."""
    name = type(env).__name__
    if name == "CartpoleEnvironment":
        cart, pole = env.cart, env.pole

        def read() -> np.ndarray:
            return np.array(
                [cart.position.x / 100, cart.velocity.x / 100, pole.angle, pole.angular_velocity],
                dtype=np.float32,
            )

        return read

    bodies = [env.humanoid.bodies[part] for part in env.OBSERVED]
    props = [env.ball, env.plank] if name == "BollaRollaEnvironment" else []

    def read() -> np.ndarray:
        values = []
        if props:
            ball, plank = props
            values += [ball.position.x / 100, ball.velocity.x / 100]
            values += [plank.position.x / 100, plank.angle]
            values += [plank.velocity.x / 100, plank.angular_velocity]
        for body in bodies:
            p, v = body.position, body.velocity
            values += [p.x / 100, p.y / 100, body.angle, v.x / 100, v.y / 100]
            values.append(body.angular_velocity)
        return np.array(values, dtype=np.float32)

    return read


def episode_lengths(env: BaseEnvironment, steps: int, action: np.ndarray) -> list[int]:
    """Episode lengths of a zero-action run of `steps` steps (the last one cut at the budget)."""
    lengths = []
    while steps > 0:
        env.reset(seed=0)
        n = 0
        while n < steps:
            _, _, terminated, truncated, _ = env.step(action)
            n += 1
            if terminated or truncated:
                break
        lengths.append(n)
        steps -= n
    return lengths


def time_episode(env: BaseEnvironment, length: int, mode: str, action: np.ndarray) -> float:
    """Seconds for `length` steps from a fresh reset (not timed) in one of the three modes."""
    env.reset(seed=0)
    if mode == "env":
        step = env.step
        start = time.perf_counter()
        for _ in range(length):
            step(action)
        return time.perf_counter() - start
    space_step = env.space.step
    if mode == "bare":
        read = bare_reader(env)
        start = time.perf_counter()
        for _ in range(length):
            space_step(DT)
            read()
        return time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(length):
        space_step(DT)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=4000, help="steps per round and task")
    parser.add_argument("--rounds", type=int, default=5, help="rounds; each episode's best counts")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.rounds < 1:
        parser.error("--steps and --rounds must be >= 1")

    print(f"{args.steps} steps x {args.rounds} rounds per task, zero actions, best of rounds")
    header = (
        f"{'environment':<28} {'env.step':>11} {'bare: step+read':>16} {'overhead':>9}"
        f" {'space.step only':>16}"
    )
    print(header)
    print("-" * len(header))
    worst = 0.0
    for name, cls in ENVIRONMENT_CLASSES.items():
        env = cls()
        action = np.zeros(env.action_size, dtype=np.float32)
        lengths = episode_lengths(env, args.steps, action)
        best = {mode: [math.inf] * len(lengths) for mode in MODES}
        for _ in range(args.rounds):
            for i, length in enumerate(lengths):
                for mode in MODES:
                    seconds = time_episode(env, length, mode, action)
                    best[mode][i] = min(best[mode][i], seconds)
        env.close()
        env_rate, bare_rate, physics_rate = (args.steps / sum(best[mode]) for mode in MODES)
        overhead = bare_rate / env_rate - 1
        worst = max(worst, overhead)
        print(
            f"{name:<28} {env_rate:>9,.0f}/s {bare_rate:>14,.0f}/s {overhead:>9.1%}"
            f" {physics_rate:>14,.0f}/s",
            flush=True,
        )
    verdict = "met" if worst <= TARGET_OVERHEAD else "NOT met"
    print(f"worst overhead {worst:.1%}; target <= {TARGET_OVERHEAD:.0%}: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
