"""Evaluate the final policy of a training run, or of a results folder, over many episodes.

    python tools/evaluate.py save/CartpoleEnvironment
    python tools/evaluate.py results/standing-seed0 --episodes 50 --start_noise 0.1
    python tools/evaluate.py save/BollaRollaEnvironment --push 0.5 --json
    python tools/evaluate.py results/standing-seed0 --push 1.0 --push_side right --push_at 150

The folder is a run folder made by main.py (the actor of its newest checkpoint that verifies is
used; damaged ones are reported in one line each and skipped) or a results folder holding
config.json and actor.weights.h5. The environment, its options (such as bolla rolla's
`upright`) and its episode cap come from the folder's config.json.

Every episode starts from the environment's start state perturbed by --start_noise (uniform,
in observation units, on every body's velocities); the episodes are seeded from --seed, so they
differ from one another and the same command gives the same numbers. The policy acts
deterministically (tanh of its mean action) unless --stochastic.

With --push STRENGTH the policy is also pushed: after 50, 150, 250 and 350 steps of an episode
(while it goes on), the pole or the torso gets a horizontal velocity change of STRENGTH * 100 px/s
to the left or to the right (drawn from --seed). A push counts as recovered when the episode
goes on for at least 50 more steps, or reaches its cap without a termination; an episode that
lasts to its cap has survived every push for good. --push_at STEP [STEP ...] pushes after
those steps instead, and --push_side left or right pushes to that side only (the default,
both, draws each push's side), to see where a policy's balance gives way.

The table lists the episodes, their mean / min / max length in steps, the full episodes (those
that reach the cap) and how many ended for each termination reason. With --json the last line
printed is one JSON object with the same numbers.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from environment.wrappers import Pushes
from tools._common import ToolError, ToolParser, run, warn
from training.cli import PATH, PUSH, SEED, START_NOISE, Number
from training.policy import PolicyError, load_policy

PROG = "evaluate.py"
PUSH_EVERY = 100  # steps between pushes, the first after 50
PUSH_SIDES = ("both", "left", "right")
RECOVERY_STEPS = 50  # a push is survived when the episode goes on this many steps after it
# Every episode's result is kept: 100,000 episodes of the longest kind (400 steps of the
# humanoids) take about an hour; more would take days, or the memory for their seeds.
MAX_EPISODES = 100_000


class PushScheduleError(ValueError):
    """Push steps the episodes never reach."""


def build_parser() -> argparse.ArgumentParser:
    parser = ToolParser(prog=PROG, description=__doc__)
    parser.add_argument("folder", type=PATH, help="run folder (main.py) or results folder")
    parser.add_argument(
        "--episodes",
        type=Number(int, 1, MAX_EPISODES),
        default=20,
        help=f"episodes to run, 1 .. {MAX_EPISODES} (default 20)",
    )
    parser.add_argument(
        "--start_noise",
        "--start-noise",
        type=START_NOISE,
        default=0.05,
        help="start noise of every episode, 0 to 10, observation units (default 0.05)",
    )
    parser.add_argument(
        "--seed", type=SEED, default=0, help="seed of the whole evaluation (default 0)"
    )
    parser.add_argument(
        "--push",
        type=PUSH,
        default=None,
        metavar="STRENGTH",
        help="push the pole/torso by STRENGTH * 100 px/s (0 to 10), left or right, every 100 steps",
    )
    parser.add_argument(
        "--push_side",
        "--push-side",
        choices=PUSH_SIDES,
        default="both",
        help="push to this side only (default both: each push's side drawn from --seed)",
    )
    parser.add_argument(
        "--push_at",
        "--push-at",
        type=Number(int, 0),
        nargs="+",
        metavar="STEP",
        help="push after these steps (default 50 150 250 350)",
    )
    parser.add_argument("--stochastic", action="store_true", help="sample the policy's actions")
    parser.add_argument("--json", action="store_true", help="end with one line of JSON")
    return parser


def run_episode(policy: Any, env: Any, seed: int, deterministic: bool) -> dict[str, Any]:
    """One episode from reset(seed); returns its steps, return, end and pushes (`env` may be
    wrapped in environment.wrappers.Pushes, whose `pushed_at` says when it pushed)."""
    observation, _ = env.reset(seed=seed)
    episode_return = 0.0
    while True:
        action = policy.act(observation, deterministic=deterministic)
        observation, reward, terminated, truncated, info = env.step(action)
        episode_return += reward
        if terminated or truncated:
            break
    steps = info["steps"]
    pushed_at = getattr(env, "pushed_at", [])
    recovered = sum(1 for at in pushed_at if not terminated or steps >= at + RECOVERY_STEPS)
    return {
        "steps": steps,
        "return": episode_return,
        "full": bool(truncated),
        "termination_reason": info.get("termination_reason") if terminated else None,
        "pushes": len(pushed_at),
        "recovered": recovered,
    }


def evaluate(
    policy: Any,
    episodes: int,
    start_noise: float,
    seed: int,
    push: float | None = None,
    deterministic: bool = True,
    push_side: str = "both",
    push_at: Sequence[int] | None = None,
) -> dict[str, Any]:
    """Run `episodes` episodes of `policy` (training.policy.Policy) and summarise them.

    With `push`, the episodes are pushed (environment.wrappers.Pushes) after the steps
    `push_at` (default every 100 steps from 50), each episode's sides drawn at its reset, or
    all to `push_side` "left" or "right"."""
    if push_side not in PUSH_SIDES:
        raise ValueError(f"push_side must be one of {PUSH_SIDES}, got {push_side!r}")
    episode_seeds, push_seed, action_seed = np.random.SeedSequence(seed).spawn(3)
    seeds = episode_seeds.generate_state(episodes).tolist()
    policy.rng = np.random.default_rng(action_seed)
    env = policy.make_environment(start_noise=start_noise)
    try:
        max_steps = env.unwrapped.max_episode_steps
        if push is not None:
            try:
                env = Pushes(
                    env, push, np.random.default_rng(push_seed), every=PUSH_EVERY, at=push_at,
                    draw="episode", side=push_side,
                )  # fmt: skip
            except ValueError as error:
                raise PushScheduleError(f"--push_at: {error}") from None
        results = [run_episode(policy, env, s, deterministic) for s in seeds]
    finally:
        env.close()
    steps = [r["steps"] for r in results]
    reasons = Counter(r["termination_reason"] for r in results if r["termination_reason"])
    summary: dict[str, Any] = {
        "env_name": policy.env_name,
        "weights": str(policy.weights_path),
        "checkpoint_episode": policy.episode,
        "episodes": episodes,
        "mean_steps": float(np.mean(steps)),
        "min_steps": min(steps),
        "max_steps": max(steps),
        "episode_cap": max_steps,
        "full_episodes": sum(r["full"] for r in results),
        "mean_return": float(np.mean([r["return"] for r in results])),
        "termination_reasons": dict(sorted(reasons.items())),
        "start_noise": start_noise,
        "seed": seed,
        "deterministic": deterministic,
        "symmetric": policy.mirror is not None,
    }
    if push is not None:
        summary["push"] = push
        summary["push_side"] = push_side
        summary["push_at"] = list(env.steps_pushed)
        summary["pushes"] = sum(r["pushes"] for r in results)
        summary["recovered"] = sum(r["recovered"] for r in results)
    return summary


def format_table(summary: dict[str, Any]) -> str:
    source = (
        "results folder"
        if summary["checkpoint_episode"] is None
        else f"checkpoint of episode {summary['checkpoint_episode']}"
    )
    mode = "deterministic" if summary["deterministic"] else "stochastic"
    if summary.get("symmetric"):
        mode += ", left-right symmetric"
    reasons = ", ".join(f"{k}: {v}" for k, v in summary["termination_reasons"].items()) or "none"
    rows = [
        ("policy", f"{summary['env_name']}, {source} ({summary['weights']})"),
        (
            "episodes",
            f"{summary['episodes']} ({mode}, start_noise {summary['start_noise']:g}, "
            f"seed {summary['seed']})",
        ),
        ("mean steps", f"{summary['mean_steps']:.1f}"),
        ("min steps", str(summary["min_steps"])),
        ("max steps", str(summary["max_steps"])),
        (
            "full episodes",
            f"{summary['full_episodes']} of {summary['episodes']} "
            f"(reached the cap of {summary['episode_cap']} steps)",
        ),
        ("mean return", f"{summary['mean_return']:.1f}"),
        ("terminations", reasons),
    ]
    if "push" in summary:
        side = "left or right" if summary["push_side"] == "both" else summary["push_side"]
        at = ", ".join(map(str, summary["push_at"]))
        rows.append(("push", f"{summary['push']:g} (x 100 px/s, {side}) after steps {at}"))
        rows.append(("pushes", str(summary["pushes"])))
        rows.append(
            ("recovered", f"{summary['recovered']} of {summary['pushes']} (>= 50 more steps)")
        )
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if args.push is None and (args.push_side != "both" or args.push_at is not None):
        raise ToolError("--push_side and --push_at need --push STRENGTH")
    try:
        policy = load_policy(args.folder, warn=lambda message: warn(PROG, message))
    except PolicyError as error:
        raise ToolError(str(error)) from None
    try:
        summary = evaluate(
            policy,
            args.episodes,
            args.start_noise,
            args.seed,
            push=args.push,
            deterministic=not args.stochastic,
            push_side=args.push_side,
            push_at=args.push_at,
        )
    except PushScheduleError as error:
        raise ToolError(str(error)) from None
    print(format_table(summary), flush=True)
    if args.json:
        print(json.dumps(summary, sort_keys=True), flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run(PROG, _main, argv)


if __name__ == "__main__":
    sys.exit(main())
